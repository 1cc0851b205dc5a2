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
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st
from hypothesis import target
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule,
)

import invariants
from invariants import findings
from model.catalogue import API_OPERATIONS
from model.cluster import Cluster
from model.config import ClusterConfig
from model.lifecycle import ADMIN, USER, Context, Lifecycle
from model.operation import OutcomeKind
from model.states import VmState
from nova_model.search.coverage import Coverage

#: API operations other than create. Admin reset-state is left out: it writes any
#: vm_state by design (the single-instance graph explores it).
OPERATIONS = tuple(op.name for op in API_OPERATIONS
                   if not op.creates_instance and not op.name.startswith("reset_state"))
PERIODIC = ("poll_unconfirmed_resizes", "poll_shelved_instances", "reclaim_queued_deletes",
            "sync_power_states")
HOST_EVENTS = ("service_down", "service_up", "restart", "disable", "enable")
#: The lifecycle of the unmodified catalogue: the specification variants are held to.
SPEC = Lifecycle()


class ClusterMachine(RuleBasedStateMachine):
    """The search. Subclass and override the class attributes to search a variant."""

    config: ClusterConfig = ClusterConfig.default()
    lifecycle: Lifecycle = SPEC
    cluster_class: type[Cluster] = Cluster
    #: shared by every example of a run: what the search reached ("sometimes" checks)
    coverage: Coverage = Coverage()

    instances = Bundle("instances")
    hosts = Bundle("hosts")
    flavors = Bundle("flavors")
    groups = Bundle("groups")

    def __init__(self) -> None:
        super().__init__()
        self.cluster: Cluster | None = None
        self.steps: list[dict] = []
        self.lines: list[str] = []
        self.fault_weight = 0
        self.faults = 0
        self.peak = 0.0
        self.moves = 0
        self.focus: tuple[str, ...] = OPERATIONS
        self.run_config: ClusterConfig | None = None

    def teardown(self) -> None:
        # Steer the search towards crowded hosts and long move sequences.
        target(self.peak, label="fullest host (percent of capacity)")
        target(float(self.moves), label="moves finished")
        if self.cluster is not None:
            self.cluster.close()

    # -- set-up: the cluster and what the rules draw from --------------------------------

    @initialize(target=hosts, seed=st.integers(0, 2**16), fault_weight=st.sampled_from([0, 1, 3]),
                focus=st.sets(st.sampled_from(OPERATIONS), min_size=3, max_size=10),
                offload=st.sampled_from([0, -1, 3600]), confirm_window=st.sampled_from([0, 60]),
                same_host=st.booleans())
    def start(self, seed: int, fault_weight: int, focus: set[str], offload: int,
              confirm_window: int, same_host: bool):
        # Swarm testing: each run favours a few operations (so it chains them: shelve
        # then unshelve, resize then confirm), injects no, some or many faults, and
        # runs under its own values of the options that change branches.
        options = dataclasses.replace(
            self.config.options, shelved_offload_time=offload,
            resize_confirm_window=confirm_window, allow_resize_to_same_host=same_host)
        config = self.config.replace(options=options)
        self.cluster = self.cluster_class(config, lifecycle=type(self).lifecycle, seed=seed)
        self.run_config = config  # a counterexample is replayed on exactly this
        self.fault_weight = fault_weight
        self.focus = tuple(op for op in OPERATIONS if op in focus)
        self.steps.append({"seed": seed})
        return multiple(*sorted(self.cluster.hosts))

    @initialize(target=flavors)
    def catalogue_flavors(self):
        return multiple(*sorted(f.name for f in self.config.flavors))

    @initialize(target=groups)
    def server_groups(self):
        return multiple(None, *sorted(g.name for g in self.config.server_groups))

    # -- the API -------------------------------------------------------------------------

    @rule(target=instances, flavor=flavors, group=groups, admin=st.booleans())
    def boot(self, flavor: str, group: str | None, admin: bool):
        args = {"flavor": flavor} | ({"group": group} if group else {})
        result = self._request("create", None, ADMIN if admin else USER, args)
        return result.instance

    @precondition(lambda self: self._live())
    @rule(admin=st.booleans(), data=st.data())
    def api(self, admin: bool, data) -> None:
        self._api(data.draw(st.sampled_from(self._live()), label="instance"), admin, data)

    @precondition(lambda self: self._live())
    @rule(admin=st.booleans(), data=st.data())
    def operate(self, admin: bool, data) -> None:
        """One request and its chain of steps delivered in order with ``ok``: all of it,
        or (one time in four) only the first few, so other requests race the rest."""
        instance = data.draw(st.sampled_from(self._live()), label="instance")
        if self._api(instance, admin, data):
            partial = data.draw(st.integers(0, 3), label="partial") == 0
            self._settle(instance, data.draw(st.integers(1, 4), label="steps") if partial
                         else 100)

    @rule(instance=instances)
    def settle(self, instance: str | None) -> None:
        """Deliver every deliverable step of one instance, in order, with ``ok``."""
        if instance is not None:
            self._settle(instance)

    # -- asynchronous work ------------------------------------------------------------------

    @precondition(lambda self: self.cluster is not None and self.cluster.deliverable())
    @rule(data=st.data())
    def deliver(self, data) -> None:
        work = data.draw(st.sampled_from(self.cluster.deliverable()), label="work")
        step = self.cluster.lc.operation(work.operation).step(work.step)
        outcome = "ok"
        others = [o.name for o in step.outcomes if o.name != "ok"
                  and (self.fault_weight or o.kind is not OutcomeKind.FAULT)]
        if others and data.draw(st.integers(0, 9), label="fail?") < self.fault_weight:
            outcome = data.draw(st.sampled_from(others), label="outcome")
        self._deliver(work, outcome)

    # -- the world ------------------------------------------------------------------------------

    @rule(host=hosts, event=st.sampled_from(HOST_EVENTS))
    def host_event(self, host: str, event: str) -> None:
        result = getattr(self.cluster, event)(host)
        self._record({"event": event, "host": host}, f"{event} {host}", result)

    @rule(periodic=st.sampled_from(PERIODIC + ("update_available_resource",)), host=hosts)
    def periodic(self, periodic: str, host: str) -> None:
        if periodic == "update_available_resource":  # the resource audit runs per host
            self.cluster.update_available_resource(host)
            self._record({"periodic": periodic, "host": host}, f"resource audit on {host}", None)
            return
        getattr(self.cluster, periodic)()
        self._record({"periodic": periodic}, f"periodic task {periodic}", None)

    @rule(host=hosts, rc=st.sampled_from(["VCPU", "MEMORY_MB", "DISK_GB"]),
          ratio=st.sampled_from([0.5, 1.0, 1.5, 4.0, 16.0]))
    def operator_ratio(self, host: str, rc: str, ratio: float) -> None:
        result = self.cluster.set_allocation_ratio(host, rc, ratio)
        self._record({"operator": "set_allocation_ratio", "host": host, "resource_class": rc,
                      "value": ratio}, f"operator sets {rc} allocation_ratio of {host} to {ratio}",
                     result)

    # -- the promises ---------------------------------------------------------------------------

    @invariant()
    def promises_hold(self) -> None:
        if self.cluster is None:
            return
        found = invariants.violations(self.cluster)
        found.update(self._spec_violations())
        found, explained = findings.split(found)
        for finding, _ in explained:
            type(self).coverage.found(finding.name)
        type(self).coverage.observe(self.cluster)
        self.peak = max(self.peak, self.coverage.utilisation(self.cluster))
        self.moves = sum(1 for m in self.cluster.migrations.values() if not m.in_progress)
        assert not found, self.report(found)

    def _spec_violations(self) -> dict[str, list[str]]:
        """A variant of the catalogue is held to the specification's legal states."""
        if type(self).lifecycle is SPEC:
            return {}
        out = []
        for uuid, inst in sorted(self.cluster.instances.items()):
            if inst.state == "new":
                continue
            combo = (inst.vm_state, inst.task_state, inst.power_state)
            if combo not in SPEC.legal:
                out.append(f"{uuid} reached {inst.vm_state.value}/{inst.task_state}/"
                           f"{inst.power_state.label}, which the specification never produces")
        return {"specification_legal_states": out} if out else {}

    # -- helpers ------------------------------------------------------------------------------

    def _live(self) -> list[str]:
        """Instances the API still knows (created, not deleted)."""
        if self.cluster is None:
            return []
        return [u for u, i in self.cluster.instances.items()
                if i.state != "new" and i.vm_state is not VmState.DELETED]

    def _api(self, instance: str, admin: bool, data) -> bool:
        ctx = ADMIN if admin else USER
        inst = self.cluster.instances[instance]
        # Four times in five an operation the guard accepts, favouring the run's focus;
        # otherwise any operation, to check that rejections change nothing.
        choice = data.draw(st.integers(0, 9), label="bias")
        pool: list[str] = list(OPERATIONS)
        if choice < 8:
            enabled = [op for op in OPERATIONS
                       if self.cluster.lc.guard_failure_for(op, inst, ctx) is None]
            focused = [op for op in enabled if op in self.focus]
            # Operations that only make sense here (unpause when paused, confirm or
            # revert when resized, abort while migrating) lead out of the state.
            specific = [op for op in enabled if _specific(self.cluster.lc.operation(op))]
            if choice < 3 and specific:
                pool = specific
            elif choice < 6 and focused:
                pool = focused
            else:
                pool = enabled or pool
        op = data.draw(st.sampled_from(pool), label="operation")
        args = {}
        if op == "resize":
            args["flavor"] = data.draw(st.sampled_from(sorted(f.name for f in self.config.flavors)),
                                       label="flavor")
        before = self.cluster.snapshot()
        result = self._request(op, instance, ctx, args)
        if not result.accepted:
            assert self.cluster.snapshot() == before, (
                f"rejected {op} of {instance} changed the cluster\n" + self.render_trace())
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

    def _settle(self, instance: str, limit: int = 100) -> None:
        for _ in range(limit):
            ready = [w for w in self.cluster.deliverable() if w.instance == instance]
            if not ready:
                return
            self._deliver(ready[0], "ok")

    def _deliver(self, work, outcome: str) -> None:
        step = self.cluster.lc.operation(work.operation).step(work.step)
        if outcome != "ok" and step.outcome(outcome).kind is OutcomeKind.FAULT:
            self.faults += 1
        result = self.cluster.deliver(work.id, outcome)
        record = {"deliver": {"operation": work.operation, "step": work.step,
                              "instance": work.instance, "work": work.id}}
        if outcome != "ok":
            record["outcome"] = outcome
        where = f" on {work.target}" if work.target else " in the conductor"
        self._record(record, f"{work.operation}.{work.step} of {work.instance}{where}"
                             f"{'' if outcome == 'ok' else ' fails: ' + outcome}", result)

    def _record(self, step: dict, words: str, result) -> None:
        self.steps.append(step)
        if result is None:
            verdict = "done"
        elif result.accepted:
            verdict = "accepted" + (f", {result.detail}" if result.detail else "")
        else:
            error = result.error
            verdict = (f"rejected: {type(error).__name__}: {error}" if error is not None
                       else f"rejected: {result.detail}")
        self.lines.append(f"{words} -> {verdict}")

    def render_trace(self) -> str:
        return "\n".join(f"{n}. {line}" for n, line in enumerate(self.lines, 1))

    def report(self, found: dict[str, list[str]]) -> str:
        lines = ["", "Trace (each step as an operator would describe it):", self.render_trace(),
                 "", "Violated:"]
        for name, messages in found.items():
            doc = invariants.BY_NAME[name].promise if name in invariants.BY_NAME else ""
            lines.append(f"  {name}: {doc}")
            lines += [f"    - {m}" for m in messages]
        lines += ["", "Cluster at the point of failure:", self.cluster.table()]
        return "\n".join(lines)


def _specific(op) -> bool:
    """A guard that admits at most two vm_states or only tasks in progress."""
    g = op.guard
    return g is not None and (
        (g.vm_states is not None and len(g.vm_states) <= 2)
        or (g.task_states is not None and None not in g.task_states))
