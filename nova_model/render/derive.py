"""What the diagrams and the report read from the model, computed once.

:class:`ModelView` holds a ``Lifecycle`` and (optionally) one single-instance
exploration (``model.graph.explore``, the slow part). Everything derived from
the exploration is computed lazily and cached on the view, so that generating
every diagram and the report explores at most once.

*Runs.* The vm_state diagram and the documentation comparison need "which
operation takes an instance from vm_state A to vm_state B". A run of an
operation is its API step followed by its own asynchronous steps (each with
every declared outcome) until no step of it is pending. Runs are replayed on
the ``transitions`` machine itself, from every configuration the exploration
reached in which the operation's guard accepts the request; configurations
that differ only in what the operation never reads are replayed once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator

from model.catalogue import OPERATIONS
from model.errors import NovaModelError
from model.graph import (
    Exploration, Node as GraphNode, WorldVariant, apply_migration, bound_target, explore,
    other_host, restore_node,
)
from model.lifecycle import (
    ADMIN, STATE_PAIRS, Lifecycle, MigrationRecord, SimpleWorld, preempted_step_of,
)
from model.operation import (
    Branch, Check, HostEffect, Kind, Operation, OutcomeKind, Rule, When,
)
from model.states import Task, TaskState, VmState

VM_ORDER = {vm: i for i, vm in enumerate(VmState)}
TASK_ORDER: dict[Task, int] = {None: -1, **{t: i for i, t in enumerate(TaskState)}}
OP_ORDER = {op.name: i for i, op in enumerate(OPERATIONS)}


def pair_key(pair: tuple[VmState, Task]) -> tuple[int, int]:
    return VM_ORDER[pair[0]], TASK_ORDER[pair[1]]


def op_key(name: str) -> tuple[int, str]:
    return OP_ORDER.get(name, len(OP_ORDER)), name


@dataclass(frozen=True, order=True)
class RunEdge:
    """Some run of ``operation`` starting in vm_state ``start`` ends in ``end``.

    ``start`` is None for an operation that creates the instance. ``failed`` is
    True when the run took at least one outcome that is not of kind ``ok``.
    ``idle`` is True when the run started with no task in progress.
    """

    operation: str
    start: VmState | None
    end: VmState
    failed: bool
    idle: bool


_OLD = frozenset({When.WAS_STOPPED, When.NOT_WAS_STOPPED, When.WAS_ERROR, When.NOT_WAS_ERROR})
_OFFLOAD = frozenset({When.OFFLOAD_NOW, When.NOT_OFFLOAD_NOW})
_VOLUME = frozenset({When.VOLUME_BACKED, When.NOT_VOLUME_BACKED})
_MIGRATION_CHECKS = frozenset({Check.SOURCE_COMPUTE_UP, Check.MIGRATION_RUNNING,
                               Check.MIGRATION_ABORTABLE})


def _branches(op: Operation) -> Iterator[Branch]:
    for step in op.all_steps.values():
        for outcome in step.outcomes:
            yield from outcome.branches


@dataclass(frozen=True)
class _Reads:
    """Which parts of a configuration an operation's run can depend on."""

    old_vm_state: bool
    offload: bool
    volume_backed: bool
    migration: bool

    @classmethod
    def of(cls, op: Operation) -> _Reads:
        whens = {w for b in _branches(op) for w in b.when}
        saved = any(b.vm is Rule.SAVED_VM_STATE for b in _branches(op))
        checks = set(op.guard.checks) if op.guard is not None else set()
        sets_source = any(b.host is HostEffect.SET_SOURCE for b in _branches(op))
        return cls(old_vm_state=bool(whens & _OLD or saved) and not op.remembers_vm_state,
                   offload=bool(whens & _OFFLOAD),
                   volume_backed=bool(whens & _VOLUME),
                   migration=bool(checks & _MIGRATION_CHECKS) or sets_source)


class Replayer:
    """Replays one operation's runs on a private instance of the machine."""

    def __init__(self, lifecycle: Lifecycle):
        self.lc = lifecycle
        self.world = SimpleWorld()
        self.instance = lifecycle.new_instance("render-replay", self.world)

    def close(self) -> None:
        self.lc.forget(self.instance)

    # -- configuration --

    def restore(self, variant: WorldVariant, node: GraphNode) -> None:
        restore_node(self.instance, self.world, node)
        self.world.shelved_offload_time = variant.shelved_offload_time
        self.world.volume_backed = variant.volume_backed

    def save(self) -> tuple:
        i = self.instance
        m = i.migration
        return (i.state, i.power_state, i.host, i.launched, i.old_vm_state,
                None if m is None else (m.migration_type, m.status, m.source, m.dest))

    def load(self, saved: tuple) -> None:
        i = self.instance
        i.state, i.power_state, i.host, i.launched, i.old_vm_state, m = saved
        i.migration = None if m is None else MigrationRecord("m", i.uuid, *m)

    def _target(self, op: Operation, branch: Branch, before: str | None,
                target: str | None) -> str | None:
        """The host a queued step is bound to (as the explorer binds it)."""
        return bound_target(op, self.instance, self.world.down, branch, before, target)

    # -- runs --

    def start(self, op: Operation) -> Branch | None:
        """Make the request (or fire the periodic task); None when it is refused."""
        i = self.instance
        try:
            if op.kind is Kind.API:
                return self.lc.request(op.name, i, ADMIN, dest=other_host(i, self.world.down),
                                       source=None)
            if self.lc.guard_failure_for(op.name, i) is not None:
                return None
            return self.lc.deliver(op.name, "api", "ok", i)
        except NovaModelError:
            return None

    def begin(self, op: Operation) -> tuple[Branch, str | None] | None:
        """Request ``op``; the branch taken and the host its next step is bound to."""
        before = self.instance.host
        branch = self.start(op)
        if branch is None:
            return None
        target = self._target(op, branch, before, None)
        apply_migration(self.instance, branch, before, target)
        return branch, target

    def fire(self, op: Operation, step_name: str, outcome: str, target: str | None
             ) -> tuple[Branch, str | None] | None:
        """Deliver one step with one outcome; None when its compare-and-swap fails."""
        before = self.instance.host
        source = self.instance.migration.source if self.instance.migration else None
        try:
            branch = self.lc.deliver(op.name, step_name, outcome, self.instance,
                                     dest=target, source=source)
        except NovaModelError:
            return None
        nxt = self._target(op, branch, before, target)
        apply_migration(self.instance, branch, before, nxt)
        return branch, nxt

    def run(self, op: Operation) -> set[tuple[VmState, bool]] | None:
        """Every (end vm_state, failed) of the runs of ``op`` from the current configuration."""
        begun = self.begin(op)
        if begun is None:
            return None
        branch, target = begun
        ends: set[tuple[VmState, bool]] = set()
        self._follow(op, branch.then, target, False, ends, set())
        return ends

    def _follow(self, op: Operation, step_name: str | None, target: str | None, failed: bool,
                ends: set, seen: set) -> None:
        if step_name is None:
            ends.add((self.instance.vm_state, failed))
            return
        here = self.save()
        key = (here, step_name, target, failed)
        if key in seen:
            return
        seen.add(key)
        for outcome in op.step(step_name).outcomes:
            self.load(here)
            fired = self.fire(op, step_name, outcome.name, target)
            if fired is None:
                continue
            branch, nxt = fired
            self._follow(op, branch.then, nxt, failed or outcome.kind is not OutcomeKind.OK,
                         ends, seen)
        self.load(here)


def _config_key(op: Operation, reads: _Reads, variant: WorldVariant, node: GraphNode
                ) -> tuple:
    host = node.host
    m = node.migration
    return (
        node.state, node.power, node.guest, host is None,
        host in node.down if host else False,
        node.launched,
        node.old_vm_state if reads.old_vm_state else None,
        variant.shelved_offload_time if reads.offload else None,
        variant.volume_backed if reads.volume_backed else None,
        (m[0], m[1] == host, m[1] in node.down) if (reads.migration and m) else None,
    )


class ModelView:
    """A lifecycle plus (lazily) its exploration and what is derived from both."""

    def __init__(self, lifecycle: Lifecycle | None = None,
                 exploration: Exploration | None = None):
        self.lifecycle = lifecycle or Lifecycle()
        self._exploration = exploration

    @property
    def exploration(self) -> Exploration:
        if self._exploration is None:
            self._exploration = explore(self.lifecycle)
        return self._exploration

    @property
    def operations(self) -> tuple[Operation, ...]:
        return self.lifecycle.operations

    # -- the projected graph, per (vm_state, task_state) pair --

    @cached_property
    def task_pairs(self) -> tuple[tuple[VmState, Task], ...]:
        pairs = {(vm, task) for vm, task, _ in self.exploration.projected.nodes}
        return tuple(sorted(pairs, key=pair_key))

    @cached_property
    def task_edges(self) -> dict[tuple[tuple[VmState, Task], tuple[VmState, Task]], frozenset[str]]:
        """(source pair, target pair) -> triggers (``op.step.outcome``) moving between them."""
        out: dict = defaultdict(set)
        for u, v, trigger in self.exploration.projected.edges(keys=True):
            a, b = (u[0], u[1]), (v[0], v[1])
            if a != b:
                out[(a, b)].add(trigger)
        return {k: frozenset(v) for k, v in out.items()}

    def outcome_kind(self, trigger: str) -> OutcomeKind:
        """The kind of a trigger's outcome; a step that lost its compare-and-swap
        (``"<operation>.<step> preempted"``) is the world's doing: another operation
        took its task_state."""
        if preempted_step_of(trigger) is not None:
            return OutcomeKind.ENV
        op, step, outcome = trigger.split(".")
        return self.lifecycle.operation(op).step(step).outcome(outcome).kind

    # -- runs --

    def _configurations(self) -> list[tuple[WorldVariant, GraphNode]]:
        out = []
        for key in self.exploration.full.nodes:
            variant, node = key
            if isinstance(node, GraphNode):
                out.append((variant, node))
        return out

    @cached_property
    def runs(self) -> tuple[RunEdge, ...]:
        """Every (operation, start vm, end vm, failed, idle) some replayed run shows."""
        configurations = self._configurations()
        found: set[RunEdge] = set()
        accepted: set[tuple[str, VmState, Task]] = set()
        replay = Replayer(self.lifecycle)
        try:
            for op in self.operations:
                reads = _Reads.of(op)
                done: set[tuple] = set()
                for variant, node in configurations:
                    if node.state == "new" and not op.creates_instance:
                        continue
                    if node.state != "new" and op.creates_instance:
                        continue
                    key = _config_key(op, reads, variant, node)
                    if key in done:
                        continue
                    done.add(key)
                    replay.restore(variant, node)
                    ends = replay.run(op)
                    if ends is None:
                        continue
                    start, task = STATE_PAIRS.get(node.state, (None, None))
                    if start is not None:
                        accepted.add((op.name, start, task))
                    for end, failed in ends:
                        found.add(RunEdge(op.name, start, end, failed, task is None))
        finally:
            replay.close()
        self._accepted = frozenset(accepted)
        return tuple(sorted(found, key=lambda r: (
            op_key(r.operation), -1 if r.start is None else VM_ORDER[r.start],
            VM_ORDER[r.end], r.failed, r.idle)))

    @property
    def accepted(self) -> frozenset[tuple[str, VmState, Task]]:
        """(operation, vm_state, task_state) in which some replayed request was accepted."""
        self.runs  # computes both
        return self._accepted
