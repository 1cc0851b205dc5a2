"""What a compute service does when it starts: ``ComputeManager.init_host``.

Two parts, in Nova's order:

1. ``CM._destroy_evacuated_instances``: for every evacuation migration whose source is
   this host and whose status is ``accepted``, ``pre-migrating`` or ``done``, the local
   guest is destroyed, this host is removed from the instance's allocation
   (``remove_provider_tree_from_instance_allocation`` = ``REMOVE_SOURCE_FROM_INSTANCE``)
   and the migration becomes ``completed``. Those instances are skipped below.
2. ``CM._init_instance`` for every other instance whose host is this one: the
   catalogue's ``init_instance`` record (``model/catalogue.py``), fired through the
   lifecycle like any other transition, so that the state machine, the state graph and
   the diagrams all see it. Its branches say, per task_state group, what Nova does; an
   instance no branch matches is left alone (the record's notes list those cases).

The record's move effects (``REVERT_MIGRATION_TO_INSTANCE`` and the migration's new
status) apply only to a migration still in progress: an instance whose move has not
been scheduled yet may still point at an older, finished migration, which recovery
must not touch.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from model.catalogue import CATALOGUE, INIT_INSTANCE
from model.cluster_records import HostEvent
from model.lifecycle import ADMIN, Instance
from model.operation import Alloc, Branch
from model.states import MigrationStatus as MS, MigrationType

if TYPE_CHECKING:
    from model.cluster import Cluster

EVACUATION_CLEANUP = frozenset({MS.ACCEPTED, MS.PRE_MIGRATING, MS.DONE})

#: What ``CM._init_instance`` does, as declared in the catalogue: (conditions, effect).
RECOVERY = tuple(
    (" and ".join(w.value for w in b.when), b.note)
    for b in CATALOGUE[INIT_INSTANCE].api.outcomes[0].branches)


def destroy_evacuated_instances(cluster: "Cluster", host: str) -> set[str]:
    done: set[str] = set()
    for mig in sorted(cluster.migrations.values(), key=lambda m: m.uuid):
        if (mig.migration_type is MigrationType.EVACUATION and mig.source == host
                and mig.status in EVACUATION_CLEANUP):
            held = host in cluster.ledger.allocations_view(mig.instance_uuid)
            event = HostEvent("service_up", host, mig.status.value,
                              _evacuation_progress(cluster, mig), held)
            cluster.host_events[mig.uuid] = cluster.host_events.get(mig.uuid, ()) + (event,)
            if mig.dest != host:
                cluster.ledger.remove_provider_from_consumer(mig.instance_uuid, host)
            mig.status = MS.COMPLETED
            done.add(mig.instance_uuid)
    return done


def _evacuation_progress(cluster: "Cluster", mig) -> str:
    """Where the evacuation stood when its source came back (see ``HostEvent``)."""

    def evacuates(operation: str) -> bool:  # (the operation that creates the record)
        return mig.migration_type in cluster.lc.operation(operation).migration_types

    if any(w.instance == mig.instance_uuid and evacuates(w.operation)
           and w.get("migration") == mig.uuid for w in cluster.work.values()):
        return "in flight"
    dropped = cluster.dropped_steps.get(mig.instance_uuid, ())
    if dropped and evacuates(dropped[-1].operation) and mig.status is not MS.DONE:
        return "preempted"
    lost = cluster.handler_lost.get(mig.instance_uuid)
    if lost is not None and evacuates(lost.operation) and mig.status is not MS.DONE:
        return "stopped"
    return "ended"


#: What the cluster does with a recovery branch's effects beyond the instance (the
#: migration's status, the allocations, the flavor): ``(instance, effects, host before)``.
ApplyEffects = Callable[[Instance, Branch, "str | None"], None]


def init_instance(cluster: "Cluster", inst: Instance, apply: ApplyEffects
                  ) -> str | None:
    """``CM._init_instance`` for one instance of the starting host; a note, or None."""
    lc = cluster.lc
    if INIT_INSTANCE not in lc.catalogue:  # a catalogue variant without recovery
        return None
    if lc.guard_failure_for(INIT_INSTANCE, inst, ADMIN) is not None:
        return None
    if not lc.may(INIT_INSTANCE, "api", "ok", inst):
        return None  # no branch: Nova leaves this instance alone
    moving = inst.migration is not None and inst.migration.in_progress
    before = inst.host
    branch = lc.deliver(INIT_INSTANCE, "api", "ok", inst)
    effects = branch
    if not moving:
        effects = dataclasses.replace(
            branch, migration=None,
            alloc=tuple(a for a in branch.alloc if a is not Alloc.REVERT_MIGRATION_TO_INSTANCE))
    apply(inst, effects, before)
    return f"{inst.uuid}: {branch.note}" if branch.note else f"{inst.uuid}: recovered"


def init_host(cluster: "Cluster", host: str, apply: ApplyEffects) -> list[str]:
    evacuated = destroy_evacuated_instances(cluster, host)
    out = [f"{u}: evacuated away, source allocation removed" for u in sorted(evacuated)]
    for uuid, inst in sorted(cluster.instances.items()):
        if inst.host == host and uuid not in evacuated:
            note = init_instance(cluster, inst, apply)
            if note:
                out.append(note)
    return out
