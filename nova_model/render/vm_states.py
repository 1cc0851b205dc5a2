"""``vm_states``: the vm_state diagram, from the runs of every operation.

An operation labels an edge A → B when some run of it (its API step and its own
asynchronous steps, each with every declared outcome) takes an instance from
vm_state A to vm_state B. Solid edges are runs in which every outcome was
``ok``; dashed red edges are runs through a failure. An operation that goes to
the same target from (nearly) every vm_state is drawn once, from the "any
vm_state" node, naming the exceptions.
"""

from __future__ import annotations

from collections import defaultdict

from model.operation import Kind
from model.states import VmState
from nova_model.render.common import hub_collapse, hub_label, ops_label, ordered_ops, writes_task
from nova_model.render.derive import VM_ORDER, ModelView, RunEdge
from nova_model.render.ir import Diagram, Edge, Layout, Line, Look, Node, Shape, ident

NAME = "vm_states"
START = ident("start")
ANY = ident("any_vm_state")
ANY_GROUP = "any"


def vm_id(vm: VmState) -> str:
    return ident("vm", vm.name)


def _drawn_runs(view: ModelView) -> list[RunEdge]:
    """The runs the diagram draws (see the module docstring for what is left out)."""
    ops = {op.name: op for op in view.operations}
    out = []
    for run in view.runs:
        op = ops[run.operation]
        if run.start == run.end:
            # A run that leaves vm_state alone is drawn only when it is an ordinary
            # piece of work from an idle instance (a task ran and succeeded).
            if run.failed or not run.idle or not writes_task(op):
                continue
        out.append(run)
    return out


def build(view: ModelView) -> Diagram:
    ops = {op.name: op for op in view.operations}
    creators = {op.name for op in view.operations if op.creates_instance}
    runs = _drawn_runs(view)

    # (start, end) -> op names, for each of the three edge kinds
    kinds: dict[str, dict[tuple, set[str]]] = {"ok": defaultdict(set), "failed": defaultdict(set),
                                               "periodic": defaultdict(set)}
    succeeded = {(r.operation, r.start, r.end) for r in runs if not r.failed}
    for run in runs:
        op = ops[run.operation]
        start = run.start
        if run.failed and (run.operation, run.start, run.end) in succeeded:
            continue  # the same transition is drawn for the successful runs
        if run.operation in creators:
            # The API step creates the instance in its first vm_state: draw that step
            # from the start node and the rest of the run from that vm_state.
            first = op.api.outcomes[0].branches[0].vm
            kinds["ok"][(None, first)].add(run.operation)
            start = first
            if start == run.end:
                continue
        kind = ("periodic" if op.kind is not Kind.API and not run.failed
                else "failed" if run.failed else "ok")
        kinds[kind][(start, run.end)].add(run.operation)

    states = [vm for vm in VmState]
    sources = [vm for vm in states if any(r.start == vm for r in view.runs)]
    groups = {ANY_GROUP: sources}
    # Runs that stay in their vm_state are listed inside the state's box.
    stays: dict[VmState, set[str]] = defaultdict(set)
    for kind in ("ok", "periodic"):
        for (start, end), names in list(kinds[kind].items()):
            if start is not None and start == end:
                stays[start] |= names
                del kinds[kind][(start, end)]
    nodes = [Node(START, "boot", Shape.CIRCLE, Look.START)] if creators else []
    for vm in states:
        label = vm.value
        if stays.get(vm):
            label += "\n↻ " + ops_label(stays[vm], 24).replace("\n", "\n   ")
        nodes.append(Node(vm_id(vm), label, Shape.ROUNDED,
                          Look.ERROR if vm is VmState.ERROR else Look.STATE))
    edges: list[Edge] = []
    hub_used = False
    for kind, line, look in (("ok", Line.SOLID, Look.PLAIN), ("periodic", Line.DOTTED, Look.MUTED),
                             ("failed", Line.DASHED, Look.FAULT)):
        plain = {k: v for k, v in kinds[kind].items() if k[0] is not None}
        remaining, hubs = hub_collapse(plain, groups, lambda vm: ANY_GROUP)
        for (start, end), names in kinds[kind].items():
            if start is None:
                remaining[(start, end)] = names
        for (start, end), names in sorted(remaining.items(), key=_edge_order):
            label = ops_label(names, 26)
            src = START if start is None else vm_id(start)
            edges.append(Edge(src, vm_id(end), label, line, look, constraint=kind != "periodic"))
        for (_, end), by_op in sorted(hubs.items(), key=lambda kv: VM_ORDER[kv[0][1]]):
            hub_used = True
            edges.append(Edge(ANY, vm_id(end),
                              hub_label(by_op, lambda vm: vm.value, VM_ORDER.__getitem__, 26),
                              line, look, constraint=kind != "periodic"))
    if hub_used:
        nodes.append(Node(ANY, "any vm_state", Shape.ELLIPSE, Look.MUTED))
    drawn = {r.operation for r in runs}
    silent = [n for n in ordered_ops(ops) if n not in drawn]
    periodic = [n for n in ordered_ops(drawn) if ops[n].kind is not Kind.API]
    title = ("vm_state transitions, from every run of every operation in the catalogue\n"
             "solid: all outcomes ok · dashed: through a failure · dotted: periodic task or "
             "event (" + ", ".join(periodic) + ")")
    if silent:
        title += "\nnever change vm_state (not drawn): " + ", ".join(silent)
    top = tuple(n.id for n in nodes if n.id in (START, ANY))
    ranks = (("min", top), ("max", (vm_id(VmState.ERROR),))) if top else ()
    return Diagram(NAME, title, tuple(nodes), tuple(edges), ranks=ranks,
                   layout=Layout(direction="TB", nodesep=0.5, ranksep=0.75, fontsize=12,
                                 edge_fontsize=9))


def _edge_order(item) -> tuple:
    (start, end), _ = item
    return (-1 if start is None else VM_ORDER[start], VM_ORDER[end])
