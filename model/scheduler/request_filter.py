"""The scheduler's request filters: what Nova writes into a request before asking
Placement for candidates (``nova/scheduler/request_filter.py``).

Only the availability-zone one is modelled: ``map_az_to_placement_aggregate``. In
Nova 34 it always runs (the option that turned it off and the AvailabilityZoneFilter
it replaced are gone), so a placement-mode request for a zone only gets hosts in an
aggregate carrying that zone; a zone no aggregate carries (the default zone of hosts
in no zone aggregate) restricts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from model.scheduler.host_state import Aggregate


def map_az_to_placement_aggregate(availability_zone: str | None,
                                  aggregates: Iterable[Aggregate]) -> tuple[str, ...]:
    """The aggregates a request for ``availability_zone`` must be a member of (any one):
    those whose ``availability_zone`` metadata is that zone (Nova's
    ``AggregateList.get_by_metadata``, then ``Destination.require_aggregates``).
    Empty: no restriction."""
    if not availability_zone:
        return ()
    return tuple(a.name for a in aggregates
                 if a.metadata.get("availability_zone") == availability_zone)
