"""Legal states: what the catalogue can produce, and records that agree with it."""

from __future__ import annotations

from model.cluster import _num
from model.states import MigrationStatus, MigrationType, VmState, task_label

#: vm_states an idle instance can only be in when it lives on a host.
_ON_A_HOST = (VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED,
              VmState.RESCUED, VmState.RESIZED, VmState.SHELVED, VmState.SOFT_DELETED)


def legal_state_combinations(cluster) -> list[str]:
    """Every instance's (vm_state, task_state, power_state) is one the catalogue can produce.

    The legal set is the fixpoint ``model.lifecycle.legal_combinations`` computes
    from the records of Nova's API guards and compute steps, so this is the
    catalogue checking the cluster.
    """
    legal = cluster.lc.legal
    out = []
    for uuid, inst in sorted(cluster.instances.items()):
        if inst.state == "new":
            continue
        combo = (inst.vm_state, inst.task_state, inst.power_state)
        if combo not in legal:
            out.append(f"{uuid} is {inst.vm_state.value}/{task_label(inst.task_state)}/"
                       f"{inst.power_state.label}, which no operation produces")
    return out


def host_set_exactly_when_required(cluster) -> list[str]:
    """An idle instance has a host exactly when its vm_state lives on one; an idle shelved_offloaded one never has one.

    ``CM._shelve_offload_instance`` clears host and node; an instance that failed
    to schedule (``COND._bury_in_cell0``) never gets one.
    """
    out = []
    for uuid, inst in sorted(cluster.instances.items()):
        if inst.state == "new":
            continue
        if (inst.vm_state is VmState.SHELVED_OFFLOADED and inst.task_state is None
                and inst.host is not None):
            out.append(f"{uuid} is shelved_offloaded but still on {inst.host}")
        if (inst.task_state is None and inst.vm_state in _ON_A_HOST
                and inst.host is None):
            out.append(f"{uuid} is {inst.vm_state.value} with no host")
        if inst.host is not None and inst.host not in cluster.hosts:
            out.append(f"{uuid} is on unknown host {inst.host}")
    return out


def migrations_agree_with_instances(cluster) -> list[str]:
    """A resized instance has exactly one finished (or confirming/reverting) migration; an in-progress migration's instance is busy or resized.

    Mirrors ``Migration.get_by_instance_and_status(..., 'finished')`` that
    confirm_resize relies on.
    """
    out = []
    for uuid, inst in sorted(cluster.instances.items()):
        if inst.state == "new":
            continue
        if inst.vm_state is VmState.RESIZED and inst.task_state is None:
            open_moves = [m for m in cluster.migrations.values()
                          if m.instance_uuid == uuid and m.status in (
                              MigrationStatus.FINISHED, MigrationStatus.CONFIRMING,
                              MigrationStatus.REVERTING)]
            if len(open_moves) != 1:
                latest = max((m for m in cluster.migrations.values() if m.instance_uuid == uuid),
                             key=lambda m: _num(m.uuid), default=None)
                reverted = (latest is not None and not open_moves
                            and latest.status is MigrationStatus.REVERTED)
                out.append(f"{uuid} is resized with {len(open_moves)} finished migrations"
                           + (f"; its latest migration {latest.uuid} is reverted"
                              if reverted else ""))
    busy = {w.instance for w in cluster.pending()}
    for m in sorted(cluster.migrations.values(), key=lambda m: m.uuid):
        if not m.in_progress or m.migration_type is MigrationType.EVACUATION:
            continue
        inst = cluster.instances.get(m.instance_uuid)
        if inst is None or inst.state == "new" or inst.vm_state is VmState.DELETED:
            continue  # instance_destroy soft-deletes the instance's migrations
        if (inst.task_state is None and inst.vm_state is not VmState.RESIZED
                and m.instance_uuid not in busy):
            evacuated = next((e.uuid for e in sorted(cluster.migrations.values(),
                                                     key=lambda e: _num(e.uuid))
                              if e.instance_uuid == m.instance_uuid
                              and e.migration_type is MigrationType.EVACUATION
                              and _num(e.uuid) > _num(m.uuid)), None)
            out.append(f"{m.migration_type.value} {m.uuid} is {m.status.value} but "
                       f"{m.instance_uuid} is idle in {inst.vm_state.value}"
                       + (f" (evacuated meanwhile by {evacuated})" if evacuated else ""))
    return out
