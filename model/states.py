"""The three state variables Nova keeps per instance, under Nova's own names.

String values are exactly those of ``nova/objects/fields.py`` (``InstanceState``,
``InstanceTaskState``) and the power-state codes of ``nova/compute/power_state.py``.
Nothing else in the project spells a state name: everything refers to these members.
Each vm_state and task_state has a one-line meaning (``VM_STATE_MEANINGS``,
``TASK_STATE_MEANINGS``), and the task states are grouped by the operation that sets
them (``TASK_STATES_BY_OPERATION``), as Nova's ``vm_states.py`` and ``task_states.py``
describe and group them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class VmState(StrEnum):
    """``instance.vm_state``: the stable state the user sees."""

    ACTIVE = "active"
    BUILDING = "building"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    STOPPED = "stopped"
    RESCUED = "rescued"
    RESIZED = "resized"
    SOFT_DELETED = "soft-delete"
    DELETED = "deleted"
    ERROR = "error"
    SHELVED = "shelved"
    SHELVED_OFFLOADED = "shelved_offloaded"


class TaskState(StrEnum):
    """``instance.task_state``: the operation in progress (``None`` when idle)."""

    SCHEDULING = "scheduling"
    BLOCK_DEVICE_MAPPING = "block_device_mapping"
    NETWORKING = "networking"
    SPAWNING = "spawning"
    IMAGE_SNAPSHOT = "image_snapshot"
    IMAGE_SNAPSHOT_PENDING = "image_snapshot_pending"
    IMAGE_PENDING_UPLOAD = "image_pending_upload"
    IMAGE_UPLOADING = "image_uploading"
    IMAGE_BACKUP = "image_backup"
    UPDATING_PASSWORD = "updating_password"
    RESIZE_PREP = "resize_prep"
    RESIZE_MIGRATING = "resize_migrating"
    RESIZE_MIGRATED = "resize_migrated"
    RESIZE_FINISH = "resize_finish"
    RESIZE_REVERTING = "resize_reverting"
    RESIZE_CONFIRMING = "resize_confirming"
    REBOOTING = "rebooting"
    REBOOT_PENDING = "reboot_pending"
    REBOOT_STARTED = "reboot_started"
    REBOOTING_HARD = "rebooting_hard"
    REBOOT_PENDING_HARD = "reboot_pending_hard"
    REBOOT_STARTED_HARD = "reboot_started_hard"
    PAUSING = "pausing"
    UNPAUSING = "unpausing"
    SUSPENDING = "suspending"
    RESUMING = "resuming"
    POWERING_OFF = "powering-off"
    POWERING_ON = "powering-on"
    RESCUING = "rescuing"
    UNRESCUING = "unrescuing"
    REBUILDING = "rebuilding"
    REBUILD_BLOCK_DEVICE_MAPPING = "rebuild_block_device_mapping"
    REBUILD_SPAWNING = "rebuild_spawning"
    MIGRATING = "migrating"
    DELETING = "deleting"
    SOFT_DELETING = "soft-deleting"
    RESTORING = "restoring"
    SHELVING = "shelving"
    SHELVING_IMAGE_PENDING_UPLOAD = "shelving_image_pending_upload"
    SHELVING_IMAGE_UPLOADING = "shelving_image_uploading"
    SHELVING_OFFLOADING = "shelving_offloading"
    UNSHELVING = "unshelving"


class PowerState(IntEnum):
    """``instance.power_state``: what the hypervisor reports, as Nova's integer codes."""

    PENDING = 0  # Nova's NOSTATE
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7

    @property
    def label(self) -> str:
        return self.name.lower()


#: What each vm_state means, in one line (the facts of ``nova/compute/vm_states.py``).
VM_STATE_MEANINGS: dict[VmState, str] = {
    VmState.ACTIVE: "the guest was created and is meant to be running",
    VmState.BUILDING: "the instance exists in the database but its guest is not built yet",
    VmState.PAUSED: "the guest is frozen in memory, its resources still held on the host",
    VmState.SUSPENDED: "the guest's memory is saved to disk and it no longer runs",
    VmState.STOPPED: "the guest is shut off, its disks and resources kept on the host",
    VmState.RESCUED: "the guest runs from a rescue image, its own disk attached to it",
    VmState.RESIZED: "the move or resize finished on the destination and waits to be "
                     "confirmed or reverted",
    VmState.SOFT_DELETED: "deleted by the user but kept until the reclaim interval passes; "
                          "it can still be restored",
    VmState.DELETED: "the guest and its resources are gone",
    VmState.ERROR: "something failed that needs an operator or the user to act",
    VmState.SHELVED: "powered off and snapshotted, still on its host",
    VmState.SHELVED_OFFLOADED: "powered off, snapshotted and removed from every host; "
                               "unshelving schedules it again",
}

#: What each task_state means, in one line: the step of the operation in progress
#: (the facts of ``nova/compute/task_states.py``).
TASK_STATE_MEANINGS: dict[TaskState, str] = {
    TaskState.SCHEDULING: "the scheduler is choosing a host",
    TaskState.BLOCK_DEVICE_MAPPING: "the volumes and disks of the new guest are being prepared",
    TaskState.NETWORKING: "the network ports of the new guest are being allocated",
    TaskState.SPAWNING: "the hypervisor is creating and starting the guest",
    TaskState.IMAGE_SNAPSHOT: "the snapshot of the guest's disk is being taken",
    TaskState.IMAGE_SNAPSHOT_PENDING: "a snapshot was asked for and has not started yet",
    TaskState.IMAGE_PENDING_UPLOAD: "the snapshot was taken and waits to be uploaded",
    TaskState.IMAGE_UPLOADING: "the snapshot is being uploaded to the image service",
    TaskState.IMAGE_BACKUP: "a backup image of the guest is being made",
    TaskState.UPDATING_PASSWORD: "the guest's administrator password is being set",
    TaskState.RESIZE_PREP: "the move was accepted and the destination is being prepared",
    TaskState.RESIZE_MIGRATING: "the guest's disks are being moved off the source",
    TaskState.RESIZE_MIGRATED: "the disks arrived; the destination has still to finish",
    TaskState.RESIZE_FINISH: "the destination is starting the guest with its new flavor",
    TaskState.RESIZE_REVERTING: "a finished move is being undone, back to the source",
    TaskState.RESIZE_CONFIRMING: "a finished move is being confirmed and the source cleaned up",
    TaskState.REBOOTING: "a soft reboot is under way on the host",
    TaskState.REBOOT_PENDING: "a soft reboot was accepted and has not reached the host yet",
    TaskState.REBOOT_STARTED: "the host has started the soft reboot",
    TaskState.REBOOTING_HARD: "a hard reboot is under way on the host",
    TaskState.REBOOT_PENDING_HARD: "a hard reboot was accepted and has not reached the host yet",
    TaskState.REBOOT_STARTED_HARD: "the host has started the hard reboot",
    TaskState.PAUSING: "the guest is being paused",
    TaskState.UNPAUSING: "the guest is being unpaused",
    TaskState.SUSPENDING: "the guest is being suspended",
    TaskState.RESUMING: "the guest is being resumed from suspension",
    TaskState.POWERING_OFF: "the guest is being shut off",
    TaskState.POWERING_ON: "the guest is being started",
    TaskState.RESCUING: "the guest is being restarted from a rescue image",
    TaskState.UNRESCUING: "the guest is being restarted from its own disk again",
    TaskState.REBUILDING: "the guest's disk is being re-created from an image",
    TaskState.REBUILD_BLOCK_DEVICE_MAPPING: "the rebuilt guest's volumes are being prepared",
    TaskState.REBUILD_SPAWNING: "the rebuilt guest is being created and started",
    TaskState.MIGRATING: "the running guest is being live-migrated to another host",
    TaskState.DELETING: "the instance is being deleted",
    TaskState.SOFT_DELETING: "the instance is being soft-deleted",
    TaskState.RESTORING: "a soft-deleted instance is being brought back",
    TaskState.SHELVING: "the guest is being shut off to be shelved",
    TaskState.SHELVING_IMAGE_PENDING_UPLOAD: "the shelve snapshot was taken and waits to be "
                                             "uploaded",
    TaskState.SHELVING_IMAGE_UPLOADING: "the shelve snapshot is being uploaded",
    TaskState.SHELVING_OFFLOADING: "the shelved guest is being removed from its host",
    TaskState.UNSHELVING: "the shelved instance is being started again",
}

#: The task states grouped by the operation that sets them, under the headings and in
#: the order of ``nova/compute/task_states.py`` (Nova's method names, which are not
#: all catalogue operations: Nova's resize group also serves a cold migration).
TASK_STATES_BY_OPERATION: dict[str, tuple[TaskState, ...]] = {
    "create": (TaskState.SCHEDULING, TaskState.BLOCK_DEVICE_MAPPING, TaskState.NETWORKING,
               TaskState.SPAWNING),
    "snapshot": (TaskState.IMAGE_SNAPSHOT, TaskState.IMAGE_SNAPSHOT_PENDING,
                 TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_UPLOADING),
    "backup": (TaskState.IMAGE_BACKUP,),
    "set_admin_password": (TaskState.UPDATING_PASSWORD,),
    "resize": (TaskState.RESIZE_PREP, TaskState.RESIZE_MIGRATING, TaskState.RESIZE_MIGRATED,
               TaskState.RESIZE_FINISH),
    "revert_resize": (TaskState.RESIZE_REVERTING,),
    "confirm_resize": (TaskState.RESIZE_CONFIRMING,),
    "reboot": (TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED,
               TaskState.REBOOTING_HARD, TaskState.REBOOT_PENDING_HARD,
               TaskState.REBOOT_STARTED_HARD),
    "pause": (TaskState.PAUSING,),
    "unpause": (TaskState.UNPAUSING,),
    "suspend": (TaskState.SUSPENDING,),
    "resume": (TaskState.RESUMING,),
    "power_off": (TaskState.POWERING_OFF,),
    "power_on": (TaskState.POWERING_ON,),
    "rescue": (TaskState.RESCUING,),
    "unrescue": (TaskState.UNRESCUING,),
    "rebuild": (TaskState.REBUILDING, TaskState.REBUILD_BLOCK_DEVICE_MAPPING,
                TaskState.REBUILD_SPAWNING),
    "live_migrate": (TaskState.MIGRATING,),
    "delete": (TaskState.DELETING,),
    "soft_delete": (TaskState.SOFT_DELETING,),
    "restore": (TaskState.RESTORING,),
    "shelve": (TaskState.SHELVING, TaskState.SHELVING_IMAGE_PENDING_UPLOAD,
               TaskState.SHELVING_IMAGE_UPLOADING),
    "shelve_offload": (TaskState.SHELVING_OFFLOADING,),
    "unshelve": (TaskState.UNSHELVING,),
}


#: A task_state value: a member, or ``None`` for "no task in progress".
Task = TaskState | None

NO_TASK: frozenset[Task] = frozenset({None})

# Nova's named groups (nova/compute/vm_states.py, nova/compute/task_states.py).
ALLOW_SOFT_REBOOT = frozenset({VmState.ACTIVE})
ALLOW_HARD_REBOOT = ALLOW_SOFT_REBOOT | {
    VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED, VmState.ERROR}
ALLOW_TRIGGER_CRASH_DUMP = frozenset({
    VmState.ACTIVE, VmState.PAUSED, VmState.RESCUED, VmState.RESIZED, VmState.ERROR})
ALLOW_REBOOT: frozenset[Task] = frozenset({
    None, TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED,
    TaskState.RESUMING, TaskState.REBOOTING_HARD, TaskState.UNPAUSING,
    TaskState.PAUSING, TaskState.SUSPENDING})
SOFT_REBOOT_STATES: frozenset[Task] = frozenset({
    TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED})
HARD_REBOOT_STATES: frozenset[Task] = frozenset({
    TaskState.REBOOTING_HARD, TaskState.REBOOT_PENDING_HARD, TaskState.REBOOT_STARTED_HARD})
#: Nova's ``task_states.rebuild_states`` and ``resizing_states``
REBUILD_STATES: frozenset[Task] = frozenset({
    TaskState.REBUILDING, TaskState.REBUILD_BLOCK_DEVICE_MAPPING, TaskState.REBUILD_SPAWNING})
RESIZING_STATES: frozenset[Task] = frozenset({
    TaskState.RESIZE_PREP, TaskState.RESIZE_MIGRATING, TaskState.RESIZE_MIGRATED,
    TaskState.RESIZE_FINISH})


def task_label(task: Task) -> str:
    """How a task_state is printed: Nova's string, or ``None``."""
    return "None" if task is None else task.value


def parse_task(text: str) -> Task:
    return None if text in ("None", "none", "") else TaskState(text)


class MigrationStatus(StrEnum):
    """``migration.status`` values Nova writes (``nova/objects/migration.py`` users)."""

    ACCEPTED = "accepted"
    PRE_MIGRATING = "pre-migrating"
    MIGRATING = "migrating"
    POST_MIGRATING = "post-migrating"
    FINISHED = "finished"
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    REVERTING = "reverting"
    REVERTED = "reverted"
    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    DONE = "done"
    ERROR = "error"
    FAILED = "failed"


class MigrationType(StrEnum):
    """``migration.migration_type``."""

    MIGRATION = "migration"
    RESIZE = "resize"
    LIVE_MIGRATION = "live-migration"
    EVACUATION = "evacuation"


#: Statuses after which a migration waits for nothing. An evacuation stays ``done``
#: (not final) until its source compute restarts and cleans up.
MIGRATION_FINAL = frozenset({
    MigrationStatus.CONFIRMED, MigrationStatus.REVERTED, MigrationStatus.COMPLETED,
    MigrationStatus.CANCELLED, MigrationStatus.ERROR, MigrationStatus.FAILED})
