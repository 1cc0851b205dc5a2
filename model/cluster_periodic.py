"""The cluster's periodic tasks: the resource audit, the unconfirmed-resize and
shelved-instance pollers, the queued-delete reclaim and the power-state sync.
"""

from __future__ import annotations


from model.cluster_records import name_order as _num
from model.cluster_results import Result, vm_of as _vm_of
from model.lifecycle import ADMIN, Instance
from model.operation import PeriodicTask, the_operation
from model.states import MigrationStatus as MS, VmState


class PeriodicTasks:
    """Periodic tasks."""

    def update_available_resource(self, host: str) -> list[str]:
        """``RT.update_available_resource``: the records of moves that are not their
        instance's current one get the status the audit gives them
        (``Resources.audit_records``), the tracker counts again, and
        ``RT._remove_deleted_instances_allocations`` frees deleted instances'
        allocations on the host."""
        if self.service_is_up(host):
            self.audit_records(host)
            self.audit_tracker(host)
        removed = []
        for consumer in list(self.ledger.consumers()):
            inst = self.instances.get(consumer)
            if inst is None or inst.vm_state is not VmState.DELETED:
                continue
            if host in self.ledger.allocations_of(consumer):
                self.ledger.delete_allocations(consumer)
                removed.append(consumer)
        return removed

    def poll_unconfirmed_resizes(self) -> list[Result]:
        """``CM._poll_unconfirmed_resizes``: auto-confirm when resize_confirm_window > 0."""
        if self.config_option("resize_confirm_window", 0) <= 0:
            return []
        out = []
        for mig in sorted(self.migrations.values(), key=lambda m: _num(m.uuid)):
            inst = self.instances.get(mig.instance_uuid)
            if (mig.status is MS.FINISHED and inst is not None and inst.migration is mig
                    and inst.vm_state is VmState.RESIZED and inst.task_state is None):
                out.append(self.request(
                    self._requested_by(PeriodicTask.POLL_UNCONFIRMED_RESIZES),
                    inst.uuid, ADMIN))
        return out

    def poll_shelved_instances(self) -> list[Result]:
        """``CM._poll_shelved_instances``: offload when shelved_offload_time > 0."""
        if self.shelved_offload_time <= 0:
            return []
        offload = self._requested_by(PeriodicTask.POLL_SHELVED_INSTANCES)
        return [self.request(offload, uuid, ADMIN)
                for uuid, inst in self._live()
                if inst.vm_state is VmState.SHELVED and inst.task_state is None]

    def reclaim_queued_deletes(self) -> list[Result]:
        """``CM._reclaim_queued_deletes``: delete soft-deleted instances (interval > 0).

        Nova runs ``_delete_instance`` inside the compute; here it is a delete request
        as admin, whose terminate step runs at the instance's host.
        """
        if self.config_option("reclaim_instance_interval", 0) <= 0:
            return []
        delete = self._requested_by(PeriodicTask.RECLAIM_QUEUED_DELETES)
        return [self.request(delete, uuid, ADMIN) for uuid, inst in self._live()
                if inst.vm_state is VmState.SOFT_DELETED and inst.task_state is None]

    def sync_power_states(self) -> list[Result]:
        """``CM._sync_instance_power_state``: only active instances found shut off change.

        Runs the catalogue's ``sync_power_state`` record for each active instance
        with no task whose host is up (Nova's periodic runs in the compute).
        """
        out = []
        for uuid, inst in self._live():
            result = self.sync_power_state(uuid, inst)
            if result is not None:
                out.append(result)
        return out

    def sync_power_state(self, uuid: str, inst: Instance) -> Result | None:
        """The catalogue's ``sync_power_state`` record for one instance, if it applies."""
        if inst.host is None:
            return None
        if not self.service_is_up(inst.host):
            return None
        sync = self._requested_by(PeriodicTask.SYNC_POWER_STATES)
        if self.lc.guard_failure_for(sync, inst) is not None:
            return None
        if not self.lc.may(sync, "api", "ok", inst):
            return None
        before_vm = _vm_of(inst)
        before_power = inst.power_state
        branch = self.lc.deliver(sync, "api", "ok", inst)
        if branch.then is None and inst.power_state is before_power:
            return None  # the record already says what the guest does: nothing saved
        self.note_vm_change(inst, before_vm, sync, "api", "ok", "periodic")
        self.after_api(sync, inst, branch, (), ADMIN, inst.host)
        return Result(True, None, f"{sync} {uuid}", uuid, branch)

    def _requested_by(self, task: PeriodicTask) -> str:
        """The operation the periodic task requests, as this cluster's catalogue says."""
        return the_operation(self.lc.operations, lambda op: op.requested_by is task,
                             f"requested by {task.value}").name

    def _live(self) -> list[tuple[str, Instance]]:
        return [(u, i) for u, i in sorted(self.instances.items(), key=lambda kv: _num(kv[0]))
                if i.vm_state is not VmState.DELETED]
