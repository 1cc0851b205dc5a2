"""The single-instance explorer as it was before issue #16, kept for its benchmark.

``bench/bench_explore.py`` times it against ``model.graph.explore`` in one run: it
drives the instance through the ``transitions`` machine for every move of every
configuration and keeps the full graph as a ``networkx.DiGraph``. It is not used by
the product; delete it (and the benchmark's "before" half) once the figures are kept.
It follows the model's semantics as the product explorer does, so that both find the
same counts: since then, a step that lost its compare-and-swap is delivered like any
other and does what the cluster does (its clean-up, ``Step.preempted``).

The original description:

Exhaustive exploration of one instance's lifecycle, as a networkx graph.

The explorer drives a ``Lifecycle`` with every API request (as an admin, so that
admin-only operations are explored too), every pending step with every outcome
the catalogue declares for it, and the world's moves (either of two hosts going
down or coming back). Each configuration of the world that changes a branch
(``shelved_offload_time`` 0 or not) is explored and the graphs are merged.

A node of the *full* graph is everything that decides the instance's future:
its state variables plus the work pending for it. The *projected* graph has one
node per ``(vm_state, task_state, power_state)``; its edges are labelled with
the trigger that moves between them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Iterable

import networkx as nx

from model.errors import NovaModelError
from model.lifecycle import (
    ADMIN, STATE_PAIRS, Lifecycle, MigrationRecord, SimpleWorld, USER,
    preempted_clean_up, preempted_label, preempted_state, rebuild_as_stopped,
)
from model.operation import Branch, Entered, Kind, Where
from model.states import MIGRATION_FINAL, PowerState, Task, VmState

HOSTS = ("A", "B")
Combo = tuple[VmState, Task, PowerState]


@dataclass(frozen=True, order=True)
class Pending:
    operation: str
    step: str
    target: str | None  # the destination host chosen for this operation, if any
    within: bool = False  # its handler goes on with it: lost when its host goes down
    own_record: bool = True  # no other move has made a migration record since


@dataclass(frozen=True)
class Node:
    """One explored configuration of one instance and its two-host world."""

    state: str
    power: PowerState
    guest: PowerState  # what the hypervisor has (Instance.guest)
    host: str | None
    launched: bool
    old_vm_state: VmState | None
    migration: tuple | None  # (status, source, dest)
    pending: frozenset[Pending]
    down: frozenset[str]

    @property
    def combo(self) -> Combo:
        vm, task = STATE_PAIRS.get(self.state, (VmState.BUILDING, None))
        return (vm, task, self.power)


@dataclass
class Exploration:
    """The result: the full graph, its projection, and what fired."""

    full: nx.DiGraph
    projected: nx.MultiDiGraph
    fired: set[str] = field(default_factory=set)  # triggers that fired somewhere
    accepted: set[str] = field(default_factory=set)  # API operations accepted somewhere

    @property
    def combos(self) -> set[Combo]:
        return set(self.projected.nodes)


def combo_label(combo: Combo) -> str:
    vm, task, power = combo
    return f"{vm.value}/{'None' if task is None else task.value}/{power.label}"


class _Explorer:
    def __init__(self, lifecycle: Lifecycle, shelved_offload_time: int, concurrency: int):
        self.concurrency = concurrency
        self.lc = lifecycle
        self.world = SimpleWorld(shelved_offload_time=shelved_offload_time)
        self.instance = lifecycle.new_instance("explored", self.world)
        # Every step declares an unconditional fallback branch, so a step can fire
        # exactly when some transition of it leaves the current machine state.
        self.fireable = {(s.operation, s.step, s.source) for s in lifecycle.specs}

    def close(self) -> None:
        self.lc.forget(self.instance)

    # -- snapshot / restore of the single instance --

    def snapshot(self, pending: Iterable[Pending]) -> Node:
        """The canonical node for the explorer's current configuration.

        Three reductions keep the graph small without changing what can happen:
        a migration in a final status is forgotten (no guard or step reads it);
        old_vm_state is forgotten while idle outside suspended and resized (every
        reader runs after a writer of its own operation); and the two hosts are
        symmetric, so they are renamed to put the instance on "A".
        """
        i = self.instance
        m = i.migration
        live = frozenset(p for p in pending if self._can_fire(p))
        vm, task = STATE_PAIRS[i.state] if i.state in STATE_PAIRS else (None, None)
        old = i.old_vm_state
        if task is None and vm not in (VmState.SUSPENDED, VmState.RESIZED):
            old = None
        migration = None
        if m is not None and m.status not in MIGRATION_FINAL:
            migration = (m.status, m.source, m.dest)
        node = Node(i.state, i.power_state, i.guest, i.host, i.launched, old, migration, live,
                    frozenset(self.world.down))
        return _swap_hosts(node) if i.host == "B" else node

    def _can_fire(self, item: Pending) -> bool:
        """Whether a pending step's compare-and-swap would pass now, or its delivery
        would still change something (it errors the instance, or its clean-up changes
        the instance's migration record); other work is dropped at once."""
        i = self.instance
        if (item.operation, item.step, i.state) in self.fireable:
            return True
        if i.state not in STATE_PAIRS or i.vm_state is VmState.DELETED:
            return False
        step = self.lc.operation(item.operation).step(item.step)
        return step.preempted is not None or (
            self._clean_up_change(item) is not None and item.own_record
            and i.migration is not None and i.migration.status not in MIGRATION_FINAL)

    def _clean_up_change(self, item: Pending):
        step = self.lc.operation(item.operation).step(item.step)
        clean = preempted_clean_up(self.lc, item.operation, step)
        change = clean.migration if clean is not None else None
        return change if change is not None and change.create is None else None

    def _preempted(self, item: Pending) -> Branch:
        i = self.instance
        change = self._clean_up_change(item)
        if change is not None and item.own_record and i.migration is not None:
            i.migration.status = change.status
        left = preempted_state(self.lc.operation(item.operation).step(item.step), i,
                               item.target)
        if left is not None:
            i.state, power = left
            if power is not None:
                i.power_state = power
        return Branch()

    def restore(self, node: Node) -> None:
        restore_node(self.instance, self.world, node)

    # -- moves --

    def successors(self, node: Node) -> Iterable[tuple[str, Node]]:
        if node.state == "new":
            self.restore(node)
            yield from self._after(node, "create.api.ok",
                                   lambda: self.lc.request("create", self.instance), None)
            return
        # The bound on racing operations: a request is explored while fewer than
        # `concurrency` pieces of work are pending, and one more for the operations
        # whose guard admits a task in progress (those that preempt or cancel one).
        busy = len(node.pending)
        for op in self.lc.operations:
            if busy >= self.concurrency and not (busy == self.concurrency
                                                 and _preempts(op)):
                continue
            if op.kind is Kind.API and not op.creates_instance:
                for ctx in ((ADMIN, USER) if op.name == "lock" else (ADMIN,)):
                    self.restore(node)
                    yield from self._after(
                        node, f"{op.name}.api.ok",
                        lambda op=op, ctx=ctx: self.lc.request(op.name, self.instance, ctx,
                                                               dest=self._other(), source=None),
                        Pending(op.name, "api", None))
                if op.stopped_from_microversion is not None:  # target_state stopped
                    self.restore(node)
                    yield from self._after(
                        node, f"{op.name}.api.ok",
                        lambda op=op: self._as_stopped(self.lc.request(
                            op.name, self.instance, ADMIN, dest=self._other(), source=None)),
                        Pending(op.name, "api", None))
            elif op.kind is not Kind.API:
                self.restore(node)
                yield from self._after(node, f"{op.name}.api.ok",
                                       lambda op=op: self._periodic(op.name),
                                       Pending(op.name, "api", None))
        for item in sorted(node.pending):
            if not self._deliverable(node, item):
                continue
            step = self.lc.operation(item.operation).step(item.step)
            self.restore(node)
            if (item.operation, item.step, node.state) not in self.fireable:
                yield from self._after(node, preempted_label(item.operation, item.step),
                                       lambda item=item: self._preempted(item), item,
                                       consumed=item)
                continue
            for outcome in step.outcomes:
                self.restore(node)
                yield from self._after(
                    node, f"{item.operation}.{item.step}.{outcome.name}",
                    lambda item=item, outcome=outcome: self._deliver(item, outcome.name),
                    item, consumed=item)
        # One host down at a time is enough to reach every branch (evacuate needs its
        # source down and a destination up); it keeps the world small.
        for host in HOSTS:
            self.restore(node)
            if host in self.world.down:
                self.world.down.discard(host)
                yield f"service_up {host}", self.snapshot(node.pending)
            elif not self.world.down:
                self.world.down.add(host)
                left = frozenset(p for p in node.pending
                                 if not (p.within and self._location(node, p) == host))
                yield f"service_down {host}", self.snapshot(left)

    def _as_stopped(self, branch: Branch) -> Branch:
        rebuild_as_stopped(self.instance)
        return branch

    def _periodic(self, name: str) -> Branch:
        if self.lc.guard_failure_for(name, self.instance) is not None:
            raise NovaModelError("not applicable")
        return self.lc.deliver(name, "api", "ok", self.instance)

    def _other(self) -> str:
        """A destination: a host other than the instance's, preferring one that is up."""
        current = self.instance.host
        for host in HOSTS:
            if host != current and host not in self.world.down:
                return host
        return next(h for h in HOSTS if h != current)

    def _source(self) -> str | None:
        m = self.instance.migration
        return m.source if m is not None else None

    def _location(self, node: Node, item: Pending) -> str | None:
        step = self.lc.operation(item.operation).step(item.step)
        return {
            Where.CONDUCTOR: None, Where.API: None,
            Where.HOST: node.host,
            Where.SOURCE: node.migration[1] if node.migration else node.host,
            Where.DEST: item.target,
        }[step.where]

    def _deliverable(self, node: Node, item: Pending) -> bool:
        where = self._location(node, item)
        return where is None or where not in node.down

    def _deliver(self, item: Pending, outcome: str) -> Branch:
        return self.lc.deliver(item.operation, item.step, outcome, self.instance,
                               dest=item.target, source=self._source())

    def _after(self, node: Node, label: str, action, origin: Pending | None,
               consumed: Pending | None = None) -> Iterable[tuple[str, Node]]:
        before_host = self.instance.host
        try:
            branch = action()
        except NovaModelError:
            return
        pending = set(node.pending)
        if consumed is not None:
            pending.discard(consumed)
        if branch.migration is not None and branch.migration.create is not None:
            pending = {replace(p, own_record=False)
                       if self._clean_up_change(p) is not None else p for p in pending}
        target = origin.target if origin is not None else None
        if branch.then is not None:
            if target is None:
                target = self.instance.host if self.instance.host != before_host else None
            if target is None and self.lc.operation(label.split(".")[0]).step(
                    branch.then).where in (Where.DEST, Where.CONDUCTOR):
                target = self._other()
            operation = label.split(".")[0]
            entry = self.lc.operation(operation).step(branch.then).entry.after(
                origin.step if origin is not None else "api")
            pending.add(Pending(operation, branch.then, target,
                                entry.kind is Entered.HANDLER))
        self._apply_migration(branch, before_host, target)
        yield label, self.snapshot(pending)

    def _apply_migration(self, branch: Branch, source: str | None, dest: str | None) -> None:
        change = branch.migration
        if change is None:
            return
        i = self.instance
        if change.create is not None:
            i.migration = MigrationRecord("m", i.uuid, change.create, change.status,
                                          source, dest)
        elif i.migration is not None:
            i.migration.status = change.status


def restore_node(i, world: SimpleWorld, node: Node) -> None:
    """Put an instance and its two-host world back into an explored configuration."""
    i.state, i.power_state, i.guest, i.host, i.launched = (
        node.state, node.power, node.guest, node.host, node.launched)
    # Requests are made as an admin, whom locks do not stop: the lock is not explored.
    i.locked, i.locked_by = False, None
    i.old_vm_state = node.old_vm_state
    i.migration = None
    if node.migration is not None:
        status, source, dest = node.migration
        i.migration = MigrationRecord("m", i.uuid, None, status, source, dest)
    world.down = set(node.down)


def _swap_hosts(node: Node) -> Node:
    swap = {"A": "B", "B": "A", None: None}
    m = node.migration
    return Node(node.state, node.power, node.guest, swap[node.host], node.launched, node.old_vm_state,
                None if m is None else (m[0], swap[m[1]], swap[m[2]]),
                frozenset(replace(p, target=swap[p.target]) for p in node.pending),
                frozenset(swap[h] for h in node.down))


def _preempts(op) -> bool:
    return op.guard is not None and op.guard.task_states != frozenset({None})


def explore(lifecycle: Lifecycle | None = None,
            shelved_offload_times: Iterable[int] = (0, -1), concurrency: int = 1
            ) -> Exploration:
    """Explore every configuration reachable from a boot; merge the world variants."""
    lifecycle = lifecycle or Lifecycle()
    full = nx.DiGraph()
    projected = nx.MultiDiGraph()
    result = Exploration(full, projected)
    for offload_time in shelved_offload_times:
        explorer = _Explorer(lifecycle, offload_time, concurrency)
        try:
            start = explorer.snapshot(())
            explorer.restore(start)
            root = ("root", offload_time)
            full.add_node(root)
            queue = deque([start])
            seen = {start}
            full.add_edge(root, (offload_time, start), label="start")
            while queue:
                node = queue.popleft()
                for label, nxt in explorer.successors(node):
                    full.add_edge((offload_time, node), (offload_time, nxt), label=label)
                    if label.count(".") == 2:
                        result.fired.add(label)
                        if label.endswith(".api.ok"):
                            result.accepted.add(label.split(".")[0])
                    if node.state != "new" and nxt.combo != node.combo:
                        if not projected.has_edge(node.combo, nxt.combo, key=label):
                            projected.add_edge(node.combo, nxt.combo, key=label, label=label)
                    elif nxt.state != "new":
                        projected.add_node(nxt.combo)
                    if nxt not in seen:
                        seen.add(nxt)
                        queue.append(nxt)
        finally:
            explorer.close()
    return result
