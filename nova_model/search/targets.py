"""What the search aims at, and the way there, derived from the catalogue.

A run of the search does not wait for luck to deliver a fault deep in a long chain
or a host event in the middle of a move: its ``pursue`` rule draws a *target* from
the Hypothesis data and steers towards it. A target is either one declared step
outcome ``(operation, step, outcome)`` or one interleaving (``INTERLEAVINGS``: a
host event, a periodic task or an operator's change placed relative to a move in
flight or finished, a request that takes a queued revert's task). Everything on the
way is decided by the catalogue:

* ``route(op, step)``: the outcomes to deliver, step by step, to get from the
  request to ``step`` (the ``then`` of each branch; ``ok`` where it leads there, a
  fault where only a failure does: a reschedule follows a failed claim);
* ``route_needs``: what the branches on that route require of the instance before
  the request (``old_vm_state is stopped`` for a rebuild's power-off, a shelved or
  an offloaded instance for an unshelve's branches) or of the configuration
  (``shelved_offload_time``);
* ``plan``: the operations that bring an instance from its vm_state to one the
  target operation's guard admits (stop before start, resize before confirm,
  shelve before unshelve), each an edge from a vm_state the operation's guard
  admits to the vm_states its chain ends in when every step is ``ok``.

The choices left (which instance, which arguments, where a mid-flight event lands,
what happens after the target) are drawn, so a failing run replays from its seed
and still shrinks (``minimize`` works on its scenario).
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from typing import Iterable

from model.catalogue import API_OPERATIONS, CATALOGUE
from model.operation import Check, Kind, OutcomeKind, Rule, When
from model.states import PowerState, VmState

#: The interleavings the search aims at: each a coverage item, recorded when it
#: happens (``Coverage.interleaving``), whoever made it happen.
EVAC_DOWN_BEFORE = "another host goes down before an evacuation"
EVAC_DOWN_DURING = "a host goes down during an evacuation"
EVAC_DOWN_AFTER = "the evacuated instance's new host goes down after the evacuation"
BACK_DURING_BUSY = "the source comes back during an evacuation, the instance busy"
BACK_DURING_IDLE = "the source comes back during an evacuation, the instance idle"
BACK_AFTER_IDLE = "the source comes back after the evacuation's done, the instance idle"
BACK_AFTER_BUSY = "the source comes back after the evacuation's done, the instance busy"
RESTART_MID_CHAIN = "a compute restarts in the middle of a chain"
OPERATOR_MID_MOVE = "an operator changes an allocation ratio in the middle of a move"
POLLER_MID_MOVE = "the unconfirmed-resize poller runs between two steps of a move"
AUDIT_MID_MOVE = "the resource audit runs between two steps of a move"
REQUEST_HOST_DOWN_BUSY = "a request on a busy instance whose host is down"
#: (a request of ``invariants.accounting.TAKE_A_REVERT``: the opening of the upstream
#: finding about a revert whose task another request takes)
REVERT_TAKEN = "a request takes the task of a revert whose steps are queued"
GROUP_MOVES = tuple(f"two members of a server group {op} at once"
                    for op in ("evacuate", "migrate", "live_migrate"))


def guest_stopped_on(vm: VmState, busy: bool = False) -> str:
    return f"guest_stopped on vm_state {vm.value}, {'a task in progress' if busy else 'idle'}"


#: The hypervisor's guest_stopped event on every vm_state, and on an instance with a
#: task in progress: each a coverage item (those the event's guard refuses are named
#: in ``coverage.UNREACHED_INTERLEAVINGS`` with the reason).
GUEST_STOPPED_VM_STATES = tuple(VmState)
INTERLEAVINGS = (EVAC_DOWN_BEFORE, EVAC_DOWN_DURING, EVAC_DOWN_AFTER, BACK_DURING_BUSY,
                 BACK_DURING_IDLE, BACK_AFTER_IDLE, BACK_AFTER_BUSY, RESTART_MID_CHAIN,
                 OPERATOR_MID_MOVE, POLLER_MID_MOVE, AUDIT_MID_MOVE, REQUEST_HOST_DOWN_BUSY,
                 *GROUP_MOVES, *(guest_stopped_on(vm) for vm in GUEST_STOPPED_VM_STATES),
                 *(guest_stopped_on(vm, True) for vm in GUEST_STOPPED_VM_STATES), REVERT_TAKEN)

#: The moves an interleaving may be placed in.
MOVES = ("resize", "migrate", "live_migrate", "evacuate")


def outcome_targets(operations: Iterable) -> tuple[tuple[str, str, str], ...]:
    """Every (operation, step, outcome) of the API operations' chains (but reset-state,
    which the search does not send)."""
    return tuple((op.name, step.name, outcome.name) for op in operations
                 if not op.name.startswith("reset_state")
                 for step in op.steps for outcome in step.outcomes)


def acceptance_targets(operations: Iterable) -> tuple[str, ...]:
    """The API operations with no chain of steps (so no outcome target) whose guard
    admits only an instance with a task in progress (a running live migration's
    force-complete): their acceptance is a target of its own."""
    return tuple(op.name for op in operations
                 if not op.steps and op.guard is not None and op.guard.task_states is not None
                 and None not in op.guard.task_states)


class Planner:
    """The routes, needs and plans of one catalogue (``Lifecycle``), each derived once."""

    def __init__(self, lifecycle, api: frozenset[str]) -> None:
        self.lc = lifecycle
        self.operations = tuple(op for op in lifecycle.operations if op.name in api)
        self.targets = outcome_targets(self.operations)
        self.acceptances = acceptance_targets(self.operations)
        self._routes: dict = {}
        self._ends: dict = {}
        self._next: dict = {}

    def route(self, op: str, step: str):
        key = (op, step)
        if key not in self._routes:
            self._routes[key] = route(self.lc.operation(op), step)
        return self._routes[key]

    def needs(self, op: str, step: str):
        key = ("needs", op, step)
        if key not in self._routes:
            self._routes[key] = route_needs(self.lc.operation(op), step)
        return self._routes[key]

    def feasible(self, offload_now: bool) -> tuple[tuple[str, str, str], ...]:
        """The outcome targets a run with (or without) ``shelved_offload_time == 0``
        can reach (the others' routes take the other branch)."""
        key = ("feasible", offload_now)
        if key not in self._routes:
            self._routes[key] = tuple(t for t in self.targets
                                      if self.needs(t[0], t[1])[1] in (None, offload_now))
        return self._routes[key]

    def ends(self, op, offload_now: bool) -> frozenset:
        key = (op.name, offload_now)
        if key not in self._ends:
            self._ends[key] = ends(op, offload_now)
        return self._ends[key]

    def next_preparers(self, goal: frozenset, offload_now: bool, vm: VmState) -> tuple[str, ...]:
        key = (goal, offload_now, vm)
        if key not in self._next:
            self._next[key] = next_preparers(self, goal, offload_now, vm)
        return self._next[key]


@lru_cache(maxsize=16)
def planner(lifecycle) -> Planner:
    """The planner of ``lifecycle`` (one per catalogue searched)."""
    return Planner(lifecycle, frozenset(op.name for op in API_OPERATIONS))


#: The hypervisor event that leaves the guest shut off: how a plan arranges
#: ``When.GUEST_OFF`` (its handler syncs the power state at once, and that sync is the
#: request of the periodic task that needs the guest off).
GUEST_OFF_EVENT = next(
    op.name for op in CATALOGUE.values() if op.kind is Kind.EVENT
    and any(b.guest is PowerState.SHUTDOWN for o in op.api.outcomes for b in o.branches))


#: Branch conditions the planner does not arrange: a route or a chain's end through
#: them is left out (it prepares whatever instance it has, not one booted from a
#: volume; those branches are reached when ``boot`` draws a volume-backed image).
_NOT_ARRANGED = frozenset({When.VOLUME_BACKED})
#: ... and a route does not go through a branch for an instance with no host (a move's
#: prep_resize fails as a failed claim for one only when something took its host away
#: while the cast waited: the way to the reschedule is the failed claim)
_NOT_ROUTED = _NOT_ARRANGED | {When.NO_HOST}


def route(op, step: str) -> tuple[tuple[tuple[str, str], ...], frozenset[When]]:
    """The (step, outcome) pairs to deliver from ``op``'s request to ``step`` (``ok``
    first where both lead there), and the branch conditions on the way."""
    start = op.api.name
    came: dict[str, tuple[str, str, tuple[When, ...]] | None] = {start: None}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        if here == step:
            break
        outcomes = sorted(op.step(here).outcomes, key=lambda o: o.kind is not OutcomeKind.OK)
        for outcome in outcomes:
            for branch in outcome.branches:
                if _NOT_ROUTED & set(branch.when):
                    continue
                if branch.then is not None and branch.then not in came:
                    came[branch.then] = (here, outcome.name, branch.when)
                    todo.append(branch.then)
    path, whens, at = [], set(), step
    while came.get(at) is not None:
        before, outcome, when = came[at]
        path.append((before, outcome))
        whens.update(when)
        at = before
    path.reverse()
    return tuple(p for p in path if p[0] != start), frozenset(whens)


_VM_NEEDS = {When.WAS_STOPPED: VmState.STOPPED, When.VM_SHELVED: VmState.SHELVED,
             When.VM_SHELVED_OFFLOADED: VmState.SHELVED_OFFLOADED,
             When.VM_RESIZED: VmState.RESIZED}


def route_needs(op, step: str) -> tuple[frozenset[VmState] | None, bool | None]:
    """The vm_states the instance must be in when ``op`` is requested for its chain to
    reach ``step`` (None: any the guard admits), and the ``shelved_offload_time == 0``
    the route needs (None: either)."""
    _, whens = route(op, step)
    vms = frozenset(_VM_NEEDS[w] for w in whens if w in _VM_NEEDS) or None
    if When.NOT_WAS_STOPPED in whens and vms is None:
        vms = frozenset({VmState.ACTIVE})
    offload = (True if When.OFFLOAD_NOW in whens or When.VM_SHELVED_OFFLOADED in whens
               else False if When.NOT_OFFLOAD_NOW in whens or When.VM_SHELVED in whens
               else None)
    return vms, offload


def ends(op, offload_now: bool) -> frozenset:
    """The vm_states ``op``'s chain ends in when every step is ``ok`` (``Rule.KEEP``:
    the one it started in)."""
    out, seen, todo = set(), {op.api.name}, [op.api]
    while todo:
        step = todo.pop()
        for outcome in step.outcomes:
            if outcome.kind is not OutcomeKind.OK:
                continue
            for branch in outcome.branches:
                if (When.OFFLOAD_NOW in branch.when and not offload_now) or (
                        When.NOT_OFFLOAD_NOW in branch.when and offload_now):
                    continue
                if When.WAS_STOPPED in branch.when or _NOT_ARRANGED & set(branch.when):
                    continue  # (it ends stopped only if it started stopped)
                if branch.then is None:
                    out.add(branch.vm if isinstance(branch.vm, VmState) else Rule.KEEP)
                elif branch.then not in seen:
                    seen.add(branch.then)
                    todo.append(op.step(branch.then))
    return frozenset(out)


def _preparer(op) -> bool:
    """An operation a plan may use to change an instance's vm_state: a chain started
    from an idle instance, that neither deletes it nor needs its host down."""
    g = op.guard
    return (g is not None and not op.creates_instance and g.task_states is not None
            and None in g.task_states and Check.SOURCE_HOST_DOWN not in g.checks
            and not op.name.startswith(("reset_state", "delete", "force_delete")))


def plan_distances(p: Planner, goal: frozenset[VmState],
                   offload_now: bool) -> dict[VmState, int]:
    """For each vm_state, how many preparing operations lead from it into ``goal``."""
    edges: dict[VmState, set[VmState]] = {vm: set() for vm in VmState}
    for op in p.operations:
        if not _preparer(op):
            continue
        sources = op.guard.vm_states if op.guard.vm_states is not None else frozenset(VmState)
        for vm in sources:
            for end in p.ends(op, offload_now):
                target = vm if end is Rule.KEEP else end
                if target is not vm:
                    edges[vm].add(target)
    dist = {vm: 0 for vm in goal}
    changed = True
    while changed:
        changed = False
        for vm, targets in edges.items():
            best = min((dist[t] + 1 for t in targets if t in dist), default=None)
            if best is not None and best < dist.get(vm, 1 << 30):
                dist[vm] = best
                changed = True
    return dist


def next_preparers(p: Planner, goal: frozenset[VmState], offload_now: bool,
                   vm: VmState) -> tuple[str, ...]:
    """The preparing operations admitted from ``vm`` that bring it closest to ``goal``."""
    dist = plan_distances(p, goal, offload_now)
    here = dist.get(vm)
    if here is None or here == 0:
        return ()
    out = []
    for op in p.operations:
        if _preparer(op) and (op.guard.vm_states is None or vm in op.guard.vm_states):
            targets = {vm if e is Rule.KEEP else e for e in p.ends(op, offload_now)}
            if any(dist.get(t, 1 << 30) < here for t in targets):
                out.append(op.name)
    return tuple(out)
