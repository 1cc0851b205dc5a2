"""``allocations``: who holds what on which host through the moves, from the ``Alloc`` effects.

Beside each change of Placement's ledger the edge names the compute's own
resource-tracker calls the same steps make (``Branch.tracker``, marked ◦): the
count the scheduler's weighers read, which Nova keeps apart from Placement.

Each scenario is a sequence of catalogue operations replayed on the lifecycle
machine (``transitions``), every step taking its ``ok`` outcome (the machine
picks the branch). The Placement effects the taken branches declare are applied
to a symbolic ledger of (consumer, host) holdings, with the meaning
``model.operation.Alloc`` gives them (the cluster implements the same meaning
on a real ledger). A node is the ledger after a step that changed it (or at the
end of an operation); dashed edges show where a failure outcome of a step would
leave the ledger instead.

An effect ``model.operation.BATCHED_WRITES`` declares (the swaps between the
instance and the migration consumer, Nova's ``move_allocations``) is marked as the one
atomic POST /allocations it is.

Hosts are named as the lifecycle's explorer names them: the instance starts on
``A``; ``B`` is the other host, the one the scheduler picks.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.graph import HOSTS
from model.lifecycle import Lifecycle
from model.operation import BATCHED_WRITES, Alloc, Check, Operation, OutcomeKind
from model.states import task_label
from nova_model.render.derive import Replayer
from nova_model.render.ir import Cluster, Diagram, Edge, Layout, Line, Look, Node, Shape, ident, wrap

NAME = "allocations"

INSTANCE, MIGRATION = "instance", "migration"

Holdings = frozenset[tuple[str, str]]  # (consumer, host)


@dataclass(frozen=True)
class Ledger:
    """The symbolic Placement ledger: which consumer holds an allocation on which host."""

    holdings: Holdings = frozenset()

    def of(self, consumer: str) -> tuple[str, ...]:
        return tuple(sorted(h for c, h in self.holdings if c == consumer))

    def text(self) -> str:
        lines = []
        for consumer in (INSTANCE, MIGRATION):
            hosts = self.of(consumer)
            if hosts:
                lines.append(f"{consumer} holds {' + '.join(hosts)}")
        return "\n".join(lines) or "no allocation"

    def apply(self, effect: Alloc, dest: str | None, source: str | None) -> Ledger:
        """One ``Alloc`` effect; ``dest``/``source`` are the move's hosts."""
        held = set(self.holdings)
        mine = {(c, h) for c, h in held if c == INSTANCE}
        theirs = {(c, h) for c, h in held if c == MIGRATION}
        if effect is Alloc.CLAIM_DEST:  # PUT: replaces what the instance held
            held = (held - mine) | {(INSTANCE, dest)}
        elif effect is Alloc.CLAIM_DEST_DOUBLED:
            held |= {(INSTANCE, dest)}
        elif effect is Alloc.MOVE_SOURCE_TO_MIGRATION:
            held = (held - mine) | {(MIGRATION, h) for _, h in mine}
        elif effect is Alloc.REVERT_MIGRATION_TO_INSTANCE:
            if theirs:
                held = (held - mine - theirs) | {(INSTANCE, h) for _, h in theirs}
        elif effect is Alloc.DELETE_MIGRATION:
            held -= theirs
        elif effect is Alloc.DELETE_INSTANCE:
            held -= mine
        elif effect is Alloc.REMOVE_DEST_FROM_INSTANCE:
            if dest is not None and dest != source:
                held -= {(INSTANCE, dest)}
        elif effect is Alloc.REMOVE_SOURCE_FROM_INSTANCE:
            if source is not None and dest != source:
                held -= {(INSTANCE, source)}
        elif effect is Alloc.REMOVE_HOST_FROM_INSTANCE:  # no move: its own host
            held -= mine
        else:  # pragma: no cover - a new Alloc member needs a meaning here
            raise ValueError(f"no ledger meaning for {effect!r}")
        return Ledger(frozenset(held))


#: The scenarios drawn: (title, operations in order, shelved_offload_time).
SCENARIOS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("boot", ("create",), -1),
    ("resize, then confirm", ("resize", "confirm_resize"), -1),
    ("resize, then revert", ("resize", "revert_resize"), -1),
    ("cold migrate, then confirm", ("migrate", "confirm_resize"), -1),
    ("live migration", ("live_migrate",), -1),
    ("evacuate (the instance's host is down)", ("evacuate",), -1),
    ("shelve, shelve_offload, unshelve", ("shelve", "shelve_offload", "unshelve"), -1),
)


def _effect(effect: Alloc) -> str:
    """An effect's line on an edge; a batched write says so."""
    text = "• " + effect.value
    if effect in BATCHED_WRITES:
        text += " (one POST /allocations: both consumers in one atomic write)"
    return text


def _first_ok(op: Operation, step: str) -> str:
    return next(o.name for o in op.step(step).outcomes if o.kind is OutcomeKind.OK)


class _Scenario:
    def __init__(self, lifecycle: Lifecycle, key: str, title: str, offload: int):
        self.replay = Replayer(lifecycle)
        self.replay.world.shelved_offload_time = offload
        self.key = key
        self.ledger = Ledger()
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.current = self._node("start", Look.STATE)
        self.cluster = Cluster(key, title, Look.MUTED)

    def _node(self, label: str, look: Look, ledger: Ledger | None = None,
              state: str | None = None) -> str:
        i = self.replay.instance
        node_id = ident(self.key, len(self.nodes))
        if state is None:
            state = ("not created" if i.state == "new"
                     else f"{i.vm_state.value} / {task_label(i.task_state)}")
        text = f"{state}\n{(ledger or self.ledger).text()}"
        self.nodes.append(Node(node_id, text, Shape.ROUNDED, look, self.key))
        return node_id

    def _hosts(self, target: str | None) -> tuple[str | None, str | None]:
        m = self.replay.instance.migration
        source = m.source if m is not None else self.replay.instance.host
        dest = target if target is not None else (m.dest if m is not None else None)
        return dest, source

    def _side(self, op: Operation, step: str, target: str | None) -> None:
        """Failure outcomes of ``step`` that touch the ledger: where they would leave it."""
        saved = self.replay.save()
        for outcome in op.step(step).outcomes:
            if outcome.kind is OutcomeKind.OK:
                continue
            self.replay.load(saved)
            dest, source = self._hosts(target)
            fired = self.replay.fire(op, step, outcome.name, target)
            if fired is None or not fired[0].alloc:
                continue
            after = self.ledger
            for effect in fired[0].alloc:
                after = after.apply(effect, dest, source)
            look = Look.ENV if outcome.kind is OutcomeKind.ENV else Look.FAULT
            side = self._node(outcome.name, look, after)
            effects = "\n".join(wrap(_effect(a), 34) for a in fired[0].alloc)
            self.edges.append(Edge(self.current, side, f"{op.name}.{step}: {outcome.name}\n"
                                   + effects, Line.DASHED, look))
        self.replay.load(saved)

    def run(self, op: Operation) -> None:
        replay = self.replay
        down = op.guard is not None and Check.SOURCE_HOST_DOWN in op.guard.checks
        if down:
            replay.world.down = {replay.instance.host}
        before = self.ledger
        begun = replay.begin(op)
        if begun is None:
            raise ValueError(f"scenario {self.key}: {op.name} refused")
        branch, target = begun
        pending: list[str] = []  # steps since the last ledger change
        step = "api"
        while True:
            if branch.alloc or branch.tracker:
                dest, source = self._hosts(target)
                for effect in branch.alloc:
                    self.ledger = self.ledger.apply(effect, dest, source)
                effects = "\n".join([*(wrap(_effect(a), 34) for a in branch.alloc),
                                     *(wrap("◦ " + t.value, 34) for t in branch.tracker)])
                nxt = self._node("", Look.PLACEMENT)
                label = f"{op.name}: " + " → ".join([*pending, step]) + "\n" + effects
                self.edges.append(Edge(self.current, nxt, label, Line.SOLID, Look.PLACEMENT))
                self.current, pending = nxt, []
            else:
                pending.append(step)
            if branch.then is None:
                break
            step = branch.then
            self._side(op, step, target)
            fired = replay.fire(op, step, _first_ok(op, step), target)
            if fired is None:
                raise ValueError(f"scenario {self.key}: {op.name}.{step} could not run")
            branch, target = fired
        if pending or self.ledger == before:
            end = self._node("", Look.STATE)
            self.edges.append(Edge(self.current, end, f"{op.name}: " + " → ".join(pending)
                                   + "\n(ledger unchanged)", Line.SOLID, Look.MUTED))
            self.current = end
        if down:
            replay.world.down = set()

    def close(self) -> None:
        self.replay.close()


def build(lifecycle: Lifecycle | None = None) -> Diagram:
    lifecycle = lifecycle or Lifecycle()
    nodes: list[Node] = []
    edges: list[Edge] = []
    clusters: list[Cluster] = []
    for index, (title, names, offload) in enumerate(SCENARIOS):
        ops = [lifecycle.operation(n) for n in names]
        scenario = _Scenario(lifecycle, f"s{index}", title, offload)
        try:
            if not ops[0].creates_instance:
                boot = next(op for op in lifecycle.operations if op.creates_instance)
                scenario.run(boot)  # the instance every other scenario starts from
                scenario.nodes.clear()
                scenario.edges.clear()
                scenario.current = scenario._node("", Look.STATE)
            for op in ops:
                scenario.run(op)
        finally:
            scenario.close()
        nodes += scenario.nodes
        edges += scenario.edges
        clusters.append(scenario.cluster)
    title = ("Placement allocations through the moves, from the Alloc effects of the steps "
             "taken (every step ok; dashed: where a failure would leave the ledger)\n"
             f"the instance starts on host {HOSTS[0]}; {HOSTS[1]} is the host the scheduler "
             "picks · instance / migration = the consumer (instance.uuid / migration.uuid) · "
             "a swap between them is one POST /allocations (move_allocations)")
    # Graphviz stacks left-to-right clusters bottom-up: declare them in reverse so
    # that the first scenario is drawn at the top.
    clusters.reverse()
    order = {c.id: i for i, c in enumerate(clusters)}
    nodes.sort(key=lambda n: order[n.cluster])
    return Diagram(NAME, title, tuple(nodes), tuple(edges), tuple(clusters),
                   Layout(direction="LR", nodesep=0.25, ranksep=0.6, fontsize=10,
                          edge_fontsize=8))
