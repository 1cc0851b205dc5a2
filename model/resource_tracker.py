"""The compute service's own view of its usage: Nova's resource tracker.

Each nova-compute keeps, beside Placement, a count of what its instances and the
moves in flight use (``nova/compute/resource_tracker.py: ResourceTracker``), and
saves it to its ``ComputeNode`` record, which is all the scheduler's ``HostState``
reads (``HostState._update_from_compute_node``): free RAM and disk, vCPUs used, the
instance count and the I/O workload from the node's stats, the failed-build counter,
and the node's own allocation ratios. The two views are kept apart on purpose:
Placement decides capacity, the tracker's record is what the weighers and the
stats-based filters see.

The tracker is incremental. A claim adds a flavor's usage and starts tracking the
instance (``instance_claim``) or the move (``resize_claim``, ``rebuild_claim``); a
drop takes a flavor's usage off again (``drop_move_claim*``, ``abort_instance_claim``,
``update_usage`` of a deleted or offloaded instance); and the periodic
``update_available_resource`` throws the count away and works it out again from the
instances on the host and the moves in progress there. Between two audits the count
may therefore differ from what an audit would find, as it does in Nova.

A ``Tracker`` is a value (tuples of plain values): every call returns a new one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from model.states import MigrationStatus, TaskState, VmState

__all__ = [
    "IO_TASK_STATES",
    "STALE_RECORD",
    "StaleRecord",
    "TrackedInstance",
    "TrackedMigration",
    "Tracker",
    "Usage",
]

#: the task states the stats count as I/O work (``Stats.io_workload``), beside
#: instances in vm_state building
IO_TASK_STATES = frozenset(t.value for t in (
    TaskState.RESIZE_MIGRATING, TaskState.REBUILDING, TaskState.RESIZE_PREP,
    TaskState.IMAGE_SNAPSHOT, TaskState.IMAGE_BACKUP, TaskState.RESCUING,
    TaskState.UNSHELVING))
_BUILDING = VmState.BUILDING.value


@dataclass(frozen=True)
class StaleRecord:
    """What the resource audit does to a migration record that is not the instance's
    current move: for each instance resizing, rebuilding or live-migrating, it takes
    the latest of its records in progress or in error with this host at one end
    (``MigrationList.get_in_progress_and_error``) and, when the instance's migration
    context names another record, gives that record ``status`` and does not count it.
    An instance with no migration context has its record counted (``nova``)."""

    status: MigrationStatus
    nova: str


STALE_RECORD = StaleRecord(
    MigrationStatus.ERROR,
    "RT._update_available_resource -> RT._update_usage_from_migrations: "
    "_instance_in_resize_state / _instance_is_live_migrating, the most recently updated "
    "record per instance, then instance.migration_context.migration_id != migration.id: "
    "migration.status = 'error', migration.save()")


@dataclass(frozen=True, slots=True)
class Usage:
    """What one flavor uses on a compute node, as the tracker counts it
    (``ResourceTracker._get_usage_dict``: no root disk for a volume-backed instance;
    root and ephemeral disk in GB, swap in MB)."""

    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    swap_mb: int = 0

    def signed(self, sign: int) -> Usage:
        return Usage(sign * self.vcpus, sign * self.memory_mb, sign * self.disk_gb,
                     sign * self.swap_mb)


@dataclass(frozen=True, slots=True)
class TrackedInstance:
    """An instance as the tracker reads it: its usage and states, and whether those
    states let its resources go (``vm_states.allow_resource_removal``: deleted, or
    offloaded and not spawning)."""

    uuid: str
    usage: Usage
    vm_state: str
    task_state: str | None
    removable: bool = False


@dataclass(frozen=True, slots=True)
class TrackedMigration:
    """A move in progress (or in error) with this host at one end, as the audit reads
    it: ``incoming``/``outbound`` say which end; ``usage_new``/``usage_old`` the
    usage of the flavor the move goes to and comes from; ``tracked`` whether the
    instance counts here already (it is on this host and not removable);
    ``instance_moving`` whether the instance is in a resize, rebuild or live-migration
    state (``_instance_in_resize_state`` / ``_instance_is_live_migrating``);
    ``flavor_is_old`` whether the instance still carries the flavor the move started
    from (same-host resize, ``_update_usage_from_migration``)."""

    instance_uuid: str
    migration_uuid: str
    incoming: bool
    outbound: bool
    usage_new: Usage
    usage_old: Usage | None
    tracked: bool
    instance_moving: bool
    flavor_is_old: bool


@dataclass(frozen=True, slots=True)
class Tracker:
    """One compute node's tracker: its count, what it tracks, its stats, and the
    record it last saved for the scheduler.

    ``saved`` is ``(vcpus_used, memory_mb_used, local_gb_used, num_instances,
    io_workload, failed_builds)``; ``version`` goes up each time the tracker saves
    a record unlike the last (``ResourceTracker._update``: ``_resource_change`` then
    ``compute_node.save()``), which is when the scheduler's cached ``HostState``
    of the node is refreshed.
    """

    vcpus_used: int
    memory_mb_used: int
    local_gb_used: int
    #: instance uuids counted in the totals (``tracked_instances``), sorted
    instances: tuple[str, ...] = ()
    #: (instance uuid, migration uuid) of the moves counted (``tracked_migrations``)
    migrations: tuple[tuple[str, str], ...] = ()
    #: the stats' last sight of each instance: (uuid, vm_state, task_state)
    seen: tuple[tuple[str, str, str | None], ...] = ()
    #: ``Stats.build_failed`` / ``build_succeeded``: consecutive failed builds
    failed_builds: int = 0
    saved: tuple = ()
    version: int = 0
    #: a history variable: the instances whose usage a drop took off since the last
    #: audit (what tells a drop made twice from one of an instance never counted)
    released: tuple[str, ...] = ()

    # ------------------------------------------------------------------ construction

    @classmethod
    def empty(cls, reserved: Usage) -> Tracker:
        """A node's tracker at first start: the reserved amounts are its usage
        (``reserved_host_cpus``, ``reserved_host_memory_mb``, ``reserved_host_disk_mb``)."""
        return cls(reserved.vcpus, reserved.memory_mb, reserved.disk_gb).save()

    def row(self) -> tuple:
        return (self.vcpus_used, self.memory_mb_used, self.local_gb_used, self.instances,
                self.migrations, self.seen, self.failed_builds, self.saved, self.version,
                self.released)

    @classmethod
    def from_row(cls, row: tuple) -> Tracker:
        return cls(*row)

    # ------------------------------------------------------------------ what is seen

    @property
    def num_instances(self) -> int:
        return len(self.seen)

    @property
    def io_workload(self) -> int:
        return sum(1 for _, vm, task in self.seen
                   if vm == _BUILDING or task in IO_TASK_STATES)

    def tracks(self, instance_uuid: str) -> bool:
        return instance_uuid in self.instances

    def tracks_move_of(self, instance_uuid: str) -> bool:
        return any(u == instance_uuid for u, _ in self.migrations)

    def never_counted(self, instance_uuid: str) -> bool:
        """Whether the tracker neither counts the instance or its move nor has let
        either go since its last audit."""
        return not (self.tracks(instance_uuid) or self.tracks_move_of(instance_uuid)
                    or instance_uuid in self.released)

    # ------------------------------------------------------------------ the calls

    def instance_claim(self, inst: TrackedInstance) -> Tracker:
        """``ResourceTracker.instance_claim``: count the instance here, then save."""
        return self._update_usage_from_instance(inst, removed=False).save()

    def abort_instance_claim(self, inst: TrackedInstance) -> Tracker:
        """``ResourceTracker.abort_instance_claim``: stop counting it, then save."""
        return self._update_usage_from_instance(inst, removed=True).save()

    def update_usage(self, inst: TrackedInstance) -> Tracker:
        """``ResourceTracker.update_usage``: an instance this tracker counts changed
        (its stats follow; it is removed when deleted or offloaded); one it does not
        count is left alone."""
        if not self.tracks(inst.uuid):
            return self
        return self._update_usage_from_instance(inst, removed=False).save()

    def move_claim(self, instance_uuid: str, migration_uuid: str, usage: Usage) -> Tracker:
        """``ResourceTracker._move_claim`` on the destination (``resize_claim``,
        ``rebuild_claim``): the incoming move's new flavor counts here from now on."""
        return dataclasses.replace(
            self._add(usage),
            migrations=_put(self.migrations, instance_uuid, migration_uuid)).save()

    def drop_move_claim(self, instance_uuid: str, usage: Usage | None) -> Tracker:
        """``ResourceTracker._drop_move_claim``: take ``usage`` off (when a flavor is
        known), stop tracking the move and the instance here."""
        out = self._add(usage.signed(-1)).save() if usage is not None else self
        return dataclasses.replace(
            out, migrations=tuple(m for m in out.migrations if m[0] != instance_uuid),
            instances=tuple(u for u in out.instances if u != instance_uuid),
            released=_added(out.released, instance_uuid))

    def build_failed(self) -> Tracker:
        """``ResourceTracker.build_failed``: counted in memory; the record shows it at
        the next save."""
        return dataclasses.replace(self, failed_builds=self.failed_builds + 1)

    def build_succeeded(self) -> Tracker:
        return dataclasses.replace(self, failed_builds=0)

    def started(self) -> Tracker:
        """The compute service starts again: its new ``ResourceTracker`` has new
        ``Stats``, so the failed-build count is 0 until a build fails there; the
        record shows it at the next save (the start's own audit)."""
        return dataclasses.replace(self, failed_builds=0)

    def audit(self, reserved: Usage, instances: Iterable[TrackedInstance],
              migrations: Iterable[TrackedMigration]) -> Tracker:
        """``ResourceTracker._update_available_resource``: start again from the
        reserved amounts, count every instance on the host that is not removable
        (``_update_usage_from_instances``), then every move in progress or in error
        with this host at one end whose instance is still moving
        (``_update_usage_from_migrations``), and save. The failed-build counter
        survives (``Stats.clear`` keeps it)."""
        out = Tracker(reserved.vcpus, reserved.memory_mb, reserved.disk_gb,
                      failed_builds=self.failed_builds, saved=self.saved,
                      version=self.version)
        for inst in instances:
            out = out._update_usage_from_instance(inst, removed=False)
        for mig in migrations:
            if not mig.instance_moving:
                continue
            out = out._update_usage_from_migration(mig)
        return out.save()

    # ------------------------------------------------------------------ internals

    def _update_usage_from_instance(self, inst: TrackedInstance, removed: bool) -> Tracker:
        """``ResourceTracker._update_usage_from_instance``: a new instance is counted,
        a tracked one that is removed is taken off (with the flavor it has now);
        the stats always take its current states."""
        new = inst.uuid not in self.instances
        gone = not new and (removed or inst.removable)
        out = self
        if new:
            # (as in Nova, even an abort or a removal of an instance it never counted)
            out = dataclasses.replace(out._add(inst.usage),
                                      instances=tuple(sorted((*out.instances, inst.uuid))))
        elif gone:
            out = dataclasses.replace(out._add(inst.usage.signed(-1)),
                                      instances=tuple(u for u in out.instances
                                                      if u != inst.uuid),
                                      released=_added(out.released, inst.uuid))
        # (Stats.update_stats_for_instance: a removal, or states that let resources go,
        # forget the instance; anything else records the states it has now)
        seen = tuple(s for s in out.seen if s[0] != inst.uuid)
        if not (gone or inst.removable):
            seen = tuple(sorted((*seen, (inst.uuid, inst.vm_state, inst.task_state)),
                                key=lambda s: s[0]))
        return dataclasses.replace(out, seen=seen)

    def _update_usage_from_migration(self, mig: TrackedMigration) -> Tracker:
        """``ResourceTracker._update_usage_from_migration``: a same-node resize holds
        the flavor the instance does not have yet (or, once resized, the old one for
        a revert); an incoming move of an instance not counted here holds the new
        flavor; an outbound one the old flavor (when the instance still knows it)."""
        if mig.incoming and mig.outbound:
            usage = mig.usage_new if mig.flavor_is_old else mig.usage_old
        elif mig.incoming and not mig.tracked:
            usage = mig.usage_new
        elif mig.outbound and not mig.tracked:
            usage = mig.usage_old
        else:
            return self
        if usage is None:
            return self
        return dataclasses.replace(
            self._add(usage),
            migrations=_put(self.migrations, mig.instance_uuid, mig.migration_uuid))

    def _add(self, usage: Usage) -> Tracker:
        # (ComputeNode.local_gb_used is an integer field: the swap's fraction of a GB
        # is cut off toward zero as ResourceTracker._update_usage adds it)
        disk = int(self.local_gb_used + usage.disk_gb)
        return dataclasses.replace(
            self, vcpus_used=self.vcpus_used + usage.vcpus,
            memory_mb_used=self.memory_mb_used + usage.memory_mb,
            local_gb_used=int(disk + usage.swap_mb / 1024))

    def save(self) -> Tracker:
        """``ResourceTracker._update``: save the record when it changed."""
        record = (self.vcpus_used, self.memory_mb_used, self.local_gb_used,
                  self.num_instances, self.io_workload, self.failed_builds)
        if record == self.saved:
            return self
        return dataclasses.replace(self, saved=record, version=self.version + 1)


def _added(uuids: tuple[str, ...], uuid: str) -> tuple[str, ...]:
    return uuids if uuid in uuids else tuple(sorted((*uuids, uuid)))


def _put(pairs: tuple[tuple[str, str], ...], key: str, value: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({**dict(pairs), key: value}.items()))
