"""A ``RuleBasedStateMachine`` that drives a cluster and checks the invariants.

Rules are derived from the catalogue. ``api`` issues one request (Hypothesis picks
the operation, the instance and the caller; four times in five among operations
the guard accepts, so runs get deep) and leaves its work queued; ``operate`` issues
one and delivers its whole chain of steps at once (so a few rules reach a resized,
evacuated or unshelved instance); ``deliver`` runs any single pending step with
any outcome the step declares (so interleavings and injected faults are searched);
the world's rules take hosts down and up, run periodic tasks and let an operator
change allocation ratios; ``pursue`` (in the runs that aim: ``AIMED``) draws a target,
a declared step outcome or an interleaving (``targets``), and steers towards it. After every rule the ``invariants`` package is asked for
violations, and a rejected request must leave the cluster unchanged.

The rules speak the cluster's actions (``model.actions``), as scenarios do: each
request, delivery, host or hypervisor event, periodic task and operator change is an
action applied with ``model.actions.apply``. Every run is also a scenario: ``steps``
holds each action as the JSON step that ``nova-model simulate`` replays, and ``lines``
the same in operator language (``model.actions.describe``).

A search given a ``StateMemo`` (``run_search`` gives each search its own) saves the
state after every checked step; a run that repeats the calls of an earlier run
resumes from the saved state instead of computing it again (``memo``).
"""

from __future__ import annotations

import dataclasses
import functools
import marshal

from hypothesis import strategies as st
from hypothesis import target
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule,
)

import invariants
from invariants.accounting import REVERT, TAKE_A_REVERT
from model import actions
from model.catalogue import API_OPERATIONS
from model.cluster import Cluster
from model.config import ClusterConfig
from model.lifecycle import ADMIN, DYNAMIC_CONDITIONS, USER, Context, Lifecycle
from model.operation import Check, OutcomeKind, When
from model.states import VmState
from nova_model.promises import unexplained_violations
from nova_model.scenario import INSTANCE_EVENTS, specification
from nova_model.search import arguments
from nova_model.search.coverage import (
    MULTI_CREATE_ACCEPTED, MULTI_CREATE_FAILED, MULTI_CREATE_PLACED, Coverage,
)
from nova_model.search.targets import (
    BACK_AFTER_BUSY, BACK_AFTER_IDLE, BACK_DURING_BUSY, BACK_DURING_IDLE, EVAC_DOWN_AFTER,
    EVAC_DOWN_BEFORE, EVAC_DOWN_DURING, GROUP_MOVES, GUEST_OFF_EVENT, GUEST_STOPPED_VM_STATES,
    INTERLEAVINGS, MOVES, OPERATOR_MID_MOVE, POLLER_MID_MOVE, REQUEST_HOST_DOWN_BUSY, RESTART_MID_CHAIN,
    REVERT_TAKEN, Planner, guest_stopped_on, planner,
)
from nova_model.search.memo import (
    ROOT, MachineState, Saved, StateMemo, state_differences,
)

#: API operations other than create. Admin reset-state is left out: it writes any
#: vm_state by design (the single-instance graph explores it).
OPERATIONS = tuple(op.name for op in API_OPERATIONS
                   if not op.creates_instance and not op.name.startswith("reset_state"))
PERIODIC = ("poll_unconfirmed_resizes", "poll_shelved_instances", "reclaim_queued_deletes",
            "sync_power_states")
HOST_EVENTS = ("service_down", "service_up", "restart", "disable", "enable")
#: Everything the ``world`` rule can do, in one list so that Hypothesis draws it once:
#: host events, periodic tasks, the resource audit, an operator's ratio change, and the
#: hypervisor's events on an instance (a guest that stops by itself: what the power
#: state sync then finds).
WORLD = HOST_EVENTS + PERIODIC + ("update_available_resource",) + tuple(
    f"set_allocation_ratio {rc}" for rc in ("VCPU", "MEMORY_MB", "DISK_GB")) + tuple(
    f"event {name}" for name in INSTANCE_EVENTS)
RATIOS = (0.5, 1.0, 1.5, 4.0, 16.0)
#: What a rule draws: one integer, from which ``Choices`` decodes all its choices.
#: (Drawn as an index into a range, not with ``st.integers``: for a range wider than
#: 128, ``st.integers`` weights its bounds and draws through a weighted sampler,
#: which costs about twice as much per draw; ``Choices`` scrambles the value anyway.)
CHOICE = st.sampled_from(range(2**62))
_MASK = 2**64 - 1


class Choices:
    """Several independent choices decoded from one drawn integer.

    Each Hypothesis draw costs about as much as a whole trivial rule
    (``bench/bench_search.py``), so a rule draws once and decodes its choices here.
    Hypothesis favours small integers; the value is scrambled (the SplitMix64
    generator, seeded with the drawn integer) so that every choice stays evenly
    spread, however many a rule makes. Counterexamples are shrunk on the scenario
    (``minimize``), not on these integers.
    """

    __slots__ = ("state", "value")

    def __init__(self, value: int) -> None:
        self.state = value
        self.value = self._next()

    def _next(self) -> int:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def take(self, n: int) -> int:
        """A choice among ``n`` (0 .. n-1)."""
        if self.value < n << 16:  # too few bits left for an even choice: draw more
            self.value = self._next()
        value = self.value % n
        self.value //= n
        return value

    def pick(self, items):
        return items[self.take(len(items))]

    def sample(self, items, k: int) -> set:
        """``k`` distinct items (all of them if there are fewer)."""
        pool = list(items)
        return {pool.pop(self.take(len(pool))) for _ in range(min(k, len(pool)))}
#: The promise the machine itself checks: a rejected request leaves the cluster as it was.
REJECTION_CHANGES_NOTHING = "rejected_request_changes_nothing"
#: The lifecycle of the unmodified catalogue: the specification variants are held to.
SPEC = specification()


def resumable(fn):
    """A rule (or initialize rule) that a run resumes past when an earlier run of the
    same search made the same calls up to it (``StateMemo``)."""
    name = fn.__name__

    @functools.wraps(fn)
    def step(self, **arguments):
        memo = type(self).memo
        if memo is None or self._at is None:
            return fn(self, **arguments)
        key = (self._at, name, tuple(arguments.values()))
        saved = memo.get(key)
        if saved is not None and not memo.verify:
            memo.resumed += 1
            self._resume(saved)
            return saved.result
        if self._ahead is not None:  # the first new call of this run: load its state
            self._load(self._ahead.state)
        elif saved is not None and self._state_at is not None:
            # verifying: go on from the saved state this run is in, as a run that
            # resumed there would, rather than from the machine's own
            self._load(self._state_at)
        memo.computed += 1
        self._at = None  # not tracked again unless the invariants pass (promises_hold)
        result = fn(self, **arguments)
        self._pending = (key, result, saved)
        return result

    return step


class ClusterMachine(RuleBasedStateMachine):
    """The search. Subclass and override the class attributes to search a variant."""

    config: ClusterConfig = ClusterConfig.default()
    lifecycle: Lifecycle = SPEC
    cluster_class: type[Cluster] = Cluster
    #: shared by every example of a run: what the search reached ("sometimes" checks)
    coverage: Coverage = Coverage()
    #: the states this search reached (``run_search`` gives each search its own; None:
    #: every step is computed)
    memo: StateMemo | None = None
    #: promises checked besides ``invariants.ALL`` (a user's own, ``machine_for``)
    promises: tuple[invariants.Invariant, ...] = ()
    #: what the ``world`` rule may do (a search may leave some out: ``machine_for``)
    world_events: tuple[str, ...] = WORLD
    #: the catalogue whose legal states a variant is held to (None: the variant is its
    #: own specification, as a proposal under review is)
    specification: Lifecycle | None = SPEC
    #: whether ``boot`` also draws multi-creates (one request for two or three
    #: instances) and ``pursue`` aims at them (``MULTI_CREATE_TARGETS``); a search
    #: may leave them out (``machine_for(multi_create=False)``)
    multi_create: bool = True

    instances = Bundle("instances")
    hosts = Bundle("hosts")
    flavors = Bundle("flavors")
    groups = Bundle("groups")

    def __init__(self) -> None:
        super().__init__()
        self.cluster: Cluster | None = None
        self._steps: list[dict] = []
        self._lines: list[tuple[str, object]] = []  # (what was done, its result)
        self.fault_weight = 0
        self.faults = 0
        self.peak = 0.0
        self.moves = 0
        self.aims = False  # the run aims at targets (``pursue``)
        self.focus: tuple[str, ...] = OPERATIONS
        self.world_focus: tuple[str, ...] = WORLD
        self.flavor_names: tuple[str, ...] = ()
        self.run_config: ClusterConfig | None = None
        self.failure: dict[str, list[str]] = {}  # what broke, when something did
        # False after a rule that provably changed nothing (a rejected request is
        # checked against the snapshot): the invariants need not look again.
        self.changed = True
        #: per instance, the host it last ran on and whether it was offloaded since
        self.history: dict[str, tuple[str | None, bool]] = {}
        # Where the run stands in the memo: the id of the saved state it is in (None:
        # not tracked), the saved state it has not loaded yet (it resumed past the
        # calls that reach it), and the call whose result waits for the invariants.
        self._at: int | None = ROOT
        self._ahead: Saved | None = None
        self._pending: tuple | None = None
        self._resumed = False
        self._state_at: MachineState | None = None  # the saved state the run is in

    def teardown(self) -> None:
        # Steer the search towards crowded hosts and long move sequences.
        target(self.peak, label="fullest host (percent of capacity)")
        if self.cluster is not None:
            self.moves = _moves_finished(self.cluster.migrations.values())
        target(float(self.moves), label="moves finished")
        if self.cluster is not None:
            # Freed now, not by a later full collection: the engine keeps finished
            # machines in reference cycles, and with them everything they hold.
            self.cluster.close()
            self.cluster = None

    # -- set-up: the cluster, the first instances, and what the rules draw from ------------

    @initialize(target=instances, seed=st.sampled_from(range(2**16 + 1)),
                fault_weight=st.sampled_from([0, 1, 3]), focus=CHOICE, world_focus=CHOICE,
                choice=CHOICE)
    @resumable
    def start(self, seed: int, fault_weight: int, focus: int, world_focus: int, choice: int):
        # Swarm testing: each run favours a few operations (so it chains them: shelve
        # then unshelve, resize then confirm), injects no, some or many faults, and
        # runs under its own values of the options that change branches. (Drawn
        # separately, not from one integer: runs must not start alike. The favoured
        # sets are decoded from one integer each: st.sets draws every element, which
        # cost the search a tenth of its time.)
        world = self.world_events
        focus, world_focus = _subset(OPERATIONS, focus, 3, 10), _subset(world, world_focus, 2, 5)
        c = Choices(choice)
        options = dataclasses.replace(
            self.config.options, shelved_offload_time=c.pick((0, -1, 3600)),
            resize_confirm_window=c.pick((0, 60)), allow_resize_to_same_host=c.take(2) == 1)
        config = self.config.replace(options=options)
        self.cluster = self.cluster_class(config, lifecycle=type(self).lifecycle, seed=seed)
        self.run_config = config  # a counterexample is replayed on exactly this
        self.fault_weight = fault_weight
        self.focus = tuple(op for op in OPERATIONS if op in focus)
        if "service_down" in world_focus:  # a host that goes down also comes back
            world_focus = world_focus | {"service_up"}
        self.world_focus = tuple(e for e in world if e in world_focus)
        self.flavor_names = _flavors(self.config)
        # (a run in AIMED aims at targets with ``pursue``; the others search as they
        # come: aiming costs each of its runs more steps of the model)
        self.aims = c.take(AIMED[1]) < AIMED[0]
        self._steps.append({"seed": seed})
        # Every run starts with running instances, so no run is spent getting there.
        groups = _groups(self.config)
        booted = [self._boot(c.pick(self.flavor_names), c.pick(groups), True)
                  for _ in range(1 + c.take(4))]
        for uuid in booted:
            if uuid is not None:
                self._settle(uuid)
        return multiple(*booted)

    # (these three only fill bundles: the cluster is as the invariants last saw it)

    @initialize(target=hosts)
    @resumable
    def compute_hosts(self):
        self.changed = False
        return multiple(*sorted(h.name for h in self.config.hosts))

    @initialize(target=flavors)
    @resumable
    def catalogue_flavors(self):
        self.changed = False
        return multiple(*_flavors(self.config))

    @initialize(target=groups)
    @resumable
    def server_groups(self):
        self.changed = False
        return multiple(*_groups(self.config))

    # -- the API -------------------------------------------------------------------------

    @rule(target=instances, flavor=flavors, group=groups, choice=CHOICE)
    @resumable
    def boot(self, flavor: str, group: str | None, choice: int):
        """A multiple-instance boot: one to three creates in one go, scheduled separately
        afterwards, so the members race each other to their hosts; or, in a search that
        draws multi-creates (``multi_create``), half the time when there are two or
        three, one request for all of them with ``min_count`` / ``max_count``, which one
        scheduling decision places together."""
        c = Choices(choice)
        admin, count = c.take(2) == 1, 1 + c.take(3)
        if self.multi_create and count > 1 and c.take(2) == 1:
            return multiple(*self._boot_many(flavor, group, admin, 1 + c.take(count), count))
        return multiple(*(self._boot(flavor, group, admin, c) for _ in range(count)))

    @precondition(lambda self: self._any_live())
    @rule(choice=CHOICE)
    @resumable
    def api(self, choice: int) -> None:
        """One request; its work stays queued for ``deliver`` to interleave."""
        c = Choices(choice)
        uuid = c.pick(self._live())
        # a rejection was checked to change nothing: the invariants need not look again
        self.changed = self._api(uuid, c.take(2) == 1, c.take(10), c,
                                 c.pick(self.flavor_names)) is not None

    @precondition(lambda self: self._any_live())
    @rule(choice=CHOICE)
    @resumable
    def operate(self, choice: int) -> None:
        """One request and its chain of steps delivered in order with ``ok``: all of it,
        or (half the time) only its first few, as many as the chain may have or none.
        Then, in a run that injects faults, the
        next step fails with one of its declared outcomes, half the time or (a run of
        many faults) always, so that every failure path of every chain is reached, a
        chain's first step and a one-step chain's only one included; otherwise an
        administrator's request that only makes sense mid-flight (abort or force a
        live migration ...) may race the rest."""
        c = Choices(choice)
        flavor = c.pick(self.flavor_names)
        uuid = c.pick(self._live())
        op = self._api(uuid, c.take(2) == 1, c.take(10), c, flavor)
        if op is None:
            self.changed = False  # checked: a rejection changed nothing
            return
        if c.take(2):
            self._settle(uuid)
            return
        self._settle(uuid, c.take(len(self.cluster.lc.operation(op).steps) or 1))
        if self.fault_weight and c.take(4) <= self.fault_weight:
            if self._fail_next(uuid, c, only_failing=True) and c.take(2):
                # the failure path runs on (a reschedule onto an alternate, a clean-up
                # step), each of its steps failing in turn one time in four
                for _ in range(100):
                    if not self._fail_next(uuid, c, fail=c.take(4) == 0):
                        break
        else:
            self._race(uuid, c, flavor)

    def _fail_next(self, uuid: str, c: "Choices", fail: bool = True,
                   only_failing: bool = False) -> bool:
        """Deliver the instance's next step, failing (``fail``) with one of its declared
        outcomes other than ``ok`` if it has any, else with ``ok``; ``only_failing``: a
        step that cannot fail is left queued. False if nothing was delivered."""
        ready = self.cluster.next_deliverable(uuid)
        if ready is None:
            return False
        step = self.cluster.lc.operation(ready.operation).step(ready.step)
        others = [o.name for o in step.outcomes if o.name != "ok"] if fail else []
        if only_failing and not others:
            return False
        self._deliver(ready, c.pick(others) if others else "ok")
        return True

    @rule(instance=instances)
    @resumable
    def settle(self, instance: str | None) -> None:
        """Deliver every deliverable step of one instance, in order, with ``ok``."""
        self.changed = instance is not None and self._settle(instance) > 0

    # -- asynchronous work ------------------------------------------------------------------

    @precondition(lambda self: self._has_work())
    @rule(choice=CHOICE)
    @resumable
    def deliver(self, choice: int) -> None:
        """Any single pending step, with any outcome it declares: faults are injected
        at the run's rate, environment outcomes (no valid host ...) always may be."""
        c = Choices(choice)
        ready = self.cluster.deliverable()
        if not ready:
            self.changed = False
            return
        item = c.pick(ready)
        step = self.cluster.lc.operation(item.operation).step(item.step)
        name = "ok"
        fail = c.take(10)
        if fail < self.fault_weight:
            others = [o.name for o in step.outcomes if o.name != "ok"]
            if others:
                name = c.pick(others)
        elif fail == 9:
            others = [o.name for o in step.outcomes if o.kind is OutcomeKind.ENV]
            if others:
                name = c.pick(others)
        self._deliver(item, name)

    # -- targeting ----------------------------------------------------------------------

    @precondition(lambda self: self._aims())
    @rule(choice=CHOICE)
    @resumable
    def pursue(self, choice: int) -> None:
        """Aim at one target drawn from the data (``targets``): a declared step outcome
        (an instance is brought to where its operation is allowed, the operation is
        requested, its steps are delivered ``ok`` up to the target step, and that step
        is delivered with the target outcome), the acceptance of a request with no
        steps that only a task in progress admits (``Planner.acceptances``), a
        multi-create (``MULTI_CREATE_TARGETS``, in a search that draws them) or an
        interleaving (a host event, a periodic task or an operator's change placed
        inside or after a move, a request that takes a queued revert's task). What
        follows the target is drawn too: the rest of the chain, nothing, or the hosts
        that went down coming back."""
        c = Choices(choice)
        p = planner(type(self).lifecycle)
        outcomes = p.feasible(self.run_config.options.shelved_offload_time == 0)
        creates = MULTI_CREATE_TARGETS if self.multi_create else ()
        pick = c.take(len(outcomes) + len(p.acceptances) + len(INTERLEAVINGS) + len(creates))
        if pick < len(outcomes):
            self._aim_outcome(p, outcomes[pick], c)
            return
        pick -= len(outcomes)
        if pick < len(p.acceptances):
            self._aim_acceptance(p, p.acceptances[pick], c)
            return
        pick -= len(p.acceptances)
        if pick < len(INTERLEAVINGS):
            self._aim_interleaving(p, INTERLEAVINGS[pick], c)
        else:
            self._aim_multi_create(creates[pick - len(INTERLEAVINGS)], c)

    def _aim_acceptance(self, p: Planner, op: str, c: "Choices") -> None:
        """A request with no chain of its own that only a task in progress admits (a
        running live migration's force-complete): the instance is brought there
        (``_bring``: the move that writes that task, delivered until the guard admits
        it), the request is made, then what follows is drawn (``_after``)."""
        uuid = self._ready(c)
        if uuid is None or not self._bring(p, uuid, op, None, c):
            return
        if self._api(uuid, True, 0, c, c.pick(self.flavor_names), only=op) is not None:
            self._after(uuid, c)

    def _aim_multi_create(self, target: str, c: "Choices") -> None:
        """A multi-create placed by one scheduling decision (two or three instances,
        any group), or one that fails for all its instances: one instance more than
        there are hosts up, in a group whose hard anti-affinity allows one member per
        host (none in the configuration: the biggest flavor, as many times). Its one
        scheduling step is delivered, then what follows is drawn (``_after``)."""
        groups = _groups(self.config)
        flavor, group = c.pick(self.flavor_names), c.pick(groups)
        count = 2 + c.take(2)
        if target == MULTI_CREATE_FAILED:
            ups = sum(1 for h in self.cluster.hosts.values() if h.up and h.enabled)
            spread = sorted((g.name, int(g.rules.get("max_server_per_host", 1)))
                            for g in self.config.server_groups if g.policy == "anti-affinity")
            if spread:
                group, per_host = c.pick(spread)
            else:
                group, per_host = None, 1
                flavor = max(self.config.flavors, key=lambda f: (f.memory_mb, f.name)).name
            count = min(MAX_MULTI_CREATE, max(2, ups * per_host + 1))
        uuids = self._boot_many(flavor, group, c.take(2) == 1, 1 + c.take(count), count)
        if uuids:
            work = self.cluster.next_deliverable(uuids[0])
            if work is not None and work.get("batch"):
                self._deliver(work, "ok")
            self._after(uuids[c.take(len(uuids))], c)

    def _aim_outcome(self, p: Planner, target: tuple[str, str, str], c: "Choices") -> None:
        op, step, outcome = target
        vms, _ = p.needs(op, step)
        if op == "create":
            uuid = self._boot(c.pick(self.flavor_names), c.pick(_groups(self.config)),
                              c.take(2) == 1, c)
        else:
            uuid = self._ready(c)
            whens = p.route(op, step)[1]
            if uuid is None or not self._bring(p, uuid, op, vms, c, whens):
                return
            if When.GUEST_OFF in whens:
                self._instance_event(GUEST_OFF_EVENT, uuid)
            requested = any(w.instance == uuid and w.operation == op
                            for w in self.cluster.pending())
            if not requested and self._api(uuid, True, 0, c, c.pick(self.flavor_names),
                                           only=op) is None:
                return
        if uuid is not None:
            self._walk(p, uuid, op, step, outcome, c)
            self._after(uuid, c)

    def _ready(self, c: "Choices") -> str | None:
        """A live instance with no task whose host is up, or that is offloaded (a new
        one if there is none). One that never got a host (a build the scheduler found
        no host for, in error) is left out: no move, shelve or power operation has
        anything to act on, so an aim that picked it would end where it began."""
        hosts, out = self.cluster.hosts, []
        for uuid in self._live_uuids():
            inst = self.cluster.instances[uuid]
            if inst.task_state is not None:
                continue
            if (hosts[inst.host].up if inst.host is not None
                    else inst.vm_state is VmState.SHELVED_OFFLOADED):
                out.append(uuid)
        if out and c.take(8):
            return c.pick(out)
        uuid = self._boot(c.pick(self.flavor_names), c.pick(_groups(self.config)), True, c)
        if uuid is not None:
            self._settle(uuid)
            if self.cluster.instances[uuid].vm_state is not VmState.ACTIVE:
                return None
        return uuid

    def _bring(self, p: Planner, uuid: str, op: str | None, vms, c: "Choices",
               whens: frozenset = frozenset()) -> bool:
        """Bring ``uuid`` where ``op`` is allowed (and, ``vms``, into one of those
        vm_states first): the preparing operations of ``Planner.next_preparers``, each
        settled, then the host down for an evacuation or the move in flight that an
        administrator's mid-flight request needs. True if ``op`` is allowed now."""
        lc, inst = self.cluster.lc, self.cluster.instances[uuid]
        guard = lc.operation(op).guard if op is not None else None
        allowed = (guard.vm_states if guard is not None and guard.vm_states is not None
                   else frozenset(VmState))
        mid_flight = (guard is not None and guard.task_states is not None
                      and None not in guard.task_states)
        if mid_flight:
            # the move whose chain writes the task_state the request needs
            movers = tuple(o.name for o in p.operations
                           if o.task_states_written & guard.task_states
                           and o.name in OPERATIONS and o.name != op)
            allowed = allowed & frozenset().union(*(
                p.lc.operation(m).guard.vm_states or frozenset(VmState) for m in movers))
        phases = ([vms, allowed] if vms and not vms & allowed
                  else [vms & allowed] if vms else [allowed])
        offload = self.run_config.options.shelved_offload_time == 0
        for goal in phases:
            for _ in range(5):
                if inst.task_state is not None:
                    self._settle(uuid)
                if inst.vm_state in goal or inst.vm_state is VmState.DELETED:
                    break
                ready = [o for o in p.next_preparers(frozenset(goal), offload, inst.vm_state)
                         if lc.guard_failure_for(o, inst, ADMIN) is None]
                if not ready or self._api(uuid, True, 0, c, c.pick(self.flavor_names),
                                          only=c.pick(ready)) is None:
                    return False
                self._settle(uuid)
            if inst.vm_state not in goal:
                return False
        if guard is None:
            return True
        if Check.SOURCE_HOST_DOWN in guard.checks and inst.host is not None:
            self._host_event("service_down", inst.host)
        if mid_flight:
            ready = [m for m in movers if lc.guard_failure_for(m, inst, ADMIN) is None]
            if not ready or self._api(uuid, True, 0, c, c.pick(self.flavor_names),
                                      only=c.pick(ready)) is None:
                return False
            # (as far as the branches on the target's route need: a migration running)
            needs = [DYNAMIC_CONDITIONS[w] for w in whens if w in _MID_FLIGHT_WHENS]
            for _ in range(1 + c.take(4) + 4 * bool(needs)):
                if (lc.guard_failure_for(op, inst, ADMIN) is None
                        and all(holds(inst) for holds in needs) and (needs or c.take(3))):
                    break
                ready_work = self.cluster.next_deliverable(uuid)
                if ready_work is None:
                    break
                self._deliver(ready_work, "ok")
        return lc.guard_failure_for(op, inst, ADMIN) is None

    def _walk(self, p: Planner, uuid: str, op: str, step: str, outcome: str,
              c: "Choices") -> None:
        """Deliver the instance's steps along the route to ``op.step`` and that step
        with ``outcome``."""
        route = dict(p.route(op, step)[0])
        for _ in range(40):
            # (the target operation's own work first: an abort or a force-complete
            # races the chain it interrupts, which must not run past it)
            work = next((w for w in self.cluster.queued_work(deliverable=True)
                         if w.instance == uuid and w.operation == op), None)
            if work is None:
                work = self.cluster.next_deliverable(uuid)
            if work is None:
                return
            if work.operation == op and work.step == step:
                self._deliver(work, outcome)
                return
            self._deliver(work, route.get(work.step, "ok") if work.operation == op else "ok")

    def _after(self, uuid: str, c: "Choices") -> None:
        """After the target: the rest of the chain (a time in three), the hosts that are
        down coming back (a time in three: a source after its evacuation), or nothing."""
        then = c.take(3)
        if then == 0:
            self._settle(uuid)
        elif then == 1:
            for host in sorted(self.cluster.hosts):
                if not self.cluster.hosts[host].up and c.take(2):
                    self._host_event("service_up", host)

    def _aim_interleaving(self, p: Planner, item: str, c: "Choices") -> None:
        cluster = self.cluster
        if item.startswith("guest_stopped on vm_state"):
            vm, busy = next((v, b) for v in GUEST_STOPPED_VM_STATES for b in (False, True)
                            if guest_stopped_on(v, b) == item)
            if vm is VmState.BUILDING:
                uuid = self._boot(c.pick(self.flavor_names), None, True, c)
                if uuid is not None:
                    self._settle(uuid, c.take(4))
            else:
                uuid = self._ready(c)
                if uuid is None or not self._bring(p, uuid, None, frozenset({vm}), c):
                    return
                if busy:  # a request whose chain is still queued
                    self._api(uuid, c.take(2) == 1, 0, c, c.pick(self.flavor_names),
                              only=c.pick(CHAINS))
            if uuid is not None:
                self._instance_event("guest_stopped", uuid)
            return
        if item in GROUP_MOVES:
            self._group_moves(p, MOVES_OF[item], c)
            return
        uuid = self._ready(c)
        if uuid is None:
            return
        inst = cluster.instances[uuid]
        if item in EVACUATIONS:
            if inst.host is None or not self._bring(p, uuid, "evacuate", None, c):
                return
            source = inst.host
            if item == EVAC_DOWN_BEFORE:
                others = [h for h in sorted(cluster.hosts) if h != source and cluster.hosts[h].up]
                if others:
                    self._host_event("service_down", c.pick(others))
            if self._api(uuid, True, 0, c, c.pick(self.flavor_names), only="evacuate") is None:
                return
            chain = len(cluster.lc.operation("evacuate").steps)
            if item in (EVAC_DOWN_AFTER, BACK_AFTER_IDLE, BACK_AFTER_BUSY):
                self._settle(uuid)
            elif item == BACK_DURING_IDLE:
                # the evacuation's chain ends early: a failure on the way (its
                # migration should end with it), the destination restarting mid-rebuild,
                # or a request that takes the instance's task (a delete, say)
                way = c.take(4)
                if way == 0:
                    self._fail_at(uuid, c.take(chain), c)
                else:  # (from the rebuild on: the instance's host is the source's)
                    self._settle(uuid, 2 + c.take(chain - 2))
                    work = cluster.next_deliverable(uuid)
                    if way == 1 and work is not None and work.target is not None:
                        self._host_event("restart", work.target)
                    elif way >= 2:  # (the requests whose guard admits any task)
                        self._api(uuid, c.take(2) == 1, 0, c, c.pick(self.flavor_names),
                                  only=c.pick(TASK_BLIND))
                        self._settle(uuid)
            else:
                self._settle(uuid, c.take(chain))
            if item == EVAC_DOWN_DURING or item == EVAC_DOWN_AFTER:
                mig = inst.migration
                where = (inst.host if item == EVAC_DOWN_AFTER
                         else mig.dest if mig is not None and mig.dest else None)
                ups = [h for h in sorted(cluster.hosts) if cluster.hosts[h].up]
                if where is None or not cluster.hosts[where].up:
                    where = c.pick(ups) if ups else None
                if where is not None:
                    self._host_event("service_down", where)
                return
            if item == BACK_AFTER_BUSY:
                self._api(uuid, c.take(2) == 1, 0, c, c.pick(self.flavor_names),
                          only=c.pick(CHAINS))
            self._host_event("service_up", source)
            if c.take(2):
                self._settle(uuid)
            return
        if item == REVERT_TAKEN:
            self._take_a_revert(p, uuid, c)
            return
        # a move (or any chain) in flight, and something between two of its steps
        if item == RESTART_MID_CHAIN or item == REQUEST_HOST_DOWN_BUSY:
            op = c.pick(CHAINS)
        else:
            op = c.pick(MOVES)
        if not self._bring(p, uuid, op, None, c):
            return
        if self._api(uuid, True, 0, c, c.pick(self.flavor_names), only=op) is None:
            return
        self._settle(uuid, c.take(max(1, len(cluster.lc.operation(op).steps) - 1)))
        if inst.task_state is None:
            return
        mig = inst.migration
        hosts = [h for h in (inst.host, mig.dest if mig is not None else None)
                 if h is not None]
        host = c.pick(hosts) if hosts else c.pick(sorted(cluster.hosts))
        if item == RESTART_MID_CHAIN:
            work = cluster.next_deliverable(uuid)
            self._host_event("restart", work.target if work is not None and work.target
                             and c.take(2) else host)
        elif item == REQUEST_HOST_DOWN_BUSY:
            if inst.host is not None and cluster.hosts[inst.host].up:
                self._host_event("service_down", inst.host)
            self._api(uuid, c.take(2) == 1, c.take(10), c, c.pick(self.flavor_names))
            if inst.host is not None and c.take(2):
                self._host_event("service_up", inst.host)
        elif item == OPERATOR_MID_MOVE:
            rc, ratio = c.pick(("VCPU", "MEMORY_MB", "DISK_GB")), c.pick(RATIOS)
            # (only a change the run's operators make: ``machine_for(hold_ratios=True)``)
            if f"set_allocation_ratio {rc}" in self.world_events:
                self._ratio(host, rc, ratio)
        elif item == POLLER_MID_MOVE:
            self._periodic("poll_unconfirmed_resizes", host)
        else:
            self._periodic("update_available_resource", host)
        if c.take(2):
            self._settle(uuid)

    def _take_a_revert(self, p: Planner, uuid: str, c: "Choices") -> None:
        """A resize reverted and none or the first of its steps delivered ``ok`` (the
        destination's, CM.revert_resize), then a request that takes its task (one of
        ``REVERT_TAKERS`` the guard admits now) and, three times in four, the rest: the
        revert's queued steps find another task."""
        if not self._bring(p, uuid, REVERT.name, None, c):
            return
        if self._api(uuid, True, 0, c, c.pick(self.flavor_names), only=REVERT.name) is None:
            return
        self._settle(uuid, c.take(2))
        lc, inst = self.cluster.lc, self.cluster.instances[uuid]
        takers = [op for op in REVERT_TAKERS if lc.guard_failure_for(op, inst, ADMIN) is None]
        if not takers or self._api(uuid, True, 0, c, c.pick(self.flavor_names),
                                   only=c.pick(takers)) is None:
            return
        if c.take(4):
            self._settle(uuid)

    def _fail_at(self, uuid: str, at: int, c: "Choices") -> None:
        """Deliver ``at`` of the instance's steps ``ok``, then the next with one of its
        failing outcomes (if it declares any)."""
        self._settle(uuid, at)
        self._fail_next(uuid, c)

    def _group_moves(self, p: Planner, op: str, c: "Choices") -> None:
        """Two members of one server group moved at once: both requested, then their
        steps delivered in turns."""
        cluster = self.cluster
        groups = _groups(self.config)[1:]
        if not groups:
            self.changed = False
            return
        group = c.pick(groups)
        members = [u for u in self._live_uuids() if cluster.info[u].group == group
                   and cluster.instances[u].task_state is None
                   and cluster.instances[u].vm_state is VmState.ACTIVE]
        while len(members) < 2:
            uuid = self._boot(c.pick(self.flavor_names), group, True)
            if uuid is None:
                return
            self._settle(uuid)
            if cluster.instances[uuid].vm_state is not VmState.ACTIVE:
                return
            members.append(uuid)
        pair = sorted(c.sample(members, 2))
        for uuid in pair:
            if not self._bring(p, uuid, op, None, c):
                return
        for uuid in pair:
            if self._api(uuid, True, 0, c, c.pick(self.flavor_names), only=op) is None:
                return
        for _ in range(40):
            ready = [w for w in (cluster.next_deliverable(u) for u in pair) if w is not None]
            if not ready:
                break
            self._deliver(c.pick(ready), "ok")

    # (the world's events, each recorded in the trace and checked for interleavings)

    def _host_event(self, event: str, host: str) -> None:
        type(self).coverage.host_event(self.cluster, event, host)
        self._apply(actions.HostEvent(event, host))

    def _instance_event(self, name: str, uuid: str) -> bool:
        inst = self.cluster.instances[uuid]
        vm, busy = inst.vm_state, inst.task_state is not None
        result = self._apply(actions.GuestEvent(name, uuid))
        if result.accepted and name == "guest_stopped":
            type(self).coverage.interleavings.add(guest_stopped_on(vm, busy))
        return result.accepted

    def _periodic(self, event: str, host: str) -> bool:
        type(self).coverage.periodic(self.cluster, event, host)
        if event == actions.AUDIT:  # the resource audit runs per host
            counted = self.cluster.trackers.get(host)
            freed = self._apply(actions.Periodic(event, host)).parts
            return bool(freed) or self.cluster.trackers.get(host) != counted
        results = self._apply(actions.Periodic(event)).parts
        # a periodic task that requested nothing (or only had requests refused,
        # which change nothing) left the cluster as it was
        return any(r.accepted for r in results)

    def _ratio(self, host: str, rc: str, ratio: float) -> None:
        type(self).coverage.periodic(self.cluster, "set_allocation_ratio", host)
        self._apply(actions.OperatorChange("set_allocation_ratio", host, rc, ratio))


    # -- the world ------------------------------------------------------------------------------

    @rule(host=hosts, choice=CHOICE)
    @resumable
    def world(self, host: str, choice: int) -> None:
        """Something the cloud's operators or its clock do: a host event, a periodic
        task, or a change of an allocation ratio; three times in four one of the few
        the run favours (so a host that went down also comes back)."""
        c = Choices(choice)
        event = c.pick(self.world_focus if c.take(4) else self.world_events)
        ratio = c.pick(RATIOS)
        if event.startswith("event "):
            live = self._live()
            if not live:
                self.changed = False
                return
            # (a refused event changes nothing)
            self.changed = self._instance_event(event.removeprefix("event "), c.pick(live))
        elif event in HOST_EVENTS:
            self._host_event(event, self._host_for(event, host))
        elif event == "update_available_resource" or event in PERIODIC:
            self.changed = self._periodic(event, host)
        else:
            self._ratio(host, event.removeprefix("set_allocation_ratio "), ratio)

    # -- the promises ---------------------------------------------------------------------------

    @invariant(check_during_init=True)
    def promises_hold(self) -> None:
        type(self).coverage.steps += 1
        if self._resumed:  # a saved state: it passed when it was first reached
            self._resumed = False
            return
        pending, self._pending = self._pending, None
        changed = self.changed
        self._check()
        if pending is None:
            return
        # passed: saved, and the run is tracked again
        key, result, saved = pending
        memo = type(self).memo
        state = self._state(changed)
        if saved is None:
            self._at = memo.put(key, state, result)
            return
        # (verifying: the step was computed again although it was saved)
        differences = state_differences(state, saved.state)
        assert not differences, (f"resuming from a saved state is not the same as "
                                 f"computing it: {'; '.join(differences)}")
        memo.verified += 1
        self._at, self._state_at = saved.id, saved.state

    def _check(self) -> None:
        if self.cluster is None or not self.changed:
            self.changed = True
            return
        machine = type(self)
        found, explained = unexplained_violations(self.cluster, machine.lifecycle,
                                                  machine.promises, machine.specification)
        for finding, _ in explained:
            type(self).coverage.found(finding.name)
        fullest = Coverage.utilisation(self.cluster)
        type(self).coverage.observe(self.cluster, fullest, self.history)
        self.peak = max(self.peak, fullest)
        self.failure = found
        if found:
            # (raised, not asserted: pytest rewrites the asserts of a plugin's package,
            # and would reformat the report)
            raise AssertionError(self.report(found))

    # -- saved states (``StateMemo``) -----------------------------------------------------

    def _state(self, changed: bool = True) -> MachineState:
        """The run's state now, to save. ``changed`` False: the last rule provably left
        the cluster as it was (``self.changed``), so its parent's frozen copy serves."""
        cluster, parent = self.cluster, self._state_at
        steps_before, lines_before = (0, 0) if parent is None else (parent.n_steps,
                                                                    parent.n_lines)
        steps, lines = self._steps, self._lines
        memo = type(self).memo
        if changed or parent is None or parent.cluster is None or memo.verify:
            frozen = (None if cluster is None else cluster.freeze(
                like=None if parent is None else parent.cluster))
            history = tuple(self.history.items())
            moves = 0 if cluster is None else _moves_finished(cluster.migrations.values())
            live, has_work = self._any_live(), self._has_work()
        else:
            frozen, history, moves, live, has_work = (
                parent.cluster, parent.history, parent.moves, parent.live, parent.has_work)
        state = MachineState(
            parent, marshal.dumps(steps[steps_before:]),
            tuple((words, _verdict(result)) for words, result in lines[lines_before:]),
            len(steps), len(lines), frozen, history, self.fault_weight, self.faults,
            self.peak, moves, self.focus, self.world_focus, self.flavor_names,
            self.run_config, live, has_work, self.aims)
        self._state_at = state
        return state

    def _resume(self, saved: Saved) -> None:
        """Stand at ``saved`` without loading it (the next calls may be saved too)."""
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
        self._at, self._ahead, self._resumed = saved.id, saved, True
        # (what teardown reads of a run that ends here)
        self.peak, self.moves = saved.state.peak, saved.state.moves

    def _load(self, state: MachineState) -> None:
        """Make a saved state the machine's own, to go on from it."""
        self._ahead, self._state_at = None, state
        if self.cluster is not None:
            self.cluster.close()
        self.cluster = None if state.cluster is None else Cluster.thaw(state.cluster)
        self._steps, self._lines = state.trace_parts()
        self.history = dict(state.history)
        self.fault_weight, self.faults, self.peak, self.moves = (
            state.fault_weight, state.faults, state.peak, state.moves)
        self.focus, self.world_focus = state.focus, state.world_focus
        self.flavor_names, self.run_config = state.flavor_names, state.run_config
        self.aims = state.aims
        self.failure, self.changed = {}, True

    @property
    def steps(self) -> list[dict]:
        """Each rule so far as the JSON step ``nova-model simulate`` replays."""
        if self._ahead is not None:
            return self._ahead.state.trace_parts()[0]
        return self._steps

    @property
    def lines(self) -> list[tuple[str, object]]:
        """Each rule so far in operator language, with its result."""
        if self._ahead is not None:
            return self._ahead.state.trace_parts()[1]
        return self._lines

    # -- helpers ------------------------------------------------------------------------------

    def _live_uuids(self):
        """Instances the API still knows (created, not deleted)."""
        if self.cluster is not None:
            for uuid, inst in self.cluster.instances.items():
                if inst.state != "new" and inst.vm_state is not VmState.DELETED:
                    yield uuid

    def _any_live(self) -> bool:
        # (asked each time the engine considers api or operate: it stops at the first)
        if self._ahead is not None:
            return self._ahead.state.live
        return next(self._live_uuids(), None) is not None

    def _aims(self) -> bool:
        if self._ahead is not None:
            return self._ahead.state.aims
        return self.aims

    def _has_work(self) -> bool:
        if self._ahead is not None:
            return self._ahead.state.has_work
        return self.cluster is not None and bool(self.cluster.work)

    def _live(self) -> list[str]:
        return list(self._live_uuids())

    def _race(self, uuid: str, c: "Choices", flavor: str) -> None:
        """Race the rest of the chain with an administrator's request that only makes
        sense mid-flight (abort or force a live migration, delete a resizing instance
        ...): now (a time in four), or at the first of the next one to three steps
        that makes such a request possible (three times in four: force-complete only
        once the migration runs); otherwise the chain is left there, mid-flight."""
        now = self._mid_flight(uuid)
        if now and c.take(4) == 0:
            self._api(uuid, True, 0, c, flavor, mid_flight=now)
            return
        for _ in range(1 + c.take(3)):
            ready = self.cluster.next_deliverable(uuid)
            if ready is None or self.cluster.instances[uuid].task_state is None:
                return
            self._deliver(ready, "ok")
            before, now = now, self._mid_flight(uuid)
            fresh = tuple(op for op in now if op not in before)
            if fresh and c.take(4):
                self._api(uuid, True, 0, c, flavor, mid_flight=fresh)
                return

    def _mid_flight(self, uuid: str) -> tuple[str, ...]:
        """The administrator's requests that only make sense now (``SPECIFIC``) and
        that the instance's state and guards accept."""
        inst = self.cluster.instances[uuid]
        if inst.task_state is None:
            return ()
        lc, state = self.cluster.lc, inst.state
        return tuple(op for op in SPECIFIC_ORDER if state in lc.api_sources.get(op, ())
                     and lc.guard_failure_for(op, inst, ADMIN) is None)

    def _host_for(self, event: str, host: str) -> str:
        """``host``, unless the event would change nothing there (bringing up a host
        that is up, disabling a disabled one): then a host where it does change
        something, so that no step of the search is wasted."""
        hosts = self.cluster.hosts
        wants = {"service_down": lambda h: h.up, "restart": lambda h: h.up,
                 "service_up": lambda h: not h.up, "disable": lambda h: h.enabled,
                 "enable": lambda h: not h.enabled}[event]
        if wants(hosts[host]):
            return host
        useful = [name for name in sorted(hosts) if wants(hosts[name])]
        return useful[sorted(hosts).index(host) % len(useful)] if useful else host

    def _boot(self, flavor: str, group: str | None, admin: bool,
              c: "Choices | None" = None) -> str | None:
        """A create; with ``c``, with any of the arguments a create takes (an image, a
        zone, scheduler hints naming a live instance), otherwise only its group."""
        if c is None:
            args = {"flavor": flavor} | ({"group": group} if group else {})
        else:
            args = arguments.draw("create", c, arguments.pools(self.config), flavor=flavor,
                                  host=None, image=None, others=self._live(), group=group)
        return self._request("create", None, ADMIN if admin else USER, args).instance

    def _boot_many(self, flavor: str, group: str | None, admin: bool, low: int,
                   high: int) -> list[str]:
        """A multi-create: one request for ``low`` to ``high`` instances; their uuids."""
        args = {"flavor": flavor, "min_count": low, "max_count": high}
        if group:
            args["group"] = group
        before = self.cluster.counters["vm"]
        result = self._request("create", None, ADMIN if admin else USER, args)
        if not result.accepted:
            return []
        type(self).coverage.events.add(MULTI_CREATE_ACCEPTED)
        return [f"vm{n}" for n in range(before + 1, self.cluster.counters["vm"] + 1)]

    def _api(self, instance: str, admin: bool, bias: int, choices: "Choices",
             flavor: str, mid_flight: tuple[str, ...] = (), only: str | None = None
             ) -> str | None:
        """One request of an operation on ``instance`` (``only``: of that operation);
        the operation if accepted."""
        ctx = ADMIN if admin else USER
        inst = self.cluster.instances[instance]
        # Four times in five an operation the guard accepts, favouring the run's focus;
        # otherwise any operation, to check that rejections change nothing.
        pool: list[str] = [only] if only is not None else list(OPERATIONS)
        if bias < 8 and only is None:
            lc = self.cluster.lc
            accepted = {}  # each guard is asked at most once (they cost ~1.5 us each)
            # (an operation with no API transition from the instance's machine state
            # cannot be accepted, whatever its guard says: a set lookup rules most out)
            sources, state = lc.api_sources, inst.state

            def enabled(ops) -> list[str]:
                out = []
                for op in ops:
                    if op not in accepted:
                        accepted[op] = (state in sources.get(op, ())
                                        and lc.guard_failure_for(op, inst, ctx) is None)
                    if accepted[op]:
                        out.append(op)
                return out

            # Operations that only make sense here (unpause when paused, confirm or
            # revert when resized, abort while migrating, evacuate when the host is
            # down) lead out of the state.
            specific = enabled(mid_flight or SPECIFIC_ORDER) if bias < 3 else []
            focused = enabled(self.focus) if bias < 6 and not specific else []
            if specific:
                pool = specific
            elif focused:
                pool = focused
            else:
                pool = enabled(OPERATIONS) or pool
        op = choices.pick(pool)
        if op in STEPLESS and only is None and choices.take(2):
            # (drawn half as often: they start no chain, and lock, unlock ... are accepted
            # in almost every state, so they would crowd out the operations that do)
            op = choices.pick(pool)
        args = arguments.draw(op, choices, arguments.pools(self.config), flavor=flavor,
                              host=inst.host, image=inst.image)
        if_accepted = type(self).coverage.request(self.cluster, op, instance)
        before = self.cluster.witness()
        result = self._request(op, instance, ctx, args)
        if result.accepted and if_accepted:
            type(self).coverage.interleavings.update(if_accepted)
        if not result.accepted:
            if self.cluster.witness() != before:
                self.failure = {REJECTION_CHANGES_NOTHING: [
                    f"rejected {op} of {instance} changed the cluster"]}
                raise AssertionError(self.report(self.failure))
            return None
        return op

    def _request(self, op: str, instance: str | None, ctx: Context, args: dict):
        # (the image before the request: a rebuild's shape is whether it changed it)
        image = None if instance is None else self.cluster.instances[instance].image
        result = self._apply(actions.Request.of(op, instance, ctx.is_admin, args))
        if result.accepted:
            type(self).coverage.accepted(op, arguments.shapes_of(op, args, image))
        return result

    def _settle(self, instance: str, limit: int = 100) -> int:
        """Deliver up to ``limit`` of the instance's steps in order; how many ran."""
        for done in range(limit):
            ready = self.cluster.next_deliverable(instance)
            if ready is None:
                return done
            self._deliver(ready, "ok")
        return limit

    def _deliver(self, work, outcome: str) -> None:
        step = self.cluster.lc.operation(work.operation).step(work.step)
        if outcome != "ok" and step.outcome(outcome).kind is OutcomeKind.FAULT:
            self.faults += 1
        action = actions.Deliver(work.operation, work.step, work.instance, work.id,
                                 None if outcome == "ok" else outcome)
        result = self._apply(action, work)
        if result.accepted and result.branch is not None:
            # the outcome that fired, which the cluster may have chosen instead of the
            # one asked for (no valid host, a late group check)
            fired = result.branch
            for declared in step.outcomes:
                if any(b is fired for b in declared.branches):
                    type(self).coverage.delivered(work.operation, work.step, declared.name)
                    break
        if work.get("batch") and result.accepted:
            type(self).coverage.events.add(
                MULTI_CREATE_FAILED if "no_valid_host" in result.detail
                else MULTI_CREATE_PLACED)

    def _apply(self, action: actions.Action, work=None):
        """Apply one action to the cluster and record it: as the scenario step that
        replays it, and in words (``work``: the item a delivery runs); its result."""
        result = actions.apply(self.cluster, action)
        self._steps.append(actions.to_json(action))
        self._lines.append((actions.describe(action, work), result))
        return result

    def trace(self) -> list[str]:
        """Each step so far as an operator would describe it, with its verdict."""
        return [f"{words} -> {_verdict(result)}" for words, result in self.lines]

    def report(self, found: dict[str, list[str]]) -> str:
        from nova_model.render.cluster_table import table as cluster_table
        return failure_report(self.trace(), found, cluster_table(self.cluster),
                              type(self).promises)


def machine_for(*, lifecycle: Lifecycle | None = None, cluster_class: type[Cluster] | None = None,
                promises=(), hold_ratios: bool = False, config: ClusterConfig | None = None,
                own_specification: bool = False, multi_create: bool = True,
                name: str = "VariantSearch") -> type[ClusterMachine]:
    """The search of a variant: another catalogue (``model.variants``), cluster class,
    cluster configuration, promises checked besides the built-in ones (``Invariant``s),
    or (``hold_ratios``) no operator changing an allocation ratio during the runs;
    ``multi_create=False``: no multi-creates drawn or aimed at.
    ``own_specification``: the catalogue is not held to the specification's legal
    states (a proposal is a new specification; a seeded fault is not)."""
    attrs: dict = {}
    if own_specification:
        attrs["specification"] = None
    if lifecycle is not None:
        attrs["lifecycle"] = lifecycle
    if cluster_class is not None:
        attrs["cluster_class"] = cluster_class
    if config is not None:
        attrs["config"] = config
    if promises:
        attrs["promises"] = tuple(promises)
    if not multi_create:
        attrs["multi_create"] = False
    if hold_ratios:
        attrs["world_events"] = tuple(e for e in WORLD if not e.startswith("set_allocation_ratio"))
    return type(name, (ClusterMachine,), attrs)


def _moves_finished(migrations) -> int:
    return sum(1 for m in migrations if not m.in_progress)


def _verdict(result) -> str:
    if isinstance(result, str):  # put into words already (a saved state's trace)
        return result
    if result is None:
        return "done"
    if result.accepted:
        return "accepted" + (f", {result.detail}" if result.detail else "")
    error = result.error
    return (f"rejected: {type(error).__name__}: {error}" if error is not None
            else f"rejected: {result.detail}")


def failure_report(lines: list[str], found: dict[str, list[str]], table: str,
                   promises: tuple[invariants.Invariant, ...] = ()) -> str:
    """A counterexample as a reviewer reads it: the numbered trace, what broke, the cluster."""
    out = ["", "Trace (each step as an operator would describe it):",
           "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1)), "", "Violated:"]
    known = invariants.BY_NAME | {p.name: p for p in promises}
    for name, messages in found.items():
        doc = known[name].promise if name in known else ""
        out.append(f"  {name}: {doc}")
        out += [f"    - {m}" for m in messages]
    out += ["", "Cluster at the point of failure:", table]
    return "\n".join(out)


def violated_names(report: str) -> set[str]:
    """The promises a ``failure_report`` names (its lines ``  name: promise``)."""
    section = report.split("\nViolated:\n", 1)[-1].split("\nCluster at the point of failure:")[0]
    return {line.split(":")[0].strip() for line in section.splitlines()
            if line.startswith("  ") and not line.startswith("    ")}


def _specific(op) -> bool:
    """A guard that admits at most two vm_states, only tasks in progress, or only
    an instance whose host is down."""
    g = op.guard
    return g is not None and (
        (g.vm_states is not None and len(g.vm_states) <= 2)
        or (g.task_states is not None and None not in g.task_states)
        or Check.SOURCE_HOST_DOWN in g.checks)


#: Operations that start no chain of steps.
STEPLESS = frozenset(op.name for op in API_OPERATIONS if not op.steps)
SPECIFIC = frozenset(op.name for op in API_OPERATIONS if op.name in OPERATIONS and _specific(op))
SPECIFIC_ORDER = tuple(op for op in OPERATIONS if op in SPECIFIC)
#: What ``pursue`` may aim at in a search that draws multi-creates: one placed by one
#: scheduling decision, one failed for all its instances.
MULTI_CREATE_TARGETS = (MULTI_CREATE_PLACED, MULTI_CREATE_FAILED)
#: The most instances an aimed multi-create asks for (the scenario format's bound)
MAX_MULTI_CREATE = 100
#: The share of runs that aim at targets (``pursue``): AIMED[0] in AIMED[1]. Every run
#: does: with half of them the ci search still missed a few targets by chance, and
#: aiming costs the search about a tenth more CPU time.
AIMED = (1, 1)
#: Route conditions a mid-flight request waits for (an abort of a running migration)
_MID_FLIGHT_WHENS = frozenset({When.MIGRATION_RUNNING, When.NOT_MIGRATION_RUNNING})
#: Requests whose guard admits an instance in any vm_state with any task in progress
TASK_BLIND = tuple(op.name for op in API_OPERATIONS if op.name in OPERATIONS and op.steps
                   and op.guard is not None and op.guard.vm_states is None
                   and op.guard.task_states is None)
#: Operations whose request starts a chain of steps (a restart or a host going down
#: may land in the middle of one).
CHAINS = tuple(op for op in OPERATIONS if op not in STEPLESS)
#: The requests the search sends that can take a revert's task while its steps are
#: queued (``invariants.accounting.TAKE_A_REVERT``: the deletes, an evacuation)
REVERT_TAKERS = tuple(op for op in OPERATIONS if op in TAKE_A_REVERT)
MOVES_OF = dict(zip(GROUP_MOVES, ("evacuate", "migrate", "live_migrate")))
EVACUATIONS = frozenset({EVAC_DOWN_BEFORE, EVAC_DOWN_DURING, EVAC_DOWN_AFTER, BACK_DURING_BUSY,
                         BACK_DURING_IDLE, BACK_AFTER_IDLE, BACK_AFTER_BUSY})


def _subset(items: tuple[str, ...], number: int, least: int, most: int) -> set[str]:
    """``least`` to ``most`` distinct items from one integer, small sets likelier (the
    fewer operations a run favours, the more often it chains them)."""
    c = Choices(number)
    span = most - least + 1
    return c.sample(items, least + min(c.take(span), c.take(span)))


def unsearchable(config: ClusterConfig) -> tuple[str, str] | None:
    """(field, why) when the search cannot run on ``config``: every run boots
    instances, so it needs a flavor to boot and a host to boot on."""
    if not config.flavors:
        return "flavors", "the search boots instances and needs at least one flavor"
    if not config.hosts:
        return "hosts", "the search boots instances and needs at least one host"
    return None


def _flavors(config: ClusterConfig) -> tuple[str, ...]:
    return tuple(sorted(f.name for f in config.flavors))


def _groups(config: ClusterConfig) -> list[str | None]:
    return [None, *sorted(g.name for g in config.server_groups)]
