"""What the scheduler sees of one compute node.

`HostState` mirrors the attributes of Nova's
`nova/scheduler/host_manager.py: HostState` that the modelled filters and
weighers read, under the same names.  It is an immutable value: the pipeline
never mutates the caller's objects; `consume_from_request` returns a new state
(Nova mutates its cached HostState in place, which is only a per-process cache
that is refreshed from the database on the next request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model.scheduler.request import RequestSpec

__all__ = [
    "Aggregate",
    "HostState",
    "NOVA_HOST_STATE_ATTRIBUTES",
    "NOVA_HOST_STATE_OPAQUE_ATTRIBUTES",
    "aggregate_metadata_get_by_host",
    "aggregate_values_from_key",
    "instance_uuids_overlap",
]


SupportedInstance = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A host aggregate as the filters see it: a name and string metadata.

    `hosts` is informational only (Nova's filters read `HostState.aggregates`,
    the aggregates a host belongs to, never `Aggregate.hosts`).
    """

    name: str
    hosts: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostState:
    """One compute node (host, nodename) as seen by the scheduler.

    Units and meanings follow `HostState._update_from_compute_node`:
    `free_ram_mb` = ComputeNode.memory_mb - memory_mb_used (used includes
    reserved_host_memory_mb, may be negative), `free_disk_mb` =
    min(free_disk_gb, disk_available_least) * 1024, `vcpus_used` includes
    reserved_host_cpus.  `num_instances`, `num_io_ops` and `failed_builds`
    come from the compute node stats in Nova; here they are plain fields.

    `service_up` is what Nova's servicegroup API answers for the service
    (heartbeat recent and not forced down); `service_disabled` is the
    service's `disabled` flag.

    `instances` maps instance uuid -> image properties of that instance (the
    filters only look at the keys; ImagePropertiesWeigher reads the
    properties, which Nova loads from each instance's system metadata).

    `metrics` maps a monitor metric name (`MonitorMetricType`, e.g.
    ``"cpu.percent"``) to its integer value: Nova's `HostState.metrics`, the
    `MonitorMetricList` the compute node reported (`ComputeNode.metrics`),
    read by MetricsWeigher.  Empty when the node reports none.

    `availability_zone`, when given and no aggregate of the host already
    carries `availability_zone` metadata, is turned into an implicit aggregate
    named ``"az:<name>"``: in Nova an AZ *is* aggregate metadata, and the
    AvailabilityZoneFilter reads only the aggregates.

    `reserved_host_*` are only used by the placement-capacity helper in
    `model.scheduler.pipeline` (Nova's scheduler never sees them: they are
    already folded into free_ram_mb / free_disk_mb / vcpus_used).
    """

    host: str
    nodename: str
    uuid: str | None = None
    total_usable_ram_mb: int = 0
    free_ram_mb: int = 0
    total_usable_disk_gb: int = 0
    free_disk_mb: int = 0
    disk_mb_used: int = 0
    vcpus_total: int = 0
    vcpus_used: int = 0
    num_instances: int = 0
    num_io_ops: int = 0
    failed_builds: int = 0
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    service_up: bool = True
    service_disabled: bool = False
    availability_zone: str | None = None
    aggregates: tuple[Aggregate, ...] = ()
    stats: Mapping[str, str] = field(default_factory=dict)
    supported_instances: tuple[SupportedInstance, ...] = ()
    hypervisor_type: str | None = None
    hypervisor_version: int | None = None
    hypervisor_hostname: str | None = None
    host_ip: str | None = None
    cpu_info: Mapping[str, Any] = field(default_factory=dict)
    cell_uuid: str | None = None
    instances: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    metrics: Mapping[str, int] = field(default_factory=dict)
    reserved_host_memory_mb: int = 0
    reserved_host_disk_mb: int = 0
    reserved_host_cpus: int = 0

    def __post_init__(self) -> None:
        if self.availability_zone and not any(
            "availability_zone" in agg.metadata for agg in self.aggregates
        ):
            implicit = Aggregate(
                name=f"az:{self.availability_zone}",
                hosts=(self.host,),
                metadata={"availability_zone": self.availability_zone},
            )
            object.__setattr__(self, "aggregates", (*self.aggregates, implicit))

    @property
    def key(self) -> tuple[str, str]:
        """(host, nodename): what Nova uses to tell host states apart."""
        return (self.host, self.nodename)

    @property
    def placement_key(self) -> str:
        """The resource provider id placement candidates are matched against."""
        return self.uuid if self.uuid is not None else self.nodename

    def consume_from_request(
        self, spec: RequestSpec, instance_uuid: str | None = None
    ) -> HostState:
        """The state after placing one instance of `spec` here.

        Mirrors `HostState._locked_consume_from_request` (free_ram_mb,
        free_disk_mb without swap, vcpus_used, num_instances and num_io_ops)
        plus the stub instance `SchedulerManager._consume_selected_host` adds
        for server-group members so anti-affinity sees earlier instances of
        the same multi-create.  NUMA and PCI are not modelled.
        """
        flavor = spec.flavor
        instances = self.instances
        if (
            spec.instance_group is not None
            and instance_uuid
            and instance_uuid not in instances
        ):
            # (the instance exists already: a weigher that loads its image
            # properties, as ImagePropertiesWeigher does, finds the request's)
            instances = {**instances, instance_uuid: spec.image_properties}
        return dataclasses.replace(
            self,
            free_ram_mb=self.free_ram_mb - flavor.memory_mb,
            # Nova's consume ignores swap although DiskFilter counts it.
            free_disk_mb=self.free_disk_mb
            - (flavor.root_gb + flavor.ephemeral_gb) * 1024,
            vcpus_used=self.vcpus_used + flavor.vcpus,
            num_instances=self.num_instances + 1,
            num_io_ops=self.num_io_ops + 1,
            instances=instances,
        )


# Attributes of Nova's HostState that this model carries with the same
# meaning; ComputeCapabilitiesFilter may look any of them up by name.
NOVA_HOST_STATE_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "host",
        "nodename",
        "uuid",
        "total_usable_ram_mb",
        "total_usable_disk_gb",
        "disk_mb_used",
        "free_ram_mb",
        "free_disk_mb",
        "vcpus_total",
        "vcpus_used",
        "num_instances",
        "num_io_ops",
        "failed_builds",
        "host_ip",
        "hypervisor_type",
        "hypervisor_version",
        "hypervisor_hostname",
        "cpu_info",
        "supported_instances",
        "ram_allocation_ratio",
        "cpu_allocation_ratio",
        "disk_allocation_ratio",
        "cell_uuid",
        "stats",
    }
)

# Attributes (and methods) that Nova's HostState has but whose str() is an
# internal object representation (or that this model does not carry).  An
# extra spec naming one is not ignored by Nova; the model treats the value as
# unavailable, so the host fails the spec (documented deviation: Nova would
# compare against e.g. "<bound method ...>" or "{}").
NOVA_HOST_STATE_OPAQUE_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "aggregates",
        "instances",
        "limits",
        "metrics",
        "numa_topology",
        "pci_stats",
        "service",
        "updated",
        "allocation_candidates",
        "update",
        "consume_from_request",
        "_lock_name",
        "_update_from_compute_node",
        "_locked_consume_from_request",
    }
)


def aggregate_values_from_key(host_state: HostState, key_name: str) -> set[str]:
    """Distinct raw metadata values for `key_name` over the host's aggregates.

    Same contract as `nova/scheduler/filters/utils.py:
    aggregate_values_from_key` (no comma splitting).
    """
    return {
        agg.metadata[key_name]
        for agg in host_state.aggregates
        if key_name in agg.metadata
    }


def aggregate_metadata_get_by_host(
    host_state: HostState, key: str | None = None
) -> dict[str, set[str]]:
    """Aggregate metadata of the host, values split on commas and stripped.

    Like Nova's `aggregate_metadata_get_by_host`: when `key` is given, only
    aggregates having that key contribute, but they contribute *all* their
    keys.
    """
    metadata: dict[str, set[str]] = {}
    for agg in host_state.aggregates:
        if key is None or key in agg.metadata:
            for k, v in agg.metadata.items():
                metadata.setdefault(k, set()).update(x.strip() for x in v.split(","))
    return metadata


def instance_uuids_overlap(host_state: HostState, uuids: str | tuple[str, ...]) -> bool:
    """Whether any of `uuids` is an instance on the host."""
    if isinstance(uuids, str):
        uuids = (uuids,)
    return any(u in host_state.instances for u in uuids)
