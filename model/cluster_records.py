"""Small pieces of the cluster's vocabulary that the cluster, its recovery, its text
view, the invariants and the scenarios share (so that none of them imports another
for them, and none reaches into ``model.cluster``'s private names)."""

from __future__ import annotations

from typing import NamedTuple

from model.placement import ResourceClass

#: The resource classes every host reports and every flavor asks for, in this order.
RESOURCE_CLASSES = (ResourceClass.VCPU, ResourceClass.MEMORY_MB, ResourceClass.DISK_GB)


def name_order(name: str) -> tuple[str, int]:
    """The sort key of a generated name (``i2`` before ``i10``): its letters, then its
    number."""
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return (head, int(tail) if tail else 0)


class HostEvent(NamedTuple):
    """A host event that acted on a migration (``Cluster.host_events``): the starting
    compute service's evacuation clean-up (``CM._destroy_evacuated_instances``).
    ``status`` is the migration's status before it; ``evacuation`` whether the
    evacuation was still ``in flight`` (steps queued), had been ``preempted`` (its last
    step dropped by another request's task_state), had ``stopped`` with its
    destination's compute process (the rebuild's handler went with it) or had ``ended``
    by its own outcome;
    ``removed`` whether the instance still held the host for the clean-up to remove."""

    event: str
    host: str
    status: str
    evacuation: str
    removed: bool
