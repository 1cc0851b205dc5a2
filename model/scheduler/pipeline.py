"""One scheduling decision: `SchedulerManager.select_destinations` / `_schedule`.

Pure apart from the caller's callbacks: host states and the request are
values, the random choices come from the `rng` passed in, and in-request
consumption (`HostState.consume_from_request`) is applied to copies.

Steps (nova/scheduler/manager.py, host_manager.py):

1. rebuild (`_nova_check_type=['rebuild']`): no placement, no claim, only
   RUN_ON_REBUILD filters judge (`_legacy_find_hosts`);
2. placement mode: `placement_candidates(spec)` names the compute nodes
   placement would return (empty -> NoValidHost); only those are considered;
3. per instance: requested_destination, ignore_hosts, force_hosts /
   force_nodes (which skip the filters unless a check type hint is set), the
   enabled filters (once-per-request filters only for the first instance),
   weighing, optional shuffle of the best-weighed ties, random choice among
   the first host_subset_size hosts;
4. placement mode: claim the sorted hosts in turn, first success wins;
   legacy mode: take the chosen host (the seeds-era scheduler did not claim;
   the compute's resource tracker did, using `Selection.limits`);
5. consume the request on the chosen host so the next instance sees it, and
   add the host to the server group's hosts (`_consume_selected_host`);
6. fewer hosts than instances -> release the claims made and NoValidHost;
7. alternates: up to max_attempts - 1 other hosts of the same cell.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from random import Random

from model.scheduler.config import SchedulerConfig
from model.scheduler.filters import BaseHostFilter, legacy_limits, make_filters
from model.scheduler.host_state import HostState
from model.scheduler.request import RequestSpec
from model.scheduler.weighers import BaseHostWeigher, get_weighed_objects, make_weighers

__all__ = [
    "ClaimFn",
    "FilterResult",
    "FilterStep",
    "NoValidHost",
    "PlacementQuery",
    "ReleaseFn",
    "Selection",
    "filter_hosts",
    "get_sorted_hosts",
    "host_filter_results",
    "in_aggregates",
    "legacy_capacity",
    "local_placement_query",
    "placement_capacity",
    "placement_resources",
    "select_destinations",
]

PlacementQuery = Callable[[RequestSpec], Collection[str]]
ClaimFn = Callable[[HostState, RequestSpec, int], bool]
ReleaseFn = Callable[[HostState, RequestSpec, int], None]
HostKey = tuple[str, str]

# Pseudo filter names used in traces for the steps before the filters.
PLACEMENT = "placement"
REQUESTED_DESTINATION = "requested_destination"
IGNORE_HOSTS = "ignore_hosts"
FORCE_HOSTS = "force_hosts"
FORCE_NODES = "force_nodes"


class NoValidHost(Exception):
    """No host (or not enough hosts) satisfies the request."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Selection:
    """The host chosen for one instance and its alternates.

    `host` is the state as it was when chosen (before this instance was
    consumed).  `limits` are what the legacy RAM/Core/Disk filters gave the
    compute claim (`Selection.limits` in Nova); empty in placement mode unless
    those filters are enabled.
    """

    host: HostState
    alternates: tuple[HostState, ...] = ()
    limits: Mapping[str, float] = field(default_factory=dict)

    @property
    def service_host(self) -> str:
        return self.host.host

    @property
    def nodename(self) -> str:
        return self.host.nodename

    @property
    def compute_node_uuid(self) -> str | None:
        return self.host.uuid


@dataclass(frozen=True, slots=True)
class FilterStep:
    """One step of filtering: how many hosts went in and which were removed."""

    name: str
    start: int
    end: int
    removed: tuple[HostKey, ...]


@dataclass(frozen=True, slots=True)
class FilterResult:
    """Outcome of `filter_hosts`.

    `hosts`: survivors in input order.  `removed_by`: host key -> the step
    (filter name or pseudo step) that removed it.  `filters_skipped`: forced
    hosts bypassed the filters.  `verdicts` (only with `exhaustive=True`):
    host key -> filter name -> passed, for every enabled filter on every host
    that reached the filters (filters not run for this index count as passed).
    """

    hosts: tuple[HostState, ...]
    steps: tuple[FilterStep, ...]
    removed_by: Mapping[HostKey, str]
    filters_skipped: bool = False
    verdicts: Mapping[HostKey, Mapping[str, bool]] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# filtering (HostManager.get_filtered_hosts + BaseFilterHandler)
# ---------------------------------------------------------------------------


def _narrow(
    hosts: list[HostState],
    keep: Callable[[HostState], bool],
    step: str,
    steps: list[FilterStep],
    removed_by: dict[HostKey, str],
) -> list[HostState]:
    flags = [keep(h) for h in hosts]
    kept = [h for h, ok in zip(hosts, flags, strict=True) if ok]
    if len(kept) != len(hosts):
        removed = tuple(h.key for h, ok in zip(hosts, flags, strict=True) if not ok)
        for key in removed:
            removed_by.setdefault(key, step)
        steps.append(FilterStep(step, len(hosts), len(kept), removed))
    return kept


def filter_hosts(
    hosts: Sequence[HostState],
    spec: RequestSpec,
    config: SchedulerConfig,
    *,
    index: int = 0,
    placement_candidates: Collection[str] | None = None,
    filters: Sequence[BaseHostFilter] | None = None,
    exhaustive: bool = False,
) -> FilterResult:
    """Hosts passing every enabled filter for instance `index` of `spec`.

    Mirrors `HostManager.get_filtered_hosts`: an optional set of placement
    candidates (compute node uuids, see `HostState.placement_key`), then
    requested_destination, ignore_hosts (case-insensitive), force_hosts
    (case-insensitive) and force_nodes; forced hosts skip the filters unless
    the request carries a check type (rebuild).  Filters run in order, each
    on the survivors of the previous one, and filtering stops at a filter
    that leaves no host (`BaseFilterHandler.get_filtered_objects`).
    """
    if filters is None:
        filters = make_filters(config)
    steps: list[FilterStep] = []
    removed_by: dict[HostKey, str] = {}
    current = list(hosts)

    if placement_candidates is not None:
        candidates = set(placement_candidates)
        current = _narrow(current, lambda h: h.placement_key in candidates, PLACEMENT, steps, removed_by)

    dest = spec.requested_destination
    if dest is not None:
        if dest.node:
            current = _narrow(
                current,
                lambda h: h.host == dest.host and h.nodename == dest.node,
                REQUESTED_DESTINATION, steps, removed_by,
            )
        else:
            current = _narrow(current, lambda h: h.host == dest.host, REQUESTED_DESTINATION, steps, removed_by)

    forced = bool(spec.force_hosts or spec.force_nodes)
    if spec.ignore_hosts:
        ignored = {h.lower() for h in spec.ignore_hosts}
        current = _narrow(current, lambda h: h.host.lower() not in ignored, IGNORE_HOSTS, steps, removed_by)
        if not current:
            return FilterResult((), tuple(steps), removed_by)
    if spec.force_hosts:
        wanted = {h.lower() for h in spec.force_hosts}
        current = _narrow(current, lambda h: h.host.lower() in wanted, FORCE_HOSTS, steps, removed_by)
    if spec.force_nodes:
        nodes = set(spec.force_nodes)
        current = _narrow(current, lambda h: h.nodename in nodes, FORCE_NODES, steps, removed_by)
    if forced and not spec.has_check_type:
        return FilterResult(tuple(current), tuple(steps), removed_by, filters_skipped=True)

    verdicts: dict[HostKey, dict[str, bool]] = {}
    if exhaustive:
        for host in current:
            verdicts[host.key] = _verdicts(host, spec, filters, index)

    for flt in filters:
        if not flt.run_filter_for_index(index):
            continue
        if exhaustive:
            keep = lambda h, name=flt.name: verdicts[h.key][name]  # noqa: E731
        else:
            keep = lambda h, f=flt: f.filter_one(h, spec)  # noqa: E731
        current = _narrow(current, keep, flt.name, steps, removed_by)
        if not current:
            break
    return FilterResult(tuple(current), tuple(steps), removed_by, verdicts=verdicts)


def _verdicts(
    host: HostState, spec: RequestSpec, filters: Sequence[BaseHostFilter], index: int
) -> dict[str, bool]:
    return {
        flt.name: (not flt.run_filter_for_index(index)) or flt.filter_one(host, spec)
        for flt in filters
    }


def host_filter_results(
    host: HostState, spec: RequestSpec, config: SchedulerConfig, *, index: int = 0
) -> dict[str, bool]:
    """Every enabled filter's verdict on one host (no short-circuit).

    A filter that does not run for `index` (once-per-request, index > 0) or
    that does not judge rebuilds counts as passed, as in Nova.
    """
    return _verdicts(host, spec, make_filters(config), index)


# ---------------------------------------------------------------------------
# sorting (SchedulerManager._get_sorted_hosts)
# ---------------------------------------------------------------------------


def get_sorted_hosts(
    spec: RequestSpec,
    hosts: Sequence[HostState],
    index: int,
    config: SchedulerConfig,
    rng: Random,
    *,
    filters: Sequence[BaseHostFilter] | None = None,
    weighers: Sequence[BaseHostWeigher] | None = None,
) -> list[HostState]:
    """Filtered and weighed hosts, the randomly chosen one first.

    The random calls are exactly Nova's (`shuffle` of the tied best hosts
    when enabled, then one `choice` among the first host_subset_size), so a
    `random.Random` seeded like Nova's global `random` gives the same order.
    """
    if filters is None:
        filters = make_filters(config)
    if weighers is None:
        weighers = make_weighers(config)
    filtered = filter_hosts(hosts, spec, config, index=index, filters=filters).hosts
    if not filtered:
        return []
    weighed = get_weighed_objects(weighers, filtered, spec)
    if config.shuffle_best_same_weighed_hosts:
        best = [w for w in weighed if w.weight == weighed[0].weight]
        rng.shuffle(best)
        weighed = best + weighed[len(best):]
    ordered = [w.obj for w in weighed]
    subset_size = min(config.host_subset_size, len(ordered))
    # choice() over indices draws exactly like choice() over the hosts.
    pick = rng.choice(range(subset_size))
    chosen = ordered.pop(pick)
    return [chosen, *ordered]


# ---------------------------------------------------------------------------
# select_destinations (SchedulerManager._schedule)
# ---------------------------------------------------------------------------


def select_destinations(
    hosts: Sequence[HostState],
    spec: RequestSpec,
    config: SchedulerConfig,
    *,
    rng: Random,
    placement_candidates: PlacementQuery | None = None,
    claim: ClaimFn | None = None,
    release: ReleaseFn | None = None,
    return_alternates: bool = False,
    on_choice: Callable[[int, HostState], None] | None = None,
) -> list[Selection]:
    """Choose a host for each instance of `spec`; one Selection per instance.

    `placement_candidates` (placement mode, required there) answers the
    allocation-candidates query with compute node uuids.  `claim(host, spec,
    index)` is Nova's `claim_resources` for instance `index`; None means
    every claim succeeds.  It is called only in placement mode and never on
    rebuild, as in Nova.  When the request cannot be fulfilled after some
    claims succeeded, `release(host, spec, index)` is called for each of
    them (Nova's `_cleanup_allocations`); without `release` undoing them is
    the caller's duty.  `on_choice(index, host)` is told each host chosen, in
    order, also when the request then fails (a multi-create's earlier
    members).  Raises NoValidHost.

    A multi-create (`spec.instance_uuids`) is one decision: each instance is
    placed in turn on the hosts left by the previous one, and the chosen host
    is consumed and added to the group's hosts before the next
    (`SchedulerManager._consume_selected_host`), so the group filters and
    weighers count the members placed earlier in the same request; fewer
    hosts than instances is NoValidHost for all
    (`SchedulerManager._ensure_sufficient_hosts`).
    """
    _check_unique(hosts)
    filters = make_filters(config)
    weighers = make_weighers(config)
    rebuild = spec.request_is_rebuild
    use_placement = config.mode == "placement" and not rebuild

    current = list(hosts)
    if use_placement:
        if placement_candidates is None:
            raise ValueError("placement mode needs a placement_candidates query")
        candidates = set(placement_candidates(spec))
        if spec.member_of:  # Placement's member_of: providers in one of the aggregates
            candidates &= {h.placement_key for h in hosts if in_aggregates(h, spec.member_of)}
        if not candidates:
            raise NoValidHost("Got no allocation candidates from the Placement API.")
        current = [h for h in current if h.placement_key in candidates]

    uuids = spec.request_instance_uuids
    num_alts = config.max_attempts - 1 if return_alternates else 0
    chosen_states: list[HostState] = []
    limits: list[Mapping[str, float]] = []
    claims: list[tuple[HostState, RequestSpec, int]] = []
    spec_i = spec
    index = 0
    for index, instance_uuid in enumerate(uuids):
        # Nova rewrites spec.instance_uuid per instance: anti-affinity reads it.
        spec_i = dataclasses.replace(spec_i, instance_uuid=instance_uuid)
        current = get_sorted_hosts(spec_i, current, index, config, rng, filters=filters, weighers=weighers)
        if not current:
            break
        pos = _claim_first(current, spec_i, index, claim if use_placement else None)
        if pos is None:
            break
        chosen = current[pos]
        chosen_states.append(chosen)
        limits.append(_limits_for(chosen, spec_i, filters, rebuild))
        if use_placement:
            claims.append((chosen, spec_i, index))
        if on_choice is not None:
            on_choice(index, chosen)
        current[pos], spec_i = _consume_selected_host(chosen, spec_i, instance_uuid)

    if len(chosen_states) != len(uuids):
        if release is not None:
            for claimed in claims:
                release(*claimed)
        raise NoValidHost("There are not enough hosts available.")

    if index > 0 and num_alts > 0:
        # Consumption changed the chosen hosts: re-sort before picking alternates.
        current = get_sorted_hosts(spec_i, current, index, config, rng, filters=filters, weighers=weighers)
    selected_keys = {h.key for h in chosen_states}
    return [
        Selection(
            host=chosen,
            alternates=_alternates(chosen, current, selected_keys, num_alts),
            limits=lim,
        )
        for chosen, lim in zip(chosen_states, limits, strict=True)
    ]


def in_aggregates(host: HostState, names: tuple[str, ...]) -> bool:
    """Whether ``host`` is in one of the aggregates ``names`` (a request's member_of)."""
    return any(a.name in names for a in host.aggregates)


def _check_unique(hosts: Sequence[HostState]) -> None:
    seen: set[HostKey] = set()
    for host in hosts:
        if host.key in seen:
            raise ValueError(f"duplicate host state {host.key}")
        seen.add(host.key)


def _claim_first(
    hosts: Sequence[HostState], spec: RequestSpec, index: int, claim: ClaimFn | None
) -> int | None:
    """Position of the first host whose claim succeeds (legacy: the first)."""
    if claim is None:
        return 0
    for pos, host in enumerate(hosts):
        if claim(host, spec, index):
            return pos
    return None


def _limits_for(
    host: HostState, spec: RequestSpec, filters: Sequence[BaseHostFilter], rebuild: bool
) -> Mapping[str, float]:
    forced = bool(spec.force_hosts or spec.force_nodes) and not spec.has_check_type
    if rebuild or forced:
        return {}
    return legacy_limits(host, filters)


def _consume_selected_host(
    chosen: HostState, spec: RequestSpec, instance_uuid: str | None
) -> tuple[HostState, RequestSpec]:
    """`SchedulerManager._consume_selected_host`: the chosen host's state after
    this instance (its resources consumed and, in a server group, a stub of the
    instance among its instances, which ServerGroupAntiAffinityFilter and the
    soft-affinity weighers read) and the spec whose group's hosts include it
    (ServerGroupAffinityFilter), for the next instance of the same request."""
    return chosen.consume_from_request(spec, instance_uuid), _with_group_host(spec, chosen.host)


def _with_group_host(spec: RequestSpec, host: str) -> RequestSpec:
    group = spec.instance_group
    if group is None:
        return spec
    return dataclasses.replace(
        spec, instance_group=dataclasses.replace(group, hosts=(*group.hosts, host))
    )


def _alternates(
    chosen: HostState, hosts: Sequence[HostState], selected: set[HostKey], num_alts: int
) -> tuple[HostState, ...]:
    """`_get_alternate_hosts`: same cell, not already selected, in order."""
    if num_alts <= 0:
        return ()
    alts: list[HostState] = []
    for host in hosts:
        if len(alts) >= num_alts:
            break
        if host.cell_uuid == chosen.cell_uuid and host.key not in selected:
            alts.append(host)
    return tuple(alts)


# ---------------------------------------------------------------------------
# capacity arithmetic and a local stand-in for placement
# ---------------------------------------------------------------------------


def placement_capacity(total: float, reserved: float, allocation_ratio: float) -> float:
    """Placement's capacity of one inventory: (total - reserved) * ratio
    (`placement/objects/allocation.py: _check_capacity_exceeded`)."""
    return (total - reserved) * allocation_ratio


def legacy_capacity(total: float, reserved: float, allocation_ratio: float) -> float:
    """What the legacy Ram/Disk/CoreFilter admits of instances on a host:
    total * ratio - reserved (the reserved amount is part of 'used')."""
    return total * allocation_ratio - reserved


def placement_resources(spec: RequestSpec) -> dict[str, int]:
    """`SU.resources_from_request_spec` for the standard resource classes:
    VCPU, MEMORY_MB, DISK_GB (ephemeral + swap rounded up to GB, plus root
    unless boot-from-volume); zero amounts are left out."""
    flavor = spec.flavor
    disk = flavor.ephemeral_gb + math.ceil(flavor.swap / 1024)
    if not spec.is_bfv:
        disk += flavor.root_gb
    amounts = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.memory_mb, "DISK_GB": disk}
    return {rc: amount for rc, amount in amounts.items() if amount > 0}


def _inventory(host: HostState) -> dict[str, tuple[float, float, float, float]]:
    """rc -> (total, reserved, allocation_ratio, used by instances)."""
    reserved_disk_gb = math.ceil(host.reserved_host_disk_mb / 1024)
    return {
        "VCPU": (
            host.vcpus_total,
            host.reserved_host_cpus,
            host.cpu_allocation_ratio,
            host.vcpus_used - host.reserved_host_cpus,
        ),
        "MEMORY_MB": (
            host.total_usable_ram_mb,
            host.reserved_host_memory_mb,
            host.ram_allocation_ratio,
            host.total_usable_ram_mb - host.free_ram_mb - host.reserved_host_memory_mb,
        ),
        "DISK_GB": (
            host.total_usable_disk_gb,
            reserved_disk_gb,
            host.disk_allocation_ratio,
            host.total_usable_disk_gb - host.free_disk_mb / 1024 - host.reserved_host_disk_mb / 1024,
        ),
    }


def placement_fits(host: HostState, resources: Mapping[str, int]) -> bool:
    """Whether placement would return this host: for every requested class,
    amount <= max_unit (= total) and used + amount <= capacity."""
    inventory = _inventory(host)
    for rc, amount in resources.items():
        total, reserved, ratio, used = inventory[rc]
        if amount > total:
            return False
        if used + amount > placement_capacity(total, reserved, ratio):
            return False
    return True


def local_placement_query(hosts: Sequence[HostState]) -> PlacementQuery:
    """A placement stand-in computed from the host states themselves.

    Assumes the HostState usage mirrors placement's allocations (true in a
    model where both are derived from the same instances).
    """

    def query(spec: RequestSpec) -> frozenset[str]:
        resources = placement_resources(spec)
        return frozenset(h.placement_key for h in hosts if placement_fits(h, resources))

    return query
