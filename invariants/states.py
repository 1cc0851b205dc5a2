"""Legal states: what the catalogue can produce, and records that agree with it."""

from __future__ import annotations

from operator import attrgetter

from invariants.progress import busy_instances, created_instances, in_uuid_order
from model.cluster_records import name_order
from model.states import MigrationStatus, MigrationType, VmState, task_label
from invariants.subjects import Violation, of_instance

#: vm_states an idle instance can only be in when it lives on a host.
_ON_A_HOST = frozenset((VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED,
                        VmState.RESCUED, VmState.RESIZED, VmState.SHELVED,
                        VmState.SOFT_DELETED))
#: what confirm_resize and revert_resize look a resized instance's migration up by
_OPEN = (MigrationStatus.FINISHED, MigrationStatus.CONFIRMING, MigrationStatus.REVERTING)
# (members read once: an enum attribute lookup costs as much as the check itself)
_RESIZED = VmState.RESIZED
_DELETED = VmState.DELETED
_OFFLOADED = VmState.SHELVED_OFFLOADED
_EVACUATION = MigrationType.EVACUATION
_UUID = attrgetter("uuid")


def legal_state_combinations(cluster) -> list[str]:
    """Every instance's (vm_state, task_state, power_state) is one the catalogue can produce.

    The legal set is the fixpoint ``model.lifecycle.legal_combinations`` computes
    from the records of Nova's API guards and compute steps, so this is the
    catalogue checking the cluster.
    """
    legal = cluster.lc.legal
    found = []
    for uuid, inst, vm, task in created_instances(cluster):
        if (vm, task, inst.power_state) not in legal:
            found.append((uuid, f"{uuid} is {vm.value}/{task_label(task)}/"
                                f"{inst.power_state.label}, which no operation produces"))
    return in_uuid_order(found)


def host_set_exactly_when_required(cluster) -> list[str]:
    """An idle instance has a host exactly when its vm_state lives on one; an idle shelved_offloaded one never has one.

    ``CM._shelve_offload_instance`` clears host and node; an instance that failed
    to schedule (``COND._bury_in_cell0``) never gets one.
    """
    hosts = cluster.hosts
    found = []
    for uuid, inst, vm, task in created_instances(cluster):
        host = inst.host
        if host is not None:
            if vm is _OFFLOADED and task is None:
                found.append((uuid, Violation(f"{uuid} is shelved_offloaded but still on {host}",
                                              of_instance(cluster, uuid))))
            if host not in hosts:
                found.append((uuid, f"{uuid} is on unknown host {host}"))
        elif task is None and vm in _ON_A_HOST:
            found.append((uuid, f"{uuid} is {vm.value} with no host"))
    return in_uuid_order(found)


def migrations_agree_with_instances(cluster) -> list[str]:
    """A resized instance has exactly one finished (or confirming/reverting) migration; an in-progress migration's instance is busy or resized.

    Mirrors ``Migration.get_by_instance_and_status(..., 'finished')`` that
    confirm_resize relies on.
    """
    instances = cluster.instances
    migrations = cluster.migrations
    found = []
    for uuid, inst, vm, task in created_instances(cluster):
        if vm is _RESIZED and task is None:
            open_moves = [m for m in migrations.values()
                          if m.instance_uuid == uuid and m.status in _OPEN]
            if len(open_moves) != 1:
                latest = max((m for m in migrations.values() if m.instance_uuid == uuid),
                             key=lambda m: name_order(m.uuid), default=None)
                reverted = (latest is not None and not open_moves
                            and latest.status is MigrationStatus.REVERTED)
                found.append((uuid, f"{uuid} is resized with {len(open_moves)} finished "
                                    "migrations"
                                    + (f"; its latest migration {latest.uuid} is reverted"
                                       if reverted else "")))
    out = in_uuid_order(found)
    if not migrations:
        return out
    busy = None  # only looked up for a move whose instance is idle
    idle_moves = []
    for m in migrations.values():
        if not m.in_progress or m.migration_type is _EVACUATION:
            continue
        inst = instances.get(m.instance_uuid)
        if inst is None or inst.state == "new" or inst.vm_state is _DELETED:
            continue  # instance_destroy soft-deletes the instance's migrations
        if inst.task_state is not None or inst.vm_state is _RESIZED:
            continue
        if busy is None:
            busy = busy_instances(cluster)
        if m.instance_uuid not in busy:
            idle_moves.append(m)
    # reported in the order of the migrations' uuids (as strings)
    for m in sorted(idle_moves, key=_UUID):
        evacuated = next((e.uuid for e in sorted(migrations.values(),
                                                 key=lambda e: name_order(e.uuid))
                          if e.instance_uuid == m.instance_uuid
                          and e.migration_type is _EVACUATION
                          and name_order(e.uuid) > name_order(m.uuid)), None)
        out.append(Violation(
            f"{m.migration_type.value} {m.uuid} is {m.status.value} but "
            f"{m.instance_uuid} is idle in {instances[m.instance_uuid].vm_state.value}"
            + (f" (evacuated meanwhile by {evacuated})" if evacuated else ""),
            (m.uuid, *of_instance(cluster, m.instance_uuid))))
    return out
