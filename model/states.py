"""The three state variables Nova keeps per instance, under Nova's own names.

String values are exactly those of ``nova/objects/fields.py`` (``InstanceState``,
``InstanceTaskState``) and the power-state codes of ``nova/compute/power_state.py``.
Nothing else in the project spells a state name: everything refers to these members.
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
