"""Accounting: the ledger and the instances agree about who holds what."""

from __future__ import annotations

from invariants.progress import busy_instances, created_instances
from model.catalogue import CATALOGUE, INIT_INSTANCE
from model.cluster_records import name_order
from model.cluster_recovery import EVACUATION_CLEANUP
from model.operation import Rule, Where, the_operation
from model.states import MigrationStatus, MigrationType, VmState
from invariants.subjects import Violation, of_instance

_HOLDS_NOTHING = (VmState.SHELVED_OFFLOADED,)
# (members read once: an enum attribute lookup costs as much as the check itself)
_DELETED = VmState.DELETED
_RESIZED = VmState.RESIZED
_EVACUATION = MigrationType.EVACUATION
_MOVING = (MigrationStatus.FINISHED, MigrationStatus.CONFIRMING)
_COLD = (MigrationType.RESIZE, MigrationType.MIGRATION)
_MOVES = _COLD + (MigrationType.LIVE_MIGRATION,)
#: how a migration came to error (``Cluster.migration_errors``), read off the catalogue:
#: the revert (the operation whose move back to the instance Placement may refuse,
#: ``CM._revert_allocation``), its step on the destination, and the outcome its move
#: back takes when Placement refuses it
REVERT = the_operation(CATALOGUE.values(), lambda op: any(s.move_refused for s in op.steps),
                       "whose move back Placement may refuse")
REVERT_ON_DEST = next(s.name for s in REVERT.steps if s.where is Where.DEST)
MOVE_BACK_REFUSED = next(s.move_refused for s in REVERT.steps if s.move_refused)
#: the task_state the revert's request writes (resize_reverting), and the requests that
#: can take it from the revert while its steps are queued: their guard admits an
#: instance in that task and their API step writes a task_state (a reset-state, a
#: delete, an evacuation)
(REVERTING,) = {b.task for o in REVERT.api.outcomes for b in o.branches}
TAKE_A_REVERT = frozenset(
    op.name for op in CATALOGUE.values() if op is not REVERT and op.guard is not None
    and (op.guard.task_states is None or REVERTING in op.guard.task_states)
    and any(b.task is not Rule.KEEP for o in op.api.outcomes for b in o.branches))
#: the live migration (the operation that creates live-migration records) and its
#: driver failure, which gives nothing back: (operation, step, outcome)
LIVE_MIGRATION = the_operation(
    CATALOGUE.values(), lambda op: MigrationType.LIVE_MIGRATION in op.migration_types,
    "creating live-migration records")
LIVE_DRIVER_FAILED = next((LIVE_MIGRATION.name, s.name, o.name) for s in LIVE_MIGRATION.steps
                          for o in s.outcomes if o.name == "driver_error")


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
    instances = cluster.instances
    migrations = cluster.migrations
    for consumer in cluster.ledger.consumers():
        inst = instances.get(consumer)
        if inst is not None:
            if inst.state != "new" and inst.vm_state is _DELETED:
                moves = sorted(m.uuid for m in migrations.values()
                               if m.instance_uuid == consumer
                               and m.status in (MigrationStatus.ERROR, MigrationStatus.FAILED))
                origin = (f" (handed back by the clean-up of {', '.join(moves)})"
                          if moves else "")
                out.append(Violation(f"deleted instance {consumer} still holds "
                                     f"{_fmt(cluster.ledger.allocations_of(consumer))}{origin}",
                                     of_instance(cluster, consumer)))
        elif consumer in migrations:
            m = migrations[consumer]
            owner = instances.get(m.instance_uuid)
            if owner is not None and owner.state != "new" and owner.vm_state is _DELETED:
                out.append(Violation(f"{m.migration_type.value} {consumer} of deleted "
                                     f"instance {m.instance_uuid} still holds "
                                     f"{_fmt(cluster.ledger.allocations_of(consumer))}",
                                     (consumer, *of_instance(cluster, m.instance_uuid))))
            elif not m.in_progress and (owner is None or owner.task_state is None):
                # (a move still running may already have written its final status:
                # RT.drop_move_claim_at_dest marks a revert `reverted` before the
                # source gives the allocation back)
                failed = owner is not None and m.status is MigrationStatus.ERROR
                why = ""
                cause = cluster.migration_errors.get(consumer)
                if (failed and owner.host == m.dest and cause is not None
                        and (cause.operation, cause.step) == (REVERT.name, REVERT_ON_DEST)):
                    why = " (it failed with the instance on its destination)"
                elif failed and _refused(cluster, consumer):
                    why = " (the revert could not move it back: Placement refused)"
                elif failed and _live_driver_failed(cluster, consumer):
                    why = " (the live migration's driver failed: nothing was given back)"
                elif failed and _reset_by_restart(cluster, consumer):
                    why = (f" (reset when {m.source}'s compute service started: nothing "
                           "was given back)")
                out.append(Violation(f"{m.migration_type.value} {consumer} of "
                                     f"{m.instance_uuid} is {m.status.value} but still holds "
                                     f"{_fmt(cluster.ledger.allocations_of(consumer))}{why}",
                                     (consumer,)))
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
    evacuated instance still holding an up source is a leak. A later move while the
    source is still down carries that allocation with the rest
    (``replace_allocation_with_migration`` moves all of the instance's allocations
    to the migration): until the source is cleaned up, at most one copy of it is
    held, by the instance or by its unfinished migration. (None is no broken
    promise: a confirmed or completed move deletes the migration's allocations,
    and a clean-up that ran while the evacuation was under way took it early.)
    """
    ledger = cluster.ledger
    busy = None  # looked up at the first idle instance
    moves: dict[str, list] = {}
    for m in cluster.migrations.values():
        moves.setdefault(m.instance_uuid, []).append(m)
    sized: dict[tuple[str, str | None], dict] = {}

    def resources(flavor_name: str, image: str | None) -> dict:
        # What the claims asked for: a volume-backed image's root disk is not
        # Placement's. (Asked once per flavor and image; the dicts are only read.)
        key = (flavor_name, image)
        if key not in sized:
            sized[key] = cluster.resources(cluster.flavors[flavor_name], image)
        return sized[key]

    found = []
    for uuid, inst, vm, task in created_instances(cluster):
        if task is not None:
            continue
        if vm is _DELETED:
            continue  # a deleted consumer is allocations_have_live_consumers' concern
        if busy is None:
            busy = busy_instances(cluster)
        if uuid in busy:
            continue
        held = ledger.allocations_view(uuid)
        host = inst.host
        if vm in _HOLDS_NOTHING or host is None:
            if held:
                found.append((uuid, f"{uuid} is {vm.value} with host {host} but holds "
                                    f"{_fmt(held)}"))
            continue
        mine = moves.get(uuid, ())
        want = {host: resources(inst.flavor, inst.image)}
        # evacuation sources still down, which the source's clean-up will look at
        # (an overtaken evacuation keeps an earlier status): checked on their own
        pending = {m.source: m for m in mine
                   if m.migration_type is _EVACUATION and m.status in EVACUATION_CLEANUP
                   and m.source and m.source != host and not cluster.service_is_up(m.source)}
        if pending:
            found += [(uuid, message) for message in
                      _awaiting_cleanup(cluster, inst, mine, pending, resources)]
            held = _without(held, pending)
        if not _same(held, want):
            found.append((uuid, f"{uuid} is {vm.value} on {host} and should hold "
                                f"{_fmt(want)} but holds {_fmt(held)}"
                                + (_failed_evacuation(cluster, uuid, held)
                                   or _removed_by_clean_up(cluster, uuid, host, held)
                                   or _refused_revert(cluster, uuid, host)
                                   or _failed_live_migration(cluster, uuid, host, held)
                                   or _restarted_live_migration(cluster, uuid, host, held)
                                   or _carried_evacuation(mine, held, host)
                                   or _overtaken_move(cluster, mine, held, host))))
        if vm is _RESIZED:
            for m in mine:
                if m.status not in _MOVING:
                    continue
                expect = ({m.source: resources(m.old_flavor, inst.image)} if m.old_flavor
                          else {})
                got = ledger.allocations_view(m.uuid)
                if pending:
                    got = _without(got, pending)
                if not _same(got, expect):
                    found.append((uuid, f"resized {uuid}: migration {m.uuid} should hold "
                                        f"{_fmt(expect)} but holds {_fmt(got)}"
                                        + (_carried_evacuation(mine, got, m.source)
                                           or _moved_without(cluster, uuid, m, got))))
    if not found:
        return []
    found.sort(key=_first)  # (stable: one instance's messages keep their order)
    return [Violation(message, of_instance(cluster, uuid)) for uuid, message in found]


def _first(pair):
    return pair[0]


def _removed_by_clean_up(cluster, uuid: str, host: str, held) -> str:
    """Name the failed step that left the instance's allocation unlike its host or
    flavor (``Cluster.unmatched_allocations``): a clean-up that removed its own host
    from it, or an old flavor put back over the new flavor's claim."""
    cause = cluster.unmatched_allocations.get(uuid)
    if cause is None or cause.host != host:
        return ""
    if host not in held:
        return (f" (removed from its own host by the clean-up of a failed "
                f"{cause.operation}: {cause.operation}.{cause.step} {cause.outcome})")
    return (f" (the old flavor came back over the new flavor's claim when "
            f"{cause.operation}.{cause.step} ended {cause.outcome})")


def _moved_without(cluster, uuid: str, m, got) -> str:
    """A move that found nothing of the instance on its source to take over: an
    earlier failed step's clean-up had removed it (``Cluster.unmatched_allocations``;
    ``replace_allocation_with_migration`` then moves nothing)."""
    cause = cluster.unmatched_allocations.get(uuid)
    if cause is None or cause.host != m.source or m.source in got:
        return ""
    return (f" (its allocation on {m.source} was removed by the clean-up of a failed "
            f"{cause.operation}: {cause.operation}.{cause.step} {cause.outcome})")


def _overtaken_move(cluster, moves, held, host: str) -> str:
    """Name the move that explains a destination the instance holds beyond its host: a
    resize, cold or live migration that ran alongside another move of the instance
    (its source allocation had already gone to the other move's migration, so
    nothing was moved into its own) and failed; its clean-up
    (``CM._revert_allocation``) found nothing to give back, so the scheduler's claim
    on its destination stayed."""
    for m in sorted(moves, key=lambda m: name_order(m.uuid)):
        if (m.migration_type in _MOVES and m.status is MigrationStatus.ERROR
                and m.sent_to in held and m.sent_to != host
                and not cluster.ledger.allocations_view(m.uuid)
                and any(o is not m and o.migration_type in _MOVES and o.sent_to == host
                        for o in moves)):
            return (f" (claimed for {m.migration_type.value} {m.uuid}, which ran alongside "
                    f"another move of {m.instance_uuid} and failed without giving it back)")
    return ""


def _without(allocs, providers) -> dict:
    return {p: r for p, r in allocs.items() if p not in providers}


def _awaiting_cleanup(cluster, inst, moves, pending, resources) -> list[str]:
    """An evacuated instance's allocation on each source still down: at most one copy
    of the flavor it was evacuated with, held by the instance or by the migration of
    an unfinished move that carried it (a later one, or one the evacuation
    interrupted)."""
    ledger = cluster.ledger
    out = []
    others = [m for m in moves if m.migration_type is not _EVACUATION]
    for source, evac in sorted(pending.items()):
        copy = resources(evac.old_flavor or inst.flavor, inst.image)
        holders = {c: ledger.allocations_view(c)[source]
                   for c in (inst.uuid, *(m.uuid for m in others))
                   if source in ledger.allocations_view(c)}
        may_hold = {inst.uuid, *(m.uuid for m in others if m.in_progress)}
        if not holders:
            continue
        if (len(holders) == 1 and set(holders) <= may_hold
                and _same({source: next(iter(holders.values()))}, {source: copy})):
            continue
        held = "; ".join(f"{c} {_fmt({source: a})}" for c, a in sorted(holders.items()))
        out.append(f"{inst.uuid} was evacuated from {source} by {evac.uuid} and {source} is "
                   f"still down: {inst.uuid} or its unfinished move may hold "
                   f"{_fmt({source: copy})} there once, but {held}")
    return out


def _carried_evacuation(moves, held, where: str) -> str:
    """Name the move that explains an allocation on an evacuation source that came
    back: the move started while the source was down, so it carried the source's
    allocation with the rest, and the source's clean-up
    (``CM._destroy_evacuated_instances``) looked only at the instance's allocation."""
    for evac in moves:
        if (evac.migration_type is _EVACUATION and evac.status is MigrationStatus.COMPLETED
                and evac.source in held and evac.source != where):
            move = next((m for m in sorted(moves, key=lambda m: name_order(m.uuid))
                         if name_order(m.uuid) > name_order(evac.uuid)
                         and m.migration_type is not _EVACUATION), None)
            if move is not None:
                return (f" (evacuation {evac.uuid}'s allocation on {evac.source}, which "
                        f"{move.migration_type.value} {move.uuid} carried past that host's "
                        f"clean-up)")
    return ""


def _failed_evacuation(cluster, uuid: str, held) -> str:
    """Name the evacuation that explains a wrong allocation: one started while another
    move was in progress; one whose source came back and gave the instance up before
    it moved it; or two at once."""
    inst = cluster.instances[uuid]
    migrations = sorted((m for m in cluster.migrations.values() if m.instance_uuid == uuid),
                        key=lambda m: name_order(m.uuid))
    evacuations = [m for m in migrations if m.migration_type is MigrationType.EVACUATION]
    if not evacuations:
        return ""
    first = evacuations[0]
    for m in migrations:
        # a move started before the evacuation and still in progress, or failed since
        # by the step that found the instance taken (its clean-up ran on its own
        # record); a move started after the evacuations is not "during" one
        if (m.migration_type is not MigrationType.EVACUATION and name_order(m.uuid) < name_order(first.uuid)
                and (m.in_progress or (m.status is MigrationStatus.ERROR and m.sent_to
                                       and m.source == first.source))):
            return f" (evacuated while {m.migration_type.value} {m.uuid} was in progress)"
    # Two evacuations from the same source ran at once: after a finished one the
    # instance lives elsewhere, so a later evacuation has another source. (A record a
    # destination's claim made, its request's own record gone, is no second one.)
    requested = [m for m in evacuations if m.uuid not in cluster.claimed_records]
    sources = [m.source for m in requested]
    twice = [m.uuid for m in requested if sources.count(m.source) > 1]
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


def _same(held, want) -> bool:
    """``_norm(held) == _norm(want)``; allocations equal as they are (the usual
    case) are equal normalised, so only a difference is looked at closer."""
    return held == want or _norm(held) == _norm(want)


def _refused_revert(cluster, uuid: str, host: str) -> str:
    """Name the failed revert that explains a wrong allocation: its move of the
    source allocation back to the instance was refused (``CM._revert_allocation``:
    AllocationMoveFailed), so the migration, in error, still holds the source the
    instance is back on, and the instance the destination. Only a move Placement did
    refuse (``Cluster.migration_errors``) is explained: a failure path that forgot to
    give the source back looks the same."""
    for m in cluster.migrations.values():
        if (m.instance_uuid == uuid and m.status is MigrationStatus.ERROR
                and m.migration_type in _COLD and m.source == host and m.dest != host
                and host in cluster.ledger.allocations_view(m.uuid)
                and _refused(cluster, m.uuid)):
            return (f" (its migration {m.uuid} kept the allocation on {host}: Placement "
                    f"refused the revert's move)")
    return ""


def _live_driver_failed(cluster, migration: str) -> bool:
    cause = cluster.migration_errors.get(migration)
    return cause is not None and tuple(cause) == LIVE_DRIVER_FAILED


def _errored_live_migration(cluster, uuid: str, host: str, held, errored_by):
    """The instance's live migration from ``host`` that ``errored_by`` put in error while
    the instance still holds its destination, if any."""
    for m in cluster.migrations.values():
        if (m.instance_uuid == uuid and m.migration_type is MigrationType.LIVE_MIGRATION
                and m.status is MigrationStatus.ERROR and m.source == host
                and m.dest in held and errored_by(cluster, m.uuid)):
            return m
    return None


def _failed_live_migration(cluster, uuid: str, host: str, held) -> str:
    """Name the live migration whose driver failed: the instance, in error on its
    source, keeps the destination's claim (``CM._do_live_migration`` gives nothing
    back)."""
    m = _errored_live_migration(cluster, uuid, host, held, _live_driver_failed)
    return ("" if m is None else f" (live migration {m.uuid}'s driver failed: the "
            f"instance keeps its claim on {m.dest})")


def _reset_by_restart(cluster, migration: str) -> bool:
    """Whether the compute-start recovery (``CM._init_instance``) errored the migration."""
    cause = cluster.migration_errors.get(migration)
    return cause is not None and cause.operation == INIT_INSTANCE


def _restarted_live_migration(cluster, uuid: str, host: str, held) -> str:
    """Name the running live migration a restart of its source reset: the instance,
    back to idle on its source, keeps the destination's claim
    (``CM._reset_live_migration`` errors the migration and gives nothing back)."""
    m = _errored_live_migration(cluster, uuid, host, held, _reset_by_restart)
    return ("" if m is None else f" (live migration {m.uuid} was reset when {host}'s "
            f"compute service started: the instance keeps its claim on {m.dest})")


def _refused(cluster, migration: str) -> bool:
    """Whether Placement refused to move the migration's allocation back."""
    cause = cluster.migration_errors.get(migration)
    return cause is not None and cause.outcome == MOVE_BACK_REFUSED


def _norm(allocs) -> dict:
    return {p: {str(rc): int(n) for rc, n in r.items() if n}
            for p, r in allocs.items() if any(r.values())}


def _fmt(allocs) -> str:
    if not allocs:
        return "nothing"
    return "; ".join(f"{p}: " + ", ".join(f"{rc}={n}" for rc, n in sorted(r.items()))
                     for p, r in sorted(_norm(allocs).items()))

