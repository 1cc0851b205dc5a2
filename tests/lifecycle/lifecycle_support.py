"""Helpers for the lifecycle tests: build an instance in any state, snapshot it, drive it.

The instance factory writes the machine state directly (``state_name(vm, task)``)
and fills in what Nova would have for such an instance: a host, a launch time,
the power state the libvirt driver reports, and the migration record a
``resized`` or live-``migrating`` instance has.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from model.lifecycle import (
    ADMIN, Context, Instance, Lifecycle, MigrationRecord, SimpleWorld, state_name,
)
from model.operation import Branch
from model.states import (
    MigrationStatus, MigrationType, PowerState, Task, TaskState, VmState,
)

A, B = "A", "B"

#: What libvirt reports in each stable vm_state (facts file, summary table).
POWER_OF: dict[str, PowerState] = {
    "active": PowerState.RUNNING, "building": PowerState.PENDING,
    "paused": PowerState.PAUSED, "suspended": PowerState.SHUTDOWN,
    "stopped": PowerState.SHUTDOWN, "rescued": PowerState.RUNNING,
    "resized": PowerState.RUNNING, "soft-delete": PowerState.SHUTDOWN,
    "deleted": PowerState.PENDING, "error": PowerState.RUNNING,
    "shelved": PowerState.SHUTDOWN, "shelved_offloaded": PowerState.SHUTDOWN,
}

_ids = itertools.count()
_DEFAULT: Any = object()


def make_instance(lc: Lifecycle, vm: VmState | str, task: Task | str = None, *,
                  world: SimpleWorld | None = None, power: PowerState | None = None,
                  host: str | None = _DEFAULT, launched: bool = True,
                  locked: bool = False, locked_by: str | None = None,
                  old_vm_state: VmState | None = None,
                  migration: MigrationRecord | None = _DEFAULT,
                  guest: PowerState | None = None) -> Instance:
    vm = VmState(vm)
    task = None if task is None else TaskState(task)
    world = world if world is not None else SimpleWorld()
    inst = lc.new_instance(f"inst-{next(_ids)}", world)
    inst.state = state_name(vm, task)
    inst.power_state = power if power is not None else POWER_OF[vm.value]
    # (the hypervisor agrees with the record unless told otherwise)
    inst.guest = guest if guest is not None else inst.power_state
    if host is _DEFAULT:
        host = None if vm in (VmState.SHELVED_OFFLOADED, VmState.DELETED) else A
    inst.host = host
    inst.launched = launched
    inst.locked = locked
    inst.locked_by = locked_by if locked_by is not None else (
        ("owner" if locked else None))
    inst.old_vm_state = old_vm_state
    if migration is _DEFAULT:
        migration = None
        if vm is VmState.RESIZED:
            # resized: the instance is on the destination, the source waits for confirm
            migration = MigrationRecord("mig", inst.uuid, MigrationType.RESIZE,
                                        MigrationStatus.FINISHED, source=B, dest=A)
        elif task is not None and task.value == "migrating":
            migration = MigrationRecord("mig", inst.uuid, MigrationType.LIVE_MIGRATION,
                                        MigrationStatus.RUNNING, source=A, dest=B)
    inst.migration = migration
    return inst


def snapshot(inst: Instance) -> dict[str, Any]:
    """Every attribute a rejected request must leave alone."""
    return {
        "state": inst.state, "power_state": inst.power_state, "host": inst.host,
        "launched": inst.launched, "locked": inst.locked, "locked_by": inst.locked_by,
        "old_vm_state": inst.old_vm_state, "flavor": inst.flavor, "image": inst.image,
        "migration": None if inst.migration is None else dataclasses.asdict(inst.migration),
        "down": frozenset(inst.world.down),
        "shelved_offload_time": inst.world.shelved_offload_time,
    }


def combo(inst: Instance) -> tuple[VmState, Task, PowerState]:
    return inst.vm_state, inst.task_state, inst.power_state


def apply_migration(inst: Instance, branch: Branch, source: str | None,
                    dest: str | None) -> None:
    """The cluster's job: create or update the Migration record a branch names."""
    change = branch.migration
    if change is None:
        return
    if change.create is not None:
        inst.migration = MigrationRecord("mig", inst.uuid, change.create, change.status,
                                         source, dest)
    elif inst.migration is not None:
        inst.migration.status = change.status


@dataclasses.dataclass(frozen=True)
class Visit:
    """One step of a driven operation and the (vm_state, task_state) it left."""

    step: str
    branch: Branch
    vm: VmState
    task: Task

    @property
    def pair(self) -> tuple[str, str | None]:
        return self.vm.value, None if self.task is None else self.task.value


def drive(lc: Lifecycle, inst: Instance, op: str, ctx: Context = ADMIN, *, dest: str = B,
          outcomes: dict[str, str] | None = None) -> list[Visit]:
    """Request ``op`` and deliver each following step (outcome ``ok`` unless given).

    Returns the trace: one ``Visit`` for the API step and one for every step after it.
    """
    outcomes = outcomes or {}
    origin = inst.host
    before = inst.host
    branch = lc.request(op, inst, ctx, dest=dest, source=None)
    apply_migration(inst, branch, before, dest)
    trace = [Visit("api", branch, inst.vm_state, inst.task_state)]
    while branch.then is not None:
        step = branch.then
        source = inst.migration.source if inst.migration is not None else origin
        before = inst.host
        branch = lc.deliver(op, step, outcomes.get(step, "ok"), inst,
                            dest=dest, source=source)
        apply_migration(inst, branch, before, dest)
        trace.append(Visit(step, branch, inst.vm_state, inst.task_state))
    return trace
