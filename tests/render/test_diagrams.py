"""What the diagrams say, checked against the catalogue and the exploration."""

from __future__ import annotations

import ast
from pathlib import Path

from model.catalogue import CATALOGUE, OPERATIONS
from model.operation import Alloc, OutcomeKind
from model.scheduler.config import SchedulerConfig
from model.states import TaskState, VmState
from nova_model.render import allocations, operations, scheduler, task_graph, vm_states
from nova_model.render.common import hub_collapse
from nova_model.render.derive import ModelView
from nova_model.render.dot import quote, to_dot
from nova_model.render.ir import Diagram, Edge, Node, join_wrapped, wrap
from nova_model.render.mermaid import text as mermaid_text, to_mermaid

RENDER = Path(__file__).resolve().parents[2] / "nova_model" / "render"


# --- writers ----------------------------------------------------------------------------

def test_dot_quoting():
    assert quote('a "b"\\c\nd') == '"a \\"b\\"\\\\c\\nd"'


def test_mermaid_escaping():
    assert mermaid_text('a "b" <c> #1 & d\ne') == \
        '"a #quot;b#quot; #lt;c#gt; #35;1 #amp; d<br>e"'


def test_writers_keep_every_node_and_edge():
    d = Diagram("t", "title", (Node("n_a", "a"), Node("n_b", 'b "quoted"')),
                (Edge("n_a", "n_b", "x"), Edge("n_b", "n_a")))
    dot, mmd = to_dot(d), to_mermaid(d)
    assert dot.count(" -> ") == 2 and '"n_a" -> "n_b"' in dot
    assert "n_a -->|\"x\"| n_b" in mmd and "n_b --> n_a" in mmd


def test_wrapping():
    assert wrap("one two three four", 9) == "one two\nthree\nfour"
    assert join_wrapped(["alpha", "beta", "gamma"], 12) == "alpha, beta,\ngamma"


def test_hub_collapse_names_the_exceptions():
    groups = {"g": ["a", "b", "c", "d", "t"]}
    edges = {("a", "t"): {"op"}, ("b", "t"): {"op"}, ("c", "t"): {"op", "other"}}
    remaining, hubs = hub_collapse(edges, groups, lambda s: "g")
    assert hubs == {("g", "t"): {"op": frozenset({"d"})}}
    assert remaining == {("c", "t"): {"other"}}


def test_no_state_name_is_typed_in_the_generator():
    """Diagrams name states only through the enums (the docs transcription aside)."""
    names = {v.value for v in VmState} | {t.value for t in TaskState}
    offenders = []
    for path in sorted(RENDER.glob("*.py")):
        if path.name == "nova_docs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


# --- operation diagrams: straight from the records -----------------------------------------

def test_each_operation_diagram_shows_its_record():
    for op in OPERATIONS:
        d = operations.build(op)
        ids = {n.id for n in d.nodes}
        labels = "\n".join(n.label for n in d.nodes)
        assert d.name == f"op_{op.name}"
        for step in op.all_steps.values():
            assert operations.step_id(step) in ids
            assert f"@ {step.where.value}" in labels
        branches = sum(len(o.branches) for s in op.all_steps.values() for o in s.outcomes)
        from_steps = [e for e in d.edges if e.src.startswith("n_step_")
                      and not e.dst.startswith(("n_placement", "n_scheduler"))]
        assert len(from_steps) == branches
        effects = {a for s in op.all_steps.values() for o in s.outcomes for b in o.branches
                   for a in b.alloc}
        for effect in effects:
            assert any(effect.value.split(";")[0][:20] in n.label.replace("\n", " ")
                       for n in d.nodes), effect
        schedules = any(s.schedules for s in op.all_steps.values())
        assert ("n_scheduler" in ids) == schedules


def test_failure_branches_are_dashed():
    d = operations.build(CATALOGUE["resize"])
    dashed = [e for e in d.edges if e.line.value == "dashed"]
    failures = sum(len(o.branches) for s in CATALOGUE["resize"].all_steps.values()
                   for o in s.outcomes if o.kind is not OutcomeKind.OK)
    assert len(dashed) == failures


# --- scheduler -----------------------------------------------------------------------------

def test_scheduler_diagram_lists_filters_in_order_and_multipliers():
    d = scheduler.build()
    for prefix, (_, config) in zip(("cfg0", "cfg1"), scheduler.CONFIGS):
        labels = [n.label for n in d.nodes if n.cluster == prefix]
        shown = [line.split(". ", 1)[1] for label in labels for line in label.split("\n")[:1]
                 if ". " in line and line.split(".")[0].isdigit()]
        assert shown == list(config.filters)
        weighers = next(label for label in labels if label.startswith("weighers"))
        assert "IoOpsWeigher × -1" in weighers
        assert "BuildFailureWeigher × -1,000,000" in weighers
    assert SchedulerConfig().mode == "placement"


# --- allocations ---------------------------------------------------------------------------

def test_every_alloc_member_has_a_ledger_meaning():
    ledger = allocations.Ledger(frozenset({(allocations.INSTANCE, "A")}))
    for effect in Alloc:
        ledger.apply(effect, "B", "A")


def test_resize_then_confirm_moves_the_consumers():
    d = allocations.build()
    labels = [n.label for n in d.nodes if n.cluster == "s1"]
    assert any("instance holds B\nmigration holds A" in label for label in labels)
    assert labels[-1].endswith("instance holds B")


# --- diagrams that need the exploration ----------------------------------------------------

def test_vm_state_edges_come_from_runs(view: ModelView):
    d = vm_states.build(view)
    ops_with_runs = {r.operation for r in view.runs}
    for e in d.edges:
        for name in e.label.replace("\n", " ").replace(",", " ").split():
            if name in CATALOGUE:
                assert name in ops_with_runs


def test_vm_state_diagram_is_true_to_the_code(view: ModelView):
    """Pause goes active -> paused (or, with no guest on the hypervisor, stays active:
    LibvirtDriver.pause raises InstanceNotFound and reverts_task_state clears the task);
    rebuild of a stopped instance stays stopped."""
    runs = {(r.operation, r.start, r.end) for r in view.runs if not r.failed and r.idle}
    assert {(s, e) for o, s, e in runs if o == "pause"} == {
        (VmState.ACTIVE, VmState.PAUSED), (VmState.ACTIVE, VmState.ACTIVE)}
    assert (("rebuild", VmState.STOPPED, VmState.STOPPED)) in runs
    assert (("rebuild", VmState.STOPPED, VmState.ACTIVE)) not in runs


def test_task_graph_covers_the_exploration(view: ModelView):
    d = task_graph.build(view)
    pairs = {(vm, task) for vm, task, _ in view.exploration.projected.nodes}
    ids = {n.id for n in d.nodes}
    assert {task_graph.pair_id(p) for p in pairs} <= ids
    assert {c.label for c in d.clusters} == {vm.value for vm, _ in pairs}
