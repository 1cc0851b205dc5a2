"""Host events, evacuation, shelve, delete, compute-start recovery and periodic tasks."""

from __future__ import annotations

import pytest

from model.cluster import Cluster
from model.cluster_scenarios import (
    LARGE, SMALL, allocs, assert_usage_consistent, boot, res, small_config,
)
from model.lifecycle import ADMIN
from model.states import MigrationStatus as MS, PowerState as P, TaskState as T, VmState as V



@pytest.fixture
def c():
    cluster = Cluster(small_config())
    yield cluster
    cluster.close()


def test_step_at_a_down_host_waits_for_it(c):
    uuid = boot(c)
    host = c.instances[uuid].host
    assert c.request("suspend", uuid).accepted
    (w,) = c.pending()
    c.service_down(host)
    r = c.deliver(w.id)
    assert not r.accepted and "stays queued" in r.detail
    assert c.pending() == [w] and c.deliverable() == []
    assert c.instances[uuid].task_state is T.SUSPENDING
    # CM._init_instance has no case for suspending (it does clear pausing when the
    # guest runs): the task is left to the queued step.
    c.service_up(host)
    assert c.deliver(w.id).accepted
    assert c.instances[uuid].vm_state is V.SUSPENDED


def test_evacuate_doubles_then_source_restart_removes_the_source(c):
    uuid = boot(c)
    source = c.instances[uuid].host
    assert not c.request("evacuate", uuid, ADMIN).accepted  # source still up
    c.service_down(source)
    r = c.request("evacuate", uuid, ADMIN)
    assert r.accepted
    mig = c.instances[uuid].migration
    assert (mig.status, mig.source) == (MS.ACCEPTED, source)
    c.deliver(c.pending()[0].id)  # schedule: CLAIM_DEST_DOUBLED
    dest = c.pending()[0].get("dest")
    assert dest not in (None, source)
    assert (mig.status, mig.dest) == (MS.ACCEPTED, None)  # the claim on dest writes them
    assert allocs(c, uuid) == {source: res(SMALL), dest: res(SMALL)}
    c.deliver(c.pending()[0].id)  # rebuilding: RT.rebuild_claim
    assert (mig.status, mig.dest) == (MS.PRE_MIGRATING, dest)
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host, mig.status) == (V.ACTIVE, dest, MS.DONE)
    assert allocs(c, uuid) == {source: res(SMALL), dest: res(SMALL)}  # still doubled
    r = c.service_up(source)
    assert "evacuated" in r.detail
    assert mig.status is MS.COMPLETED
    assert allocs(c, uuid) == {dest: res(SMALL)}
    assert_usage_consistent(c)


def test_evacuate_spawn_failure_removes_the_destination(c):
    uuid = boot(c)
    source = c.instances[uuid].host
    c.service_down(source)
    c.request("evacuate", uuid, ADMIN)
    c.settle(evacuate__spawned="driver_error")
    inst = c.instances[uuid]
    assert inst.vm_state is V.ERROR and inst.migration.status is MS.FAILED
    assert allocs(c, uuid) == {source: res(SMALL)}


def test_evacuation_whose_record_the_returning_source_completed_gets_one_from_its_claim(c):
    # CM._destroy_evacuated_instances completes the 'accepted' record; the conductor's
    # Migration.get_by_instance_and_status(instance, 'accepted') then finds none, and the
    # destination's RT._move_claim makes one (_create_migration) that CM.rebuild_instance
    # never holds: neither a failure nor a success writes its status.
    for spawn in ("driver_error", "ok"):
        cluster = Cluster(small_config())
        try:
            uuid = boot(cluster)
            source = cluster.instances[uuid].host
            cluster.service_down(source)
            assert cluster.request("evacuate", uuid, ADMIN).accepted
            first = cluster.instances[uuid].migration
            cluster.service_up(source)
            assert first.status is MS.COMPLETED
            cluster.settle(evacuate__spawned=spawn)
            made = [m for m in cluster.migrations.values() if m is not first]
            assert len(made) == 1, cluster.migrations
            (mig,) = made
            dest = mig.dest
            assert (mig.migration_type.value, mig.status, mig.source) == (
                "evacuation", MS.PRE_MIGRATING, source)
            assert dest not in (None, source)
            assert (first.status, first.dest) == (MS.COMPLETED, None)
            inst = cluster.instances[uuid]
            want = (V.ERROR, source) if spawn == "driver_error" else (V.ACTIVE, dest)
            assert (inst.vm_state, inst.host) == want
            # the failure still takes the destination away (its clean-up needs no record)
            assert allocs(cluster, uuid) == ({} if spawn == "driver_error"
                                             else {dest: res(SMALL)})
        finally:
            cluster.close()


def test_two_evacuations_at_once_both_take_the_first_accepted_record(c):
    uuid = boot(c)
    source = c.instances[uuid].host
    c.service_down(source)
    assert c.request("evacuate", uuid, ADMIN).accepted
    first = c.instances[uuid].migration
    assert c.request("evacuate", uuid, ADMIN).accepted
    second = c.instances[uuid].migration
    assert first is not second
    conductors = [w for w in c.pending() if w.target is None]
    assert len(conductors) == 2
    for w in conductors:
        c.deliver(w.id)
    rebuilds = [w for w in c.pending() if w.operation == "evacuate"]
    assert [w.get("migration") for w in rebuilds] == [first.uuid, first.uuid]
    held = rebuilds[1]
    while [w.id for w in c.pending()] != [held.id]:  # the first chain runs to its end
        c.deliver(next(w for w in c.pending() if w.id != held.id).id)
    assert (first.status, c.instances[uuid].vm_state) == (MS.DONE, V.ACTIVE)
    c.settle()
    # then the second's claim takes the record again and its failure marks it failed;
    # the second's own record stays accepted
    assert (first.status, second.status) == (MS.FAILED, MS.ACCEPTED)
    assert c.instances[uuid].vm_state is V.ERROR


def test_shelve_offload_frees_and_unshelve_claims_again(c):
    uuid = boot(c)
    first = c.instances[uuid].host
    # fill the first host so the unshelve must go elsewhere
    assert c.request("shelve", uuid).accepted
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host) == (V.SHELVED_OFFLOADED, None)
    assert c.ledger.consumers() == []
    c.disable(first)
    assert c.request("unshelve", uuid).accepted
    c.settle()
    assert inst.vm_state is V.ACTIVE and inst.host not in (None, first)
    assert allocs(c, uuid) == {inst.host: res(SMALL)}


def test_shelve_with_positive_offload_time_keeps_until_the_periodic_task():
    c = Cluster(small_config(shelved_offload_time=3600))
    uuid = boot(c)
    host = c.instances[uuid].host
    c.request("shelve", uuid)
    c.settle()
    assert c.instances[uuid].vm_state is V.SHELVED
    assert allocs(c, uuid) == {host: res(SMALL)}
    (r,) = c.poll_shelved_instances()
    assert r.accepted
    c.settle()
    assert c.instances[uuid].vm_state is V.SHELVED_OFFLOADED and c.ledger.consumers() == []


def test_unshelve_with_no_valid_host_stays_offloaded(c):
    uuid = boot(c)
    c.request("shelve", uuid)
    c.settle()
    for h in c.hosts:
        c.disable(h)
    c.request("unshelve", uuid)
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (V.SHELVED_OFFLOADED, None, None)
    assert c.ledger.consumers() == []


def test_soft_delete_keeps_and_delete_frees(c):
    uuid = boot(c)
    host = c.instances[uuid].host
    c.request("soft_delete", uuid)
    c.settle()
    assert c.instances[uuid].vm_state is V.SOFT_DELETED
    assert allocs(c, uuid) == {host: res(SMALL)}
    c.request("delete", uuid)
    c.settle()
    assert c.instances[uuid].vm_state is V.DELETED and c.ledger.consumers() == []


def test_reclaim_queued_deletes():
    c = Cluster(small_config(reclaim_instance_interval=60))
    uuid = boot(c)
    c.request("soft_delete", uuid)
    c.settle()
    (r,) = c.reclaim_queued_deletes()
    assert r.accepted
    c.settle()
    assert c.instances[uuid].vm_state is V.DELETED and c.ledger.consumers() == []


def test_delete_with_host_down_is_a_local_delete(c):
    uuid = boot(c)
    c.service_down(c.instances[uuid].host)
    r = c.request("delete", uuid)
    assert r.accepted and r.branch.note.startswith("API._local_delete")
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host) == (V.DELETED, None)
    assert c.ledger.consumers() == [] and c.pending() == []


def test_delete_of_a_resized_instance_with_host_down_confirms_first(c):
    uuid = boot(c)
    c.request("resize", uuid, flavor="large")
    c.settle()
    mig = c.instances[uuid].migration
    c.service_down(c.instances[uuid].host)
    assert c.request("delete", uuid).accepted
    assert mig.status is MS.CONFIRMED and c.ledger.consumers() == []


def test_restart_clears_a_queued_live_migration_and_leaves_its_record(c):
    uuid = boot(c)
    source = c.instances[uuid].host
    c.request("live_migrate", uuid, ADMIN)
    c.deliver(c.pending()[0].id)
    mig = c.instances[uuid].migration
    c.restart(source)
    inst = c.instances[uuid]
    # CM._reset_live_migration looks up a running migration only: this one is queued
    assert (inst.task_state, inst.host, mig.status) == (None, source, MS.QUEUED)
    assert allocs(c, mig.uuid) == {source: res(SMALL)}
    assert allocs(c, uuid) == {mig.dest: res(SMALL)}
    c.settle()  # the queued pre_live_migration fails its task_state check
    assert c.pending() == [] and inst.host == source


def test_restart_during_resize_migrating_only_clears_the_task(c):
    uuid = boot(c)
    source = c.instances[uuid].host
    c.request("resize", uuid, flavor="large")
    while c.instances[uuid].task_state is not T.RESIZE_MIGRATING:
        c.deliver(c.pending()[0].id)
    mig = c.instances[uuid].migration
    status = mig.status
    c.restart(source)
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host, inst.flavor) == (
        V.ACTIVE, None, source, "small")
    # the migration and the allocations are left as they were
    assert mig.status is status
    assert allocs(c, mig.uuid) == {source: res(SMALL)}
    assert set(allocs(c, uuid)) == {mig.dest}
    c.settle()
    assert c.pending() == []


@pytest.mark.parametrize("op,task,expected", [
    ("stop", T.POWERING_OFF, (V.STOPPED, None, P.SHUTDOWN)),
    ("reboot_soft", T.REBOOTING, (V.ACTIVE, None, P.RUNNING)),
    ("snapshot", T.IMAGE_SNAPSHOT_PENDING, (V.ACTIVE, None, P.RUNNING)),
    ("rebuild", None, (V.ERROR, None, P.RUNNING)),
])
def test_restart_recovers_tasks_in_flight(c, op, task, expected):
    uuid = boot(c)
    host = c.instances[uuid].host
    assert c.request(op, uuid).accepted
    if op == "rebuild":
        c.deliver(c.pending()[0].id)  # check_image at the conductor
        assert c.instances[uuid].task_state is T.REBUILDING
    else:
        assert c.instances[uuid].task_state is task
    c.restart(host)
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.power_state) == expected
    c.settle()
    if op == "rebuild":
        # the rebuild's cast waited in the compute's queue: CM.rebuild_instance then
        # loses its task_state check (CM._init_instance cleared it) inside its
        # _error_out_instance_on_exception, saves rebuilding with the error, and its
        # except Exception removes instance.node from the instance's allocation
        assert (inst.vm_state, inst.task_state, inst.power_state) == (
            V.ERROR, T.REBUILDING, P.RUNNING)
        assert c.ledger.consumers() == []
    else:
        assert (inst.vm_state, inst.task_state, inst.power_state) == expected


def test_restart_while_deleting_finishes_the_delete(c):
    uuid = boot(c)
    c.request("delete", uuid)
    c.restart(c.instances[uuid].host)
    assert c.instances[uuid].vm_state is V.DELETED and c.ledger.consumers() == []


def test_restart_during_build_errors_the_instance(c):
    uuid = c.request("create", flavor="small").instance
    c.deliver(c.pending()[0].id)
    c.deliver(c.pending()[0].id)  # build
    host = c.instances[uuid].host
    c.restart(host)
    assert c.instances[uuid].vm_state is V.ERROR
    assert allocs(c, uuid) == {host: res(SMALL)}


def test_update_available_resource_frees_deleted_instances(c):
    uuid = boot(c)
    host = c.instances[uuid].host
    c.request("delete", uuid)
    c.settle()
    # a leaked allocation of a deleted instance (e.g. a lost DELETE to placement)
    assert c.ledger.claim(uuid, {host: res(SMALL)})
    assert c.update_available_resource(host) == [uuid]
    assert c.ledger.consumers() == []


def test_poll_unconfirmed_resizes_auto_confirms():
    c = Cluster(small_config(resize_confirm_window=1))
    uuid = boot(c)
    c.request("resize", uuid, flavor="large")
    c.settle()
    (r,) = c.poll_unconfirmed_resizes()
    assert r.accepted
    c.settle()
    assert c.instances[uuid].vm_state is V.ACTIVE
    assert c.ledger.consumers() == [uuid]
    assert c.poll_unconfirmed_resizes() == []


def test_no_auto_confirm_with_window_zero(c):
    uuid = boot(c)
    c.request("resize", uuid, flavor="large")
    c.settle()
    assert c.poll_unconfirmed_resizes() == []


def test_sync_power_state_stops_a_guest_that_shut_itself_off(c):
    uuid = boot(c)
    assert c.sync_power_states() == []
    # CM.handle_lifecycle_event syncs at once (Nova 34, seen by conformance); the
    # periodic task then finds nothing left to do
    assert c.event("guest_stopped", uuid).accepted
    assert c.instances[uuid].task_state is T.POWERING_OFF
    assert c.sync_power_states() == []
    c.settle()
    assert c.instances[uuid].vm_state is V.STOPPED


def test_operator_ratio_change_affects_scheduling(c):
    for h in c.hosts:
        c.set_allocation_ratio(h, "VCPU", 0.25)  # 8 * 0.25 = 2 VCPUs per host
    r = c.request("create", flavor=LARGE.name)
    c.settle()
    assert c.instances[r.instance].vm_state is V.ERROR
    c.set_reserved("host1", "VCPU", 0)
    for h in c.hosts:
        c.set_allocation_ratio(h, "VCPU", 1.0)
    r = c.request("create", flavor=LARGE.name)
    c.settle()
    assert c.instances[r.instance].vm_state is V.ACTIVE


# --- live migration: the destination's hypervisor ----------------------------------------

def _older_hypervisor_cluster():
    """The packaged cluster: compute4's QEMU is older than the others'."""
    from model.config import ClusterConfig
    cluster = Cluster(ClusterConfig.default(), seed=0)
    uuid = cluster.request("create", flavor="m1.small").instance
    cluster.settle()
    assert cluster.instances[uuid].host != "compute4"
    return cluster, uuid


@pytest.mark.parametrize("force", [False, True])
def test_live_migration_to_an_older_hypervisor_fails_in_the_conductor(force):
    """LiveMigrationTask._check_compatible_with_source_hypervisor: DestinationHypervisorTooOld
    (the requested host is the only candidate; a forced one is not scheduled at all)."""
    cluster, uuid = _older_hypervisor_cluster()
    source = cluster.instances[uuid].host
    args = {"host": "compute4", "force": True} if force else {"host": "compute4"}
    assert cluster.request("live_migrate", uuid, ADMIN, **args).accepted
    cluster.settle()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (V.ACTIVE, None, source)
    # (COND._live_migrate's record names the host the API passed on: a forced one only;
    # scenarios/forced_live_migration_from_a_down_source.json shows it in Nova 34)
    assert (inst.migration.status, inst.migration.dest) == (
        MS.ERROR, "compute4" if force else None)
    assert set(cluster.ledger.allocations_of(uuid)) == {source}
    cluster.close()


def test_live_migration_skips_hosts_with_an_older_hypervisor():
    cluster, uuid = _older_hypervisor_cluster()
    source = cluster.instances[uuid].host
    for host in sorted(cluster.hosts):
        if host not in (source, "compute4"):
            cluster.disable(host)
    assert cluster.request("live_migrate", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.instances[uuid].host == source  # compute4 was the only one left
    assert cluster.instances[uuid].migration.status is MS.ERROR
    cluster.close()
