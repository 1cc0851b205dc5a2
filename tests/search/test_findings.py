"""Each upstream finding is real: a scripted run reproduces it, and its pattern
matches exactly the violation it explains (and nothing is explained by accident)."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path

import pytest

import invariants
from invariants import findings
from invariants.subjects import Violation
from model.cluster import Cluster
from model.cluster_state import SharedMigration
from model.cluster_scenarios import LARGE, SMALL, boot, small_config
from model.config import ImageConfig
from model.lifecycle import ADMIN, USER
from model.states import MigrationStatus, PowerState, TaskState, VmState


def _run_work(cluster, uuid, operation, step, outcome="ok"):
    work = next(w for w in cluster.pending()
                if w.instance == uuid and (w.operation, w.step) == (operation, step))
    return cluster.deliver(work.id, outcome)


@contextmanager
def _cluster(hosts: int = 2, **options):
    """A cluster of ``small_config`` with ``hosts`` hosts (two unless told) and those
    ``options``, closed at the end."""
    cluster = Cluster(small_config(hosts=hosts, **options), seed=1)
    try:
        yield cluster
    finally:
        cluster.close()


def _moving(cluster, operation: str, *steps: str, ctx=ADMIN, group: str | None = None,
            **args) -> tuple[str, str]:
    """A small instance booted (in ``group``), then ``operation`` requested (an
    evacuation once the instance's host is down) and its ``steps`` delivered ``ok`` in
    order: the instance and the host it was booted on."""
    uuid = boot(cluster, SMALL, **({"group": group} if group else {}))
    source = cluster.instances[uuid].host
    if operation == "evacuate":
        cluster.service_down(source)
    assert cluster.request(operation, uuid, ctx, **args).accepted
    for step in steps:
        assert _run_work(cluster, uuid, operation, step).accepted
    return uuid, source


def _resized(cluster, group: str | None = None) -> tuple[str, str]:
    """A small instance resized to large by its user, every step delivered: the instance
    (resized, on its destination) and its source."""
    uuid, source = _moving(cluster, "resize", ctx=USER, group=group, flavor=LARGE.name)
    cluster.settle()
    return uuid, source


def _reverting(cluster) -> tuple[str, str]:
    """A resized instance whose revert ran its destination's step (CM.revert_resize):
    the instance, finish_revert_resize queued, and its source."""
    uuid, source = _resized(cluster)
    assert cluster.request("revert_resize", uuid).accepted
    assert _run_work(cluster, uuid, "revert_resize", "revert_resize").accepted
    return uuid, source


def delete_racing_soft_delete(cluster):
    uuid = boot(cluster, SMALL)
    assert cluster.request("soft_delete", uuid).accepted
    assert cluster.request("delete", uuid).accepted  # ignored after writing `deleting`
    result = _run_work(cluster, uuid, "soft_delete", "soft_delete")
    assert not result.accepted  # its compare-and-swap on soft-deleting fails
    assert not cluster.pending()
    return uuid


def delete_during_a_move(cluster):
    """(Had the move's next step run before terminate, its clean-up would have given
    the allocation back in time for terminate to free it.)"""
    uuid, _ = _moving(cluster, "migrate", "schedule")  # source -> migration
    assert cluster.request("delete", uuid).accepted
    assert _run_work(cluster, uuid, "delete", "terminate").accepted  # before prep_resize
    assert cluster.instances[uuid].vm_state is VmState.DELETED
    return uuid


def member_arriving_while_another_is_scheduled(cluster):
    first, _ = _moving(cluster, "evacuate", "schedule", group="anti")
    second = cluster.request("create", None, flavor=SMALL.name, group="anti").instance
    for _ in range(10):  # build the second member; the first is still arriving
        ready = [w for w in cluster.deliverable() if w.instance == second]
        if not ready:
            break
        cluster.deliver(ready[0].id)
    assert cluster.instances[second].vm_state is VmState.ACTIVE
    return first


def rebuild_without_a_host(cluster):
    """Offloaded, reset to error, then rebuilt with its image: the conductor schedules
    it, the claim stays, the task too."""
    uuid = boot(cluster, SMALL)
    _offload(cluster, uuid)
    assert cluster.request("reset_state_error", uuid, ADMIN).accepted
    assert cluster.request("rebuild", uuid).accepted
    cluster.settle()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (
        VmState.ERROR, TaskState.REBUILDING, None)
    assert list(cluster.ledger.allocations_view(uuid)) != []
    return uuid


def rebuild_with_a_new_image_without_a_host(cluster):
    """Offloaded, reset to error, then rebuilt with another image: the API answers 500
    after its writes and casts nothing."""
    uuid = boot(cluster, SMALL)
    _offload(cluster, uuid)
    assert cluster.request("reset_state_error", uuid, ADMIN).accepted
    other = next(i.name for i in cluster.config.images
                 if i.name != cluster.instances[uuid].image and not i.volume_backed)
    result = cluster.request("rebuild", uuid, image=other)
    assert result.accepted and result.error is not None and not cluster.pending()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.image) == (
        VmState.ERROR, TaskState.REBUILDING, other)
    return uuid


def hard_reboot_without_a_host(cluster):
    """Offloaded, reset to error, then hard rebooted: the API saves rebooting_hard and
    its cast finds no host; it answers 500 and nothing is queued."""
    uuid = boot(cluster, SMALL)
    _offload(cluster, uuid)
    assert cluster.request("reset_state_error", uuid, ADMIN).accepted
    result = cluster.request("reboot_hard", uuid)
    assert result.accepted and "Unable to find host" in str(result.error)
    assert not cluster.pending()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (
        VmState.ERROR, TaskState.REBOOTING_HARD, None)
    return uuid


def cold_migration_queued_across_an_offload(cluster):
    """A cold migration's prep_resize waits while its source restarts (resize_prep
    cleared) and a shelve offloads the instance; prep_resize cannot cast to an instance
    with no host, and the conductor's reschedule finds no source compute node."""
    uuid = boot(cluster, SMALL)
    source = cluster.instances[uuid].host
    assert cluster.request("migrate", uuid, ADMIN).accepted
    assert _run_work(cluster, uuid, "migrate", "schedule").accepted
    cluster.restart(source)  # CM._init_instance clears resize_prep
    _offload(cluster, uuid, only=("shelve", "shelve_offload"))
    assert _run_work(cluster, uuid, "migrate", "prep_resize").accepted
    assert _run_work(cluster, uuid, "migrate", "reschedule").accepted
    assert not cluster.pending()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (VmState.ERROR, None, None)
    assert set(cluster.ledger.allocations_of(uuid)) == {source}
    return uuid


def unshelve_overtaken_by_a_soft_delete_that_fails(cluster):
    """An offloaded instance unshelved up to its claim (CM._unshelve_instance saved
    spawning, RT.instance_claim gave it its host); a soft delete takes the task, the
    unshelve's final save finds it and is dropped, and the soft delete's driver fails
    (reverts_task_state clears the task)."""
    uuid = boot(cluster, SMALL)
    _offload(cluster, uuid)
    assert cluster.request("unshelve", uuid).accepted
    assert _run_work(cluster, uuid, "unshelve", "unshelve").accepted
    assert _run_work(cluster, uuid, "unshelve", "spawning").accepted
    host = cluster.instances[uuid].host
    assert host is not None
    assert cluster.request("soft_delete", uuid).accepted  # API.soft_delete: any task
    assert not _run_work(cluster, uuid, "unshelve", "spawned").accepted
    assert _run_work(cluster, uuid, "soft_delete", "soft_delete", "driver_error").accepted
    assert not cluster.pending()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (
        VmState.SHELVED_OFFLOADED, None, host)
    assert set(cluster.ledger.allocations_of(uuid)) == {host}
    return uuid


def _settle(cluster, uuid, only=None):
    """Deliver ``uuid``'s queued work (of the operations ``only``, all when None)
    until none is left."""
    if only is None:
        cluster.settle()
        return
    while (work := next((w for w in cluster.deliverable() if w.instance == uuid
                         and w.operation in only), None)) is not None:
        cluster.deliver(work.id)


def _offload(cluster, uuid, only=None):
    """Shelve ``uuid`` and make sure it is offloaded (offload may not be immediate),
    delivering only the work of the operations ``only`` (all when None)."""
    assert cluster.request("shelve", uuid).accepted
    _settle(cluster, uuid, only)
    if cluster.instances[uuid].vm_state is VmState.SHELVED:
        assert cluster.request("shelve_offload", uuid, ADMIN).accepted
        _settle(cluster, uuid, only)
    assert cluster.instances[uuid].vm_state is VmState.SHELVED_OFFLOADED


def revert_returns_a_member_to_a_taken_host(cluster):
    """A member unshelved onto the resized member's source (the filter reads
    instance.host, and an unshelve makes no late check), then the resize is reverted."""
    first = boot(cluster, SMALL, group="anti")
    source = cluster.instances[first].host
    second = boot(cluster, SMALL, group="anti")
    _offload(cluster, second)
    assert cluster.request("resize", first, flavor=LARGE.name).accepted
    cluster.settle()
    assert cluster.instances[first].vm_state is VmState.RESIZED
    assert cluster.instances[first].host != source
    assert cluster.request("unshelve", second).accepted
    cluster.settle()
    assert cluster.instances[second].host == source
    assert cluster.request("revert_resize", first).accepted
    cluster.settle()
    assert cluster.instances[first].host == source
    return first


def source_comes_back_during_an_evacuation(cluster):
    uuid, source = _moving(cluster, "evacuate")
    cluster.service_up(source)  # _destroy_evacuated_instances: the migration is 'accepted'
    work = next(w for w in cluster.pending() if w.instance == uuid)
    assert cluster.deliver(work.id, "no_valid_host").accepted
    assert cluster.instances[uuid].host == source
    assert cluster.instances[uuid].vm_state is VmState.ERROR
    return uuid


def two_evacuations_to_one_host(cluster):
    uuid, _ = _moving(cluster, "evacuate")
    assert cluster.request("evacuate", uuid, ADMIN).accepted  # no task_state check
    first, second = [w for w in cluster.pending() if w.instance == uuid]
    assert cluster.deliver(first.id).accepted and cluster.deliver(second.id).accepted
    newest = first
    for _ in range(10):  # the first evacuation's rebuild runs to the end
        ready = sorted((w for w in cluster.deliverable() if w.instance == uuid),
                       key=lambda w: int(w.id[1:]))
        if cluster.instances[uuid].task_state is None or not ready:
            break
        work = ready[0] if newest is first else ready[-1]  # its rebuild, then its chain
        newest = work
        cluster.deliver(work.id)
    assert cluster.instances[uuid].task_state is None
    cluster.settle()  # the second one's rebuild now fails its task_state check
    return uuid


def resize_reset_before_it_leaves_its_source(cluster):
    """An admin resets a resizing instance to active while CM.resize_instance is queued
    on its source: that step's compare-and-swap on resize_prep then fails inside
    _error_out_instance_on_exception."""
    uuid, _ = _moving(cluster, "resize", "schedule", "prep_resize", ctx=USER,
                      flavor=LARGE.name)
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    assert not _run_work(cluster, uuid, "resize", "resize_migrating").accepted
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state) == (VmState.ERROR, TaskState.RESIZE_MIGRATING)
    assert not cluster.pending()
    return uuid


def live_migration_driver_fails(cluster):
    uuid = boot(cluster, SMALL)
    source = cluster.instances[uuid].host
    assert cluster.request("live_migrate", uuid, ADMIN).accepted
    cluster.settle(live_migrate__post_live_migration="driver_error")
    inst = cluster.instances[uuid]
    mig = inst.migration
    assert (inst.vm_state, inst.host, mig.status) == (
        VmState.ERROR, source, MigrationStatus.ERROR)
    assert set(cluster.ledger.allocations_of(mig.uuid)) == {source}
    assert set(cluster.ledger.allocations_of(uuid)) == {mig.dest}
    return uuid


#: a live migration's steps up to the one that runs it (CM.live_migration)
_LIVE_MIGRATION_RUNNING = ("schedule", "pre_live_migration", "live_migration")
#: a cold move's steps up to its destination's finish (CM.finish_resize), its last left
_COLD_MOVE_FINISHING = ("schedule", "prep_resize", "resize_migrating", "resize_migrated",
                        "resize_finish")


def restart_during_a_running_live_migration(cluster):
    uuid, source = _moving(cluster, "live_migrate", *_LIVE_MIGRATION_RUNNING)
    mig = cluster.instances[uuid].migration
    assert mig.status is MigrationStatus.RUNNING
    cluster.restart(source)  # CM._init_instance -> _reset_live_migration
    assert cluster.settle() == []  # its end went with the handler (CM._do_live_migration)
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host, mig.status) == (
        VmState.ACTIVE, None, source, MigrationStatus.ERROR)
    assert set(cluster.ledger.allocations_of(mig.uuid)) == {source}
    assert set(cluster.ledger.allocations_of(uuid)) == {mig.dest}
    return uuid


def _left_on_source_holding_dest(cluster, uuid: str, source: str, vm: VmState) -> str:
    """Once settled, the instance is idle in ``vm`` on its source with its cold move's
    record still ``migrating``: the record holds the source, the instance the
    destination."""
    assert cluster.settle() == []
    inst, mig = cluster.instances[uuid], cluster.instances[uuid].migration
    assert (inst.vm_state, inst.task_state, inst.host, mig.status) == (
        vm, None, source, MigrationStatus.MIGRATING)
    assert set(cluster.ledger.allocations_of(mig.uuid)) == {source}
    assert set(cluster.ledger.allocations_of(uuid)) == {mig.dest}
    return uuid


def restart_between_a_live_migrations_pre_check_and_its_run(cluster):
    """The destination's pre_live_migration ran; the source's nova-compute restarts
    before its handler reaches the driver."""
    uuid, source = _moving(cluster, "live_migrate", *_LIVE_MIGRATION_RUNNING[:2])
    dest = cluster.instances[uuid].migration.dest
    assert cluster.restart(source).accepted  # CM._reset_live_migration: none running
    assert not cluster.pending()
    inst, mig = cluster.instances[uuid], cluster.instances[uuid].migration
    assert (inst.vm_state, inst.task_state, inst.host, mig.status) == (
        VmState.ACTIVE, None, source, MigrationStatus.PREPARING)
    assert set(cluster.ledger.allocations_of(mig.uuid)) == {source}
    assert set(cluster.ledger.allocations_of(uuid)) == {dest}
    return uuid


def restart_during_a_resize_on_its_source(cluster):
    """The source's nova-compute restarts between resize_migrating and resize_migrated
    (one handler, CM._resize_instance): nothing is left to run the rest."""
    uuid, source = _moving(cluster, "resize", *_COLD_MOVE_FINISHING[:3], ctx=USER,
                           flavor=LARGE.name)
    cluster.restart(source)  # CM._init_instance: driver.finish_revert_migration
    return _left_on_source_holding_dest(cluster, uuid, source, VmState.ACTIVE)


def force_delete_fails_then_the_resizing_source_stops(cluster):
    """A cold migration's source runs CM._resize_instance (resize_migrating saved, the
    rest of the handler to come); a force delete, accepted in any task, fails its
    terminate there and clears the task with the instance in error; then the source's
    nova-compute stops, and the rest of the handler with it."""
    uuid, source = _moving(cluster, "migrate", *_COLD_MOVE_FINISHING[:3])
    assert cluster.request("force_delete", uuid, ADMIN).accepted
    assert _run_work(cluster, uuid, "force_delete", "terminate", "driver_error").accepted
    cluster.service_down(source)
    return _left_on_source_holding_dest(cluster, uuid, source, VmState.ERROR)


def restart_during_a_resize_finish_then_a_failed_soft_delete(cluster):
    """The destination's nova-compute restarts between resize_finish and finished (one
    handler, CM.finish_resize); a soft delete then fails and clears the task."""
    uuid, source = _moving(cluster, "resize", *_COLD_MOVE_FINISHING, ctx=USER,
                           flavor=LARGE.name)
    dest = cluster.instances[uuid].host
    assert dest != source
    cluster.restart(dest)  # CM._init_instance has no case for resize_finish
    assert cluster.instances[uuid].task_state is not None
    assert cluster.request("soft_delete", uuid, ADMIN).accepted  # API.soft_delete: any task
    assert _run_work(cluster, uuid, "soft_delete", "soft_delete", "driver_error").accepted
    assert cluster.settle() == []
    inst, mig = cluster.instances[uuid], cluster.instances[uuid].migration
    assert (inst.vm_state, inst.task_state, inst.host, mig.status) == (
        VmState.ACTIVE, None, dest, MigrationStatus.POST_MIGRATING)
    assert set(cluster.ledger.allocations_of(mig.uuid)) == {source}
    return uuid


def evacuation_destination_restarts_mid_rebuild(cluster):
    """The destination's nova-compute restarts in the middle of CM.rebuild_instance; the
    instance, still on its source, is not on the destination's list, and an admin's
    reset-state ends the stuck rebuild with the destination's claim still held."""
    uuid, source = _moving(cluster, "evacuate", "schedule", "rebuilding")
    destination = next(h for h in cluster.ledger.allocations_of(uuid) if h != source)
    cluster.restart(destination)
    assert not [w for w in cluster.pending() if w.instance == uuid]
    assert cluster.instances[uuid].task_state is TaskState.REBUILDING
    assert cluster.request("reset_state_error", uuid, ADMIN).accepted
    assert set(cluster.ledger.allocations_of(uuid)) == {source, destination}
    return uuid


def restart_while_a_shelve_uploads(cluster):
    """CM.shelve_instance snapshots, uploads and shelves in one handler; the restart
    ends it and CM._init_instance has no case for shelving."""
    uuid = boot(cluster, SMALL)
    assert cluster.request("shelve", uuid).accepted
    assert _run_work(cluster, uuid, "shelve", "shelving_image_pending_upload").accepted
    assert _run_work(cluster, uuid, "shelve", "shelving_image_uploading").accepted
    cluster.restart(cluster.instances[uuid].host)
    assert not cluster.pending()
    assert cluster.instances[uuid].task_state is TaskState.SHELVING_IMAGE_UPLOADING
    return uuid


def resize_fails_in_finish_migration(cluster):
    uuid = boot(cluster, SMALL)
    assert cluster.request("resize", uuid, flavor=LARGE.name).accepted
    cluster.settle(resize__finished="driver_error")
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.flavor) == (VmState.ERROR, SMALL.name)
    assert cluster.ledger.allocations_view(uuid) == {inst.host: cluster.resources(LARGE)}
    return uuid


def rebuild_fails_after_its_spawn(cluster):
    """A plain rebuild (same host, same image) whose spawn fails."""
    uuid = boot(cluster, SMALL)
    host = cluster.instances[uuid].host
    assert cluster.request("rebuild", uuid).accepted
    cluster.settle(rebuild__spawned="driver_error")
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.host) == (VmState.ERROR, host)
    assert cluster.ledger.allocations_view(uuid) == {}
    return uuid


def evacuate_during_a_cold_migration(cluster):
    uuid, _ = _moving(cluster, "migrate", "schedule")  # source -> migration
    cluster.service_down(cluster.instances[uuid].host)
    assert cluster.request("evacuate", uuid, ADMIN).accepted  # any task_state
    for _ in range(10):  # the evacuation runs to the end before prep_resize
        ready = [w for w in cluster.deliverable()
                 if w.instance == uuid and w.operation == "evacuate"]
        if not ready:
            break
        cluster.deliver(ready[0].id)
    # CM.prep_resize checks no task_state: it claims its destination and casts
    # resize_instance to the instance's new host, whose CM._resize_instance fails its
    # check (error in resize_migrating) and gives the source back to the instance
    cluster.settle()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state) == (VmState.ERROR, TaskState.RESIZE_MIGRATING)
    assert inst.host not in cluster.ledger.allocations_of(uuid)
    assert inst.migration.status is MigrationStatus.ERROR
    # an admin resets it to active: it runs on the evacuation's destination while
    # Placement holds it on the down source
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    return uuid


def revert_fails_on_the_destination(cluster):
    uuid, _ = _resized(cluster)
    assert cluster.request("revert_resize", uuid).accepted
    cluster.settle(revert_resize__revert_resize="driver_error")
    assert cluster.instances[uuid].vm_state is VmState.ERROR
    return uuid


def live_migration_after_a_failed_resize(cluster):
    """A cold migration whose resize_instance fails keeps its migration context; an
    admin resets the instance and live-migrates it; the destination's audit finds the
    live migration's record, not the one the context names, and errors it; the source's
    compute restarts (CM._init_instance resets the live migration, its allocations
    left). (A migration, as in scenarios/audit_errors_a_later_live_migration.json: a
    resize's would also leave its new flavor in the RequestSpec, another finding.)"""
    uuid = boot(cluster, SMALL)
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle(migrate__resize_migrating="driver_error")
    inst = cluster.instances[uuid]
    assert cluster.migration_context(inst) is inst.migration
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    assert cluster.request("live_migrate", uuid, ADMIN).accepted
    assert _run_work(cluster, uuid, "live_migrate", "schedule").accepted
    live = inst.migration
    cluster.update_available_resource(live.dest)
    assert live.status is MigrationStatus.ERROR
    cluster.restart(inst.host)
    return uuid


def revert_preempted_by_a_reset_state(cluster):
    """The revert's finish_revert_resize waits while an admin resets the instance:
    CM._revert_instance_flavor_host_node loses its check before CM._revert_allocation
    (scenarios/revert_preempted_by_reset_state.json, replayed on Nova 34)."""
    uuid, source = _reverting(cluster)
    dest = cluster.instances[uuid].migration.dest
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    assert not _run_work(cluster, uuid, "revert_resize", "finish_revert_resize").accepted
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host, inst.flavor) == (
        VmState.ERROR, None, source, SMALL.name)
    assert inst.migration.status is MigrationStatus.ERROR
    assert set(cluster.ledger.allocations_of(inst.migration.uuid)) == {source}
    assert set(cluster.ledger.allocations_of(uuid)) == {dest}
    assert not cluster.pending()
    return uuid


def revert_whose_move_back_fails(cluster):
    """Placement fails the revert's move back (a fault: AllocationMoveFailed)."""
    uuid, source = _reverting(cluster)
    work = next(w for w in cluster.pending() if w.instance == uuid)
    assert cluster.deliver(work.id, "allocation_move_failed").accepted
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.host, inst.flavor) == (VmState.ERROR, source, SMALL.name)
    assert cluster.error_causes[uuid].outcome == "allocation_move_failed"
    assert source in cluster.ledger.allocations_of(inst.migration.uuid)
    assert source not in cluster.ledger.allocations_of(uuid)
    return uuid


def move_before_the_evacuated_host_returns(cluster):
    """Evacuated while its host is down, then migrated and reverted after the host came
    back: the revert hands the host it left back to the instance."""
    uuid, source = _moving(cluster, "evacuate")
    cluster.settle()
    evacuated_to = cluster.instances[uuid].host
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle()
    migration = cluster.instances[uuid].migration
    assert source in cluster.ledger.allocations_of(migration.uuid)  # carried with the rest
    assert invariants.violations(cluster) == {}  # fine while the source is still down
    assert cluster.service_up(source).accepted
    assert source in cluster.ledger.allocations_of(migration.uuid)  # the clean-up missed it
    assert cluster.request("revert_resize", uuid).accepted
    cluster.settle()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.host) == (VmState.ACTIVE, evacuated_to)
    assert source in cluster.ledger.allocations_of(uuid)
    return uuid


def _second_move_while_the_first_is_queued(cluster, second_move: str) -> str:
    """A resize queued at the conductor, a soft delete that fails (reverts_task_state
    clears the task), and a second move accepted: both schedule steps pending."""
    uuid = boot(cluster, SMALL)
    assert cluster.request("resize", uuid, flavor=LARGE.name).accepted
    assert cluster.request("soft_delete", uuid, ADMIN).accepted  # API.soft_delete: any task
    work = next(w for w in cluster.pending() if w.operation == "soft_delete")
    assert cluster.deliver(work.id, "driver_error").accepted  # reverts_task_state
    assert cluster.instances[uuid].task_state is None
    if second_move == "resize":
        assert cluster.request("resize", uuid, flavor=LARGE.name).accepted
    else:
        assert cluster.request(second_move, uuid, ADMIN).accepted
    return uuid


def second_resize_sharing_the_first_ones_record(cluster):
    """Both resizes scheduled while the first one's record is pre-migrating: the second
    takes it (MigrationTask._preallocate_migration), and its failure at
    _resize_instance gives the record's source back over both destination claims."""
    uuid = _second_move_while_the_first_is_queued(cluster, "resize")
    first, second = (w for w in cluster.pending() if w.step == "schedule")
    assert cluster.deliver(first.id).accepted
    assert cluster.deliver(second.id).accepted
    [record] = cluster.migrations.values()
    assert cluster.shared_migrations == {record.uuid: (
        SharedMigration("resize", "schedule", "ok"),)}
    # the first leaves its source; the second fails its task_state check there
    # (CM._resize_instance) and gives the record's source back to the instance; the
    # first goes on (its next save expects the task the second left) and finishes
    cluster.settle()
    assert ("resize", "resize_migrating", "ok", "resize_migrating") in cluster.dropped_steps[uuid]
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.host, inst.flavor) == (VmState.RESIZED, record.dest, LARGE.name)
    assert record.status is MigrationStatus.FINISHED
    assert cluster.ledger.allocations_view(uuid) == {record.source: cluster.resources(
        cluster.flavors[SMALL.name], inst.image)}
    assert not cluster.ledger.allocations_of(record.uuid)
    return uuid


def second_resize_while_the_first_is_queued(cluster):
    """A cold migration after a resize: another type of record, so its own."""
    uuid = _second_move_while_the_first_is_queued(cluster, "migrate")
    first, second = (w for w in cluster.pending() if w.step == "schedule")
    assert cluster.deliver(first.id).accepted
    # the first's destination claims and saves its record before the second is
    # scheduled (the scheduler reads only saved records), so the second goes elsewhere
    prep = next(w for w in cluster.pending() if w.step == "prep_resize")
    assert cluster.deliver(prep.id).accepted
    assert cluster.deliver(second.id).accepted
    dests = {m.dest for m in cluster.migrations.values()}
    assert len(dests) == 2, dests
    # CM.prep_resize checks no task_state: the second's claims its destination while the
    # first is on its source, and its CM._resize_instance fails its check (error in
    # resize_migrating); the first's CM._finish_resize then fails its own
    cluster.settle()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state) == (VmState.ERROR, TaskState.RESIZE_FINISH)
    statuses = sorted(m.status.value for m in cluster.migrations.values())
    assert statuses == ["error", "error"], statuses
    # an admin resets it to active: it holds the second's destination claim as well
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    assert len(cluster.ledger.allocations_of(uuid)) == 2
    return uuid


def queued_live_migration_overtaken_by_a_migrate(cluster):
    """A soft delete whose driver fails clears a live migration's task while its source
    step is queued past the pre-check (a restart of the source would end that step with
    its handler); a cold migration is accepted and scheduled; the live migration's next
    step then finds the cold migration's task and its rollback takes the source back to
    the instance."""
    uuid, source = _moving(cluster, "live_migrate", *_LIVE_MIGRATION_RUNNING[:2])
    assert cluster.request("soft_delete", uuid, ADMIN).accepted  # API.soft_delete: any task
    assert _run_work(cluster, uuid, "soft_delete", "soft_delete", "driver_error").accepted
    assert cluster.instances[uuid].task_state is None
    assert cluster.request("migrate", uuid, ADMIN).accepted
    assert _run_work(cluster, uuid, "migrate", "schedule").accepted
    assert _run_work(cluster, uuid, "migrate", "prep_resize").accepted
    assert not _run_work(cluster, uuid, "live_migrate", "live_migration").accepted
    assert cluster.ledger.allocations_of(uuid).keys() == {source}  # the claims replaced
    cluster.settle()
    inst = cluster.instances[uuid]
    assert inst.vm_state is VmState.RESIZED and inst.host != source
    assert cluster.ledger.allocations_of(inst.migration.uuid) == {}
    return uuid


def cold_move_away_from_a_live_migration_destination(cluster):
    """(An audit of the destination between the two moves would have counted the
    instance, and the confirm's drop would then be right.)"""
    uuid = boot(cluster, SMALL)
    assert cluster.request("live_migrate", uuid, ADMIN).accepted
    cluster.settle()
    destination = cluster.instances[uuid].host
    before = cluster.trackers[destination]
    assert not before.tracks(uuid) and not before.tracks_move_of(uuid)
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.RESIZED
    assert cluster.request("confirm_resize", uuid).accepted
    cluster.settle()
    assert cluster.trackers[destination].memory_mb_used < before.memory_mb_used
    return uuid


def delete_after_a_failed_resize_and_a_live_migration_back(cluster):
    """(The source never dropped its claim; the live migration back adds nothing to a
    tracker that counts the instance already. An audit of the source anywhere before
    the delete would have counted the new flavor, and the delete would then be right.)"""
    uuid = boot(cluster, SMALL)
    home = cluster.instances[uuid].host
    assert cluster.request("resize", uuid, ADMIN, flavor=LARGE.name).accepted
    cluster.settle(resize__resize_finish="driver_error")
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.flavor) == (VmState.ERROR, LARGE.name) and inst.host != home
    assert cluster.trackers[home].tracks(uuid)  # still at the small flavor
    assert cluster.request("reboot_hard", uuid, ADMIN).accepted
    cluster.settle()
    _live_migrate_to(cluster, uuid, home)
    before = cluster.trackers[home]
    assert cluster.request("force_delete", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.DELETED
    assert before.memory_mb_used - cluster.trackers[home].memory_mb_used == LARGE.memory_mb
    return uuid


def _after_a_failed_resize(cluster):
    """An instance whose resize to LARGE failed in CM.resize_instance, reset to active:
    its RequestSpec keeps LARGE (COND._cold_migrate saved it)."""
    uuid = boot(cluster, SMALL)
    assert cluster.request("resize", uuid, flavor=LARGE.name).accepted
    cluster.settle(resize__resize_migrating="driver_error")
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.flavor) == (VmState.ERROR, SMALL.name)
    assert cluster.info[uuid].spec_flavor == LARGE.name
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    return uuid


def live_migration_claims_a_failed_resizes_flavor(cluster):
    uuid = _after_a_failed_resize(cluster)
    source = cluster.instances[uuid].host
    assert cluster.request("live_migrate", uuid, ADMIN).accepted
    cluster.settle()
    inst = cluster.instances[uuid]
    assert inst.host != source and inst.flavor == SMALL.name
    assert cluster.ledger.allocations_view(uuid) == {inst.host: cluster.resources(LARGE)}
    return uuid


def forced_move_of_a_group_member(cluster):
    """A member of an affinity group forced onto another host: between the
    conductor's claim there and the destination's late check it is on its way to a
    host that splits the group."""
    first = boot(cluster, SMALL, group="aff")
    boot(cluster, SMALL, group="aff")
    source = cluster.instances[first].host
    away = next(h for h in sorted(cluster.hosts) if h != source)
    assert cluster.request("live_migrate", first, ADMIN, host=away, force=True).accepted
    assert _run_work(cluster, first, "live_migrate", "schedule").accepted
    return first


def snapshot_after_a_failed_cold_migration_finish(cluster):
    """A cold migration that fails on its destination before driver.finish_migration
    leaves the instance there in error with no guest; reset to active, a snapshot then
    finds no guest and stays in its task."""
    uuid = boot(cluster, SMALL)
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle(migrate__resize_finish="driver_error")
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.guest) == (VmState.ERROR, PowerState.PENDING)
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    assert cluster.request("snapshot", uuid, USER).accepted
    cluster.settle()
    assert (inst.vm_state, inst.task_state, inst.power_state) == (
        VmState.ACTIVE, TaskState.IMAGE_SNAPSHOT, PowerState.PENDING)
    assert not cluster.pending()
    return uuid


#: hosts a script needs, where the default two are too few
HOSTS = {"a move that starts before an evacuated host comes back keeps its allocation": 3,
         "a failed move's migration context outlives it, and the resource audit errors a "
         "later move's record": 3,
         "a live migration's destination counts the instance only at its resource audit": 3,
         "a resource tracker takes an instance off at the flavor it has then, not the one "
         "it counted": 3,
         "a second move while the first is still queued leaks its destination claim": 3,
         "a queued move overtaken by a second move takes its allocations back": 3}

SCRIPTS = {
    "a failed move's migration context outlives it, and the resource audit errors a later "
    "move's record":
        live_migration_after_a_failed_resize,
    "a move forced onto a host skips the group filters until the late check":
        forced_move_of_a_group_member,
    "two cold moves of one instance at once share one migration record, and the loser's "
    "clean-up takes back the winner's destination":
        second_resize_sharing_the_first_ones_record,
    "a second move while the first is still queued leaks its destination claim":
        second_resize_while_the_first_is_queued,
    "a move that starts before an evacuated host comes back keeps its allocation":
        move_before_the_evacuated_host_returns,
    "a revert whose task another request takes leaves the migration holding the "
    "source and the instance the destination":
        revert_preempted_by_a_reset_state,
    "a revert whose move back Placement fails leaks the migration's allocation":
        revert_whose_move_back_fails,
    "a revert that fails on the destination leaves the source with the migration":
        revert_fails_on_the_destination,
    "an evacuation in the middle of a cold migration or resize tangles their allocations":
        evacuate_during_a_cold_migration,
    "a failed rebuild frees the instance's allocation on the host it stays on":
        rebuild_fails_after_its_spawn,
    "a resize whose finish_migration fails keeps the new flavor's claim":
        resize_fails_in_finish_migration,
    "a move after a failed resize claims the resize's new flavor":
        live_migration_claims_a_failed_resizes_flavor,
    "a live migration whose driver fails leaks both allocations":
        live_migration_driver_fails,
    "a compute restart during a running live migration leaks both allocations":
        restart_during_a_running_live_migration,
    "a compute restart between a live migration's pre-check and its run leaks both "
    "allocations and leaves the migration preparing":
        restart_between_a_live_migrations_pre_check_and_its_run,
    "a compute restart during a resize's migration leaks both allocations":
        restart_during_a_resize_on_its_source,
    "a compute that stops during a resize's migration after a request cleared its task "
    "leaves the instance holding its destination":
        force_delete_fails_then_the_resizing_source_stops,
    "a compute restart during a resize's finish leaves its migration holding the source":
        restart_during_a_resize_finish_then_a_failed_soft_delete,
    "a compute restart in the middle of a handler leaves the instance in its task":
        restart_while_a_shelve_uploads,
    "an evacuation whose destination's compute stops mid-rebuild leaks its claim":
        evacuation_destination_restarts_mid_rebuild,
    "two evacuations of one instance at once leave its allocations wrong":
        two_evacuations_to_one_host,
    "a reverted resize returns a member to a host another member was given":
        revert_returns_a_member_to_a_taken_host,
    "a source host that comes back during an evacuation gives the instance up":
        source_comes_back_during_an_evacuation,
    "delete racing a soft delete leaves the instance stuck in deleting":
        delete_racing_soft_delete,
    "deleting an instance during a move leaks the migration's allocation":
        delete_during_a_move,
    "the scheduler does not count group members that are still arriving":
        member_arriving_while_another_is_scheduled,
    "a live migration's destination counts the instance only at its resource audit":
        cold_move_away_from_a_live_migration_destination,
    "a resource tracker takes an instance off at the flavor it has then, not the one it "
    "counted": delete_after_a_failed_resize_and_a_live_migration_back,
    "a snapshot of an instance whose guest is gone stays in its task":
        snapshot_after_a_failed_cold_migration_finish,
    "a queued move overtaken by a second move takes its allocations back":
        queued_live_migration_overtaken_by_a_migrate,
    "a rebuild of an instance with no host claims a host and stays in rebuilding":
        rebuild_without_a_host,
    "a rebuild with a new image of an instance with no host fails in the API and stays "
    "in rebuilding": rebuild_with_a_new_image_without_a_host,
    "a request cast to the compute of an instance with no host fails in the API and "
    "stays in its task": hard_reboot_without_a_host,
    "a cold move queued across a shelve offload ends in error holding its source with "
    "no host": cold_migration_queued_across_an_offload,
    "a step that loses its task_state check inside the error handler leaves the "
    "instance in error in that task":
        resize_reset_before_it_leaves_its_source,
    "an unshelve whose task another request takes keeps its host and claim while "
    "offloaded": unshelve_overtaken_by_a_soft_delete_that_fails,
}


def _all_explained_by(cluster, found: dict, *names: str) -> None:
    """Every violation ``found`` in ``cluster`` is explained, by exactly the findings
    ``names``."""
    unexplained, explained = findings.split(found, cluster)
    assert unexplained == {}, unexplained
    assert {f.name for f, _ in explained} == set(names)


def _explained_by(cluster, broken: set[str], *names: str) -> None:
    """These invariants are among those broken, and exactly the findings ``names``
    explain every violation."""
    found = invariants.violations(cluster)
    assert broken <= set(found), found
    _all_explained_by(cluster, found, *names)


def _explained_only_by(cluster, broken: set[str], finding: str) -> None:
    """Exactly these invariants are broken, and that one finding explains them all."""
    found = invariants.violations(cluster)
    assert set(found) == broken, found
    _all_explained_by(cluster, found, finding)


def test_every_finding_has_a_script():
    assert set(SCRIPTS) == {f.name for f in findings.UPSTREAM}


@pytest.mark.parametrize("finding", findings.UPSTREAM, ids=lambda f: f.name)
def test_the_finding_is_reproduced_and_explained(finding):
    with _cluster(HOSTS.get(finding.name, 2)) as cluster:
        SCRIPTS[finding.name](cluster)
        found = invariants.violations(cluster)
        assert set(finding.invariants) & set(found), found
        _all_explained_by(cluster, found, finding.name)


@pytest.mark.parametrize("move", ["evacuate", "unshelve"])
def test_an_evacuation_or_unshelve_after_a_failed_resize_claims_the_new_flavor(move):
    """COND.rebuild_instance and COND.unshelve_instance schedule with the saved
    RequestSpec too (Nova 34 agrees: the scheduler claims LARGE, the instance is SMALL)."""
    cluster = Cluster(small_config(hosts=2), seed=1)
    try:
        uuid = _after_a_failed_resize(cluster)
        source = cluster.instances[uuid].host
        if move == "evacuate":
            cluster.service_down(source)
            assert cluster.request("evacuate", uuid, ADMIN).accepted
        else:
            assert cluster.request("shelve", uuid).accepted
            cluster.settle()
            assert cluster.request("unshelve", uuid).accepted
        cluster.settle()
        inst = cluster.instances[uuid]
        assert inst.flavor == SMALL.name and inst.vm_state is VmState.ACTIVE
        assert cluster.ledger.allocations_view(uuid)[inst.host] == cluster.resources(LARGE)
        _explained_only_by(cluster, {"instances_hold_what_their_state_implies"},
                           "a move after a failed resize claims the resize's new flavor")
    finally:
        cluster.close()


@pytest.mark.parametrize("first", ["migrate", "revert_resize"])
def test_a_cold_migration_or_a_revert_puts_the_instance_flavor_back_in_the_spec(first):
    """COND._get_request_spec_for_cold_migrate sets the cold migration's own flavor
    (the instance's); API.revert_resize puts instance.old_flavor back: a later live
    migration claims the instance's flavor."""
    cluster = Cluster(small_config(hosts=3), seed=1)
    try:
        if first == "migrate":
            uuid = _after_a_failed_resize(cluster)
            assert cluster.request("migrate", uuid, ADMIN).accepted
            cluster.settle()
            assert cluster.request("confirm_resize", uuid).accepted
        else:
            uuid = boot(cluster, SMALL)
            assert cluster.request("resize", uuid, flavor=LARGE.name).accepted
            cluster.settle()
            assert cluster.info[uuid].spec_flavor is None  # the instance's own now
            assert cluster.request("revert_resize", uuid).accepted
            assert cluster.info[uuid].spec_flavor == SMALL.name  # until the revert ends
        cluster.settle()
        assert cluster.info[uuid].spec_flavor is None
        assert cluster.request("live_migrate", uuid, ADMIN).accepted
        cluster.settle()
        inst = cluster.instances[uuid]
        assert inst.flavor == SMALL.name
        assert cluster.ledger.allocations_view(uuid) == {inst.host: cluster.resources(SMALL)}
        assert invariants.violations(cluster) == {}
    finally:
        cluster.close()


def _live_migrate_to(cluster, uuid: str, host: str) -> None:
    assert cluster.request("live_migrate", uuid, ADMIN, host=host).accepted
    cluster.settle()
    assert cluster.instances[uuid].host == host


def test_the_uncounted_arrival_is_named_when_the_instance_comes_back_to_a_host():
    """The live migration's destination finding, by a longer path the search met: the
    instance was resized away from a host (whose tracker let it go since its last
    audit), comes back by live migration and moves away again. The drop is of an
    instance the tracker does not count, and that live migration is its cause."""
    with _cluster(3) as cluster:
        uuid = boot(cluster, SMALL)
        home = cluster.instances[uuid].host
        assert cluster.request("resize", uuid, ADMIN, flavor="large").accepted
        cluster.settle()
        assert cluster.request("confirm_resize", uuid).accepted
        cluster.settle()
        _live_migrate_to(cluster, uuid, home)
        assert cluster.request("migrate", uuid, ADMIN).accepted
        cluster.settle()
        assert cluster.request("confirm_resize", uuid).accepted
        cluster.settle()
        _explained_by(cluster, {"tracker_usage_never_negative"},
                      "a live migration's destination counts the instance only at its "
                      "resource audit")


def test_a_same_host_resize_confirmed_at_a_live_migration_destination_takes_off_its_old_flavor():
    """The live migration's destination finding with the move away a resize to a smaller
    flavor on the same host (found by the ci search): RT._move_claim counts the move's
    new flavor there, RT.drop_move_claim_at_source at the confirm takes off the old
    flavor, which that tracker never counted (the instance came by live migration and no
    audit ran since)."""
    config = small_config(hosts=2, allow_resize_to_same_host=True)
    config = dataclasses.replace(
        config, images=(*config.images, ImageConfig("bfv", volume_backed=True)))
    cluster = Cluster(config, seed=1)
    try:
        uuid = boot(cluster, LARGE, image="bfv")  # volume-backed: a resize may go down
        home = cluster.instances[uuid].host
        there = next(h for h in sorted(cluster.hosts) if h != home)
        _live_migrate_to(cluster, uuid, there)
        assert not cluster.trackers[there].tracks(uuid)
        cluster.service_down(home)  # the scheduler has only the instance's own host
        assert cluster.request("resize", uuid, USER, flavor=SMALL.name).accepted
        cluster.settle()
        mig = cluster.instances[uuid].migration
        assert (mig.source, mig.dest) == (there, there)
        assert cluster.request("confirm_resize", uuid).accepted
        cluster.settle()
        assert cluster.trackers[there].vcpus_used == SMALL.vcpus - LARGE.vcpus
        _explained_only_by(cluster, {"tracker_usage_never_negative"},
                           "a live migration's destination counts the instance only at "
                           "its resource audit")
    finally:
        cluster.close()


def test_the_late_check_then_fails_the_arriving_evacuation():
    with _cluster() as cluster:
        first = member_arriving_while_another_is_scheduled(cluster)
        cluster.settle()
        migration = next(m for m in cluster.migrations.values() if m.instance_uuid == first)
        assert migration.status is MigrationStatus.FAILED
        assert invariants.violations(cluster) == {}


@pytest.mark.parametrize("op", ["live_migrate", "evacuate"])
def test_the_late_check_then_fails_the_forced_move(op):
    """The destination's late check refuses the forced member: the group is whole again,
    the move failed, the member where it was."""
    with _cluster() as cluster:
        first = boot(cluster, SMALL, group="aff")
        boot(cluster, SMALL, group="aff")
        source = cluster.instances[first].host
        away = next(h for h in sorted(cluster.hosts) if h != source)
        if op == "evacuate":
            cluster.service_down(source)
        assert cluster.request(op, first, ADMIN, host=away, force=True).accepted
        assert invariants.violations(cluster) == {}  # a host only requested is not counted
        assert _run_work(cluster, first, op, "schedule").accepted
        assert list(invariants.violations(cluster)) == ["server_group_policies"]
        cluster.settle()
        assert invariants.violations(cluster) == {}
        inst = cluster.instances[first]
        assert (inst.host, inst.migration.status) == (source, MigrationStatus.FAILED)


def test_the_late_check_counts_a_resized_members_migration_from_its_source():
    """Nova 24 and later: a member the filter sends to a resized member's source (its
    instance.host is the destination) is refused there by the compute's late check,
    which counts the migration in progress from that host; with no alternate left the
    build fails, and the revert finds its source free."""
    with _cluster() as cluster:
        first, source = _resized(cluster, group="anti")
        second = cluster.request("create", None, flavor=SMALL.name, group="anti").instance
        cluster.settle()
        inst = cluster.instances[second]
        assert (inst.vm_state, inst.host) == (VmState.ERROR, None)
        assert any(d.chosen == source for d in cluster.decisions
                   if d.consumer == second)
        assert cluster.request("revert_resize", first).accepted
        cluster.settle()
        assert cluster.instances[first].host == source
        assert invariants.violations(cluster) == {}


def test_a_soft_delete_that_preempts_finish_resize_is_the_same_finding():
    """The finish step loses its compare-and-swap to the soft delete; Nova's clean-up
    (``_finish_resize``'s except) still puts the old flavor back over the new claim."""
    with _cluster() as cluster:
        uuid, _ = _moving(cluster, "resize", ctx=USER, flavor=LARGE.name)
        for _ in range(10):
            if any(w.step == "finished" for w in cluster.pending()):
                break
            cluster.deliver(cluster.deliverable()[0].id)
        assert cluster.request("soft_delete", uuid).accepted
        assert not _run_work(cluster, uuid, "resize", "finished").accepted
        cluster.settle()
        _explained_by(cluster, {"instances_hold_what_their_state_implies"},
                      "a resize whose finish_migration fails keeps the new flavor's claim")


def _cold_migration_past_the_source(cluster, steps: tuple[str, ...]):
    """An instance whose cold migration ran ``steps`` after its schedule; its
    destination and the migration's source."""
    uuid, _ = _moving(cluster, "migrate", "schedule", *steps)
    (mig,) = cluster.migrations.values()
    return uuid, mig


def test_a_soft_delete_while_the_migration_destination_is_down_is_the_same_finding():
    """The migration has left the source (resize_migrated: instance.host is already the
    destination) and the destination's compute service is down: API._delete turns the
    soft delete into a local delete (API._local_delete deletes the instance consumer's
    allocation only), and the instance is not resized, so nothing confirms first. The
    migration keeps the source (scenarios/soft_delete_during_migration_destination_down.json)."""
    with _cluster() as cluster:
        uuid, mig = _cold_migration_past_the_source(
            cluster, ("prep_resize", "resize_migrating", "resize_migrated"))
        assert cluster.instances[uuid].host == mig.dest != mig.source
        cluster.service_down(mig.dest)
        assert cluster.request("soft_delete", uuid).accepted
        assert cluster.instances[uuid].vm_state is VmState.DELETED  # destroyed locally
        assert mig.source in cluster.ledger.allocations_of(mig.uuid)
        assert cluster.ledger.allocations_of(uuid) == {}
        _explained_only_by(cluster, {"allocations_have_live_consumers"},
                           "deleting an instance during a move leaks the migration's "
                           "allocation")


def test_a_soft_delete_of_a_resized_instance_whose_destination_is_down_leaks_nothing():
    """Finished on the destination (resized): API._delete confirms first
    (API._confirm_resize_on_deleting calls the source's confirm_resize, which frees the
    migration's allocation), then deletes locally: nothing is left."""
    with _cluster() as cluster:
        uuid, mig = _cold_migration_past_the_source(
            cluster, ("prep_resize", "resize_migrating", "resize_migrated",
                      "resize_finish", "finished"))
        assert cluster.instances[uuid].vm_state is VmState.RESIZED
        cluster.service_down(mig.dest)
        assert cluster.request("soft_delete", uuid).accepted
        assert cluster.instances[uuid].vm_state is VmState.DELETED
        assert mig.status is MigrationStatus.CONFIRMED
        assert cluster.ledger.allocations_of(mig.uuid) == {}
        assert cluster.ledger.allocations_of(uuid) == {}
        assert invariants.violations(cluster) == {}


def test_a_revert_whose_destination_step_waits_behind_the_reset_is_the_same_finding():
    """CM.revert_resize checks no task_state: reset before it runs, the destination
    still marks the migration reverted and casts finish_revert_resize, which loses its
    check as above (scenarios/revert_runs_after_reset_state.json, replayed on Nova 34);
    in between, the reverted migration already holds the source while its instance has
    no task, which the same finding explains."""
    with _cluster(3) as cluster:
        uuid, source = _resized(cluster)
        dest = cluster.instances[uuid].host
        assert cluster.request("revert_resize", uuid).accepted
        assert cluster.request("reset_state_active", uuid, ADMIN).accepted
        assert _run_work(cluster, uuid, "revert_resize", "revert_resize").accepted
        inst = cluster.instances[uuid]
        assert (inst.vm_state, inst.task_state, inst.host) == (VmState.ACTIVE, None, dest)
        assert inst.migration.status is MigrationStatus.REVERTED
        for _ in range(2):  # before and after finish_revert_resize
            _explained_by(cluster, {"allocations_have_live_consumers"},
                          "a revert whose task another request takes leaves the migration "
                          "holding the source and the instance the destination")
            if cluster.pending():
                assert not _run_work(cluster, uuid, "revert_resize",
                                     "finish_revert_resize").accepted
        assert (inst.vm_state, inst.host, inst.flavor) == (VmState.ERROR, source, SMALL.name)
        assert set(cluster.ledger.allocations_of(uuid)) == {dest}


def test_a_delete_after_the_moves_handler_went_with_its_compute_is_the_same_finding():
    """A running live migration whose source compute stops takes its end with it
    (CM.live_migration's handler: no message is left for post_live_migration), and the
    migration stays running and holds the source. A force delete, local with the source
    down (API._local_delete), deletes the instance consumer's allocation only: the
    migration's is left, as when its chain is still queued."""
    with _cluster() as cluster:
        uuid, source = _moving(cluster, "live_migrate", *_LIVE_MIGRATION_RUNNING)
        mig = cluster.instances[uuid].migration
        cluster.service_down(source)
        assert [w for w in cluster.pending() if w.instance == uuid] == []
        assert mig.status is MigrationStatus.RUNNING
        assert cluster.request("force_delete", uuid, ADMIN).accepted
        assert cluster.instances[uuid].vm_state is VmState.DELETED  # destroyed locally
        assert source in cluster.ledger.allocations_of(mig.uuid)
        _explained_only_by(cluster, {"allocations_have_live_consumers"},
                           "deleting an instance during a move leaks the migration's "
                           "allocation")


def test_a_failed_delete_after_a_restart_mid_finish_is_the_same_finding():
    """The destination's compute stops and starts between resize_finish and finished
    (one handler, CM.finish_resize); a delete whose terminate fails then errors the
    instance and clears its task. The source's audit does not count the post-migrating
    record's allocation: the violation names the host and the migration consumer, and
    the cause is recorded on the record's instance (the step its compute took with it)."""
    with _cluster() as cluster:
        uuid, _ = _moving(cluster, "migrate", *_COLD_MOVE_FINISHING)
        dest = cluster.instances[uuid].host
        cluster.service_down(dest)
        cluster.service_up(dest)
        assert cluster.request("delete", uuid, ADMIN).accepted
        assert _run_work(cluster, uuid, "delete", "terminate", "driver_error").accepted
        assert (cluster.instances[uuid].vm_state, cluster.instances[uuid].task_state) == (
            VmState.ERROR, None)
        _explained_by(cluster, {"tracker_audit_agrees_with_placement"},
                      "a compute restart during a resize's finish leaves its migration "
                      "holding the source")


def test_a_lost_chain_is_not_overlapped_by_its_own_operation():
    """The move whose next step went with its compute records no overlap of its own
    operation's requests (an abort of that live migration is not another request)."""
    with _cluster() as cluster:
        uuid, source = _moving(cluster, "live_migrate", *_LIVE_MIGRATION_RUNNING)
        mig = cluster.instances[uuid].migration
        cluster.service_down(source)
        cluster.note_overlap(cluster.instances[uuid], "live_migrate", "api", "ok", mig.uuid)
        assert cluster.overlaps.get(mig.uuid, ()) == ()
        cluster.note_overlap(cluster.instances[uuid], "delete", "api", "ok", mig.uuid)
        assert [o.operation for o in cluster.overlaps[mig.uuid]] == ["delete"]


def test_a_finding_does_not_explain_a_message_without_its_cause():
    """The text of a finding's violation, even with its subjects, explains nothing when
    the cluster recorded no cause for them."""
    with _cluster() as cluster:
        uuid = boot(cluster, SMALL)
        real = {"allocations_have_live_consumers": [Violation(
                    f"resize mig1 of {uuid} is error but still holds compute1: VCPU=1 "
                    "(it failed with the instance on its destination)", ("mig1", uuid))],
                "nothing_stuck": [Violation(
                    f"{uuid} is stuck in active/deleting on compute1 with no work pending",
                    (uuid,))],
                "tracker_usage_never_negative": [Violation(
                    f"host1's resource tracker counts -6144 MEMORY_MB for its instances and "
                    f"moves (after force_delete.terminate took {uuid} off at large, which it "
                    "counted at small)", ("host1", uuid))]}
        unexplained, explained = findings.split(real, cluster)
        assert unexplained == real and explained == []


def test_a_removal_at_the_counted_flavor_is_not_the_flavor_finding():
    """The flavor finding's symptom without its cause: a tracker that counts less than
    nothing after a delete that took the instance off at the very flavor it counted it
    at (the count lowered by hand, as a wrong drop would) is explained by nothing; and
    the finding's own run, once the source's audit has counted again, breaks nothing
    and keeps no cause."""
    name = ("a resource tracker takes an instance off at the flavor it has then, not the "
            "one it counted")
    with _cluster() as cluster:
        uuid = boot(cluster, SMALL)
        host = cluster.instances[uuid].host
        assert dict(cluster.counted_flavors[host]) == {uuid: SMALL.name}
        tracker = cluster.trackers[host]
        cluster.trackers[host] = dataclasses.replace(
            tracker, memory_mb_used=tracker.memory_mb_used - 1)
        assert cluster.request("delete", uuid).accepted
        cluster.settle()
        assert host not in cluster.counted_flavors and cluster.flavor_drops == {}
        found = invariants.violations(cluster)
        assert "tracker_usage_never_negative" in found, found
        assert all(uuid not in m for m in found["tracker_usage_never_negative"])
        unexplained, explained = findings.split(found, cluster)
        assert "tracker_usage_never_negative" in unexplained
        assert name not in {f.name for f, _ in explained}
    with _cluster(3) as cluster:
        uuid = delete_after_a_failed_resize_and_a_live_migration_back(cluster)
        drop = next(iter(cluster.flavor_drops.values()))
        assert (drop.instance, drop.operation, drop.counted, drop.dropped) == (
            uuid, "force_delete", SMALL.name, LARGE.name)
        for host in list(cluster.flavor_drops):
            cluster.audit_tracker(host)
        assert cluster.flavor_drops == {}
        assert "tracker_usage_never_negative" not in invariants.violations(cluster)


def test_a_same_host_revert_that_fails_is_the_same_finding():
    """allow_resize_to_same_host: the destination is the source. ComputeManager.
    revert_resize fails before it casts finish_revert_resize, so nothing runs
    _revert_allocation (errors_out_migration and _error_out_instance_on_exception
    only write the statuses): the migration, in error, keeps the old flavor on the one
    host, as it keeps the source when the hosts differ."""
    with _cluster(1, allow_resize_to_same_host=True) as cluster:
        uuid, host = _resized(cluster)
        mig = cluster.instances[uuid].migration
        assert (mig.source, mig.dest) == (host, host)
        assert cluster.request("revert_resize", uuid).accepted
        cluster.settle(revert_resize__revert_resize="driver_error")
        inst = cluster.instances[uuid]
        assert (inst.vm_state, inst.host, mig.status) == (
            VmState.ERROR, host, MigrationStatus.ERROR)
        assert cluster.ledger.allocations_view(mig.uuid) == {host: cluster.resources(SMALL)}
        found = invariants.violations(cluster)
        assert found["allocations_have_live_consumers"] == [
            f"resize {mig.uuid} of {uuid} is error but still holds {host}: DISK_GB=20, "
            f"MEMORY_MB=2048, VCPU=1 (it failed with the instance on its destination)"], found
        _all_explained_by(cluster, found, "a revert that fails on the destination leaves "
                          "the source with the migration")


def test_a_member_arriving_by_unshelve_is_explained():
    with _cluster() as cluster:
        first = boot(cluster, SMALL, group="anti")
        _offload(cluster, first)
        assert cluster.request("unshelve", first).accepted
        assert _run_work(cluster, first, "unshelve", "unshelve").accepted  # scheduled
        target = next(w.target for w in cluster.pending() if w.instance == first)
        for host in cluster.hosts:
            if host != target:
                cluster.disable(host)
        # the offloaded member has no host yet: the filter lets the second one there too
        second = cluster.request("create", None, flavor=SMALL.name, group="anti").instance
        for _ in range(10):
            ready = [w for w in cluster.deliverable() if w.instance == second]
            if not ready:
                break
            cluster.deliver(ready[0].id)
        assert cluster.instances[second].host == target
        cluster.settle()
        _explained_by(cluster, {"server_group_policies"},
                      "the scheduler does not count group members that are still arriving")


def test_every_declared_cause_names_a_record_and_operations_that_exist():
    """A misspelt record, field or operation would make a finding explain nothing."""
    from model.catalogue import CATALOGUE
    with _cluster(1) as cluster:
        for finding in findings.UPSTREAM:
            for cause in finding.causes:
                assert isinstance(getattr(cluster, cause.record), dict), cause
                for name, allowed in cause.fields:
                    if name == "operation":
                        assert allowed <= set(CATALOGUE), (finding.name, allowed)


def test_a_failed_finish_migration_later_drops_the_old_flavor_where_the_new_was_counted():
    """The destination's tracker counted the new flavor for an instance its failed
    finish_migration gave the old one back: a move away confirmed before that host's
    audit drops the old flavor, and the tracker counts less than nothing (explained by
    the finish-failure finding, through the instance the drop names)."""
    from model.config import ClusterConfig
    cluster = Cluster(ClusterConfig.default(), seed=1)
    try:
        # (a volume-backed server: a smaller flavor's root disk is no objection)
        uuid = cluster.request("create", None, ADMIN, flavor="m1.large", image="bfv").instance
        cluster.settle()
        assert cluster.request("resize", uuid, ADMIN, flavor="m1.small").accepted
        cluster.settle(resize__finished="driver_error")
        host = cluster.instances[uuid].host
        # (not a rebuild: the failed finish left no guest, and a rebuild would stay in
        # rebuilding, CM.rebuild_instance's InstanceNotFound)
        assert cluster.request("reset_state_active", uuid, ADMIN).accepted
        cluster.settle()
        assert cluster.request("migrate", uuid, ADMIN).accepted
        cluster.settle()
        assert cluster.request("confirm_resize", uuid, ADMIN).accepted
        cluster.settle()
        found = invariants.violations(cluster)
        assert "tracker_usage_never_negative" in found, found
        assert all(host in m for m in found["tracker_usage_never_negative"])
        _all_explained_by(cluster, found,
                          "a resize whose finish_migration fails keeps the new flavor's claim")
        cluster.audit_tracker(host)  # the audit counts again
        assert "tracker_usage_never_negative" not in invariants.violations(cluster)
    finally:
        cluster.close()


@pytest.mark.parametrize("script", [
    rebuild_fails_after_its_spawn, resize_fails_in_finish_migration,
    live_migration_driver_fails, restart_during_a_running_live_migration,
], ids=lambda s: s.__name__)
def test_once_the_instance_is_deleting_the_audit_shows_the_same_finding(script):
    """The findings that leave Placement apart from the instance's state, then a delete
    racing a soft delete (the instance stuck in deleting, which holds nothing by its
    state): the difference now shows only in the compute's resource audit, whose
    violation names the instances and migrations counted on the host, so the recorded
    cause still explains it."""
    with _cluster() as cluster:
        uuid = script(cluster)
        for op in ("soft_delete", "delete"):
            assert cluster.request(op, uuid, ADMIN).accepted
        assert not _run_work(cluster, uuid, "soft_delete", "soft_delete").accepted
        found = invariants.violations(cluster)
        assert "tracker_audit_agrees_with_placement" in found, found
        unexplained, explained = findings.split(found, cluster)
        assert unexplained == {}, unexplained
        assert explained


@pytest.mark.parametrize("source_back_first", [True, False])
def test_an_evacuation_whose_destination_restarts_mid_rebuild_is_the_same_finding(
        source_back_first):
    """The destination's restart ends CM.rebuild_instance's handler after its claim; the
    instance is still on its source's list (instance.host moves at the rebuild's end),
    so neither host recovers it. The source's _destroy_evacuated_instances treats the
    pre-migrating evacuation as finished: the instance, stuck in its task on its source,
    holds nothing there, and the source's resource audit still counts it."""
    with _cluster() as cluster:
        uuid, source = _moving(cluster, "evacuate", "schedule", "rebuilding")
        dest = cluster.instances[uuid].migration.dest
        if source_back_first:
            cluster.service_up(source)
            cluster.restart(dest)
        else:
            cluster.restart(dest)
            cluster.service_up(source)
        assert not cluster.pending()
        inst = cluster.instances[uuid]
        assert (inst.host, inst.task_state) == (source, TaskState.REBUILDING)
        assert set(cluster.ledger.allocations_of(uuid)) == {dest}
        _explained_by(cluster, {"nothing_stuck", "tracker_audit_agrees_with_placement"},
                      "a source host that comes back during an evacuation gives the instance "
                      "up", "a compute restart in the middle of a handler leaves the instance "
                      "in its task")


def test_a_delete_stuck_in_the_middle_of_a_cold_move_leaves_its_destination_uncounted():
    """The soft delete's race with a delete, in the middle of a cold migration whose
    next step went with its source's compute: the instance stays in deleting, which is
    no resize state, so the destination's resource audit skips its migration while
    Placement keeps its claim there (found by the example plugin suite's search)."""
    with _cluster() as cluster:
        uuid, source = _moving(cluster, "migrate", *_COLD_MOVE_FINISHING[:3])
        dest = cluster.instances[uuid].migration.dest
        assert cluster.request("soft_delete", uuid, ADMIN).accepted
        cluster.service_down(source)
        cluster.service_up(source)
        assert cluster.request("delete", uuid, ADMIN).accepted
        assert not _run_work(cluster, uuid, "soft_delete", "soft_delete").accepted
        assert cluster.pending() == []
        assert cluster.instances[uuid].task_state is TaskState.DELETING
        assert dest in cluster.ledger.allocations_of(uuid)
        _explained_only_by(cluster, {"nothing_stuck", "tracker_audit_agrees_with_placement"},
                           "delete racing a soft delete leaves the instance stuck in "
                           "deleting")


def test_the_plugin_suites_counterexample_is_the_migration_context_finding():
    """The example plugin suite's search found it first: the live migration after a
    failed revert, errored by its destination's audit, then reset by its source's
    restart; the instance holds the destination while it stays on the source."""
    from nova_model import scenario as scenarios
    path = Path(__file__).parent / "counterexamples" / "audit_errors_a_later_live_migration.json"
    loaded = scenarios.load(path)
    run = scenarios.run(loaded, scenarios.resolve_config(loaded))
    try:
        found = invariants.violations(run.cluster)
        assert "instances_hold_what_their_state_implies" in found, found
        unexplained, explained = findings.split(found, run.cluster)
        assert unexplained == {}, unexplained
        assert "a failed move's migration context outlives it, and the resource audit " \
               "errors a later move's record" in {f.name for f, _ in explained}
    finally:
        run.close()


def test_a_failed_rebuild_after_the_source_came_back_takes_off_what_the_audit_forgot():
    """The source comes back during an evacuation (CM._destroy_evacuated_instances marks
    the record completed), the destination's resource audit then no longer counts the
    rebuild's claim, and the spawn fails there: the claim's abort (MoveClaim.abort) takes
    the flavor off a count that does not hold it (found by the ci search)."""
    with _cluster() as cluster:
        uuid, source = _moving(cluster, "evacuate", "schedule", "rebuilding",
                               "rebuild_block_device_mapping")
        cluster.service_up(source)
        assert _run_work(cluster, uuid, "evacuate", "rebuild_spawning").accepted
        dest = cluster.instances[uuid].migration.dest
        cluster.update_available_resource(dest)
        assert _run_work(cluster, uuid, "evacuate", "spawned", "driver_error").accepted
        assert cluster.trackers[dest].memory_mb_used < 0
        _explained_by(cluster, {"tracker_usage_never_negative"},
                      "a source host that comes back during an evacuation gives the instance "
                      "up")


def test_a_soft_delete_inside_a_resizes_finish_then_a_stop_is_the_finish_finding():
    """The review's search met this order: a soft delete takes resize_finish while
    CM.finish_resize still runs (API.soft_delete takes any task), then the destination's
    compute stops before the handler ends: the migration stays post-migrating with the
    source, the instance soft-deleted on its destination."""
    with _cluster() as cluster:
        uuid, source = _moving(cluster, "resize", *_COLD_MOVE_FINISHING, ctx=USER,
                               flavor=LARGE.name)
        dest = cluster.instances[uuid].host
        assert cluster.request("soft_delete", uuid, ADMIN).accepted
        assert _run_work(cluster, uuid, "soft_delete", "soft_delete").accepted
        cluster.service_down(dest)  # the handler's 'finished' goes with the process
        assert not cluster.pending()
        inst, mig = cluster.instances[uuid], cluster.instances[uuid].migration
        assert (inst.vm_state, inst.task_state, inst.host, mig.status) == (
            VmState.SOFT_DELETED, None, dest, MigrationStatus.POST_MIGRATING)
        assert set(cluster.ledger.allocations_of(mig.uuid)) == {source}
        _explained_by(cluster, {"migrations_agree_with_instances"},
                      "a compute restart during a resize's finish leaves its "
                      "migration holding the source")
