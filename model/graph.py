"""Exhaustive exploration of one instance's lifecycle, as a graph.

The explorer drives a ``Lifecycle`` with every API request (as an admin, so that
admin-only operations are explored too), every pending step with every outcome
the catalogue declares for it (or, when another operation has taken its task_state,
with what its handler then does: ``_preempted``), and the world's moves (either of two hosts going
down or coming back). Each configuration of the world that changes a branch
(``WORLDS``: ``shelved_offload_time`` 0 or not for an instance booted from an image,
and an instance booted from a volume) is explored and the graphs are merged.

A node of the *full* graph is everything that decides the instance's future:
its state variables plus the work pending for it. The *projected* graph has one
node per ``(vm_state, task_state, power_state)``; its edges are labelled with
the trigger that moves between them.

A configuration is a value (``Node``, a named tuple: hashed and compared as its
canonical key). What a request, a delivery or a host event does depends only on the
instance's variables and its world (the ``Core`` of a node), never on the other
work pending; so each distinct ``(core, move)`` goes through the lifecycle's
``transitions`` machine once, and every other configuration with the same core
reuses that answer and only recomputes which of its pending work can still fire.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple

import networkx as nx

from model.lifecycle import (
    ADMIN, NEW, STATE_PAIRS, Lifecycle, MigrationRecord, SimpleWorld, USER,
    check_admits, fault_reached, guard_failure, place, preempted_clean_up, preempted_guest,
    preempted_label, preempted_reaches, preempted_state, rebuild_as_stopped,
)
from model.operation import (
    Branch, Entered, HostEffect, Kind, Migration, Operation, When, Where, the_operation,
)
from model.states import MIGRATION_FINAL, PowerState, Task, VmState

HOSTS = ("A", "B")
Combo = tuple[VmState, Task, PowerState]
_new_node = tuple.__new__  # a Node from its fields in order, without NamedTuple's checks


@dataclass(frozen=True, order=True)
class WorldVariant:
    """A configuration of the world that changes a branch of the catalogue."""

    shelved_offload_time: int
    volume_backed: bool = False


#: The worlds explored: an image-backed instance with ``shelved_offload_time`` 0 and
#: -1, and a volume-backed one (whose shelve offloads at once whatever the option says,
#: so one value of it is enough).
WORLDS = (WorldVariant(0), WorldVariant(-1), WorldVariant(0, volume_backed=True))


class Pending(NamedTuple):
    """A step queued for the explored instance."""

    operation: str
    step: str
    target: str | None  # the destination host chosen for this operation, if any
    #: the handler of the step before goes on with it (``Entered.HANDLER``): it goes
    #: with the compute process when that host's service stops
    within: bool = False
    #: the migration record the instance has is still this step's own (no other move
    #: has made one since): what a clean-up after a lost compare-and-swap acts on
    own_record: bool = True
    #: the chain holds no record: its lookup (``Step.record``) found none in the status
    #: it asks for, so the statuses its steps declare are written to none
    unheld: bool = False


class Node(NamedTuple):
    """One explored configuration of one instance and its two-host world.

    A tuple, so that it is its own canonical key: hashed and compared field by field.
    """

    state: str
    power: PowerState
    guest: PowerState  # what the hypervisor has (``Instance.guest``)
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

    @property
    def core(self) -> Core:
        """Everything but the pending work: what a move's outcome depends on."""
        return (self.state, self.power, self.guest, self.host, self.launched, self.old_vm_state,
                self.migration, self.down)


#: A node without its pending work: (state, power, guest, host, launched, old_vm_state,
#: migration, down), the node's fields in order.
Core = tuple


class Configurations:
    """The full graph: explored configurations and the moves between them.

    A compact directed multigraph (one edge per move, labelled with its trigger) with
    the read methods of a ``networkx`` graph its readers use. Nodes are numbered in the
    order they were first reached; edges are three arrays of numbers.
    """

    def __init__(self) -> None:
        self._keys: list = []
        self._src = array("i")
        self._dst = array("i")
        self._label = array("H")
        self._labels: list[str] = []
        self.label_ids: dict[str, int] = {}  # label -> its number
        self._ids: dict | None = None  # key -> number, built when first asked
        self._preds: tuple[array, array] | None = None

    # -- building --

    def append(self, key) -> int:
        """Add a node the caller knows is new; its number."""
        self._keys.append(key)
        self._ids = None
        return len(self._keys) - 1

    def label_id(self, label: str) -> int:
        lid = self.label_ids.get(label)
        if lid is None:
            lid = self.label_ids[label] = len(self._labels)
            self._labels.append(label)
        return lid

    def add_edge_ids(self, u: int, v: int, label: str) -> None:
        self._src.append(u)
        self._dst.append(v)
        self._label.append(self.label_id(label))
        self._preds = None

    def edge_arrays(self) -> tuple[array, array, array]:
        """The (sources, targets, label numbers) arrays, for a caller that appends many
        edges at once (``label_id`` numbers a label)."""
        self._preds = None
        return self._src, self._dst, self._label

    # -- reading (the networkx names) --

    @property
    def nodes(self) -> tuple:
        return tuple(self._keys)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label some edge has, in the order first used."""
        return tuple(self._labels)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator:
        return iter(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._index()

    def number_of_nodes(self) -> int:
        return len(self._keys)

    def number_of_edges(self) -> int:
        return len(self._src)

    def edges(self, data: str | None = None) -> Iterator[tuple]:
        keys, labels = self._keys, self._labels
        for u, v, lid in zip(self._src, self._dst, self._label):
            yield (keys[u], keys[v], labels[lid]) if data == "label" else (keys[u], keys[v])

    def predecessors(self, key) -> Iterator:
        for u in self.predecessor_ids(self._index()[key]):
            yield self._keys[u]

    # -- by number --

    def predecessor_ids(self, v: int) -> array:
        if self._preds is None:
            self._preds = self._reverse()
        starts, sources = self._preds
        return sources[starts[v]:starts[v + 1]]

    def can_reach(self, targets: Iterable[int]) -> set[int]:
        """The numbers of the nodes from which some target node is reachable."""
        found = set(targets)
        todo = list(found)
        while todo:
            for u in self.predecessor_ids(todo.pop()):
                if u not in found:
                    found.add(u)
                    todo.append(u)
        return found

    def _index(self) -> dict:
        if self._ids is None:
            self._ids = {key: n for n, key in enumerate(self._keys)}
        return self._ids

    def _reverse(self) -> tuple[array, array]:
        """Predecessors in compressed rows: node v's are sources[starts[v]:starts[v+1]]."""
        n = len(self._keys)
        counts = [0] * (n + 1)
        for v in self._dst:
            counts[v + 1] += 1
        for i in range(n):
            counts[i + 1] += counts[i]
        starts = array("i", counts)
        fill = counts[:-1]
        sources = array("i", [0]) * len(self._src)
        for u, v in zip(self._src, self._dst):
            sources[fill[v]] = u
            fill[v] += 1
        return starts, sources


@dataclass
class Exploration:
    """The result: the full graph, its projection, and what fired."""

    full: Configurations
    projected: nx.MultiDiGraph
    fired: set[str] = field(default_factory=set)  # triggers that fired somewhere
    accepted: set[str] = field(default_factory=set)  # API operations accepted somewhere

    @property
    def combos(self) -> set[Combo]:
        return set(self.projected.nodes)


def combo_label(combo: Combo) -> str:
    vm, task, power = combo
    return f"{vm.value}/{'None' if task is None else task.value}/{power.label}"


#: A move's effect on a core: (label, the core after it, the step it queues or None,
#: the (vm_state, task_state, power_state) after it).
#: (label, core after, the step it queues, combo after, whether it made a new
#: migration record)
Moved = tuple[str, Core, "Pending | None", Combo, bool]

#: The conditions that read the world variant rather than the instance.
_WORLD_CONDITIONS = frozenset({When.OFFLOAD_NOW, When.NOT_OFFLOAD_NOW,
                               When.VOLUME_BACKED, When.NOT_VOLUME_BACKED})


class _Memo:
    """What the explorers of one lifecycle learn about cores, shared between the world
    variants: a move whose transitions read no world condition (``shelved_offload_time``,
    a volume-backed root disk) does the same in all of them, so its answer is kept here;
    the others stay with their explorer."""

    def __init__(self, lifecycle: Lifecycle):
        self.machine = lifecycle.compiled
        # Every step declares an unconditional fallback branch, so a step can fire
        # exactly when some transition of it leaves the current machine state.
        self.fireable = {(s.operation, s.step, s.source) for s in lifecycle.specs}
        #: (machine state, trigger) pairs with a transition reading a world condition
        self.reads_world = {(s.source, s.trigger) for s in lifecycle.specs
                            if _WORLD_CONDITIONS & set(s.conditions)}
        self.requested: dict[tuple[Core, int], tuple[Moved, ...]] = {}
        self.delivered: dict[tuple[Core, Pending], tuple[Moved, ...]] = {}
        self.host_moves: dict[Core, tuple[tuple[str, Core], ...]] = {}
        self.guards: dict[tuple, tuple[tuple, ...]] = {}
        self.live: dict[tuple, frozenset[Pending]] = {}
        self.swapped: dict = {}
        self.cores: dict[Core, Core] = {}  # each distinct core (and its parts) once
        self.parts: dict = {}
        #: per (operation, step): whether losing its compare-and-swap changes the
        #: instance (``Step.preempted`` errors it, ``Step.guest_before_check`` leaves
        #: its guest), the change its clean-up makes to the move's record
        #: (``lifecycle.preempted_clean_up``), if any, and to the instance's host
        self.preemption: dict[tuple[str, str],
                              tuple[bool, Migration | None, HostEffect]] = {}
        for op in lifecycle.operations:
            for step in op.all_steps.values():
                clean = preempted_clean_up(lifecycle, op.name, step)
                change = clean.migration if clean is not None else None
                if change is not None and change.create is not None:
                    change = None
                host = clean.branch.host if clean is not None else HostEffect.KEEP
                self.preemption[(op.name, step.name)] = (
                    step.preempted is not None or step.guest_before_check is not None,
                    change, host)


class _Explorer:
    def __init__(self, lifecycle: Lifecycle, variant: WorldVariant, concurrency: int,
                 memo: _Memo | None = None):
        self.concurrency = concurrency
        self.lc = lifecycle
        self.world = SimpleWorld(shelved_offload_time=variant.shelved_offload_time,
                                 volume_backed=variant.volume_backed)
        self.instance = lifecycle.new_instance("explored", self.world)
        self.memo = memo or _Memo(lifecycle)
        self.machine = self.memo.machine
        self.fireable = self.memo.fireable
        # The requests explored at each level of pending work (see ``successors``).
        requests: list[list[tuple]] = [[], [], []]
        self.create = the_operation(
            lifecycle.operations, lambda op: op.kind is Kind.API and op.creates_instance,
            "create an instance").name
        for op in lifecycle.operations:
            if op.kind is Kind.API and op.creates_instance:
                continue
            if op.kind is Kind.API:
                # a request that takes the lock records whose it is (an admin's lock is
                # lifted only by an admin): explored as admin and as owner
                takes_lock = any(b.lock for o in op.api.outcomes for b in o.branches)
                moves = [("request", op.name, ctx)
                         for ctx in ((ADMIN, USER) if takes_lock else (ADMIN,))]
                if op.stopped_from_microversion is not None:
                    # and at a microversion that asks for target_state stopped
                    moves += [("request_stopped", op.name, ADMIN)]
            else:
                moves = [("periodic", op.name, ADMIN)]
            for level in range(3):
                if level == 0 or (level == 1 and _preempts(op)):
                    requests[level].extend(moves)
        self.requests = tuple(tuple(r) for r in requests)
        # The answers that read a world condition: this variant's own.
        self._requested: dict[tuple[Core, int], tuple[Moved, ...]] = {}
        self._delivered: dict[tuple[Core, Pending], tuple[Moved, ...]] = {}

    def close(self) -> None:
        self.lc.forget(self.instance)

    # -- configurations --

    def start(self) -> Node:
        return self._node(self._read_core(), frozenset())

    def _node(self, core: Core, pending: frozenset[Pending]) -> Node:
        """The canonical node: only the pending work that can still fire or whose
        delivery would still change something (a step that lost its compare-and-swap
        and errors the instance or ends its move's record: ``_preempted``), and the two
        hosts (which are symmetric) named so that the instance is on "A"."""
        key = (pending, core[0], core[6] is not None)
        live = self.memo.live.get(key)
        if live is None:
            state = core[0]
            live = self.memo.live[key] = frozenset(
                p for p in pending if (p.operation, p.step, state) in self.fireable
                or self._preemption_matters(p, state, core[6] is not None))
        if core[3] == "B":
            core = self._swap(core)
            live = self._swap(live)
        return _new_node(Node, (*core[:7], live, core[7]))

    def _swap(self, value):
        found = self.memo.swapped.get(value)
        if found is None:
            found = self.memo.swapped[value] = _swap_value(value)
        return found

    def _read_core(self) -> Core:
        """The scratch instance's core, with two reductions that change nothing that can
        happen: a migration in a final status is forgotten (no guard or step reads it);
        old_vm_state is forgotten while idle outside suspended and resized (every reader
        runs after a writer of its own operation)."""
        i = self.instance
        m = i.migration
        vm, task = STATE_PAIRS[i.state] if i.state in STATE_PAIRS else (None, None)
        old = i.old_vm_state
        if task is None and vm not in (VmState.SUSPENDED, VmState.RESIZED):
            old = None
        migration = None
        parts = self.memo.parts
        if m is not None and m.status not in MIGRATION_FINAL:
            migration = (m.status, m.source, m.dest)
            migration = parts.setdefault(migration, migration)
        down = tuple(sorted(self.world.down))
        down = parts.get(down) or parts.setdefault(down, frozenset(down))
        core = (i.state, i.power_state, i.guest, i.host, i.launched, old, migration, down)
        return self.memo.cores.setdefault(core, core)

    def _restore(self, core: Core) -> None:
        i = self.instance
        (i.state, i.power_state, i.guest, i.host, i.launched, i.old_vm_state, migration,
         down) = core
        # Requests are made as an admin, whom locks do not stop: the lock is not explored.
        i.locked, i.locked_by = False, None
        i.migration = None
        if migration is not None:
            i.migration = MigrationRecord("m", i.uuid, None, *migration)
        self.world.down = set(down)

    # -- moves --

    def _recall(self, shared: dict, own: dict, key: tuple, compute) -> tuple:
        """The moves for ``key`` (a core and a request level or a pending step), computed
        once: ``compute`` gives them and the triggers they may fire; they are shared
        between the world variants unless one of those triggers reads a world condition
        in the core's machine state, and then kept with this variant (``own``)."""
        answer = shared.get(key)
        if answer is None:
            answer = own.get(key)
        if answer is None:
            answer, triggers = compute()
            state, reads = key[0][0], self.memo.reads_world
            (own if any((state, t) in reads for t in triggers) else shared)[key] = answer
        return answer

    def _requests(self, core: Core, level: int) -> tuple[tuple, tuple[str, ...]]:
        admitted = self._admitted(core, level)
        moves = tuple(moved for move in admitted for moved in self._moves(
            core, move, Pending(move[1], "api", None)))
        return moves, tuple(f"{move[1]}.api.ok" for move in admitted)

    def successors(self, node: Node) -> Iterator[tuple[str, Node, Combo]]:
        """Every move from a configuration: its label, the configuration it leads to, and
        that configuration's (vm_state, task_state, power_state)."""
        core = node.core
        if node.state == NEW:
            for label, after, then, combo, _ in self._moves(
                    core, ("build", self.create, ADMIN), None):
                yield label, self._node(after, _with(frozenset(), then)), combo
            return
        # The bound on racing operations: a request is explored while fewer than
        # `concurrency` pieces of work are pending, and one more for the operations
        # whose guard admits a task in progress (those that preempt or cancel one).
        busy = len(node.pending)
        level = 0 if busy < self.concurrency else 1 if busy == self.concurrency else 2
        requested = self._recall(self.memo.requested, self._requested, (core, level),
                                 lambda: self._requests(core, level))
        pending = node.pending
        for label, after, then, combo, fresh in requested:
            left = self._stale(pending) if fresh else pending
            yield label, self._node(after, _with(left, then)), combo
        for item in sorted(pending):
            delivered = self._recall(self.memo.delivered, self._delivered, (core, item),
                                     lambda: (self._deliveries(node, item), tuple(
                                         f"{item.operation}.{item.step}.{outcome.name}"
                                         for outcome in self.lc.operation(
                                             item.operation).step(item.step).outcomes)))
            if delivered:
                rest = pending - {item}
                for label, after, then, combo, fresh in delivered:
                    left = self._stale(rest) if fresh else rest
                    yield label, self._node(after, _with(left, then)), combo
        # One host down at a time is enough to reach every branch (evacuate needs its
        # source down and a destination up); it keeps the world small.
        host_moves = self.memo.host_moves.get(core)
        if host_moves is None:
            host_moves = self.memo.host_moves[core] = _host_moves(core, self.memo.cores)
        combo = None
        for label, after in host_moves:
            if combo is None:
                combo = node.combo
            left = pending
            if label.startswith("service_down") and any(p.within for p in pending):
                # (the steps its handlers were to go on with stop with the process)
                host = label.split()[-1]
                left = frozenset(p for p in pending
                                 if not (p.within and self._location(node, p) == host))
            yield label, self._node(after, left), combo

    def _stale(self, pending: frozenset[Pending]) -> frozenset[Pending]:
        """The pending work after another move made a new migration record: a step
        whose clean-up changes its record no longer has it on the instance."""
        return frozenset(
            p._replace(own_record=False)
            if p.own_record and self.memo.preemption[(p.operation, p.step)][1] is not None
            else p for p in pending)

    def _preemption_matters(self, item: Pending, state: str, has_migration: bool) -> bool:
        """Whether delivering ``item`` when it can no longer fire changes anything: it
        errors the instance or leaves its guest as its driver did, or its clean-up
        changes the instance's migration record."""
        pair = STATE_PAIRS.get(state)
        if pair is None or pair[0] is VmState.DELETED:
            return False
        errs, change, _ = self.memo.preemption[(item.operation, item.step)]
        return errs or (change is not None and has_migration and item.own_record
                        and not item.unheld)

    def _preempted(self, core: Core, item: Pending) -> tuple[Moved, ...]:
        """A step delivered after another operation took its task_state: its clean-up
        of the move (on the record, if that is still its own), then the error its
        handler leaves (``Step.preempted``), as the cluster does it."""
        self._restore(core)
        i = self.instance
        step = self.lc.operation(item.operation).step(item.step)
        _, change, host = self.memo.preemption[(item.operation, item.step)]
        # (a record no longer followed, or in a final status, is forgotten: None)
        reaches = preempted_reaches(step, i.migration.status if item.own_record
                                    and i.migration is not None else None)
        if item.own_record and reaches:
            place(i, host, self._source(item), item.target)
        if (change is not None and item.own_record and not item.unheld
                and i.migration is not None and reaches):
            i.migration.status = change.status
        left = preempted_state(step, i, item.target, reaches)
        if left is not None:
            i.state, power = left
            if power is not None:
                i.power_state = power
        guest = preempted_guest(step, i)
        if guest is not None:
            i.guest = guest
        vm, task = STATE_PAIRS[i.state]
        return ((preempted_label(item.operation, item.step), self._read_core(), None,
                 (vm, task, i.power_state), False),)

    def _deliveries(self, node: Node, item: Pending) -> tuple[Moved, ...]:
        step = self.lc.operation(item.operation).step(item.step)
        if not self._deliverable(node, item):
            return ()
        if ((item.operation, item.step, node.state) not in self.fireable
                or not check_admits(step, STATE_PAIRS.get(node.state, (None, None))[1],
                                    node.guest)):
            return self._preempted(node.core, item)
        self._restore(node.core)
        reached = [o for o in step.outcomes if fault_reached(step, o.name, self.instance)]
        return tuple(moved for outcome in reached
                     for moved in self._moves(node.core, ("deliver", outcome.name, item),
                                              item))

    def _admitted(self, core: Core, level: int) -> tuple[tuple, ...]:
        """The requests of this level whose guard passes on this core.

        A guard reads the instance's state, whether it was launched, whether it has a
        host and that host's service is up, and the migration's status and whether its
        source's service is up (``lifecycle.guard_failure``): its answers are
        remembered per those, not per core."""
        state, _, _, host, launched, _, migration, down = core
        key = (level, state, launched, host is None, host in down,
               None if migration is None else (migration[0], migration[1] in down))
        admitted = self.memo.guards.get(key)
        if admitted is None:
            self._restore(core)
            admitted = self.memo.guards[key] = tuple(
                move for move in self.requests[level]
                if guard_failure(self.lc.operation(move[1]), self.instance, move[2]) is None)
        return admitted

    def _moves(self, core: Core, move: tuple, origin: Pending | None) -> tuple[Moved, ...]:
        """What one request or delivery does to a core: one ``Moved``, or none when the
        step's compare-and-swap refuses.

        As ``Lifecycle.request`` and ``Lifecycle.deliver`` do it, once the guard has
        admitted a request (``_admitted``), with the trigger fired through the
        machine's compiled table.
        """
        kind, name, arg = move
        self._restore(core)
        if kind == "deliver":
            operation, trigger = arg.operation, f"{arg.operation}.{arg.step}.{name}"
        else:
            operation, trigger = name, f"{name}.api.ok"
        i = self.instance
        before_host = i.host
        if kind == "deliver":
            kwargs = {"dest": arg.target, "source": self._source(arg)}
        elif kind in ("request", "request_stopped"):
            kwargs = {"ctx": arg, "dest": other_host(i, self.world.down), "source": None}
        elif kind == "build":
            kwargs = {"ctx": USER}
        else:  # a periodic task: delivered as its own step, as Lifecycle.deliver does
            kwargs = {}
        unheld = origin is not None and origin.unheld
        lookup = (self.lc.operation(operation).step(arg.step).record if kind == "deliver"
                  else None)
        if (lookup is not None and lookup.status is not None
                and not self.lc.operation(operation).migration_types):
            # A lookup by status finds the instance's one record if it is in that
            # status. Only for a chain whose own request made no record (a plain
            # rebuild): one that did (an evacuation) holds the record the explorer's
            # instance has, which stands for its own (the explorer keeps one record, so
            # it cannot tell two evacuations' records apart, as the cluster does).
            unheld = i.migration is None or i.migration.status is not lookup.status
        i.last_branch = None
        if not self.machine.fire(i, trigger, kwargs):
            return ()
        branch = i.last_branch
        if kind == "request_stopped":
            rebuild_as_stopped(i)
        target = bound_target(self.lc.operation(operation), i, self.world.down, branch,
                              before_host, origin.target if origin is not None else None)
        then = None
        if branch.then is not None:
            entry = self.lc.operation(operation).step(branch.then).entry.after(
                origin.step if origin is not None else "api")
            then = Pending(operation, branch.then, target, entry.kind is Entered.HANDLER,
                           unheld=unheld)
        if unheld:
            if lookup is not None and lookup.create is not None and lookup.claimed is not None:
                # the claim makes a record its handler never holds (``RecordLookup``)
                i.migration = MigrationRecord("m", i.uuid, lookup.create, lookup.claimed,
                                              before_host, arg.target)
        else:
            apply_migration(i, branch, before_host, target)
        vm, task = STATE_PAIRS.get(i.state, (VmState.BUILDING, None))
        fresh = branch.migration is not None and branch.migration.create is not None
        return ((trigger, self._read_core(), then, (vm, task, i.power_state), fresh),)

    def _source(self, item: Pending | None = None) -> str | None:
        """The source of the instance's move; once its record is forgotten (a final
        status: the destination of a revert marks it reverted before the source's
        finish_revert_resize runs), the host the delivered step's chain is bound to,
        which for a revert, requested on the destination, is the other host: the
        source."""
        m = self.instance.migration
        if m is not None:
            return m.source
        return item.target if item is not None else None

    def _location(self, node: Node, item: Pending) -> str | None:
        """The host a pending step runs on (None: the conductor or the API)."""
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


# --- a branch's effects on the two-host world (the exploration's and the diagrams') ---


def other_host(instance, down: Iterable[str]) -> str:
    """A destination: a host other than the instance's, preferring one that is up."""
    current = instance.host
    for host in HOSTS:
        if host != current and host not in down:
            return host
    return next(h for h in HOSTS if h != current)


def bound_target(op: Operation, instance, down: Iterable[str], branch: Branch,
                 before_host: str | None, target: str | None) -> str | None:
    """The host the branch's next step is bound to: the one its chain is bound to
    already, else the host the instance just came onto, else another host for a step on
    a destination or in the conductor (the scheduler's choice, abstracted), else none."""
    if branch.then is None or target is not None:
        return target
    if instance.host != before_host and instance.host is not None:
        return instance.host
    if op.step(branch.then).where in (Where.DEST, Where.CONDUCTOR):
        return other_host(instance, down)
    return None


def apply_migration(instance, branch: Branch, source: str | None, dest: str | None) -> None:
    """A branch's change to the instance's migration record: a new record from
    ``source`` to ``dest``, or the status of the one it has. (The cluster keeps the
    record's uuid, flavor and audit as well: ``Cluster.create_migration``.)"""
    change = branch.migration
    if change is None:
        return
    if change.create is not None:
        instance.migration = MigrationRecord("m", instance.uuid, change.create,
                                             change.status, source, dest)
    elif instance.migration is not None:
        instance.migration.status = change.status


def _with(pending: frozenset[Pending], then: Pending | None) -> frozenset[Pending]:
    return pending if then is None else pending | {then}


def _host_moves(core: Core, cores: dict[Core, Core]) -> tuple[tuple[str, Core], ...]:
    """Either host's service stops while both are up, or comes back."""
    down = core[7]
    out = []
    for host in HOSTS:
        if host in down:
            after = (*core[:7], frozenset())
        elif not down:
            after = (*core[:7], frozenset({host}))
        else:
            continue
        after = cores.setdefault(after, after)
        out.append((f"service_{'up' if host in down else 'down'} {host}", after))
    return tuple(out)


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


_SWAP = {"A": "B", "B": "A", None: None}


def _swap_value(value):
    """The same core, or pending set, with the two hosts' names exchanged."""
    if isinstance(value, frozenset):
        return frozenset(p._replace(target=_SWAP[p.target]) for p in value)
    state, power, guest, host, launched, old, m, down = value
    return (state, power, guest, _SWAP[host], launched, old,
            None if m is None else (m[0], _SWAP[m[1]], _SWAP[m[2]]),
            frozenset(_SWAP[h] for h in down))


def _preempts(op) -> bool:
    return op.guard is not None and op.guard.task_states != frozenset({None})


def explore(lifecycle: Lifecycle | None = None,
            worlds: Iterable[WorldVariant] = WORLDS, concurrency: int = 1
            ) -> Exploration:
    """Explore every configuration reachable from a boot; merge the world variants.
    A node of the full graph is ``(world variant, Node)``."""
    lifecycle = lifecycle or Lifecycle()
    full = Configurations()
    projected = nx.MultiDiGraph()
    result = Exploration(full, projected)
    projected_edges: set[tuple[Combo, Combo, str]] = set()
    memo = _Memo(lifecycle)
    for variant in worlds:
        explorer = _Explorer(lifecycle, variant, concurrency, memo)
        try:
            start = explorer.start()
            root = full.append(("root", variant))
            ids = {start: full.append((variant, start))}
            full.add_edge_ids(root, ids[start], "start")
            queue = deque([start])
            label_ids = full.label_ids
            sources, targets, labels = full.edge_arrays()
            while queue:
                node = queue.popleft()
                uid = ids[node]
                combo = node.combo
                from_new = node.state == NEW
                for label, nxt, to in explorer.successors(node):
                    vid = ids.get(nxt)
                    if vid is None:
                        vid = ids[nxt] = full.append((variant, nxt))
                        queue.append(nxt)
                    lid = label_ids.get(label)
                    if lid is None:
                        lid = full.label_id(label)
                    sources.append(uid)
                    targets.append(vid)
                    labels.append(lid)
                    if not from_new and to != combo:
                        if (combo, to, label) not in projected_edges:
                            projected_edges.add((combo, to, label))
                            projected.add_edge(combo, to, key=label, label=label)
                    elif nxt.state != NEW and to not in projected:
                        projected.add_node(to)
        finally:
            explorer.close()
    result.fired = {label for label in full.labels if label.count(".") == 2}
    result.accepted = {label.split(".")[0] for label in result.fired
                       if label.endswith(".api.ok")}
    return result


# --- the checks the CLI and the tests run --------------------------------------------

@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_graph(result: Exploration, lifecycle: Lifecycle | None = None) -> list[CheckResult]:
    lifecycle = lifecycle or Lifecycle()
    full = result.full
    out: list[CheckResult] = []

    configurations = [(n, key) for n, key in enumerate(full) if isinstance(key[1], Node)]
    idle = [n for n, key in configurations
            if key[1].state != NEW and key[1].combo[1] is None]
    # one backwards search from every idle configuration at once
    can_idle = full.can_reach(idle)
    stuck = [key for n, key in configurations if n not in can_idle]
    out.append(CheckResult(
        "every reachable state can reach a state with no task in progress", not stuck,
        f"{len(full)} configurations explored; "
        + (f"{len(stuck)} cannot, e.g. {combo_label(stuck[0][1].combo)}" if stuck
           else "all can")))

    dead = sorted(combo_label(c) for c in result.projected.nodes
                  if result.projected.out_degree(c) == 0 and c[0] is not VmState.DELETED)
    out.append(CheckResult(
        "no state is a dead end except deleted", not dead,
        f"{result.projected.number_of_nodes()} (vm, task, power) states; "
        + (f"dead ends: {', '.join(dead)}" if dead else "none is a dead end")))

    declared = {op.name for op in lifecycle.operations if op.kind is Kind.API}
    never = sorted(declared - result.accepted)
    out.append(CheckResult(
        "every declared operation is enabled somewhere", not never,
        f"{len(result.accepted & declared)}/{len(declared)} operations accepted somewhere"
        + (f"; never: {', '.join(never)}" if never else "")))

    unfired = sorted(lifecycle.triggers - result.fired)
    out.append(CheckResult(
        "every declared step outcome happens somewhere", not unfired,
        f"{len(result.fired & lifecycle.triggers)}/{len(lifecycle.triggers)} triggers fired"
        + (f"; never: {', '.join(unfired)}" if unfired else "")))

    outside = sorted(combo_label(c) for c in result.combos - set(lifecycle.legal))
    out.append(CheckResult(
        "every reached combination is in the declared legal set", not outside,
        f"{len(result.combos)} reached of {len(lifecycle.legal)} declared"
        + (f"; outside: {', '.join(outside)}" if outside else "")))
    return out
