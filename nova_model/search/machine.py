"""A ``RuleBasedStateMachine`` that drives a cluster and checks the invariants.

Rules are derived from the catalogue: one rule issues any API operation (Hypothesis
picks which, on which instance, as whom); one delivers any pending step with any
outcome the step declares (so interleavings and injected faults are searched);
others move hosts down and up, run periodic tasks and change allocation ratios.
After every step the ``invariants`` package is asked for violations, and a
rejected request must leave the cluster's snapshot unchanged.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, consumes, initialize, invariant, precondition, rule,
)

import invariants
from model.catalogue import API_OPERATIONS
from model.cluster import Cluster
from model.lifecycle import ADMIN, USER, Lifecycle
from model.operation import OutcomeKind

#: API operations other than create, in catalogue order. Admin reset-state is left
#: out: it writes any vm_state by design (the single-instance graph explores it).
OPERATIONS = tuple(op.name for op in API_OPERATIONS
                   if not op.creates_instance and not op.name.startswith("reset_state"))


class ClusterMachine(RuleBasedStateMachine):
    """Subclass and set ``lifecycle``/``make_cluster`` to search a variant of the model."""

    lifecycle: Lifecycle | None = None
    allow_faults = True

    def make_cluster(self, seed: int) -> Cluster:
        return Cluster(lifecycle=type(self).lifecycle, seed=seed)

    instances = Bundle("instances")

    def __init__(self) -> None:
        super().__init__()
        self.cluster: Cluster | None = None
        self.trace: list[str] = []
        self.faults = 0

    def teardown(self) -> None:
        if self.cluster is not None:
            self.cluster.close()

    @initialize(seed=st.integers(0, 2**16))
    def start(self, seed: int) -> None:
        self.cluster = self.make_cluster(seed)
        self.trace.append(f"cluster seed {seed}")

    # -- API ------------------------------------------------------------------------

    @rule(target=instances, flavor=st.sampled_from(["m1.tiny", "m1.small", "m1.medium",
                                                    "m1.large"]),
          group=st.sampled_from([None, None, "web", "db"]))
    def boot(self, flavor: str, group: str | None):
        result = self.cluster.request("create", None, USER, flavor=flavor, group=group)
        self.trace.append(f"boot {flavor}{' in ' + group if group else ''} -> "
                          f"{_verdict(result)}")
        return result.instance

    @rule(instance=instances, admin=st.booleans(), data=st.data(),
          flavor=st.sampled_from(["m1.tiny", "m1.small", "m1.medium", "m1.large"]))
    def api(self, instance: str | None, admin: bool, data, flavor: str) -> None:
        """Any operation; four times in five one the guard accepts, so runs get deep."""
        if instance is None:
            return
        ctx = ADMIN if admin else USER
        inst = self.cluster.instances[instance]
        enabled = [op for op in OPERATIONS
                   if self.cluster.lc.guard_failure_for(op, inst, ctx) is None]
        pool = enabled if enabled and data.draw(st.integers(0, 4), label="bias") else OPERATIONS
        op = data.draw(st.sampled_from(pool), label="operation")
        before = self.cluster.snapshot()
        args = {"flavor": flavor} if op == "resize" else {}
        result = self.cluster.request(op, instance, ctx, **args)
        self.trace.append(f"{op} {instance}{' as admin' if admin else ''}"
                          f"{' to ' + flavor if op == 'resize' else ''} -> {_verdict(result)}")
        if not result.accepted:
            assert self.cluster.snapshot() == before, (
                f"rejected {op} of {instance} changed the cluster")

    # -- asynchronous work --------------------------------------------------------------

    @precondition(lambda self: self.cluster is not None and self.cluster.deliverable())
    @rule(data=st.data())
    def deliver(self, data) -> None:
        work = data.draw(st.sampled_from(self.cluster.deliverable()), label="work")
        step = self.cluster.lc.operation(work.operation).step(work.step)
        outcomes = [o.name for o in step.outcomes
                    if self.allow_faults or o.kind is not OutcomeKind.FAULT]
        outcome = data.draw(st.sampled_from(outcomes), label="outcome") \
            if len(outcomes) > 1 and data.draw(st.integers(0, 4)) == 0 else "ok"
        if outcome != "ok" and step.outcome(outcome).kind is OutcomeKind.FAULT:
            self.faults += 1
        result = self.cluster.deliver(work.id, outcome)
        self.trace.append(f"deliver {work.operation}.{work.step} of {work.instance}"
                          f"{'' if outcome == 'ok' else ' failing with ' + outcome}"
                          f" -> {_verdict(result)}")

    # -- the world ------------------------------------------------------------------------

    @rule(data=st.data())
    def host_event(self, data) -> None:
        host = data.draw(st.sampled_from(sorted(self.cluster.hosts)), label="host")
        event = data.draw(st.sampled_from(["service_down", "service_up", "restart"]),
                          label="event")
        result = getattr(self.cluster, event)(host)
        self.trace.append(f"{event} {host} -> {result.detail}")

    @rule(periodic=st.sampled_from(["poll_unconfirmed_resizes", "poll_shelved_instances",
                                    "reclaim_queued_deletes", "sync_power_states"]))
    def periodic(self, periodic: str) -> None:
        getattr(self.cluster, periodic)()
        self.trace.append(f"periodic {periodic}")

    @rule(data=st.data())
    def resource_audit(self, data) -> None:
        host = data.draw(st.sampled_from(sorted(self.cluster.hosts)), label="host")
        self.cluster.update_available_resource(host)
        self.trace.append(f"update_available_resource {host}")

    # -- the promises -----------------------------------------------------------------------

    @invariant()
    def promises_hold(self) -> None:
        if self.cluster is None:
            return
        found = invariants.violations(self.cluster)
        assert not found, _report(found, self.cluster)


def _verdict(result) -> str:
    if result.accepted:
        return "accepted" + (f" ({result.detail})" if result.detail else "")
    return f"rejected: {type(result.error).__name__}" if result.error else "rejected"


def _report(found: dict[str, list[str]], cluster: Cluster) -> str:
    lines = ["invariant violated:"]
    for name, messages in found.items():
        lines += [f"  {name}: {m}" for m in messages]
    lines.append(cluster.table())
    return "\n".join(lines)
