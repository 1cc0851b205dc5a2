"""A ``RuleBasedStateMachine`` that drives a cluster and checks the invariants.

Rules are derived from the catalogue. ``api`` issues one request (Hypothesis picks
the operation, the instance and the caller; four times in five among operations
the guard accepts, so runs get deep) and leaves its work queued; ``operate`` issues
one and delivers its whole chain of steps at once (so a few rules reach a resized,
evacuated or unshelved instance); ``deliver`` runs any single pending step with
any outcome the step declares (so interleavings and injected faults are searched);
the world's rules take hosts down and up, run periodic tasks and let an operator
change allocation ratios. After every rule the ``invariants`` package is asked for
violations, and a rejected request must leave the cluster unchanged.

Every run is also a scenario: ``steps`` holds each rule as the JSON step that
``nova-model simulate`` replays, and ``lines`` the same in operator language.

A search given a ``StateMemo`` (``run_search`` gives each search its own) saves the
state after every checked step; a run that repeats the calls of an earlier run
resumes from the saved state instead of computing it again (``memo``).
"""

from __future__ import annotations

import dataclasses
import marshal

from hypothesis import strategies as st
from hypothesis import target
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule,
)

import invariants
from model.catalogue import API_OPERATIONS
from model.cluster import Cluster
from model.config import ClusterConfig
from model.lifecycle import ADMIN, USER, Context, Lifecycle
from model.operation import Check, OutcomeKind
from model.states import VmState
from nova_model.promises import unexplained_violations
from nova_model.scenario import specification
from nova_model.search.coverage import (
    MULTI_CREATE_ACCEPTED, MULTI_CREATE_FAILED, MULTI_CREATE_PLACED, Coverage,
)
from nova_model.search.memo import (
    ROOT, MachineState, Saved, StateMemo, resumable, state_differences,
)

#: API operations other than create. Admin reset-state is left out: it writes any
#: vm_state by design (the single-instance graph explores it).
OPERATIONS = tuple(op.name for op in API_OPERATIONS
                   if not op.creates_instance and not op.name.startswith("reset_state"))
PERIODIC = ("poll_unconfirmed_resizes", "poll_shelved_instances", "reclaim_queued_deletes",
            "sync_power_states")
HOST_EVENTS = ("service_down", "service_up", "restart", "disable", "enable")
#: Everything the ``world`` rule can do, in one list so that Hypothesis draws it once.
WORLD = HOST_EVENTS + PERIODIC + ("update_available_resource",) + tuple(
    f"set_allocation_ratio {rc}" for rc in ("VCPU", "MEMORY_MB", "DISK_GB"))
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
    #: instances). Off in the default search: drawn there, the ``ci`` budget's runs
    #: change and reach violations of the unmodified model it otherwise misses (see
    #: ``tests/search/test_search.py``), so the searches that draw it say so
    multi_create: bool = False

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
        return multiple(*(self._boot(flavor, group, admin) for _ in range(count)))

    @precondition(lambda self: self._any_live())
    @rule(choice=CHOICE)
    @resumable
    def api(self, choice: int) -> None:
        """One request; its work stays queued for ``deliver`` to interleave."""
        c = Choices(choice)
        uuid = c.pick(self._live())
        # a rejection was checked to change nothing: the invariants need not look again
        self.changed = self._api(uuid, c.take(2) == 1, c.take(10), c, c.pick(self.flavor_names))

    @precondition(lambda self: self._any_live())
    @rule(choice=CHOICE)
    @resumable
    def operate(self, choice: int) -> None:
        """One request and its chain of steps delivered in order with ``ok``: all of it,
        or (half the time) only the first few. Then, at the run's fault rate, the next
        step fails with one of its declared outcomes (so every failure path of every
        chain is reached); otherwise an administrator's request that only makes sense
        mid-flight (abort or force a live migration ...) may race the rest."""
        c = Choices(choice)
        uuid = c.pick(self._live())
        flavor = c.pick(self.flavor_names)
        if not self._api(uuid, c.take(2) == 1, c.take(10), c, flavor):
            self.changed = False  # checked: a rejection changed nothing
            return
        steps = c.take(8)
        if steps >= 4:
            self._settle(uuid)
            return
        self._settle(uuid, steps + 1)
        if c.take(10) < self.fault_weight:
            ready = self.cluster.next_deliverable(uuid)
            if ready is not None:
                step = self.cluster.lc.operation(ready.operation).step(ready.step)
                others = [o.name for o in step.outcomes if o.name != "ok"]
                if others:
                    self._deliver(ready, c.pick(others))
        else:
            self._race(uuid, c, flavor)

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
        if event in HOST_EVENTS:
            host = self._host_for(event, host)
            result = getattr(self.cluster, event)(host)
            self._record({"event": event, "host": host}, f"{event} {host}", result)
        elif event == "update_available_resource":  # the resource audit runs per host
            counted = self.cluster.trackers.get(host)
            removed = self.cluster.update_available_resource(host)
            self._record({"periodic": event, "host": host}, f"resource audit on {host}", None)
            self.changed = bool(removed) or self.cluster.trackers.get(host) != counted
        elif event in PERIODIC:
            results = getattr(self.cluster, event)()
            self._record({"periodic": event}, f"periodic task {event}", None)
            # a periodic task that requested nothing (or only had requests refused,
            # which change nothing) left the cluster as it was
            self.changed = any(r.accepted for r in results)
        else:
            rc = event.removeprefix("set_allocation_ratio ")
            result = self.cluster.set_allocation_ratio(host, rc, ratio)
            self._record({"operator": "set_allocation_ratio", "host": host,
                          "resource_class": rc, "value": ratio},
                         f"operator sets {rc} allocation_ratio of {host} to {ratio}", result)

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
            self.run_config, live, has_work)
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

    def _boot(self, flavor: str, group: str | None, admin: bool) -> str | None:
        args = {"flavor": flavor} | ({"group": group} if group else {})
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
             flavor: str, mid_flight: tuple[str, ...] = ()) -> bool:
        ctx = ADMIN if admin else USER
        inst = self.cluster.instances[instance]
        # Four times in five an operation the guard accepts, favouring the run's focus;
        # otherwise any operation, to check that rejections change nothing.
        pool: list[str] = list(OPERATIONS)
        if bias < 8:
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
        args = {"flavor": flavor} if op == "resize" else {}
        before = self.cluster.witness()
        result = self._request(op, instance, ctx, args)
        if not result.accepted:
            if self.cluster.witness() != before:
                self.failure = {REJECTION_CHANGES_NOTHING: [
                    f"rejected {op} of {instance} changed the cluster"]}
                raise AssertionError(self.report(self.failure))
        return result.accepted

    def _request(self, op: str, instance: str | None, ctx: Context, args: dict):
        result = self.cluster.request(op, instance, ctx, **args)
        step = {"api": op, "as": "admin" if ctx.is_admin else "owner"}
        if instance is not None:
            step["instance"] = instance
        if args:
            step["args"] = dict(args)
        words = " ".join(f"{v}" for v in args.values())
        who = result.instance if op == "create" else instance
        self._record(step, f"{op} {who or ''}{' ' + words if words else ''}"
                           f"{' (as admin)' if ctx.is_admin else ''}", result)
        if result.accepted:
            type(self).coverage.accepted(op)
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
        result = self.cluster.deliver(work.id, outcome)
        if work.get("batch") and result.accepted:
            type(self).coverage.events.add(
                MULTI_CREATE_FAILED if "no_valid_host" in result.detail
                else MULTI_CREATE_PLACED)
        record = {"deliver": {"operation": work.operation, "step": work.step,
                              "instance": work.instance, "work": work.id}}
        if outcome != "ok":
            record["outcome"] = outcome
        where = f" on {work.target}" if work.target else " in the conductor"
        self._record(record, f"{work.operation}.{work.step} of {work.instance}{where}"
                             f"{'' if outcome == 'ok' else ' fails: ' + outcome}", result)

    def _record(self, step: dict, words: str, result) -> None:
        self._steps.append(step)
        self._lines.append((words, result))  # put into words only for a report

    def trace(self) -> list[str]:
        """Each step so far as an operator would describe it, with its verdict."""
        return [f"{words} -> {_verdict(result)}" for words, result in self.lines]

    def report(self, found: dict[str, list[str]]) -> str:
        return failure_report(self.trace(), found, self.cluster.table(), type(self).promises)


def machine_for(*, lifecycle: Lifecycle | None = None, cluster_class: type[Cluster] | None = None,
                promises=(), hold_ratios: bool = False, config: ClusterConfig | None = None,
                own_specification: bool = False, multi_create: bool = False,
                name: str = "VariantSearch") -> type[ClusterMachine]:
    """The search of a variant: another catalogue (``model.variants``), cluster class,
    cluster configuration, promises checked besides the built-in ones (``Invariant``s),
    or (``hold_ratios``) no operator changing an allocation ratio during the runs;
    ``multi_create``: ``boot`` also draws multi-creates.
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
    if multi_create:
        attrs["multi_create"] = True
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


SPECIFIC = frozenset(op.name for op in API_OPERATIONS if op.name in OPERATIONS and _specific(op))
SPECIFIC_ORDER = tuple(op for op in OPERATIONS if op in SPECIFIC)


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
