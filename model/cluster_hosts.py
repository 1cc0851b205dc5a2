"""Host and hypervisor events on the cluster: a compute service going down, coming
back (its recovery, ``model/cluster_recovery.py``) and restarting, a host
disabled and enabled, an operator's inventory change, a hypervisor event.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from model import errors
from model.cluster_compat import PlacementError, ResourceClass
from model.cluster_results import Result, vm_of as _vm_of, detached as _detached
from model.cluster_state import DiscardedStep, HostRecord, Work
from model.lifecycle import ADMIN, Instance
from model.operation import Branch


def _gone(work: list[Work]) -> str:
    """The words for the steps a stopped compute process took with it."""
    if not work:
        return ""
    return "; its handlers' next steps went with it: " + ", ".join(
        f"{w.instance} {w.operation}.{w.step}" for w in work)


class HostEvents:
    """Host events, recovery, inventory changes, hypervisor events."""

    def service_down(self, host: str) -> Result:
        """nova-compute stops. The RPC messages sent to it wait in its queue; the steps
        its handlers were to go on with (a work item carrying ``within``: no message
        is left for them) go with the process, each written down in
        ``discarded_steps``. ``CM.init_host`` recovers those instances from their
        vm_state and task_state when the service starts again."""
        record = self._host(host)
        if not record.up:
            return Result(True, None, f"{host} already down")
        record.up = False
        return Result(True, None, f"{host} compute service down" + _gone(self._stop(host)))

    def _stop(self, host: str) -> list[Work]:
        """Discard the host's queued steps that were to go on inside a handler."""
        gone = [self.work[wid] for wid in self.hosts[host].queue
                if self.work[wid].get("within")]
        for work in gone:
            self.dequeue(work)
            inst = self.instances[work.instance]
            task = inst.task_state
            discarded = DiscardedStep(work.operation, work.step, host,
                                      None if task is None else task.value,
                                      work.get("within"))
            self.discarded_steps[inst.uuid] = tuple(
                d for d in self.discarded_steps.get(inst.uuid, ()) if d != discarded
            ) + (discarded,)
            self.handler_lost[inst.uuid] = discarded
        return gone

    def service_up(self, host: str) -> Result:
        """nova-compute starts: ``CM.init_host`` (see model/cluster_recovery.py)."""
        from model.cluster_recovery import init_host
        record = self._host(host)
        was_up = record.up
        record.up = True
        if was_up:
            return Result(True, None, f"{host} already up")
        from model.catalogue import INIT_INSTANCE
        # A compute that starts has a new ResourceTracker (ComputeManager.__init__):
        # its Stats, the failed-build count with them, start empty.
        self.trackers[host] = self.trackers[host].started()
        before = {u: _vm_of(i) for u, i in self.instances.items() if i.host == host}
        done = init_host(self, host, self._apply_recovery)
        # (Service.start: ComputeManager.pre_start_hook runs the resource audit once
        # init_host is through)
        freed = self.update_available_resource(host)
        if freed:
            done.append(f"the resource audit freed the allocations of {', '.join(freed)}")
        if INIT_INSTANCE in self.lc.catalogue:
            for uuid, vm in before.items():
                self.note_vm_change(self.instances[uuid], vm, INIT_INSTANCE, "api", "ok",
                                     "recovery")
        return Result(True, None, f"{host} compute service up; " + ("; ".join(done) or
                                                                    "nothing to recover"))

    def _apply_recovery(self, inst: Instance, effects: Branch, before: str | None) -> None:
        """What a ``CM._init_instance`` branch does beyond the instance itself: the
        migration's status, the allocations and the flavor (``cluster_recovery``)."""
        from model.catalogue import INIT_INSTANCE
        if effects.migration is not None and effects.migration.create is None:
            self.set_migration_status(inst, effects.migration.status, INIT_INSTANCE, "api",
                                       "ok")
        self.apply_allocs(inst, effects, (), before)
        self.apply_flavor(inst, effects)

    def restart(self, host: str) -> Result:
        """nova-compute stops and starts again: ``service_down`` (its handlers' next
        steps go with it), then ``service_up`` (``CM.init_host``)."""
        record = self._host(host)
        gone = self._stop(host) if record.up else []
        record.up = False
        up = self.service_up(host)
        return dataclasses.replace(up, detail=up.detail + _gone(gone)) if gone else up

    def disable(self, host: str) -> Result:
        self._host(host).enabled = False
        return Result(True, None, f"{host} disabled")

    def enable(self, host: str) -> Result:
        self._host(host).enabled = True
        return Result(True, None, f"{host} enabled")

    def set_allocation_ratio(self, host: str, rc, ratio: float) -> Result:
        self._host(host)
        return self._change_inventory(host, rc, f"allocation_ratio={ratio}",
                                      allocation_ratio=ratio)

    def set_reserved(self, host: str, rc, amount: int) -> Result:
        self._host(host)
        return self._change_inventory(host, rc, f"reserved={amount}", reserved=amount)

    def _change_inventory(self, host: str, rc, words: str, **changes: Any) -> Result:
        """An operator's PUT of an inventory; Placement refuses a bad value (reserved
        above the total) or a class the provider has no inventory of, changing nothing."""
        rc = ResourceClass(rc)
        try:
            self.ledger.update_inventory(host, rc, **changes)
        except PlacementError as exc:
            error = errors.InvalidRequest(f"placement refused: {exc}")
            return Result(False, error, error.message)
        merged = dict(self.inventory_changes.get((host, str(rc)), ()))
        merged.update(changes)
        self.inventory_changes[(host, str(rc))] = tuple(sorted(merged.items()))
        return Result(True, None, f"{host} {rc} {words}")

    def _host(self, host: str) -> HostRecord:
        try:
            return self.hosts[host]
        except KeyError:
            raise errors.ComputeHostNotFound(f"no compute host {host!r}") from None

    def event(self, op: str, instance_uuid: str) -> Result:
        """A hypervisor event (``Kind.EVENT`` operation, e.g. ``guest_stopped``)."""
        try:
            inst = self.instance(instance_uuid)
            before_vm = _vm_of(inst)
            branch = self.lc.request(op, inst, ADMIN)
        except errors.NovaModelError as exc:
            return Result(False, _detached(exc), exc.message, instance_uuid)
        self.note_vm_change(inst, before_vm, op, "api", "ok", "event")
        self.after_api(op, inst, branch, (), ADMIN, inst.host)
        # CM.handle_lifecycle_event syncs the instance's power state at once
        # (CM._sync_instance_power_state), as the periodic task would later
        # (Nova 34, seen by conformance).
        synced = self.sync_power_state(instance_uuid, inst)
        return Result(True, None, f"{op} on {instance_uuid}"
                      + (f"; {synced.detail}" if synced else ""), instance_uuid, branch)
