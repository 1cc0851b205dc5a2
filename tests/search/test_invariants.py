"""Each invariant holds on a healthy cluster and reports a deliberately broken one."""

from __future__ import annotations

import dataclasses
import re

import pytest

import invariants
from invariants import findings
from model.catalogue import CATALOGUE
from model.cluster import Cluster
from model.cluster_scenarios import HUGE, LARGE, SMALL, boot, small_config
from model.lifecycle import ADMIN, Lifecycle, state_name
from model.operation import OutcomeKind
from model.placement import Ledger
from model.states import MigrationStatus, PowerState, TaskState, VmState


@pytest.fixture
def cluster():
    c = Cluster(small_config(hosts=2), seed=3)
    yield c
    c.close()


def _active(cluster, flavor=SMALL, **kw) -> str:
    uuid = boot(cluster, flavor, **kw)
    assert cluster.instances[uuid].vm_state is VmState.ACTIVE
    return uuid


def _resized(cluster) -> str:
    uuid = _active(cluster)
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.RESIZED
    return uuid


def test_a_healthy_cluster_has_no_violations(cluster):
    _active(cluster)
    _resized(cluster)
    assert invariants.violations(cluster) == {}


def test_registry_names_and_documents_every_invariant():
    assert len(invariants.ALL) == len(invariants.BY_NAME) >= 9
    for inv in invariants.ALL:
        assert inv.promise, inv.name
        # each one says which Nova (or Placement) behaviour it reflects
        assert re.search(r"Nova|Placement|``(CM|COND|API|RT)\.|ResourceTracker|Migration\.",
                         inv.doc), inv.name


def test_claims_within_capacity_catches_a_claim_placement_would_refuse(cluster, monkeypatch):
    uuid = _active(cluster, LARGE)
    host = cluster.instances[uuid].host
    assert invariants.BY_NAME["claims_within_capacity"](cluster) == []
    # seeded fault: a ledger that forgets Placement's capacity check
    monkeypatch.setattr(Ledger, "_refusal", lambda self, consumers, allocations: None)
    assert cluster.ledger.claim(uuid, {host: {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 400}})
    (message,) = invariants.BY_NAME["claims_within_capacity"](cluster)
    assert host in message and "DISK_GB" in message


def test_an_operator_lowering_capacity_is_not_a_violation(cluster):
    uuid = _active(cluster, LARGE)
    host = cluster.instances[uuid].host
    cluster.set_allocation_ratio(host, "DISK_GB", 0.1)
    assert cluster.ledger.over_capacity()  # it is over, and it is reported as explained
    assert invariants.BY_NAME["claims_within_capacity"](cluster) == []


def test_usage_equals_allocations_catches_a_forgotten_counter(cluster):
    uuid = _active(cluster)
    host = cluster.instances[uuid].host
    cluster.ledger._usage[host]["VCPU"] += 1
    assert invariants.BY_NAME["usage_equals_allocations"](cluster)


def test_live_consumers_catches_a_leaked_allocation(cluster):
    uuid = _active(cluster)
    held = cluster.ledger.allocations_of(uuid)
    assert cluster.request("delete", uuid).accepted
    cluster.settle()
    assert cluster.ledger.claim(uuid, held)
    (message,) = invariants.BY_NAME["allocations_have_live_consumers"](cluster)
    assert uuid in message and "deleted" in message


def test_state_implies_holdings_catches_a_missing_allocation(cluster):
    uuid = _active(cluster)
    cluster.ledger.delete_allocations(uuid)
    (message,) = invariants.BY_NAME["instances_hold_what_their_state_implies"](cluster)
    assert uuid in message and "holds nothing" in message


def test_state_implies_holdings_checks_both_sides_of_a_resize(cluster):
    uuid = _resized(cluster)
    migration = next(m for m in cluster.migrations.values() if m.instance_uuid == uuid)
    cluster.ledger.delete_allocations(migration.uuid)
    assert invariants.BY_NAME["instances_hold_what_their_state_implies"](cluster)


def test_state_implies_holdings_sizes_a_volume_backed_instance_without_root_disk():
    # The claims leave a volume-backed image's root disk out (it is Cinder's): the
    # promise must expect what was claimed, on both sides of a resize too.
    from model.config import ImageConfig
    config = small_config(hosts=2)
    config = config.replace(images=config.images + (ImageConfig("vol", volume_backed=True),))
    c = Cluster(config, seed=3)
    uuid = boot(c, SMALL, image="vol")
    assert "DISK_GB" not in next(iter(c.ledger.allocations_of(uuid).values()))
    assert invariants.violations(c) == {}
    assert c.request("resize", uuid, flavor=LARGE.name).accepted
    c.settle()
    assert c.instances[uuid].vm_state is VmState.RESIZED
    assert invariants.violations(c) == {}
    c.ledger.delete_allocations(uuid)
    (message,) = invariants.BY_NAME["instances_hold_what_their_state_implies"](c)
    assert uuid in message and "DISK_GB" not in message.split("should hold")[1].split("but")[0]
    c.close()


def _evacuated_then_migrated(cluster):
    """Evacuated from a host that stays down, then migrated: the migration carried the
    down source's allocation with the rest (replace_allocation_with_migration)."""
    uuid = _active(cluster)
    source = cluster.instances[uuid].host
    cluster.service_down(source)
    assert cluster.request("evacuate", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.RESIZED
    migration = cluster.instances[uuid].migration
    assert set(cluster.ledger.allocations_of(migration.uuid)) == {
        source, next(m.dest for m in cluster.migrations.values() if m is not migration)}
    return uuid, source, migration


@pytest.mark.parametrize("then", ["nothing", "confirm_resize", "revert_resize"])
def test_state_implies_holdings_follows_an_evacuation_source_a_move_carried(then):
    # While the source is down the one copy of its allocation may be on the instance
    # or on the migration, or gone once a confirm deleted the migration's allocations.
    c = Cluster(small_config(hosts=3), seed=3)
    uuid, source, migration = _evacuated_then_migrated(c)
    if then != "nothing":
        assert c.request(then, uuid).accepted
        c.settle()
    assert invariants.violations(c) == {}
    assert c.service_up(source).accepted
    if then == "nothing":  # the clean-up misses the migration's copy: Nova's own gap
        found = invariants.violations(c)
        assert findings.split(found, c)[0] == {} and found
    else:
        assert invariants.violations(c) == {}
        assert all(source not in c.ledger.allocations_of(x) for x in (uuid, migration.uuid))
    c.close()


def test_state_implies_holdings_counts_a_carried_evacuation_source_once():
    c = Cluster(small_config(hosts=3), seed=3)
    uuid, source, migration = _evacuated_then_migrated(c)
    # seeded fault: the instance gets the down source back while the migration keeps it
    copy = c.ledger.allocations_of(migration.uuid)[source]
    mine = c.ledger.allocations_of(uuid)
    c.ledger.delete_allocations(uuid)
    assert c.ledger.claim(uuid, {**mine, source: copy})
    (message,) = invariants.BY_NAME["instances_hold_what_their_state_implies"](c)
    assert f"was evacuated from {source}" in message and migration.uuid in message
    c.close()


def test_state_implies_holdings_catches_an_evacuation_source_held_twice():
    c = Cluster(small_config(hosts=3), seed=3)
    uuid = _active(c)
    source = c.instances[uuid].host
    c.service_down(source)
    assert c.request("evacuate", uuid, ADMIN).accepted
    c.settle()
    assert invariants.violations(c) == {}
    # seeded fault: the down source is claimed a second time
    mine = c.ledger.allocations_of(uuid)
    assert c.ledger.claim(uuid, {**mine, source: {rc: 2 * n for rc, n in mine[source].items()}})
    (message,) = invariants.BY_NAME["instances_hold_what_their_state_implies"](c)
    assert f"was evacuated from {source}" in message
    c.close()


def test_legal_state_combinations_catches_an_impossible_power_state(cluster):
    uuid = _active(cluster)
    cluster.instances[uuid].power_state = PowerState.SUSPENDED
    (message,) = invariants.BY_NAME["legal_state_combinations"](cluster)
    assert "no operation produces" in message


def test_host_set_catches_an_active_instance_without_host(cluster):
    uuid = _active(cluster)
    cluster.instances[uuid].host = None
    assert invariants.BY_NAME["host_set_exactly_when_required"](cluster)


def test_migrations_agree_catches_a_resized_instance_without_its_migration(cluster):
    uuid = _resized(cluster)
    for m in cluster.migrations.values():
        if m.instance_uuid == uuid:
            m.status = MigrationStatus.CONFIRMED
    assert invariants.BY_NAME["migrations_agree_with_instances"](cluster)


def test_server_groups_catch_two_anti_affinity_members_on_one_host(cluster):
    first = _active(cluster, group="anti")
    second = _active(cluster, group="anti")
    assert cluster.instances[first].host != cluster.instances[second].host
    assert invariants.BY_NAME["server_group_policies"](cluster) == []
    cluster.instances[second].host = cluster.instances[first].host
    (message,) = invariants.BY_NAME["server_group_policies"](cluster)
    assert "anti" in message


def test_server_groups_catch_a_split_affinity_group(cluster):
    first = _active(cluster, group="aff")
    second = _active(cluster, group="aff")
    assert cluster.instances[first].host == cluster.instances[second].host
    cluster.instances[second].host = next(h for h in cluster.hosts
                                          if h != cluster.instances[first].host)
    assert invariants.BY_NAME["server_group_policies"](cluster)


def test_nothing_stuck_catches_a_task_with_no_work(cluster):
    uuid = _active(cluster)
    cluster.instances[uuid].state = state_name(VmState.ACTIVE, TaskState.POWERING_OFF)
    (message,) = invariants.BY_NAME["nothing_stuck"](cluster)
    assert "stuck" in message


# --- scheduler soundness ----------------------------------------------------------------

def _sound(cluster) -> list[str]:
    return invariants.BY_NAME["scheduler_decisions_sound"](cluster)


def _filter_decisions(cluster):
    return [d for d in cluster.decisions if d.kind == "filter"]


@pytest.mark.parametrize("mode", ["placement", "legacy"])
def test_scheduler_soundness_holds_while_hosts_fill_up_and_instances_move(mode):
    config = small_config(hosts=2)
    config = config.replace(scheduler=dataclasses.replace(config.scheduler, mode=mode,
                                                          enabled_filters=None))
    c = Cluster(config, seed=5)
    try:
        placed = {}
        for _ in range(5):  # two large instances fill a host; the fifth finds none
            uuid = c.request("create", flavor=LARGE.name).instance
            c.settle()
            (decision,) = _filter_decisions(c)
            placed[uuid] = decision.chosen
            assert _sound(c) == [], decision
        assert list(placed.values()).count(None) == 1 and sorted(filter(None, placed.values())) == [
            "host1", "host1", "host2", "host2"]
        assert c.instances[uuid].vm_state is VmState.ERROR
        for uuid, host in placed.items():
            if host != "host1":
                assert c.request("delete", uuid).accepted
        c.settle()
        small = boot(c, SMALL)
        assert c.instances[small].host == "host2" and _sound(c) == []
        # a resize must leave host2, and host1 is full: NoValidHost, rightly
        assert c.request("resize", small, flavor=LARGE.name).accepted
        c.settle()
        (decision,) = _filter_decisions(c)
        assert decision.operation == "resize" and decision.chosen is None
        assert _sound(c) == []
        assert c.request("delete", next(u for u, h in placed.items() if h == "host1")).accepted
        assert c.request("resize", small, flavor=LARGE.name).accepted
        c.settle()
        (decision,) = _filter_decisions(c)
        assert decision.chosen == "host1" and _sound(c) == []
        assert invariants.violations(c) == {}
    finally:
        c.close()


def test_scheduler_soundness_holds_for_an_evacuation_and_skips_forced_hosts(cluster):
    first = _active(cluster, LARGE)
    source = cluster.instances[first].host
    cluster.service_down(source)
    assert cluster.request("evacuate", first, ADMIN).accepted
    cluster.settle()
    (decision,) = cluster.decisions
    assert decision.kind == "filter" and decision.chosen != source
    assert _sound(cluster) == []
    # a forced host bypasses the scheduler (Nova claims on it directly): recorded, not judged
    cluster.service_up(source)
    cluster.disable(source)
    assert cluster.request("live_migrate", first, ADMIN, host=source, force=True).accepted
    cluster.settle()
    (decision,) = cluster.decisions
    assert (decision.kind, decision.chosen) == ("forced", source)
    assert _sound(cluster) == []


def test_decisions_are_a_record_not_state(cluster):
    _active(cluster)
    assert cluster.decisions  # the boot's schedule step
    snap = cluster.snapshot()
    restored = Cluster.restore(snap, cluster.config, cluster.lc)
    try:
        assert restored.snapshot() == snap and restored.decisions == []
    finally:
        restored.close()
    cluster.request("stop", next(iter(cluster.instances)))
    assert cluster.decisions == [] and _sound(cluster) == []  # reset by each API request


def test_scheduler_soundness_catches_a_pipeline_that_skips_a_filter(cluster, monkeypatch):
    import model.scheduler.pipeline as pipeline
    make_filters = pipeline.make_filters
    # seeded fault: the pipeline forgets ComputeFilter; the invariant builds its own
    monkeypatch.setattr(pipeline, "make_filters", lambda config: [
        f for f in make_filters(config) if f.name != "ComputeFilter"])
    cluster.disable("host1")
    uuid = cluster.request("create", flavor=SMALL.name).instance
    cluster.settle()
    assert cluster.instances[uuid].host == "host1"
    (message,) = _sound(cluster)
    assert "chose host1" in message and "ComputeFilter" in message


def test_scheduler_soundness_catches_a_host_that_cannot_fit(cluster, monkeypatch):
    for _ in range(4):
        _active(cluster, LARGE)  # both hosts are full
    # seeded fault: Placement forgets its capacity check, so the query offers every host
    monkeypatch.setattr(Ledger, "_refusal", lambda self, consumers, allocations: None)
    uuid = cluster.request("create", flavor=LARGE.name).instance
    cluster.settle()
    host = cluster.instances[uuid].host
    (message,) = _sound(cluster)
    assert f"chose {host}, but it cannot fit VCPU=4: 8 used of capacity 8" in message
    huge = cluster.request("create", flavor=HUGE.name).instance
    cluster.settle()
    (message,) = _sound(cluster)
    assert huge in message and "needs VCPU=16, outside" in message and "max_unit 8" in message


def test_scheduler_soundness_catches_no_valid_host_while_a_host_fits(cluster, monkeypatch):
    import model.cluster_scheduling as cluster_module
    from model.scheduler import NoValidHost

    def gives_up(*args, **kwargs):
        raise NoValidHost("seeded fault: the scheduler gives up")

    monkeypatch.setattr(cluster_module, "select_destinations", gives_up)
    uuid = cluster.request("create", flavor=SMALL.name).instance
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.ERROR
    (message,) = _sound(cluster)
    assert "NoValidHost (seeded fault" in message and "host1 passes every enabled filter" in message


def test_scheduler_soundness_catches_a_claim_refused_for_no_reason(cluster, monkeypatch):
    claim = Cluster._claim_effects

    def refuses_host1(self, inst, branch, host, flavor, migration_uuid):
        return host != "host1" and claim(self, inst, branch, host, flavor, migration_uuid)

    monkeypatch.setattr(Cluster, "_claim_effects", refuses_host1)
    uuid = cluster.request("create", flavor=SMALL.name).instance
    cluster.settle()
    assert cluster.instances[uuid].host == "host2"  # Nova tries the next host
    (message,) = _sound(cluster)
    assert "claim on host1 was refused although Placement could fit it" in message


def test_a_doubled_claim_on_a_lowered_source_is_accepted_and_not_a_violation(cluster):
    """An evacuation's doubled claim re-writes the source's allocation: on a source an
    operator lowered below it, Placement accepts it (the write adds no usage there), and
    the over-capacity source is the operator's doing, not a violation."""
    first = _active(cluster, LARGE)
    source = cluster.instances[first].host
    held = cluster.ledger.allocations_of(first)[source]
    cluster.service_down(source)
    cluster.set_allocation_ratio(source, "DISK_GB", 0.1)
    assert cluster.request("evacuate", first, ADMIN).accepted
    cluster.settle()
    (decision,) = cluster.decisions
    assert decision.chosen not in (None, source) and not decision.claim_failed
    assert cluster.ledger.allocations_of(first) == {source: held, decision.chosen: held}
    assert cluster.ledger.over_capacity(include_explained=False) == []
    assert cluster.ledger.over_capacity() != []
    assert _sound(cluster) == []


# --- no error without a failure -------------------------------------------------------

def _errors(cluster) -> list[str]:
    return invariants.BY_NAME["error_only_from_failures"](cluster)


def _variant(operation: str, step: str, **outcome_changes) -> Lifecycle:
    """The catalogue with one step's first outcome changed (``branch_vm``: its vm_state)."""
    op = CATALOGUE[operation]
    target = op.step(step)
    outcome = target.outcomes[0] if "name" not in outcome_changes else target.outcome(
        outcome_changes.pop("name"))
    vm = outcome_changes.pop("branch_vm", None)
    if vm is not None:
        outcome_changes["branches"] = tuple(dataclasses.replace(b, vm=vm)
                                            for b in outcome.branches)
    changed = dataclasses.replace(outcome, **outcome_changes)
    new_step = dataclasses.replace(target, outcomes=tuple(
        changed if o.name == changed.name else o for o in target.outcomes))
    steps = tuple(new_step if s.name == step else s for s in op.steps)
    return Lifecycle({**CATALOGUE, operation: dataclasses.replace(op, steps=steps)})


def test_environment_outcomes_may_error_without_any_fault(cluster):
    uuid = cluster.request("create", flavor=HUGE.name).instance  # fits on no host
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.ERROR
    cause = cluster.error_causes[uuid]
    assert (cause.name, cause.kind.value, cause.trigger) == (
        "create.schedule:no_valid_host", "env", "scheduler")
    assert cluster.injected_faults == 0 and _errors(cluster) == []


def test_injected_faults_restarts_and_reset_state_may_error(cluster):
    rebooted = _active(cluster)
    assert cluster.request("reboot_soft", rebooted).accepted
    cluster.settle(reboot_soft__rebooted="driver_error")
    assert cluster.instances[rebooted].vm_state is VmState.ERROR
    assert cluster.injected_faults == 1 and _errors(cluster) == []
    # a compute restart errors the build it interrupted (CM._init_instance)
    building = cluster.request("create", flavor=SMALL.name).instance
    for _ in range(3):  # schedule, build, networking
        cluster.deliver(next(w for w in cluster.pending() if w.instance == building).id)
    cluster.restart(cluster.instances[building].host)
    assert cluster.instances[building].vm_state is VmState.ERROR
    assert cluster.error_causes[building].trigger == "recovery"
    reset = _active(cluster)
    assert cluster.request("reset_state_error", reset, ADMIN).accepted
    assert _errors(cluster) == []
    assert invariants.violations(cluster, {"error_only_from_failures"}) == {}
    # leaving error forgets the cause; the causes survive a snapshot
    assert cluster.request("reset_state_active", reset, ADMIN).accepted
    assert reset not in cluster.error_causes
    restored = Cluster.restore(cluster.snapshot(), cluster.config, cluster.lc)
    try:
        assert restored.error_causes == cluster.error_causes
        assert restored.injected_faults == 1 and _errors(restored) == []
    finally:
        restored.close()


def test_error_only_from_failures_catches_an_ok_outcome_that_errors():
    # seeded fault: a catalogue whose successful pause puts the instance in error
    c = Cluster(small_config(hosts=2), _variant("pause", "pause", branch_vm=VmState.ERROR))
    try:
        uuid = _active(c)
        assert c.request("pause", uuid).accepted
        c.settle()
        (message,) = _errors(c)
        assert uuid in message and "pause.pause:ok" in message and "ok outcome" in message
    finally:
        c.close()


def test_error_only_from_failures_catches_a_fault_nobody_injected():
    # seeded fault: NoValidHost declared as a fault of the build, not the environment's
    lc = _variant("create", "schedule", name="no_valid_host", kind=OutcomeKind.FAULT)
    c = Cluster(small_config(hosts=2), lc)
    try:
        uuid = c.request("create", flavor=HUGE.name).instance
        c.settle()
        (message,) = _errors(c)
        assert "create.schedule:no_valid_host" in message and "no fault was injected" in message
    finally:
        c.close()


def test_error_only_from_failures_catches_an_error_nothing_caused(cluster):
    uuid = _active(cluster)
    cluster.instances[uuid].state = state_name(VmState.ERROR, None)
    (message,) = _errors(cluster)
    assert uuid in message and "no step outcome" in message


def test_tracker_usage_never_negative_catches_a_drop_made_twice(cluster):
    uuid = _resized(cluster)
    source = cluster.instances[uuid].migration.source
    assert invariants.BY_NAME["tracker_usage_never_negative"](cluster) == []
    tracker = cluster.trackers[source]
    old = cluster.tracker_usage(cluster.instances[uuid].migration.old_flavor,
                                cluster.instances[uuid])
    cluster.trackers[source] = tracker.drop_move_claim(uuid, old).drop_move_claim(uuid, old)
    messages = invariants.BY_NAME["tracker_usage_never_negative"](cluster)
    assert any(source in m and "MEMORY_MB" in m for m in messages), messages
    # (a drop made twice is not the upstream finding about a drop never counted)
    unexplained, _ = findings.split({"tracker_usage_never_negative": messages}, cluster)
    assert unexplained


def test_tracker_audit_agreement_catches_a_tracker_counting_another_flavor():
    class RootlessTracker(Cluster):
        def tracker_usage(self, flavor, inst):
            return dataclasses.replace(super().tracker_usage(flavor, inst), disk_gb=0)
    c = RootlessTracker(small_config(hosts=2), seed=3)
    try:
        uuid = _active(c)
        messages = invariants.BY_NAME["tracker_audit_agrees_with_placement"](c)
        host = c.instances[uuid].host
        assert any(host in m and "DISK_GB" in m for m in messages), messages
        c.request("delete", uuid)
        assert invariants.BY_NAME["tracker_audit_agrees_with_placement"](c) == []  # in flight
        c.settle()
        assert invariants.BY_NAME["tracker_audit_agrees_with_placement"](c) == []
    finally:
        c.close()
