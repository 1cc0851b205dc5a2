"""The compute's resource tracker: its arithmetic against Nova's own ResourceTracker,
and what the cluster's scheduler sees of it."""

from __future__ import annotations

import os

# (as in tests/differential: before the first nova import, or nova.tests.unit would
# eventlet-monkey-patch the whole test process)
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

from unittest import mock  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

import nova.tests.unit  # noqa: E402,F401  (registers nova.objects)
from nova import context as nova_context, objects  # noqa: E402
from nova.compute import resource_tracker as nova_rt, stats as nova_stats  # noqa: E402

from model.cluster import Cluster  # noqa: E402
from model.cluster_scenarios import SMALL, boot, small_config  # noqa: E402
from model.lifecycle import ADMIN  # noqa: E402
from model.placement import ResourceClass  # noqa: E402
from model.resource_tracker import (  # noqa: E402
    TrackedInstance, TrackedMigration, Tracker, Usage,
)
from model.states import VmState  # noqa: E402

NODE = "node1"
#: (Nova's defaults: reserved_host_cpus 0, reserved_host_memory_mb 512, disk 0)
RESERVED = Usage(0, 512, 0)
FLAVORS = {
    "tiny": (1, 512, 1, 0, 0),
    "small": (1, 2048, 20, 0, 0),
    "swap": (2, 1024, 10, 5, 512),
}
UUIDS = [f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-0000-0000-000000000000" for n in range(1, 4)]
VM_TASKS = [
    ("building", None), ("building", "spawning"), ("active", None), ("active", "resize_prep"),
    ("active", "rebuilding"), ("stopped", "image_snapshot"), ("error", None),
    ("resized", None), ("active", "resize_migrating"), ("shelved_offloaded", "spawning"),
    ("active", "rescuing"),
]
REMOVABLE = [("deleted", None), ("shelved_offloaded", None)]


def _usage(flavor: str) -> Usage:
    vcpus, mem, root, eph, swap = FLAVORS[flavor]
    return Usage(vcpus, mem, root + eph, swap)


def _nova_flavor(flavor: str):
    vcpus, mem, root, eph, swap = FLAVORS[flavor]
    return objects.Flavor(flavorid=flavor, vcpus=vcpus, memory_mb=mem, root_gb=root,
                          ephemeral_gb=eph, swap=swap, extra_specs={})


class NovaSide:
    """Nova's ResourceTracker for one node, with Placement and the database left out."""

    def __init__(self):
        self.ctx = nova_context.get_admin_context()
        self.rt = nova_rt.ResourceTracker("host1", mock.Mock(), reportclient=mock.Mock())
        self.rt.pci_tracker = None
        self.rt._update = mock.Mock()  # (saving to the database and Placement)
        self.cn = objects.ComputeNode(
            memory_mb=16384, local_gb=200, vcpus=8, memory_mb_used=RESERVED.memory_mb,
            local_gb_used=RESERVED.disk_gb, vcpus_used=RESERVED.vcpus, free_ram_mb=0,
            free_disk_gb=0, running_vms=0, numa_topology=None, stats={})
        self.rt.compute_nodes[NODE] = self.cn
        self.rt.stats[NODE] = nova_stats.Stats()
        self.instances: dict[str, objects.Instance] = {}

    def instance(self, uuid, flavor, vm, task):
        inst = self.instances.get(uuid)
        if inst is None:
            inst = self.instances[uuid] = objects.Instance(
                uuid=uuid, os_type=None, project_id="p", numa_topology=None,
                resources=None, pci_requests=None, migration_context=None)
        inst.flavor, inst.vm_state, inst.task_state = _nova_flavor(flavor), vm, task
        self.rt.is_bfv[uuid] = False
        return inst

    def view(self):
        stats = self.rt.stats[NODE]
        return (self.cn.vcpus_used, self.cn.memory_mb_used, float(self.cn.local_gb_used),
                stats.num_instances, stats.io_workload)


def _ours(tracker: Tracker):
    return (tracker.vcpus_used, tracker.memory_mb_used, float(tracker.local_gb_used),
            tracker.num_instances, tracker.io_workload)


def _tracked(uuid, flavor, vm, task):
    return TrackedInstance(uuid, _usage(flavor), vm, task,
                           removable=vm == "deleted" or (vm == "shelved_offloaded"
                                                         and task != "spawning"))


_CALL = st.one_of(
    st.tuples(st.just("claim"), st.sampled_from(UUIDS), st.sampled_from(sorted(FLAVORS)),
              st.sampled_from(VM_TASKS)),
    st.tuples(st.just("abort"), st.sampled_from(UUIDS), st.sampled_from(sorted(FLAVORS)),
              st.sampled_from(VM_TASKS)),
    st.tuples(st.just("update"), st.sampled_from(UUIDS), st.sampled_from(sorted(FLAVORS)),
              st.sampled_from(VM_TASKS + REMOVABLE)),
    st.tuples(st.just("drop"), st.sampled_from(UUIDS), st.sampled_from(sorted(FLAVORS)),
              st.just(("active", None))),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_CALL, max_size=12))
def test_claims_drops_and_stats_count_as_novas_resource_tracker(calls):
    """instance_claim / abort_instance_claim / update_usage / _drop_move_claim, call for
    call, leave our count and stats where Nova's leave its ComputeNode and Stats."""
    nova, ours = NovaSide(), Tracker.empty(RESERVED)
    for call, uuid, flavor, (vm, task) in calls:
        inst = nova.instance(uuid, flavor, vm, task)
        mine = _tracked(uuid, flavor, vm, task)
        if call == "claim":
            if uuid in nova.rt.tracked_instances:
                continue  # (Nova claims an instance once: a second claim is a bug)
            nova.rt._update_usage_from_instance(nova.ctx, inst, NODE)
            ours = ours.instance_claim(mine)
        elif call == "abort":
            if uuid not in nova.rt.tracked_instances:
                continue  # (only a claim is aborted)
            nova.rt._update_usage_from_instance(nova.ctx, inst, NODE, is_removed=True)
            ours = ours.abort_instance_claim(mine)
        elif call == "update":
            if uuid in nova.rt.tracked_instances:
                nova.rt._update_usage_from_instance(nova.ctx, inst, NODE)
            ours = ours.update_usage(mine)
        else:
            nova.rt._drop_move_claim(nova.ctx, inst, NODE, _nova_flavor(flavor))
            ours = ours.drop_move_claim(uuid, _usage(flavor))
        assert _ours(ours) == nova.view(), (call, uuid, flavor, vm, task)
        assert set(ours.instances) == set(nova.rt.tracked_instances)


_MOVE = st.tuples(
    st.sampled_from(UUIDS), st.sampled_from(["in", "out", "same"]),
    st.sampled_from(sorted(FLAVORS)), st.sampled_from(sorted(FLAVORS)), st.booleans(),
    st.sampled_from([("resized", None), ("active", "resize_prep"), ("active", None),
                     ("active", "resize_finish"), ("error", None)]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(UUIDS), st.sampled_from(sorted(FLAVORS)),
                          st.sampled_from(VM_TASKS)), max_size=3, unique_by=lambda t: t[0]),
       st.lists(_MOVE, max_size=3, unique_by=lambda t: t[0]))
def test_the_audit_counts_as_novas(on_host, moves):
    """The resource audit (instances, then the moves whose instance is moving) counts as
    Nova's _update_usage_from_instances and _update_usage_from_migration do."""
    nova, ours = NovaSide(), Tracker.empty(RESERVED)
    instances = [nova.instance(u, f, vm, task) for u, f, (vm, task) in on_host]
    nova.rt._update_usage_from_instances(nova.ctx, instances, NODE)
    tracked = {u for u, _, _ in on_host}
    ours_moves = []
    for n, (uuid, way, old, new, resize, (vm, task)) in enumerate(moves):
        current = old if uuid not in tracked else next(f for u, f, _ in on_host if u == uuid)
        inst = nova.instances.get(uuid) or nova.instance(uuid, current, vm, task)
        inst.old_flavor, inst.new_flavor = _nova_flavor(old), _nova_flavor(new)
        inst.instance_type_id = 1 if inst.flavor.memory_mb == FLAVORS[old][1] else 2
        migration = objects.Migration(
            id=n + 1, uuid=f"0000000{n}-0000-0000-0000-000000000000", instance_uuid=uuid,
            source_compute="host1" if way in ("out", "same") else "other",
            source_node=NODE if way in ("out", "same") else "other",
            dest_compute="host1" if way in ("in", "same") else "other",
            dest_node=NODE if way in ("in", "same") else "other",
            old_instance_type_id=1, migration_type="resize" if resize else "migration")
        moving = nova_rt._instance_in_resize_state(inst)
        if moving:
            nova.rt._update_usage_from_migration(nova.ctx, inst, migration, NODE)
        flavor_new = new if resize else current
        flavor_old = old if resize else current
        ours_moves.append(TrackedMigration(
            uuid, migration.uuid, incoming=way in ("in", "same"),
            outbound=way in ("out", "same"), usage_new=_usage(flavor_new),
            usage_old=_usage(flavor_old), tracked=uuid in tracked, instance_moving=moving,
            flavor_is_old=inst.instance_type_id == 1))
    ours = ours.audit(RESERVED, [_tracked(u, f, vm, task) for u, f, (vm, task) in on_host
                                 if not _tracked(u, f, vm, task).removable], ours_moves)
    assert _ours(ours)[:3] == nova.view()[:3]
    assert ours.num_instances == nova.rt.stats[NODE].num_instances


# --- what the cluster and its scheduler see -----------------------------------------


def _state(cluster, host):
    return next(h for h in cluster.host_states() if h.host == host)


def test_a_build_is_counted_at_its_claim_and_its_stats_stay_building_until_the_audit():
    cluster = Cluster(small_config(hosts=2), seed=1)
    uuid = boot(cluster, SMALL)
    host = cluster.instances[uuid].host
    tracker = cluster.trackers[host]
    assert tracker.tracks(uuid)
    assert tracker.memory_mb_used == cluster.reserved_usage(host).memory_mb + SMALL.memory_mb
    # CM._build_and_run_instance saves the active instance without telling the tracker:
    # the stats still count a build, which the IoOpsWeigher reads
    assert _state(cluster, host).num_io_ops == 1
    cluster.update_available_resource(host)
    assert _state(cluster, host).num_io_ops == 0
    assert _state(cluster, host).num_instances == 1


def test_a_live_migration_reaches_the_destinations_tracker_only_at_its_audit():
    cluster = Cluster(small_config(hosts=2), seed=1)
    uuid = boot(cluster, SMALL)
    source = cluster.instances[uuid].host
    before = {h: _state(cluster, h).free_ram_mb for h in cluster.hosts}
    assert cluster.request("live_migrate", uuid, ADMIN).accepted
    cluster.settle()
    dest = cluster.instances[uuid].host
    assert dest != source
    assert not cluster.trackers[dest].tracks(uuid)
    # the source counts again at once (CM._post_live_migration runs its audit), and the
    # scheduler reads the source's new record
    assert not cluster.trackers[source].tracks(uuid)
    assert _state(cluster, source).free_ram_mb == before[source] + SMALL.memory_mb
    # nothing stands in for the destination until its audit: the scheduler builds its
    # HostStates anew for every request (HostManager._get_host_states), from the record
    assert _state(cluster, dest).free_ram_mb == before[dest]
    cluster.update_available_resource(dest)
    assert cluster.trackers[dest].tracks(uuid) and not cluster.trackers[source].tracks(uuid)
    assert _state(cluster, dest).free_ram_mb == before[dest] - SMALL.memory_mb


def test_a_host_chosen_for_an_earlier_request_looks_as_its_record_says():
    # Nova 34's HostManager._get_host_states keeps no HostState between requests: what
    # _consume_selected_host took from the first request's choice is gone for the second
    cluster = Cluster(small_config(hosts=2), seed=1)
    first = cluster.request("create", None, flavor=SMALL.name).instance
    second = cluster.request("create", None, flavor=SMALL.name).instance
    before = {h: _state(cluster, h) for h in cluster.hosts}
    for uuid in (first, second):
        work = cluster.next_deliverable(uuid)
        assert (work.operation, work.step) == ("create", "schedule")
        cluster.deliver(work.id)
        assert {h: _state(cluster, h) for h in cluster.hosts} == before
    # both weighed the same records, so both went to the host the tie-break names
    chosen = [cluster.decisions[-2].chosen, cluster.decisions[-1].chosen]
    assert chosen[0] == chosen[1]
    cluster.settle()
    assert {cluster.instances[u].host for u in (first, second)} == {chosen[0]}


def test_the_scheduler_weighs_with_the_computes_own_ratio_not_placements():
    cluster = Cluster(small_config(hosts=2), seed=1)
    host = sorted(cluster.hosts)[0]
    before = _state(cluster, host).cpu_allocation_ratio
    assert cluster.set_allocation_ratio(host, ResourceClass.VCPU, before * 2).accepted
    assert _state(cluster, host).cpu_allocation_ratio == before


def test_a_failed_build_shows_at_the_next_save_of_the_record():
    cluster = Cluster(small_config(hosts=1), seed=1)
    assert cluster.request("create", None, flavor=SMALL.name).accepted
    cluster.settle(create__spawned="build_abort")
    host = sorted(cluster.hosts)[0]
    assert cluster.trackers[host].failed_builds == 1
    assert _state(cluster, host).failed_builds == 0  # not saved yet
    boot(cluster, SMALL)
    assert _state(cluster, host).failed_builds == 1  # saved with the next claim
    cluster.update_available_resource(host)
    assert _state(cluster, host).failed_builds == 0  # the build succeeded since


def test_a_compute_that_starts_again_has_no_failed_build():
    """A new ResourceTracker has new Stats: the restarted compute's own audit saves a
    record with no failed build, and the scheduler weighs the host as any other."""
    cluster = Cluster(small_config(hosts=1), seed=1)
    assert cluster.request("create", None, flavor=SMALL.name).accepted
    cluster.settle(create__spawned="build_abort")
    host = sorted(cluster.hosts)[0]
    assert cluster.trackers[host].failed_builds == 1
    cluster.update_available_resource(host)
    assert _state(cluster, host).failed_builds == 1
    assert cluster.restart(host).accepted
    assert cluster.trackers[host].failed_builds == 0
    assert _state(cluster, host).failed_builds == 0


def test_a_reschedule_by_group_policy_is_not_a_failed_build():
    """CM._do_build_and_run_instance answers RESCHEDULED_BY_POLICY for the late group
    check's GroupAffinityViolation, and CM.build_and_run_instance then counts no failed
    build (the BuildFailureWeigher does not push the host away)."""
    cluster = Cluster(small_config(hosts=2), seed=1)
    assert cluster.request("create", None, flavor=SMALL.name).accepted
    first = next(w for w in cluster.pending() if w.operation == "create")
    cluster.settle(create__build="group_policy_violation")
    uuid = first.instance
    assert cluster.instances[uuid].vm_state is VmState.ACTIVE
    assert all(t.failed_builds == 0 for t in cluster.trackers.values())
    for host in cluster.hosts:
        cluster.update_available_resource(host)
        assert _state(cluster, host).failed_builds == 0


def test_a_queued_confirm_after_a_delete_confirmed_the_resize_changes_nothing():
    cluster = Cluster(small_config(hosts=2), seed=1)
    uuid = boot(cluster, SMALL)
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.request("confirm_resize", uuid).accepted  # queued at the source
    source = cluster.instances[uuid].migration.source
    counted = cluster.trackers[source]
    assert cluster.request("delete", uuid).accepted  # confirms it first, synchronously
    confirm = next(w for w in cluster.pending() if w.operation == "confirm_resize")
    assert cluster.deliver(confirm.id).accepted
    assert cluster.trackers[source].memory_mb_used == (
        counted.memory_mb_used - SMALL.memory_mb)
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.DELETED


@pytest.mark.parametrize("seed", range(3))
def test_the_trackers_survive_snapshot_and_fork(seed):
    cluster = Cluster(small_config(hosts=2), seed=seed)
    boot(cluster, SMALL)
    again = Cluster.restore(cluster.snapshot(), small_config(hosts=2))
    assert again.trackers == cluster.trackers
    assert Cluster.thaw(cluster.freeze()).trackers == cluster.trackers
