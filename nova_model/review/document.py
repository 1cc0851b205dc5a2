"""The review as one document: a verdict line, then the guards, the state graph, the
search and the changed operations' diagrams (changed edges highlighted)."""

from __future__ import annotations

from model.states import VmState
from nova_model.render import operations
from nova_model.render.doc import Bullets, Code, Document, Figure, Heading, Para, Table
from nova_model.render.ir import Diagram, Edge, Line, Look, Node
from nova_model.review.compare import GUARD_EXTRA, Review, guard_matrix

#: Long lists (transitions) are shown up to this many items, then counted.
SHOWN = 60


def verdict(r: Review) -> str:
    if r.broken:
        return ("Verdict: the proposal BREAKS a promise the baseline keeps: "
                + "; ".join(r.broken) + ".")
    if r.unchanged:
        return ("Verdict: no change: the baseline already behaves as proposed "
                "(the proposal's catalogue and options are the baseline's).")
    return (f"Verdict: the proposal keeps every promise the baseline keeps "
            f"({len(r.cells)} guard cells changed, {len(r.graph.states_added)} states added, "
            f"{len(r.graph.states_removed)} removed, {len(r.graph.transitions_added)} "
            f"transitions added, {len(r.graph.transitions_removed)} removed).")


def _listed(items: list[str]) -> Code | Para:
    if not items:
        return Para("None.")
    shown = items[:SHOWN]
    more = len(items) - len(shown)
    return Code("\n".join(shown) + (f"\n... and {more} more" if more else ""))


def _guards(doc: Document, r: Review) -> None:
    doc.add(Heading(2, "1. Guard matrix", "guards"))
    changed = {(c.operation, c.column) for c in r.cells}
    doc.add(Para(f"Each API operation's guard: the vm_states it admits (✓), its task_states "
                 f"and its checks in Nova's decorator order. Changed cells read "
                 f"`was → now` and are marked ◆. {len(r.cells)} cells changed."))
    before, after = guard_matrix(r.baseline.lifecycle), guard_matrix(r.proposed.lifecycle)
    columns = [vm.value for vm in VmState] + list(GUARD_EXTRA)
    rows = []
    for op, cells in after.items():
        mark = "◆ " if any((op, c) in changed for c in columns) else ""
        rows.append((f"{mark}{op}", *(
            f"◆ {before[op][c]} → {cells[c]}" if (op, c) in changed else cells[c]
            for c in columns)))
    doc.add(Table(("operation", *columns), tuple(rows)))


def _graph(doc: Document, r: Review) -> None:
    g = r.graph
    doc.add(Heading(2, "2. Single-instance state graph", "graph"))
    base, prop = r.baseline.exploration.projected, r.proposed.exploration.projected
    doc.add(Para(f"Every (vm_state, task_state, power_state) one instance reaches, explored "
                 f"exhaustively (`nova-model check`'s exploration): baseline "
                 f"{base.number_of_nodes()} states and {base.number_of_edges()} labelled "
                 f"transitions, proposal {prop.number_of_nodes()} and "
                 f"{prop.number_of_edges()}."))
    doc.add(Heading(3, f"States added ({len(g.states_added)})", "states-added"),
            _listed(g.states_added),
            Heading(3, f"States that become unreachable ({len(g.states_removed)})",
                    "states-removed"), _listed(g.states_removed),
            Heading(3, f"Transitions added ({len(g.transitions_added)})", "transitions-added"),
            _listed(g.transitions_added),
            Heading(3, f"Transitions removed ({len(g.transitions_removed)})",
                    "transitions-removed"), _listed(g.transitions_removed),
            Heading(3, f"New dead ends ({len(g.dead_ends_added)})", "dead-ends"),
            _listed(g.dead_ends_added))
    doc.add(Heading(3, "The graph's checks", "graph-checks"))
    doc.add(Table(("check", "baseline", "proposal", "proposal's detail"), tuple(
        (b.name, "pass" if b.ok else "FAIL", "pass" if p.ok else "FAIL", p.detail)
        for b, p in g.checks)))


def _search(doc: Document, r: Review, picture: str | None) -> None:
    s = r.search
    doc.add(Heading(2, "3. The search", "search"))
    doc.add(Para(f"Both sides searched the default cluster with the same budget and seeds "
                 f"({r.examples} runs of up to {r.steps} steps, derandomized)"
                 + (f"; the proposal's options: "
                    + ", ".join(f"`{k} = {v}`" for k, v in sorted(r.proposal.options.items()))
                    if r.proposal.options else "") + "."))
    for name, side in (("baseline", r.baseline), ("proposal", r.proposed)):
        report = side.report
        doc.add(Para(f"{name}: {report.examples} runs, {report.steps} steps; "
                     + ("no violation" if report.violation is None
                        else "violation found") + "."))
    doc.add(Heading(3, f"New violations ({len(s.new_violations)})", "new-violations"))
    if s.new_violations:
        doc.add(Bullets(tuple(f"`{v}`" for v in s.new_violations)))
        doc.add(Para("The proposal's counterexample, shrunk, in operator language:"))
        doc.add(Code(r.proposed.report.violation or ""))
        if picture is not None:
            doc.add(Para(f"Its sequence diagram: [{picture}]({picture}); replay it with "
                         f"`nova-model simulate {r.counterexample}`."))
    else:
        doc.add(Para("None."))
    doc.add(Heading(3, "Violations that disappear", "gone-violations"),
            _listed([f"{v}" for v in s.gone_violations]))
    doc.add(Heading(3, "Coverage gained", "coverage-gained"), _listed(s.coverage_gained),
            Heading(3, "Coverage lost", "coverage-lost"), _listed(s.coverage_lost),
            Heading(3, "Upstream findings that appear", "findings-appear"),
            _listed(s.findings_appear),
            Heading(3, "Upstream findings that disappear", "findings-disappear"),
            _listed(s.findings_disappear))


def changed_diagram(before, after) -> Diagram:
    """The proposal's diagram of an operation, its added edges (and nodes whose text
    changed) highlighted, its removed edges drawn dashed and muted."""
    old, new = operations.build(before), operations.build(after)
    key = lambda e: (e.src, e.dst, e.label)  # noqa: E731
    old_edges, old_nodes = {key(e) for e in old.edges}, {n.id: n.label for n in old.nodes}
    new_ids = {n.id for n in new.nodes}
    nodes = [Node(n.id, n.label, n.shape, Look.FAULT) if old_nodes.get(n.id, n.label) != n.label
             or n.id not in old_nodes else n for n in new.nodes]
    nodes += [Node(n.id, n.label, n.shape, Look.MUTED) for n in old.nodes if n.id not in new_ids]
    edges = [Edge(e.src, e.dst, f"+ {e.label}", Line.BOLD, Look.FAULT, e.constraint)
             if key(e) not in old_edges else e for e in new.edges]
    new_edges = {key(e) for e in new.edges}
    edges += [Edge(e.src, e.dst, f"− {e.label}", Line.DASHED, Look.MUTED, e.constraint)
              for e in old.edges if key(e) not in new_edges]
    title = (f"{after.name} as proposed (bold red: added or changed; dashed grey: removed)\n"
             + new.title)
    return Diagram(f"review-{new.name}", title, tuple(nodes), tuple(edges),
                   ranks=new.ranks, layout=new.layout)


def _diagrams(doc: Document, r: Review, diagrams: list[Diagram]) -> None:
    doc.add(Heading(2, "4. Changed operations", "operations"))
    if not diagrams:
        doc.add(Para("No operation's declaration changes."))
    for diagram in diagrams:
        doc.add(Figure(diagram.name, diagram.title.splitlines()[0], embed=True))


def build(r: Review, diagrams: list[Diagram], picture: str | None = None) -> Document:
    doc = Document(f"Review: {r.proposal.title}")
    doc.add(Para(verdict(r)))
    if r.proposal.why:
        doc.add(Para(f"Why: {r.proposal.why}"))
    doc.add(Para(f"Proposal: `{r.proposal.source}`; operations it rewrites: "
                 + (", ".join(f"`{n}`" for n in r.proposal.changed) or "none") + "."))
    _guards(doc, r)
    _graph(doc, r)
    _search(doc, r, picture)
    _diagrams(doc, r, diagrams)
    return doc
