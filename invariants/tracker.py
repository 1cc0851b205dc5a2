"""The compute's own count: each resource tracker against itself and against Placement."""

from __future__ import annotations

from invariants import accounting
from invariants.subjects import Violation, of_instance
from model.cluster import RESOURCE_CLASSES


def _counted(tracker, reserved) -> tuple[int, int, int]:
    """What the tracker counts for instances and moves: its totals less the reserved."""
    return (tracker.vcpus_used - reserved.vcpus, tracker.memory_mb_used - reserved.memory_mb,
            tracker.local_gb_used - reserved.disk_gb)


def tracker_usage_never_negative(cluster) -> list[str]:
    """No compute's resource tracker counts less than nothing for its instances and moves.

    The ``ResourceTracker`` adds a flavor at each claim and takes one off at each
    drop; a drop without its claim, or one made twice, leaves the count below the
    host's reserved amounts, and Nova's scheduler, which reads the count, then sees
    more free capacity than the host has.
    """
    out = []
    for host, tracker in sorted(cluster.trackers.items()):
        counted = _counted(tracker, cluster.reserved_usage(host))
        drop = cluster.uncounted_drops.get(host)
        why = (f" (after {drop.operation}.{drop.step} dropped {drop.instance}, which it "
               f"never counted)" if drop is not None else "")
        other = cluster.flavor_drops.get(host)
        last = drop or other or cluster.negative_drops.get(host)
        if other is not None and drop is None:
            why = (f" (after {other.operation}.{other.step} took {other.instance} off at "
                   f"{other.dropped}, which it counted at {other.counted})")
        elif last is not None and drop is None:
            why = f" (after {last.operation}.{last.step} dropped {last.instance})"
        subjects = (host,) if last is None else (host, *of_instance(cluster, last.instance))
        for rc, amount in zip(RESOURCE_CLASSES, counted):
            if amount < 0:
                out.append(Violation(
                    f"{host}'s resource tracker counts {amount} {rc} for its "
                    f"instances and moves{why}", subjects))
    return out


def tracker_audit_agrees_with_placement(cluster) -> list[str]:
    """With nothing in flight, each up compute's resource audit counts what Placement's allocations on the host add up to.

    Checked only when no work is queued anywhere: in between, the tracker and
    Placement are written at different steps of a move. The tracker's running count
    may lag (a live migration without a NUMA claim reaches it only at the audit), so
    it is the count the host's ``update_available_resource`` would arrive at that must
    agree. A host that is down runs no audit. Placement itself is held to the
    instances by two other promises (``allocations_have_live_consumers``,
    ``instances_hold_what_their_state_implies``); while either is broken, a leak or a
    lost release is reported there, and this comparison, which would only repeat it
    from the tracker's side, waits.
    """
    if cluster.work:
        return []
    if (accounting.allocations_have_live_consumers(cluster)
            or accounting.instances_hold_what_their_state_implies(cluster)):
        return []
    live = cluster.ledger.consumers()
    out = []
    for host in sorted(cluster.trackers):
        if not cluster.service_is_up(host):
            continue
        placed = [0, 0, 0]
        for consumer in live:
            held = cluster.ledger.allocations_view(consumer).get(host)
            if held:
                for i, rc in enumerate(RESOURCE_CLASSES):
                    placed[i] += held.get(rc, 0)
        audited = cluster.audited_tracker(host)
        counted = _counted(audited, cluster.reserved_usage(host))
        subjects = None
        for rc, tracked, allocated in zip(RESOURCE_CLASSES, counted, placed):
            if tracked != allocated:
                if subjects is None:
                    subjects = (host, *_disagreeing(cluster, audited, host, live))
                out.append(Violation(
                    f"{host}'s resource audit counts {tracked} {rc} but "
                    f"Placement's allocations there add up to {allocated}", subjects))
    return out


def _disagreeing(cluster, audited, host: str, live) -> tuple[str, ...]:
    """The instances and migrations either side counts on the host (the audit's
    tracked instances and moves, Placement's consumers there, and each such move's
    instance), with each such instance's migrations (``of_instance``: an earlier move's record may hold the cause,
    as a source that came back during an evacuation a later one overtook) and, for a
    record a destination's claim made, the record of the request it stands in for
    (``Cluster.claimed_records``): the subjects a recorded cause can name. The sides
    keep totals only, so which of them differs is not known."""
    counted = set(audited.instances) | {m for _, m in audited.migrations}
    holding = {c for c in live if cluster.ledger.allocations_view(c).get(host)}
    subjects = counted | holding
    # (a migration consumer's instance: the cause of a move's record may be recorded
    # on the instance, as a step its compute took with it, ``discarded_steps``)
    subjects |= {cluster.migrations[m].instance_uuid for m in tuple(subjects)
                 if m in cluster.migrations}
    for uuid in tuple(subjects):
        if uuid in cluster.instances:
            for subject in of_instance(cluster, uuid):
                subjects.add(subject)
                if cluster.claimed_records.get(subject):
                    subjects.add(cluster.claimed_records[subject])
    return tuple(sorted(subjects))
