"""Accounting: the ledger and the instances agree about who holds what."""

from __future__ import annotations

from model.cluster import _num
from model.states import MigrationStatus, MigrationType, VmState

_HOLDS_NOTHING = (VmState.SHELVED_OFFLOADED,)


def usage_equals_allocations(cluster) -> list[str]:
    """Each provider's usage equals the sum of the allocations against it.

    Placement computes usage from allocations; the ledger keeps a running total
    updated by every claim, move and delete, so a path that forgets one shows here.
    """
    return cluster.ledger.usage_mismatches()


def allocations_have_live_consumers(cluster) -> list[str]:
    """Every allocation belongs to a live consumer: an instance that is not deleted, or a migration still in progress.

    An allocation whose consumer is gone is leaked capacity: Nova's resource audit
    (``ResourceTracker._remove_deleted_instances_allocations``) only cleans up
    deleted *instances* on the host it runs on, never migration consumers. A
    migration whose instance is deleted is gone with it (``instance_destroy``
    soft-deletes the instance's migration records).
    """
    out = []
    for consumer in cluster.ledger.consumers():
        if consumer in cluster.instances:
            inst = cluster.instances[consumer]
            if inst.state != "new" and inst.vm_state is VmState.DELETED:
                moves = sorted(m.uuid for m in cluster.migrations.values()
                               if m.instance_uuid == consumer
                               and m.status in (MigrationStatus.ERROR, MigrationStatus.FAILED))
                origin = (f" (handed back by the clean-up of {', '.join(moves)})"
                          if moves else "")
                out.append(f"deleted instance {consumer} still holds "
                           f"{_fmt(cluster.ledger.allocations_of(consumer))}{origin}")
        elif consumer in cluster.migrations:
            m = cluster.migrations[consumer]
            owner = cluster.instances.get(m.instance_uuid)
            if owner is not None and owner.state != "new" and owner.vm_state is VmState.DELETED:
                out.append(f"{m.migration_type.value} {consumer} of deleted instance "
                           f"{m.instance_uuid} still holds "
                           f"{_fmt(cluster.ledger.allocations_of(consumer))}")
            elif not m.in_progress and (owner is None or owner.task_state is None):
                # (a move still running may already have written its final status:
                # RT.drop_move_claim_at_dest marks a revert `reverted` before the
                # source gives the allocation back)
                on_dest = (owner is not None and m.status is MigrationStatus.ERROR
                           and m.dest != m.source and owner.host == m.dest)
                out.append(f"{m.migration_type.value} {consumer} of {m.instance_uuid} is "
                           f"{m.status.value} but still holds "
                           f"{_fmt(cluster.ledger.allocations_of(consumer))}"
                           + (" (it failed with the instance on its destination)"
                              if on_dest else ""))
        else:
            out.append(f"unknown consumer {consumer} holds "
                       f"{_fmt(cluster.ledger.allocations_of(consumer))}")
    return out


def instances_hold_what_their_state_implies(cluster) -> list[str]:
    """An idle instance holds exactly its flavor on its host; a resized one its new flavor on the destination while its migration holds the old flavor on the source; an offloaded or deleted one holds nothing.

    Checked only when no task is in progress (task_state None) and no work is
    queued for the instance: in between, Nova's steps legitimately hold
    transitional allocations. An evacuated instance also holds its source while
    that host's compute service is down; when the service comes back,
    ``CM.init_host`` -> ``CM._destroy_evacuated_instances`` must remove it, so an
    evacuated instance still holding an up source is a leak.
    """
    out = []
    busy = {w.instance for w in cluster.pending()}
    moves: dict[str, list] = {}
    for m in cluster.migrations.values():
        moves.setdefault(m.instance_uuid, []).append(m)
    sized: dict[str, dict] = {}

    def resources(flavor_name: str) -> dict:
        if flavor_name not in sized:
            sized[flavor_name] = dict(cluster.resources(cluster.flavors[flavor_name]))
        return sized[flavor_name]

    for uuid, inst in sorted(cluster.instances.items()):
        if inst.state == "new" or inst.task_state is not None or uuid in busy:
            continue
        held = cluster.ledger.allocations_of(uuid)
        vm = inst.vm_state
        if vm is VmState.DELETED:
            continue  # a deleted consumer is allocations_have_live_consumers' concern
        if vm in _HOLDS_NOTHING or inst.host is None:
            if held:
                out.append(f"{uuid} is {vm.value} with host {inst.host} but holds {_fmt(held)}")
            continue
        want = {inst.host: resources(inst.flavor)}
        for m in moves.get(uuid, ()):
            if (m.migration_type is MigrationType.EVACUATION
                    and m.status is MigrationStatus.DONE and m.source
                    and m.source != inst.host and not cluster.service_is_up(m.source)):
                want[m.source] = resources(inst.flavor)
        if _norm(held) != _norm(want):
            out.append(f"{uuid} is {vm.value} on {inst.host} and should hold {_fmt(want)} "
                       f"but holds {_fmt(held)}" + _failed_evacuation(cluster, uuid, held))
        if vm is VmState.RESIZED:
            moving = [m for m in moves.get(uuid, ()) if m.status in (
                MigrationStatus.FINISHED, MigrationStatus.CONFIRMING)]
            for m in moving:
                expect = {m.source: resources(m.old_flavor)} if m.old_flavor else {}
                got = cluster.ledger.allocations_of(m.uuid)
                if _norm(got) != _norm(expect):
                    out.append(f"resized {uuid}: migration {m.uuid} should hold "
                               f"{_fmt(expect)} but holds {_fmt(got)}")
    return out


def _failed_evacuation(cluster, uuid: str, held) -> str:
    """Name the evacuation that explains a wrong allocation: one started while another
    move was in progress; one whose source came back and gave the instance up before
    it moved it; or two at once."""
    inst = cluster.instances[uuid]
    migrations = sorted((m for m in cluster.migrations.values() if m.instance_uuid == uuid),
                        key=lambda m: _num(m.uuid))
    evacuations = [m for m in migrations if m.migration_type is MigrationType.EVACUATION]
    if not evacuations:
        return ""
    for m in migrations:
        if m.migration_type is not MigrationType.EVACUATION and m.in_progress:
            return f" (evacuated while {m.migration_type.value} {m.uuid} was in progress)"
    # Two evacuations from the same source ran at once: after a finished one the
    # instance lives elsewhere, so a later evacuation has another source.
    sources = [m.source for m in evacuations]
    twice = [m.uuid for m in evacuations if sources.count(m.source) > 1]
    if twice:
        return f" (evacuated twice at once: {', '.join(twice[:-1])} and {twice[-1]})"
    if inst.host in _norm(held):
        return ""
    for m in evacuations:
        if m.source == inst.host and m.status in (MigrationStatus.ERROR, MigrationStatus.FAILED,
                                                   MigrationStatus.COMPLETED):
            return (f" (its host came back during evacuation {m.uuid}, "
                    f"which never moved it)")
    return ""


def _norm(allocs) -> dict:
    return {p: {str(rc): int(n) for rc, n in r.items() if n}
            for p, r in allocs.items() if any(r.values())}


def _fmt(allocs) -> str:
    if not allocs:
        return "nothing"
    return "; ".join(f"{p}: " + ", ".join(f"{rc}={n}" for rc, n in sorted(r.items()))
                     for p, r in sorted(_norm(allocs).items()))

