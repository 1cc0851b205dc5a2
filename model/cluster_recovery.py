"""What a compute service does when it starts: ``ComputeManager.init_host``.

Two parts, in Nova's order:

1. ``CM._destroy_evacuated_instances``: for every evacuation migration whose source is
   this host and whose status is ``accepted``, ``pre-migrating`` or ``done``, the local
   guest is destroyed, this host is removed from the instance's allocation
   (``remove_provider_tree_from_instance_allocation`` = ``REMOVE_SOURCE_FROM_INSTANCE``)
   and the migration becomes ``completed``. Those instances are skipped below.
2. ``CM._init_instance`` for every other instance whose host is this one, by task_state.

The catalogue has no records for these; where an existing record has exactly the
right effect it is fired through the lifecycle (noted per case), otherwise the
recovery is a direct, documented write of the instance's variables. All of them
are listed in ``RECOVERY`` so that the lead can move them into the catalogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.lifecycle import Instance, state_name
from model.states import MigrationStatus as MS, MigrationType, PowerState, TaskState as T, VmState

if TYPE_CHECKING:
    from model.cluster import Cluster

BUILD_TASKS = frozenset({T.SCHEDULING, T.BLOCK_DEVICE_MAPPING, T.NETWORKING, T.SPAWNING})
REBUILD_TASKS = frozenset({T.REBUILDING, T.REBUILD_BLOCK_DEVICE_MAPPING, T.REBUILD_SPAWNING})
IMAGE_TASKS = frozenset({T.IMAGE_SNAPSHOT, T.IMAGE_SNAPSHOT_PENDING, T.IMAGE_PENDING_UPLOAD,
                         T.IMAGE_UPLOADING, T.IMAGE_BACKUP})
REBOOT_TASKS = frozenset({T.REBOOTING, T.REBOOT_PENDING, T.REBOOT_STARTED, T.REBOOTING_HARD,
                          T.REBOOT_PENDING_HARD, T.REBOOT_STARTED_HARD})
EVACUATION_CLEANUP = frozenset({MS.ACCEPTED, MS.PRE_MIGRATING, MS.DONE})

#: Each recovery case: (task_state condition, what happens, how it is done).
RECOVERY = (
    ("building, or scheduling/networking/block_device_mapping/spawning",
     "vm error, task None; allocation kept", "direct write"),
    ("rebuilding/rebuild_block_device_mapping/rebuild_spawning",
     "vm error, task None", "direct write"),
    ("image_* tasks", "task None", "direct write"),
    ("resize_prep", "task None; model choice: an in-progress migration's allocation goes "
     "back to the instance and the migration errors (Nova leaves it to the operator)",
     "direct write"),
    ("deleting", "the delete finishes (vm deleted, allocation deleted)",
     "catalogue: delete.terminate.ok"),
    ("powering-off", "the stop finishes", "catalogue: stop.power_off.ok"),
    ("powering-on", "the start finishes", "catalogue: start.power_on.ok"),
    ("reboot tasks", "vm active, task None, power running (the reboot is retried and "
     "succeeds)", "direct write"),
    ("migrating", "task None, migration error, allocation reverted to the instance",
     "catalogue: live_migrate.pre_live_migration.pre_check_failed"),
    ("resize_migrating", "revert on the source: task None, vm kept, power from "
     "old_vm_state; model choice: allocation reverted, migration error, old flavor",
     "direct write"),
)


def _write(cluster: "Cluster", inst: Instance, vm: VmState, task, power: PowerState | None = None
           ) -> None:
    name = state_name(vm, task)
    if name not in cluster.lc.states:
        raise AssertionError(f"recovery would leave {inst.uuid} in undeclared state {name}")
    inst.state = name
    if power is not None:
        inst.power_state = power


def _via(cluster: "Cluster", inst: Instance, op: str, step: str, outcome: str) -> bool:
    """Fire a catalogue record's transition and apply its effects like a delivery."""
    kw = {"dest": inst.migration.dest if inst.migration else None,
          "source": inst.migration.source if inst.migration else inst.host}
    if not cluster.lc.may(op, step, outcome, inst, **kw):
        return False
    before = inst.host
    branch = cluster.lc.deliver(op, step, outcome, inst, **kw)
    if branch.migration is not None and branch.migration.create is None:
        cluster._set_migration_status(inst, branch.migration.status)
    cluster._apply_allocs(inst, branch, (), before)
    cluster._apply_flavor(inst, branch)
    return True


def _revert_migration(cluster: "Cluster", inst: Instance) -> None:
    mig = inst.migration
    if mig is None or not mig.in_progress:
        return
    if cluster.ledger.allocations_of(mig.uuid):
        cluster.ledger.move_allocations(mig.uuid, inst.uuid)
    mig.status = MS.ERROR
    if mig.migration_type is MigrationType.RESIZE:
        inst.flavor = mig.old_flavor


def destroy_evacuated_instances(cluster: "Cluster", host: str) -> set[str]:
    done: set[str] = set()
    for mig in sorted(cluster.migrations.values(), key=lambda m: m.uuid):
        if (mig.migration_type is MigrationType.EVACUATION and mig.source == host
                and mig.status in EVACUATION_CLEANUP):
            if mig.dest != host:
                cluster.ledger.remove_provider_from_consumer(mig.instance_uuid, host)
            mig.status = MS.COMPLETED
            done.add(mig.instance_uuid)
    return done


def init_instance(cluster: "Cluster", inst: Instance) -> str | None:
    """``CM._init_instance``: what happens to one instance of the starting host."""
    vm, task = inst.vm_state, inst.task_state
    if vm is VmState.DELETED:
        return None
    if vm is VmState.BUILDING or task in BUILD_TASKS:
        _write(cluster, inst, VmState.ERROR, None)
        return f"{inst.uuid}: interrupted build -> error"
    if task in REBUILD_TASKS:
        _write(cluster, inst, VmState.ERROR, None)
        return f"{inst.uuid}: interrupted rebuild -> error"
    if task in IMAGE_TASKS:
        _write(cluster, inst, vm, None)
        return f"{inst.uuid}: {task.value} cleared"
    if task is T.RESIZE_PREP:
        _revert_migration(cluster, inst)
        _write(cluster, inst, vm, None)
        return f"{inst.uuid}: resize_prep cleared"
    if task is T.DELETING and _via(cluster, inst, "delete", "terminate", "ok"):
        return f"{inst.uuid}: delete finished"
    if task is T.POWERING_OFF and _via(cluster, inst, "stop", "power_off", "ok"):
        return f"{inst.uuid}: stop finished"
    if task is T.POWERING_ON and _via(cluster, inst, "start", "power_on", "ok"):
        return f"{inst.uuid}: start finished"
    if task in REBOOT_TASKS:
        _write(cluster, inst, VmState.ACTIVE, None, PowerState.RUNNING)
        return f"{inst.uuid}: reboot retried -> active"
    if task is T.MIGRATING:
        if not _via(cluster, inst, "live_migrate", "pre_live_migration", "pre_check_failed"):
            _write(cluster, inst, vm, None)
        return f"{inst.uuid}: live migration reset"
    if task is T.RESIZE_MIGRATING:
        _revert_migration(cluster, inst)
        stopped = inst.old_vm_state is VmState.STOPPED
        _write(cluster, inst, vm, None, PowerState.SHUTDOWN if stopped else PowerState.RUNNING)
        return f"{inst.uuid}: resize reverted on source"
    return None


def init_host(cluster: "Cluster", host: str) -> list[str]:
    evacuated = destroy_evacuated_instances(cluster, host)
    out = [f"{u}: evacuated away, source allocation removed" for u in sorted(evacuated)]
    for uuid, inst in sorted(cluster.instances.items()):
        if inst.host == host and uuid not in evacuated:
            note = init_instance(cluster, inst)
            if note:
                out.append(note)
    return out
