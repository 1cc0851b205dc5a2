"""The cluster's resource effects: migration records, the allocations and flavor
changes the catalogue declares (``Alloc``), and each compute's resource tracker.
"""

from __future__ import annotations

import dataclasses

from model.cluster_compat import ResourceClass
from model.cluster_records import RESOURCE_CLASSES, name_order as _num
from model.cluster_results import SCHEDULING_ALLOCS
from model.cluster_state import FlavorDrop, MigrationErrorCause, UncountedDrop, Work
from model.lifecycle import Instance, MigrationRecord
from model.operation import Alloc, Branch, HostEffect, Migration, SpecFlavor, Track
from model.resource_tracker import (
    STALE_RECORD, TrackedInstance, TrackedMigration, Tracker, Usage,
)
from model.states import (
    REBUILD_STATES, RESIZING_STATES, MigrationStatus as MS, MigrationType, TaskState,
    VmState,
)


#: what the audit records as the cause of a record it puts in error (``STALE_RECORD``)
AUDIT_ERROR = MigrationErrorCause("update_available_resource", "audit", "stale_record")

#: the statuses the tracker's audit leaves out (``migration_get_in_progress_and_error``:
#: error stays in)
_DROPS = frozenset({Track.DROP_MOVE_CLAIM, Track.DROP_MOVE_CLAIM_AT_SOURCE,
                    Track.DROP_MOVE_CLAIM_AT_DEST, Track.ABORT_INSTANCE_CLAIM})


_NOT_IN_PROGRESS = frozenset({MS.CONFIRMED, MS.REVERTED, MS.FAILED, MS.COMPLETED,
                              MS.CANCELLED, MS.DONE})


#: a chain's ``migration`` when its handler holds no record (``Resources.bind_record``)
NO_RECORD = ""


#: (``_instance_in_resize_state``)
_MOVING_TASKS = RESIZING_STATES | REBUILD_STATES


def _below_reserved(tracker: Tracker, reserved: Usage) -> tuple[int, int, int]:
    """What a tracker counts for its instances and moves (its totals less reserved)."""
    return (tracker.vcpus_used - reserved.vcpus, tracker.memory_mb_used - reserved.memory_mb,
            tracker.local_gb_used - reserved.disk_gb)


class Resources:
    """Migrations, allocations, flavors and the resource trackers."""

    def create_migration(self, inst: Instance, kind: MigrationType, status: MS,
                          source: str | None, dest: str | None, uuid: str | None = None,
                          new_flavor: str | None = None) -> MigrationRecord:
        uuid = uuid or self.next_name("mig")
        record = MigrationRecord(uuid, inst.uuid, kind, status, source, dest,
                                 old_flavor=inst.flavor, new_flavor=new_flavor or inst.flavor)
        self.migrations[uuid] = record
        inst.migration = record
        return record

    def bind_record(self, work: Work, outcome: str) -> Work:
        """``Step.record``: the migration record the step's handler gets, before its
        outcome (the work item, its context changed, is stored in place).

        A lookup by status (``COND.rebuild_instance``:
        ``Migration.get_by_instance_and_status``) takes the first of the instance's
        records in that status (the query's first row, with no order asked for: here
        the oldest), which may be another request's; finding none, the chain goes on
        holding none (``unheld``). A move claim (``RT._move_claim``) takes the record
        it holds
        (``RT._claim_existing_migration``: claimed, this host the destination) or,
        holding none, makes one (``RT._create_migration``) that the instance's move
        counts from now on but that the handler never holds, so the chain's declared
        statuses are not written to it (``CM._set_migration_status`` and
        ``RT.finish_evacuation`` are given None). Nothing is bound for an item that
        will not be delivered (its compute is down, or the outcome is undeclared) or
        whose instance is deleted."""
        step = self.lc.operation(work.operation).step(work.step)
        binding = step.record
        if binding is None or work.get("batch"):
            return work
        inst = self.instances.get(work.instance)
        if (inst is None or inst.vm_state is VmState.DELETED
                or (work.target is not None and not self.service_is_up(work.target))
                or all(o.name != outcome for o in step.outcomes)):
            return work
        changes: dict = {}
        if binding.status is not None:
            found = min((m for m in self.migrations.values()
                         if m.instance_uuid == inst.uuid and m.status is binding.status),
                        key=lambda m: _num(m.uuid), default=None)
            changes = ({"migration": found.uuid, "unheld": None} if found is not None
                       else {"migration": NO_RECORD, "unheld": True,
                             "requested": work.get("migration") or None})
        if binding.create is not None and binding.claimed is not None:
            held = None if work.get("unheld") else self.migrations.get(work.get("migration"))
            if held is not None:
                held.status, held.dest = binding.claimed, work.target
            else:
                record = self.create_migration(inst, binding.create, binding.claimed,
                                               inst.host, work.target)
                self.claimed_records[record.uuid] = work.get("requested") or ""
                changes = {"migration": record.uuid, "unheld": True}
        if not changes:
            return work
        bound = dataclasses.replace(work, context=work.with_context(**changes))
        self.work[work.id] = bound
        return bound

    def reused_migration(self, inst: Instance, change: Migration | None
                         ) -> MigrationRecord | None:
        """The record a creating change takes instead of a new one (``Migration.reuses``):
        ``MigrationTask._preallocate_migration`` asks for the instance's records of the
        move's type in that status (``MigrationList.get_by_filters``) and takes the
        first, so two cold moves of one instance in flight at once share one record."""
        if change is None or change.create is None or change.reuses is None:
            return None
        found = [m for m in self.migrations.values()
                 if m.instance_uuid == inst.uuid and m.migration_type is change.create
                 and m.status is change.reuses]
        return min(found, key=lambda m: _num(m.uuid)) if found else None

    def change_migration(self, inst: Instance, change: Migration, work: Work,
                          outcome: str) -> None:
        """A step's change to the instance's migration: its status, and the
        destination when the step records it; none to a record the chain's handler
        does not hold (``bind_record``)."""
        if work.get("unheld"):
            return
        self.set_migration_status(inst, change.status, work.operation, work.step, outcome)
        if change.records_dest and inst.migration is not None:
            inst.migration.dest = work.get("dest")

    def set_migration_status(self, inst: Instance, status: MS, operation: str, step: str,
                              outcome: str) -> None:
        if inst.migration is not None:
            inst.migration.status = status
            if status is MS.ERROR:
                self.migration_errors[inst.migration.uuid] = MigrationErrorCause(
                    operation, step, outcome)

    def apply_allocs(self, inst: Instance, branch: Branch, skip: frozenset | tuple,
                      before_host: str | None) -> None:
        mig = inst.migration
        for effect in branch.alloc:
            if effect in skip:
                continue
            if effect is Alloc.DELETE_INSTANCE:
                self.ledger.delete_allocations(inst.uuid)
            elif effect is Alloc.DELETE_MIGRATION:
                if mig is not None:
                    self.ledger.delete_allocations(mig.uuid)
            elif effect is Alloc.REVERT_MIGRATION_TO_INSTANCE:
                # one POST /allocations (model.operation.BATCHED_WRITES); like
                # CM._revert_allocation, nothing is done when Placement refuses it
                if mig is not None and self.ledger.allocations_of(mig.uuid):
                    self.ledger.move_allocations(mig.uuid, inst.uuid)
            elif effect is Alloc.REMOVE_DEST_FROM_INSTANCE:
                if mig is not None and mig.dest is not None and mig.dest != mig.source:
                    self.ledger.remove_provider_from_consumer(inst.uuid, mig.dest)
            elif effect is Alloc.REMOVE_SOURCE_FROM_INSTANCE:
                if mig is not None and mig.source is not None and mig.dest != mig.source:
                    self.ledger.remove_provider_from_consumer(inst.uuid, mig.source)
            elif effect is Alloc.REMOVE_HOST_FROM_INSTANCE:
                if inst.host is not None:
                    self.ledger.remove_provider_from_consumer(inst.uuid, inst.host)
            elif effect in SCHEDULING_ALLOCS:  # pragma: no cover - done by schedule
                raise AssertionError(f"{effect} outside scheduling")

    def apply_flavor(self, inst: Instance, branch: Branch) -> None:
        """Resize: the new flavor once finished; the old one back on a revert."""
        mig = inst.migration
        if mig is None or mig.migration_type is not MigrationType.RESIZE:
            return
        if branch.migration is not None and branch.migration.status is MS.FINISHED:
            inst.flavor = mig.new_flavor
        if Alloc.DELETE_MIGRATION in branch.alloc:
            # Dropping the migration's old-flavor allocation leaves the instance with the
            # destination's: CM._finish_resize has put the new flavor on the instance
            # before anything on the destination can fail, and Instance.save writes the
            # flavor before its task_state compare-and-swap, so even a preempted
            # finish_resize (CM.finish_resize -> _delete_allocation_after_move) leaves
            # the new flavor behind.
            inst.flavor = mig.new_flavor
        if branch.host is HostEffect.SET_SOURCE or branch.old_flavor:
            # (CM._finish_revert_resize restores the old flavor with the host, before
            # it gives the allocation back; a move that fails before finish_resize
            # never changed it)
            inst.flavor = mig.old_flavor
        # (the RequestSpec's flavor is kept only while it is not the instance's own)
        self.set_spec_flavor(inst, self.info[inst.uuid].spec_flavor)

    def set_spec_flavor(self, inst: Instance, flavor: str | None) -> None:
        """The instance's RequestSpec now holds ``flavor`` (None: the instance's own)."""
        kept = None if flavor == inst.flavor else flavor
        if self.info[inst.uuid].spec_flavor != kept:
            self.info[inst.uuid] = dataclasses.replace(self.info[inst.uuid],
                                                       spec_flavor=kept)

    def requested_flavor(self, inst: Instance, work: Work) -> str:
        """The flavor a scheduling step asks for: the request's new flavor (a resize),
        else the RequestSpec's (``SpecFlavor``: a cold migration sets it to the
        instance's own, the other moves read it as it was saved)."""
        if work.get("flavor"):
            return work.get("flavor")
        if self.lc.operation(work.operation).spec_flavor is SpecFlavor.SETS:
            return inst.flavor
        return self.info[inst.uuid].spec_flavor or inst.flavor

    def reserved_usage(self, host: str) -> Usage:
        """What the compute counts as used before any instance: its reserved amounts."""
        base = self.base_inventories[host]
        cpu, mem, disk = (base.get(ResourceClass(rc)) for rc in RESOURCE_CLASSES)
        return Usage(cpu.reserved if cpu else 0, mem.reserved if mem else 0,
                     disk.reserved if disk else 0)

    def tracker_usage(self, flavor: str, inst: Instance) -> Usage:
        """A flavor's usage as the tracker counts it (``RT._get_usage_dict``)."""
        f = self.flavors[flavor]
        root = 0 if self.volume_backed(inst.image) else f.root_gb
        return Usage(f.vcpus, f.memory_mb, root + f.ephemeral_gb, f.swap)

    def _tracked(self, inst: Instance) -> TrackedInstance:
        task = inst.task_state
        return TrackedInstance(inst.uuid, self.tracker_usage(inst.flavor, inst),
                               inst.vm_state.value, None if task is None else task.value,
                               self._removable(inst))

    @staticmethod
    def _removable(inst: Instance) -> bool:
        """``vm_states.allow_resource_removal``: deleted, or offloaded and not spawning."""
        return inst.vm_state is VmState.DELETED or (
            inst.vm_state is VmState.SHELVED_OFFLOADED
            and inst.task_state is not TaskState.SPAWNING)

    def track(self, inst: Instance, branch: Branch, here: str | None,
               before_host: str | None, where: tuple[str, str]) -> None:
        """The branch's resource-tracker calls (``Branch.tracker``), each on the
        compute that makes it: the step's own host, or the migration's source or
        destination for the drops that name one. A compute that is down makes none."""
        mig = inst.migration
        operation, step = where
        for call in branch.tracker:
            if call is Track.DROP_MOVE_CLAIM_AT_SOURCE:
                host = mig.source if mig is not None else None
            elif call in (Track.DROP_MOVE_CLAIM_AT_DEST, Track.DROP_MOVE_CLAIM):
                host = mig.dest if mig is not None else None
            else:
                host = here
            if host not in self.trackers or not self.service_is_up(host):
                continue
            tracker = self.trackers[host]
            arrival = self.uncounted_arrivals.get(inst.uuid)
            # (a drop at the source takes off the instance's own count, the old flavor:
            # a same-host resize's claim counts only its move, the new flavor)
            counted = (tracker.tracks(inst.uuid) if call is Track.DROP_MOVE_CLAIM_AT_SOURCE
                       else self.tracker_counts(tracker, inst.uuid))
            if call in _DROPS and (tracker.never_counted(inst.uuid) or (
                    arrival is not None and arrival[0] == host and not counted)):
                self.uncounted_drops[host] = UncountedDrop(
                    inst.uuid, operation, step,
                    arrival[1] if arrival is not None and arrival[0] == host else None)
            before = tracker
            # (the flavor a removal takes off: the instance's own, or the one a drop is given)
            taken = inst.flavor
            if call is Track.INSTANCE_CLAIM:
                tracker = tracker.instance_claim(self._tracked(inst))
            elif call is Track.ABORT_INSTANCE_CLAIM:
                tracker = tracker.abort_instance_claim(self._tracked(inst))
            elif call is Track.UPDATE_USAGE:
                # (CM._update_resource_tracker: only the compute the instance is on)
                if before_host != host:
                    continue
                tracker = tracker.update_usage(self._tracked(inst))
            elif call is Track.BUILD_FAILED:
                tracker = tracker.build_failed()
            elif call is Track.BUILD_SUCCEEDED:
                tracker = tracker.build_succeeded()
            elif call is Track.AUDIT:
                self.update_available_resource(host)
                continue
            elif call is Track.FINISH_EVACUATION:
                self.migration_contexts.pop(inst.uuid, None)
                continue
            elif mig is None:
                continue
            elif call is Track.MOVE_CLAIM:
                tracker = tracker.move_claim(inst.uuid, mig.uuid, self.tracker_usage(
                    mig.new_flavor or inst.flavor, inst))
                # (RT._move_claim: instance.migration_context names the record it took)
                self.migration_contexts[inst.uuid] = mig.uuid
            elif call is Track.DROP_MOVE_CLAIM_AT_SOURCE:
                taken = mig.old_flavor or inst.flavor
                tracker = tracker.drop_move_claim(inst.uuid, self.tracker_usage(taken, inst))
            else:  # at the destination, or the move claim's abort there
                taken = mig.new_flavor or inst.flavor
                tracker = tracker.drop_move_claim(inst.uuid, self.tracker_usage(taken, inst))
            if (call in _DROPS and host not in self.uncounted_drops
                    and min(_below_reserved(tracker, self.reserved_usage(host))) < 0):
                self.negative_drops[host] = UncountedDrop(inst.uuid, operation, step, None)
            self._note_counted(host, before, tracker, inst, taken, where)
            self.trackers[host] = tracker

    def _note_counted(self, host: str, before: Tracker, after: Tracker, inst: Instance,
                      taken: str, where: tuple[str, str]) -> None:
        """``counted_flavors``: the flavor the host's tracker counts the instance at,
        from the call that starts counting it (``tracked_instances``) until the one that
        stops; a stop that takes off another flavor is a ``flavor_drops``, unless the
        tracker counted a move of the instance too (that drop is the move's)."""
        if before.tracks(inst.uuid) == after.tracks(inst.uuid):
            return
        counted = dict(self.counted_flavors.get(host, ()))
        if after.tracks(inst.uuid):
            counted[inst.uuid] = inst.flavor
        else:
            was = counted.pop(inst.uuid, None)
            if was is not None and was != taken and not before.tracks_move_of(inst.uuid):
                self.flavor_drops[host] = FlavorDrop(inst.uuid, *where, was, taken)
        self._set_counted(host, counted)

    def _set_counted(self, host: str, counted: dict[str, str]) -> None:
        if counted:
            self.counted_flavors[host] = tuple(sorted(counted.items()))
        else:
            self.counted_flavors.pop(host, None)

    @staticmethod
    def tracker_counts(tracker: Tracker, uuid: str) -> bool:
        """Whether the tracker counts the instance or its move now."""
        return tracker.tracks(uuid) or tracker.tracks_move_of(uuid)

    def migration_context(self, inst: Instance) -> MigrationRecord | None:
        """The record the instance's migration context names: the one its last move
        claim took (``RT._move_claim``), until that move drops it (the claim's abort,
        RT.finish_evacuation, the confirm or the revert): while the record is in
        progress or in error."""
        mig = self.migrations.get(self.migration_contexts.get(inst.uuid, ""))
        return None if mig is None or mig.status in _NOT_IN_PROGRESS else mig

    @staticmethod
    def _moving(inst: Instance) -> bool:
        """``_instance_in_resize_state`` or ``_instance_is_live_migrating``."""
        vm, task = inst.vm_state, inst.task_state
        return (vm is VmState.RESIZED
                or (vm in (VmState.ACTIVE, VmState.STOPPED) and task in _MOVING_TASKS)
                or (task is TaskState.MIGRATING and vm in (VmState.ACTIVE, VmState.PAUSED)))

    def audit_records(self, host: str) -> list[str]:
        """``STALE_RECORD``: the host's audit gives the status it declares to the
        latest record in progress or in error with the host at one end of each instance
        that is moving, when the instance's migration context names another record
        (an evacuation's record its destination's claim made and nothing of its chain
        holds, say, once a later move has claimed). The records it changed."""
        latest: dict[str, MigrationRecord] = {}
        for mig in sorted(self.migrations.values(), key=lambda m: _num(m.uuid)):
            if mig.status not in _NOT_IN_PROGRESS and host in (mig.source, mig.dest):
                latest[mig.instance_uuid] = mig
        changed = []
        for uuid, mig in latest.items():
            inst = self.instances.get(uuid)
            if inst is None or not self._moving(inst):
                continue
            context = self.migration_context(inst)
            if context is not None and context is not mig:
                mig.status = STALE_RECORD.status
                if mig.status is MS.ERROR:
                    self.migration_errors[mig.uuid] = AUDIT_ERROR
                changed.append(mig.uuid)
        return changed

    def audit_tracker(self, host: str) -> None:
        """``RT._update_available_resource``: the tracker counts again."""
        self.trackers[host] = self.audited_tracker(host)
        self._set_counted(host, {u: self.instances[u].flavor
                                 for u in self.trackers[host].instances})
        self.uncounted_drops.pop(host, None)
        self.negative_drops.pop(host, None)
        self.flavor_drops.pop(host, None)
        for uuid in [u for u, (h, _) in self.uncounted_arrivals.items() if h == host]:
            del self.uncounted_arrivals[uuid]

    def audited_tracker(self, host: str) -> Tracker:
        """The host's tracker as its resource audit would leave it now: counted again
        from the instances on the host and the moves in progress (or in error) with the
        host at one end, the latest one per instance (nothing changes)."""
        on_host = [i for _, i in self.placed_instances()
                   if i.host == host and not self._removable(i)]
        counted = {i.uuid for i in on_host}
        latest: dict[str, MigrationRecord] = {}
        for mig in sorted(self.migrations.values(), key=lambda m: _num(m.uuid)):
            if mig.status not in _NOT_IN_PROGRESS and host in (mig.source, mig.dest):
                latest[mig.instance_uuid] = mig
        moves = []
        for uuid, mig in latest.items():
            inst = self.instances.get(uuid)
            if inst is None:
                continue
            if inst.migration is not None and inst.migration is not mig:
                # a record the instance's own move no longer points at is stale: the
                # audit skips it (``_update_usage_from_migrations``)
                continue
            moving = self._moving(inst)
            context = self.migration_context(inst)
            if moving and context is not None and context is not mig:
                # the record the audit puts in error (``audit_records``): it counts
                # nothing for it (``_update_usage_from_migrations`` goes on to the next)
                continue
            moves.append(TrackedMigration(
                uuid, mig.uuid, incoming=mig.dest == host, outbound=mig.source == host,
                usage_new=self.tracker_usage(mig.new_flavor or inst.flavor, inst),
                usage_old=self.tracker_usage(mig.old_flavor or inst.flavor, inst),
                tracked=uuid in counted, instance_moving=moving,
                flavor_is_old=inst.flavor == (mig.old_flavor or inst.flavor)))
        return self.trackers[host].audit(
            self.reserved_usage(host), [self._tracked(i) for i in on_host], moves)
