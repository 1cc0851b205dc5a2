"""The baseline and a proposal side by side: guards, the state graph, the search.

Each side is explored and searched the same way (``model.graph.explore``, and
``run_search`` derandomized with the same budget, so both sides search from the same
seeds); the proposal is its own specification (its new states are not violations by
themselves: they show as the graph delta). What differs is collected here; the
document (``nova_model.review.document``) only puts it into words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from model.catalogue import CATALOGUE
from model.config import ClusterConfig
from model.graph import CheckResult, Exploration, check_graph, combo_label, explore
from model.lifecycle import Lifecycle
from model.operation import Kind
from model.states import TaskState, VmState
from nova_model.review.proposal import Proposal
from nova_model.search.machine import SPEC, machine_for, violated_names
from nova_model.search.run import SearchReport, run_search

#: The guard matrix's columns besides one per vm_state.
GUARD_EXTRA = ("task_states", "checks")


@dataclass
class Side:
    """One side of the review: a catalogue, its exploration and its search."""

    lifecycle: Lifecycle
    exploration: Exploration
    checks: list[CheckResult]
    report: SearchReport


def examine(lifecycle: Lifecycle, config: ClusterConfig, examples: int, steps: int, *,
            exploration: Exploration | None = None,
            explorer: Callable[[Lifecycle], Exploration] = explore) -> Side:
    """Explore and search one side (``exploration``: one already made of this catalogue;
    ``explorer`` makes one otherwise)."""
    if exploration is None:
        exploration = explorer(lifecycle)
    checks = check_graph(exploration, lifecycle)
    machine = machine_for(lifecycle=lifecycle, own_specification=True, name="ReviewedSearch")
    report = run_search(examples, steps, config=config, derandomize=True, machine=machine)
    return Side(lifecycle, exploration, checks, report)


# -- the guard matrix -----------------------------------------------------------------------

def _task_cell(states) -> str:
    if states is None:
        return "any"
    return ", ".join(["none"] * (None in states) + [t.value for t in TaskState if t in states])


def guard_row(op) -> dict[str, str]:
    g = op.guard
    if g is None:  # (create: nothing to guard yet)
        return {**{vm.value: "—" for vm in VmState}, "task_states": "—", "checks": "—"}
    row = {vm.value: "✓" if g.vm_states is None or vm in g.vm_states else "·" for vm in VmState}
    row["task_states"] = _task_cell(g.task_states)
    row["checks"] = ", ".join(c.name.lower() for c in g.checks)
    return row


def guard_matrix(lifecycle: Lifecycle) -> dict[str, dict[str, str]]:
    return {op.name: guard_row(op) for op in lifecycle.operations if op.kind is Kind.API}


@dataclass(frozen=True)
class Cell:
    operation: str
    column: str
    before: str
    after: str


def guard_changes(before: Lifecycle, after: Lifecycle) -> list[Cell]:
    a, b = guard_matrix(before), guard_matrix(after)
    return [Cell(op, column, a[op][column], b[op][column])
            for op in a for column in a[op] if a[op][column] != b[op][column]]


# -- the single-instance state graph ----------------------------------------------------------

@dataclass
class GraphDelta:
    states_added: list[str]
    states_removed: list[str]       # reachable in the baseline, unreachable now
    transitions_added: list[str]
    transitions_removed: list[str]
    dead_ends_added: list[str]      # states with no way out (deleted aside)
    checks_broken: list[CheckResult]  # graph checks the baseline passes and this fails
    checks: list[tuple[CheckResult, CheckResult]]  # (baseline, proposal), in order

    @property
    def empty(self) -> bool:
        return not (self.states_added or self.states_removed or self.transitions_added
                    or self.transitions_removed or self.dead_ends_added or self.checks_broken)


def _transitions(exploration: Exploration) -> set[str]:
    return {f"{combo_label(u)} -> {combo_label(v)} ({label})"
            for u, v, label in exploration.projected.edges(keys=True)}


def _dead_ends(exploration: Exploration) -> set[str]:
    g = exploration.projected
    return {combo_label(n) for n in g.nodes
            if n[0] is not VmState.DELETED and g.out_degree(n) == 0}


def graph_delta(before: Side, after: Side) -> GraphDelta:
    a = {combo_label(n) for n in before.exploration.projected.nodes}
    b = {combo_label(n) for n in after.exploration.projected.nodes}
    ta, tb = _transitions(before.exploration), _transitions(after.exploration)
    pairs = list(zip(before.checks, after.checks))
    return GraphDelta(sorted(b - a), sorted(a - b), sorted(tb - ta), sorted(ta - tb),
                      sorted(_dead_ends(after.exploration) - _dead_ends(before.exploration)),
                      [p for o, p in pairs if o.ok and not p.ok], pairs)


# -- the search ---------------------------------------------------------------------------------

def violated(report: SearchReport) -> set[str]:
    """The promises a search report's counterexample names."""
    return set() if report.violation is None else violated_names(report.violation)


@dataclass
class SearchDelta:
    new_violations: list[str]       # promises the proposal's search breaks, the baseline's not
    gone_violations: list[str]
    coverage_gained: list[str]      # reached by the proposal's search only
    coverage_lost: list[str]
    findings_appear: list[str]
    findings_disappear: list[str]


def _reached(report: SearchReport) -> set[str]:
    cov = report.coverage
    return ({f"vm_state {v}" for v in cov["vm_states reached"]}
            | {f"operation {op} accepted" for op in cov["operations accepted"]}
            | set(cov["events"]))


def search_delta(before: Side, after: Side) -> SearchDelta:
    a, b = before.report, after.report
    fa = {f["name"] for f in a.findings}
    fb = {f["name"] for f in b.findings}
    return SearchDelta(sorted(violated(b) - violated(a)), sorted(violated(a) - violated(b)),
                       sorted(_reached(b) - _reached(a)), sorted(_reached(a) - _reached(b)),
                       sorted(fb - fa), sorted(fa - fb))


# -- the whole review ---------------------------------------------------------------------------

@dataclass
class Review:
    proposal: Proposal
    baseline: Side
    proposed: Side
    cells: list[Cell]
    graph: GraphDelta
    search: SearchDelta
    examples: int
    steps: int
    counterexample: str | None = field(default=None)  # its scenario file, when written

    @property
    def unchanged(self) -> bool:
        """The proposal's catalogue and options are the baseline's."""
        return (not self.proposal.options and all(
            self.proposal.lifecycle.catalogue[name] == CATALOGUE[name]
            for name in self.proposal.changed))

    @property
    def broken(self) -> list[str]:
        """The promises the baseline keeps and the proposal breaks."""
        return ([f"search: {name}" for name in self.search.new_violations]
                + [f"state graph: {c.name}" for c in self.graph.checks_broken])


def review(proposal: Proposal, *, examples: int, steps: int, baseline: Side | None = None,
           explorer: Callable[[Lifecycle], Exploration] = explore) -> Review:
    """Compare ``proposal`` with the baseline (``baseline``: one examined already with the
    same budget, to share it between reviews; ``explorer``: how a catalogue is explored,
    ``model.graph.explore`` or a cache of it)."""
    config = ClusterConfig.default()
    if baseline is None:
        baseline = examine(SPEC, config, examples, steps)
    unchanged = all(proposal.lifecycle.catalogue[n] == CATALOGUE[n] for n in proposal.changed)
    lifecycle = SPEC if unchanged else proposal.lifecycle
    proposed_config = config.replace(options=proposal.options_for(config.options))
    proposed = examine(lifecycle, proposed_config, examples, steps,
                       exploration=baseline.exploration if unchanged else None,
                       explorer=explorer)
    return Review(proposal, baseline, proposed, guard_changes(SPEC, lifecycle),
                  graph_delta(baseline, proposed), search_delta(baseline, proposed),
                  examples, steps)
