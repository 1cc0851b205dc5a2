"""Boot, reschedule, resize, cold and live migration on a Cluster: real ledger effects."""

from __future__ import annotations

import pytest

from model.cluster import Cluster
from model.cluster_scenarios import (
    HUGE, LARGE, SMALL, allocs, assert_usage_consistent, boot, res, small_config,
)
from model.lifecycle import ADMIN, USER
from model.states import MigrationStatus as MS, TaskState as T, VmState as V


@pytest.fixture
def c():
    cluster = Cluster(small_config())
    yield cluster
    cluster.close()


def test_boot_claims_exactly_the_flavor_on_one_host(c):
    uuid = boot(c)
    inst = c.instances[uuid]
    assert allocs(c, uuid) == {inst.host: res(SMALL)}
    assert c.ledger.consumers() == [uuid]
    assert_usage_consistent(c)


def test_each_step_is_one_delivery(c):
    r = c.request("create", flavor="small")
    assert [w.step for w in c.pending()] == ["schedule"]
    assert c.pending()[0].target is None  # the conductor
    c.deliver(c.pending()[0].id)
    (build,) = c.pending()
    # the conductor only claims; the compute's build step puts the instance on its host
    assert build.step == "build" and build.target == build.get("dest")
    assert c.instances[r.instance].host is None
    assert c.instances[r.instance].task_state is T.SCHEDULING
    c.deliver(build.id)
    assert c.instances[r.instance].host == build.target
    assert c.instances[r.instance].task_state is None


def test_boot_with_no_valid_host(c):
    r = c.request("create", flavor=HUGE.name)
    out = c.settle()
    inst = c.instances[r.instance]
    assert "no_valid_host" in out[0].detail
    assert (inst.vm_state, inst.task_state, inst.host) == (V.ERROR, None, None)
    assert c.ledger.consumers() == []
    assert c.pending() == []


def test_boot_with_all_hosts_disabled_finds_no_host(c):
    for h in c.hosts:
        c.disable(h)
    r = c.request("create", flavor="small")
    c.settle()
    assert c.instances[r.instance].vm_state is V.ERROR
    assert c.ledger.consumers() == []


def test_build_failure_reschedules_to_an_alternate(c):
    r = c.request("create", flavor="small")
    uuid = r.instance
    c.settle(create__spawned="reschedule")
    # settle went on: the reschedule claimed an alternate and the build succeeded there.
    inst = c.instances[uuid]
    assert inst.vm_state is V.ACTIVE
    assert list(allocs(c, uuid)) == [inst.host]
    assert_usage_consistent(c)


def test_reschedule_moves_the_allocation_step_by_step(c):
    uuid = c.request("create", flavor="small").instance
    while c.pending()[0].step != "spawned":
        c.deliver(c.pending()[0].id)
    first = c.instances[uuid].host
    assert list(allocs(c, uuid)) == [first]
    c.deliver(c.pending()[0].id, "reschedule")
    inst = c.instances[uuid]
    assert (inst.task_state, inst.host) == (T.SCHEDULING, None)
    assert allocs(c, uuid) == {}
    (w,) = c.pending()
    assert w.step == "reschedule" and w.target is None
    assert first not in w.get("alternates")
    c.deliver(w.id)
    (build,) = c.pending()  # the alternate is claimed; its compute then takes the instance
    second = build.get("dest")
    assert second not in (None, first) and build.target == second
    assert allocs(c, uuid) == {second: res(SMALL)}
    c.deliver(build.id)
    assert c.instances[uuid].host == second


def test_reschedule_without_alternates_errors_and_frees(c):
    uuid = c.request("create", flavor="small").instance
    hosts_tried = []
    for _ in range(10):
        while c.pending() and c.pending()[0].step != "spawned":
            c.deliver(c.pending()[0].id)
        if not c.pending():
            break
        hosts_tried.append(c.instances[uuid].host)
        c.deliver(c.pending()[0].id, "reschedule")
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (V.ERROR, None, None)
    assert len(hosts_tried) == c.scheduler_config.max_attempts
    assert len(set(hosts_tried)) == len(hosts_tried)
    assert c.ledger.consumers() == []


def test_build_abort_deletes_the_allocation(c):
    uuid = c.request("create", flavor="small").instance
    c.settle(create__spawned="build_abort")
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host) == (V.ERROR, None)
    assert c.ledger.consumers() == []


def _resize_to_resized(c, op="resize", **args):
    uuid = boot(c)
    source = c.instances[uuid].host
    r = c.request(op, uuid, ADMIN if op == "migrate" else ctx_user(), **args)
    assert r.accepted, r
    c.settle()
    inst = c.instances[uuid]
    assert inst.vm_state is V.RESIZED
    return uuid, source, inst.host, inst.migration


def ctx_user():
    from model.lifecycle import USER
    return USER


def test_resize_holds_old_flavor_on_source_and_new_on_dest(c):
    uuid, source, dest, mig = _resize_to_resized(c, flavor="large")
    assert dest != source
    assert mig.status is MS.FINISHED and (mig.source, mig.dest) == (source, dest)
    assert allocs(c, mig.uuid) == {source: res(SMALL)}
    assert allocs(c, uuid) == {dest: res(LARGE)}
    assert c.instances[uuid].flavor == "large"
    assert_usage_consistent(c)


def test_confirm_resize_frees_the_source(c):
    uuid, source, dest, mig = _resize_to_resized(c, flavor="large")
    assert c.request("confirm_resize", uuid).accepted
    assert mig.status is MS.CONFIRMING
    (w,) = c.pending()
    assert w.target == source
    c.settle()
    assert c.instances[uuid].vm_state is V.ACTIVE
    assert mig.status is MS.CONFIRMED
    assert allocs(c, mig.uuid) == {}
    assert allocs(c, uuid) == {dest: res(LARGE)}
    assert_usage_consistent(c)


def test_revert_resize_frees_dest_and_restores_old_flavor(c):
    uuid, source, dest, mig = _resize_to_resized(c, flavor="large")
    assert c.request("revert_resize", uuid).accepted
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host, inst.flavor) == (V.ACTIVE, source, "small")
    assert mig.status is MS.REVERTED
    assert allocs(c, mig.uuid) == {}
    assert allocs(c, uuid) == {source: res(SMALL)}
    assert_usage_consistent(c)


def test_cold_migrate_confirm_and_revert(c):
    uuid, source, dest, mig = _resize_to_resized(c, op="migrate")
    assert dest != source
    assert allocs(c, mig.uuid) == {source: res(SMALL)}
    assert allocs(c, uuid) == {dest: res(SMALL)}
    assert c.request("revert_resize", uuid).accepted
    c.settle()
    assert allocs(c, uuid) == {source: res(SMALL)} and allocs(c, mig.uuid) == {}
    assert c.request("migrate", uuid, ADMIN).accepted
    c.settle()
    mig2 = c.instances[uuid].migration
    assert mig2.uuid != mig.uuid
    assert c.request("confirm_resize", uuid).accepted
    c.settle()
    assert allocs(c, uuid) == {mig2.dest: res(SMALL)} and c.ledger.consumers() == [uuid]


def test_migrate_to_a_requested_host(c):
    uuid = boot(c)
    others = sorted(h for h in c.hosts if h != c.instances[uuid].host)
    assert c.request("migrate", uuid, ADMIN, host=others[-1]).accepted
    c.settle()
    assert c.instances[uuid].host == others[-1]


def test_resize_no_valid_host_reverts_the_move(c):
    uuid = boot(c)
    host = c.instances[uuid].host
    assert c.request("resize", uuid, flavor="huge").accepted
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (V.ACTIVE, None, host)
    assert inst.migration.status is MS.ERROR
    assert c.ledger.consumers() == [uuid] and allocs(c, uuid) == {host: res(SMALL)}


def _deliver_step(c, uuid, step, outcome="ok"):
    work = next(w for w in c.pending() if w.instance == uuid and w.step == step)
    return c.deliver(work.id, outcome)


def test_a_failed_resize_claim_is_rescheduled_to_the_next_alternate(c):
    uuid = boot(c)
    host = c.instances[uuid].host
    c.request("resize", uuid, flavor="large")
    _deliver_step(c, uuid, "schedule")
    first = c.instances[uuid].migration
    assert first.dest is None  # the destination's claim writes it
    alternates = next(w for w in c.pending() if w.instance == uuid).get("alternates")
    assert alternates
    _deliver_step(c, uuid, "prep_resize", "claim_failed")
    failed_on = first.dest
    assert failed_on not in (None, host) and failed_on not in alternates
    assert allocs(c, uuid) == {host: res(SMALL)} and not allocs(c, first.uuid)
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host, inst.flavor) == (V.RESIZED, alternates[0], "large")
    assert inst.migration is first and first.dest == alternates[0]
    assert len(c.migrations) == 1


def test_a_resize_claim_failing_on_every_alternate_errors_the_instance(c):
    uuid = boot(c)
    host = c.instances[uuid].host
    c.request("resize", uuid, flavor="large")
    _deliver_step(c, uuid, "schedule")
    tried = []
    while any(w.instance == uuid and w.step == "prep_resize" for w in c.pending()):
        _deliver_step(c, uuid, "prep_resize", "claim_failed")
        tried.append(c.instances[uuid].migration.dest)
        assert _deliver_step(c, uuid, "reschedule").accepted
    # the first choice and its alternate: every host but the source (three hosts)
    assert len(tried) == len(set(tried)) and set(tried) == set(c.hosts) - {host}
    inst = c.instances[uuid]
    # the compute re-raises the claim's failure: _error_out_instance_on_exception
    assert (inst.vm_state, inst.task_state, inst.host, inst.flavor) == (
        V.ERROR, None, host, "small")
    assert inst.migration.status is MS.ERROR and inst.migration.dest == tried[-1]
    assert c.ledger.consumers() == [uuid] and allocs(c, uuid) == {host: res(SMALL)}


def test_live_migrate_moves_the_allocation(c):
    uuid = boot(c)
    source = c.instances[uuid].host
    assert c.request("live_migrate", uuid, ADMIN).accepted
    c.settle()
    inst = c.instances[uuid]
    assert inst.host != source and inst.migration.status is MS.COMPLETED
    assert c.ledger.consumers() == [uuid]
    assert allocs(c, uuid) == {inst.host: res(SMALL)}


@pytest.mark.parametrize("how", ["abort", "rollback", "pre_check_failed"])
def test_live_migrate_abort_or_rollback_restores_the_allocation(c, how):
    uuid = boot(c)
    source = c.instances[uuid].host
    c.request("live_migrate", uuid, ADMIN)
    c.deliver(c.pending()[0].id)  # schedule: source -> migration, dest claimed
    mig = c.instances[uuid].migration
    assert allocs(c, mig.uuid) == {source: res(SMALL)}
    assert allocs(c, uuid) == {mig.dest: res(SMALL)}
    if how == "abort":
        assert c.request("live_migrate_abort", uuid, ADMIN).accepted
        c.settle()
        assert mig.status is MS.CANCELLED
    elif how == "rollback":
        c.settle(live_migrate__post_live_migration="rollback")
        assert mig.status is MS.FAILED
    else:
        c.settle(live_migrate__pre_live_migration="pre_check_failed")
        # CM._rollback_live_migration writes failed last (Nova 34, seen by conformance)
        assert mig.status is MS.FAILED
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (V.ACTIVE, None, source)
    assert c.ledger.consumers() == [uuid] and allocs(c, uuid) == {source: res(SMALL)}
    assert c.pending() == []


def _two_moves_queued(c, first: tuple, second: tuple) -> str:
    """``first`` queued at the conductor, its task cleared by a failed soft delete
    (reverts_task_state), then ``second`` accepted: (operation, caller, args) each."""
    uuid = boot(c)
    op, ctx, args = first
    assert c.request(op, uuid, ctx, **args).accepted
    assert c.request("soft_delete", uuid, ADMIN).accepted
    work = next(w for w in c.pending() if w.operation == "soft_delete")
    assert c.deliver(work.id, "driver_error").accepted
    op, ctx, args = second
    assert c.request(op, uuid, ctx, **args).accepted
    return uuid


@pytest.mark.parametrize("second, shared", [
    (("migrate", ADMIN, {}), True),
    (("resize", USER, {"flavor": LARGE.name}), False),
])
def test_a_cold_moves_conductor_takes_the_pre_migrating_record_of_its_type(c, second, shared):
    """MigrationTask._preallocate_migration: a cold move scheduled while the instance
    has a 'pre-migrating' record of the same type takes it instead of creating one."""
    op, ctx, args = second
    uuid = _two_moves_queued(c, ("migrate", ADMIN, {}), (op, ctx, args))
    first, other = (w for w in c.pending() if w.step == "schedule")
    assert c.deliver(first.id).accepted
    [record] = c.migrations.values()
    assert c.deliver(other.id).accepted
    assert (len(c.migrations) == 1) is shared
    mine = c.instances[uuid].migration
    assert (mine is record) is shared
    assert [w.get("migration") for w in c.pending() if w.step == "prep_resize"] == [
        record.uuid, mine.uuid]
    assert c.shared_migrations == ({record.uuid: ((op, "schedule", "ok"),)} if shared
                                   else {})


def test_a_second_cold_moves_no_valid_host_puts_the_shared_record_in_error(c):
    """MigrationTask.rollback marks the record it took failed as its own: the first
    move's record goes to error, and nothing moved into it is given back twice."""
    uuid = _two_moves_queued(c, ("migrate", ADMIN, {}), ("migrate", ADMIN, {}))
    first, other = (w for w in c.pending() if w.step == "schedule")
    assert c.deliver(first.id).accepted
    [record] = c.migrations.values()
    held = allocs(c, record.uuid)
    assert c.deliver(other.id, "no_valid_host").accepted
    assert list(c.migrations.values()) == [record] and record.status is MS.ERROR
    assert allocs(c, record.uuid) == held
    assert c.migration_errors[record.uuid].step == "schedule"
    assert c.instances[uuid].task_state is None


def test_only_the_cold_moves_conductor_takes_an_existing_record():
    """A live migration's and an evacuation's records are made by the API
    (API.live_migrate, API.evacuate) and never taken over by another move."""
    from model.catalogue import CATALOGUE
    reusing = {(op.name, s.name, o.name, b.migration.reuses)
               for op in CATALOGUE.values() for s in op.all_steps.values()
               for o in s.outcomes for b in o.branches
               if b.migration is not None and b.migration.reuses is not None}
    assert reusing == {(op, "schedule", outcome, MS.PRE_MIGRATING)
                       for op in ("resize", "migrate") for outcome in ("ok", "no_valid_host")}


def test_forced_live_migration_skips_the_scheduler_but_claims(c):
    uuid = boot(c)
    target = sorted(h for h in c.hosts if h != c.instances[uuid].host)[0]
    c.disable(target)  # the scheduler would refuse a disabled host; a forced move does not
    assert c.request("live_migrate", uuid, ADMIN, host=target, force=True).accepted
    c.settle()
    assert c.instances[uuid].host == target
    assert allocs(c, uuid) == {target: res(SMALL)}


def test_anti_affinity_group_spreads_then_runs_out_of_hosts(c):
    placed = [boot(c, group="anti") for _ in range(len(c.hosts))]
    assert len({c.instances[u].host for u in placed}) == len(c.hosts)
    r = c.request("create", flavor="small", group="anti")
    c.settle()
    assert c.instances[r.instance].vm_state is V.ERROR


def test_affinity_group_packs(c):
    placed = [boot(c, group="aff") for _ in range(3)]
    assert len({c.instances[u].host for u in placed}) == 1


def test_a_revert_moves_back_onto_a_source_whose_capacity_was_lowered():
    # Placement accepts a write that adds no usage to a provider over capacity
    # (_check_capacity_exceeded's prev_used): the move back succeeds.
    c = Cluster(small_config(hosts=2), seed=1)
    uuid = boot(c, SMALL)
    assert c.request("resize", uuid, flavor=LARGE.name).accepted
    c.settle()
    source = c.instances[uuid].migration.source
    held = c.ledger.allocations_of(c.instances[uuid].migration.uuid)[source]
    c.set_allocation_ratio(source, "MEMORY_MB", 0.01)  # below what the migration holds
    assert c.request("revert_resize", uuid).accepted
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host, inst.flavor) == (V.ACTIVE, source, SMALL.name)
    assert c.ledger.allocations_of(uuid) == {source: held}
    c.close()


def test_a_revert_whose_move_back_placement_fails_leaves_the_migration_holding_the_source():
    c = Cluster(small_config(hosts=2), seed=1)
    uuid = boot(c, SMALL)
    assert c.request("resize", uuid, flavor=LARGE.name).accepted
    c.settle()
    assert c.request("revert_resize", uuid).accepted
    c.deliver(next(w for w in c.pending() if w.instance == uuid).id)  # on the destination
    step = next(w for w in c.pending() if w.instance == uuid)
    assert c.deliver(step.id, "allocation_move_failed").accepted
    inst = c.instances[uuid]
    source, dest = inst.migration.source, inst.migration.dest
    assert (inst.vm_state, inst.host, inst.flavor) == (V.ERROR, source, SMALL.name)
    assert c.error_causes[uuid].outcome == "allocation_move_failed"
    assert c.error_causes[uuid].trigger == "injected"
    assert list(c.ledger.allocations_of(inst.migration.uuid)) == [source]
    assert list(c.ledger.allocations_of(uuid)) == [dest]
    c.close()


def test_a_move_of_an_instance_holding_nothing_on_its_host_moves_nothing(c):
    """replace_allocation_with_migration moves the instance's allocations only if it
    holds something on its own host; the scheduler's claim then keeps what it holds."""
    uuid = boot(c, SMALL)
    source = c.instances[uuid].host
    # (the state two racing moves leave behind: the first took the source allocation)
    held = c.ledger.allocations_of(uuid)[source]
    elsewhere = next(h for h in sorted(c.hosts) if h != source)
    c.ledger.delete_allocations(uuid)
    assert c.ledger.claim(uuid, {elsewhere: held})
    assert c.request("migrate", uuid, ADMIN).accepted
    assert c.deliver(c.next_deliverable(uuid).id).accepted  # schedule
    migration = c.instances[uuid].migration
    chosen = c.next_deliverable(uuid).get("dest")
    assert c.ledger.allocations_of(migration.uuid) == {}
    assert set(c.ledger.allocations_of(uuid)) == {elsewhere, chosen}
