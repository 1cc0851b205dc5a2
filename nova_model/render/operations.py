"""``op_<name>``: one diagram per operation, straight from its catalogue record.

The request enters through the guard to the API step; each step shows where it
runs and the task_state its compare-and-swap expects; each outcome's branches
are edges (condition and writes on the label) to the next step or to an end
state. Steps that consult the scheduler point at a scheduler node, and every
Placement effect (``Alloc``) a branch declares points at a ledger node.
"""

from __future__ import annotations

from model.operation import (
    Alloc, Branch, Check, Guard, Kind, Operation, Outcome, OutcomeKind, Rule, Step, Where,
)
from model.states import TaskState, VmState, task_label
from nova_model.render.common import (
    branch_writes, guest_text, power_text, task_text, vm_text,
)
from nova_model.render.ir import (
    Diagram, Edge, Layout, Line, Look, Node, Shape, ident, wrap,
)

PREFIX = "op_"

WHERE_LOOK = {
    Where.API: Look.API,
    Where.CONDUCTOR: Look.CONDUCTOR,
    Where.HOST: Look.HOST,
    Where.SOURCE: Look.SOURCE,
    Where.DEST: Look.DEST,
}

KIND_LOOK = {OutcomeKind.OK: Look.OK, OutcomeKind.ENV: Look.ENV, OutcomeKind.FAULT: Look.FAULT}
KIND_LINE = {OutcomeKind.OK: Line.SOLID, OutcomeKind.ENV: Line.DASHED,
             OutcomeKind.FAULT: Line.DASHED}
KIND_WORD = {OutcomeKind.OK: "succeeded", OutcomeKind.ENV: "ended by the environment",
             OutcomeKind.FAULT: "failed"}

START_WORD = {Kind.API: "request", Kind.PERIODIC: "periodic task", Kind.EVENT: "event"}

assert set(WHERE_LOOK) == set(Where) and set(KIND_LOOK) == set(OutcomeKind)


def diagram_name(op: Operation) -> str:
    return PREFIX + op.name


def _tasks(values) -> str:
    ordered = ([None] if None in values else []) + [t for t in TaskState if t in values]
    return ", ".join(task_label(t) for t in ordered)


def guard_lines(op: Operation) -> list[str]:
    """The guard in words, one fact per line (used by the diagram and the report)."""
    g: Guard | None = op.guard
    if g is None:
        if op.creates_instance:
            return ["no guard: creates the instance"]
        return ["no guard"]
    vms = "any" if g.vm_states is None else ", ".join(v.value for v in VmState
                                                     if v in g.vm_states)
    tasks = "any" if g.task_states is None else _tasks(g.task_states)
    lines = [f"vm_state ∈ {{{vms}}}", f"task_state ∈ {{{tasks}}}"]
    checks = []
    for check in g.checks:
        text = check.value
        if check is Check.HOST and g.check_is_up:
            text += " (service up)"
        checks.append(text)
    lines.append("checks: " + " → ".join(checks))
    if g.must_have_launched:
        lines.append("must have launched")
    if not g.check_instance_lock:
        lines.append("no lock check")
    if op.admin_only:
        lines.append("admin only (policy)")
    return lines


def _expects(step: Step) -> str:
    if step.expects is None:
        return "no task_state check"
    return "expects " + _tasks(step.expects)


def step_id(step: Step) -> str:
    return ident("step", step.name)


def _end_key(b: Branch, kind: OutcomeKind) -> tuple:
    return (vm_text(b.vm), task_text(b.task), power_text(b.power), guest_text(b.guest),
            kind.value)


def _end_label(b: Branch, kind: OutcomeKind) -> str:
    lines = [KIND_WORD[kind], f"vm_state: {vm_text(b.vm)}", f"task_state: {task_text(b.task)}"]
    if b.power is not Rule.KEEP:
        lines.append(f"power_state: {power_text(b.power)}")
    if b.guest is not Rule.FOLLOW:
        lines.append(f"guest: {guest_text(b.guest)}")
    return "\n".join(lines)


def _end_look(b: Branch, kind: OutcomeKind) -> Look:
    if b.vm is VmState.ERROR:
        return Look.ERROR
    return KIND_LOOK[kind]


def _branch_tag(outcome: Outcome, indices: list[int]) -> str:
    """``ok`` or ``ok [2]`` (the branch numbers, when the outcome has several branches)."""
    if len(outcome.branches) == 1:
        return outcome.name
    return f"{outcome.name} [{', '.join(str(i) for i in indices)}]"


def _branch_label(outcome: Outcome, b: Branch, index: int) -> str:
    many = len(outcome.branches) > 1
    head = _branch_tag(outcome, [index])
    if outcome.kind is not OutcomeKind.OK:
        head += f" ({outcome.kind.value})"
    lines = [head]
    if b.when:
        lines.append(wrap("if " + " and ".join(w.value for w in b.when), 30))
    elif many:
        lines.append("otherwise")
    # vm/task/power are shown by the end node, or (task_state) added for a next step
    state = ("task_state", "vm_state", "power_state")
    lines += [wrap(x, 30) for x in branch_writes(b) if not x.startswith(state)]
    if b.note:
        lines.append(wrap(f"({b.note})", 30))
    return "\n".join(lines)


def build(op: Operation) -> Diagram:
    nodes: list[Node] = []
    edges: list[Edge] = []
    start, guard = ident("start"), ident("guard")
    entry = op.api_method if op.kind is Kind.API else op.api_method
    nodes.append(Node(start, f"{START_WORD[op.kind]}\n{wrap(entry, 34)}", Shape.ELLIPSE,
                      Look.START))
    nodes.append(Node(guard, "guard\n" + "\n".join(wrap(x, 44) for x in guard_lines(op)),
                      Shape.NOTE, Look.GUARD))
    edges.append(Edge(start, guard))
    edges.append(Edge(guard, step_id(op.api), "accepted"))

    ends: dict[tuple, str] = {}
    ledger: dict[tuple[str, str, tuple[Alloc, ...]], str] = {}
    alloc_branches: dict[tuple[str, str, tuple[Alloc, ...]], list[int]] = {}
    beside: dict[str, list[str]] = {}  # step -> side nodes drawn on its rank
    scheduler = ident("scheduler")
    uses_scheduler = False
    for step in op.all_steps.values():
        label = (f"{step.name}\n" + wrap(f"@ {step.where.value} · {_expects(step)}", 40)
                 + f"\n{wrap(step.nova, 36)}")
        nodes.append(Node(step_id(step), label, Shape.BOX, WHERE_LOOK[step.where]))
        if step.schedules:
            if not uses_scheduler:
                beside.setdefault(step_id(step), []).append(scheduler)
                nodes.append(Node(scheduler, "scheduler\nselect_destinations\n" + wrap(f"used: {op.scheduler.value}", 22),
                                  Shape.HEXAGON, Look.SCHEDULER))
            uses_scheduler = True
            edges.append(Edge(step_id(step), scheduler, "", Line.DOTTED, Look.SCHEDULER))
        if step.schedules_batch:
            batch = ident("batch", step.name)
            nodes.append(Node(batch, wrap(step.schedules_batch, 44), Shape.NOTE, Look.SCHEDULER))
            edges.append(Edge(batch, step_id(step), "", Line.DOTTED, Look.SCHEDULER))
        for outcome in step.outcomes:
            for index, b in enumerate(outcome.branches, 1):
                label = _branch_label(outcome, b, index)
                look = KIND_LOOK[outcome.kind] if outcome.kind is not OutcomeKind.OK else Look.PLAIN
                if b.then is not None:
                    target = step_id(op.step(b.then))
                    label += "".join(f"\n{x}" for x in branch_writes(b)
                                     if x.startswith(("task_state", "vm_state", "power_state")))
                else:
                    key = _end_key(b, outcome.kind)
                    if key not in ends:
                        ends[key] = ident("end", len(ends))
                        nodes.append(Node(ends[key], _end_label(b, outcome.kind), Shape.ROUNDED,
                                          _end_look(b, outcome.kind)))
                    target = ends[key]
                edges.append(Edge(step_id(step), target, label, KIND_LINE[outcome.kind], look))
                if b.alloc:
                    key = (step.name, outcome.name, b.alloc)
                    alloc_branches.setdefault(key, []).append(index)
                    if key not in ledger:
                        ledger[key] = ident("placement", len(ledger))
                        beside.setdefault(step_id(step), []).append(ledger[key])
                        effects = [wrap(f"{i}. {a.value}", 30) for i, a in enumerate(b.alloc, 1)]
                        if len(effects) == 1:
                            effects = [wrap(b.alloc[0].value, 30)]
                        nodes.append(Node(ledger[key], "\n".join(effects), Shape.CYLINDER,
                                          Look.PLACEMENT))
                        edges.append(Edge(step_id(step), ledger[key], "", Line.DOTTED,
                                          Look.PLACEMENT))
    title = f"{op.name}: {op.summary}"
    if op.resources != "unchanged":
        title += "\nresources: " + op.resources
    # the ledger nodes' headers name the outcome (and branches) they belong to
    for i, n in enumerate(nodes):
        for key, node_id in ledger.items():
            if n.id == node_id:
                outcome = op.step(key[0]).outcome(key[1])
                nodes[i] = Node(n.id, f"Placement · {_branch_tag(outcome, alloc_branches[key])}\n"
                                + n.label, n.shape, n.look)
    ranks = tuple(("same", (step, *side)) for step, side in beside.items())
    return Diagram(diagram_name(op), wrap(title, 100), tuple(nodes), tuple(edges), ranks=ranks,
                   layout=Layout(direction="TB", nodesep=0.45, ranksep=0.45, fontsize=10,
                                 edge_fontsize=9))
