"""What the scheduler is asked: a flavor, an image and placement constraints.

Mirrors the parts of Nova's `objects.RequestSpec` (and `Flavor`,
`InstanceGroup`, `Destination`) that the modelled filters, weighers and
`SchedulerManager._schedule` read.  All values are immutable; the pipeline
derives per-instance specs with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Destination",
    "Flavor",
    "InstanceGroup",
    "RequestSpec",
    "SERVER_GROUP_POLICIES",
]

SERVER_GROUP_POLICIES = frozenset(
    {"affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"}
)


@dataclass(frozen=True, slots=True)
class Flavor:
    """A flavor; `swap` is in MB, root/ephemeral in GB (as in Nova)."""

    name: str = "m1.small"
    vcpus: int = 1
    memory_mb: int = 512
    root_gb: int = 1
    ephemeral_gb: int = 0
    swap: int = 0
    extra_specs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceGroup:
    """A server group: one policy, its rules, member uuids and their hosts."""

    policy: str | None = None
    rules: Mapping[str, int] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    uuid: str | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy not in SERVER_GROUP_POLICIES:
            raise ValueError(f"unknown server group policy {self.policy!r}")


@dataclass(frozen=True, slots=True)
class Destination:
    """`RequestSpec.requested_destination`: a host and optionally a node."""

    host: str
    node: str | None = None


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One scheduling request (possibly a multi-create of `num_instances`).

    `scheduler_hints` holds lists of strings as Nova's
    DictOfListOfStringsField does; `same_host`/`different_host` read from it.
    `is_rebuild` stands for the `_nova_check_type=['rebuild']` hint, which is
    also recognised when present in `scheduler_hints`.

    `instance_uuids` are the uuids of a multi-create (Nova passes them next to
    the spec).  When empty, the request is for `instance_uuid` alone and
    `num_instances` must be 1.

    `retry_hosts` are the (host, nodename) pairs already tried
    (`RequestSpec.retry.hosts`, read by the legacy RetryFilter).

    `image_id` is the image's id (`RequestSpec.image.id`; None for a
    volume-backed request without an image) and `project_id` the project the
    instance belongs to: IsolatedHostsFilter and AggregateMultiTenancyIsolation
    read them.  The hints `cidr` and `build_near_host_ip`
    (SimpleCIDRAffinityFilter) live in `scheduler_hints` like the others.

    `member_of` names the aggregates a placement candidate must belong to (any
    one of them): `requested_destination.aggregates`, which the request filters
    write (`model/scheduler/request_filter.py`). Empty: no restriction.
    """

    flavor: Flavor = field(default_factory=Flavor)
    image_properties: Mapping[str, Any] = field(default_factory=dict)
    image_id: str | None = None
    availability_zone: str | None = None
    instance_group: InstanceGroup | None = None
    scheduler_hints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    force_hosts: tuple[str, ...] = ()
    force_nodes: tuple[str, ...] = ()
    ignore_hosts: tuple[str, ...] = ()
    requested_destination: Destination | None = None
    num_instances: int = 1
    instance_uuid: str | None = None
    instance_uuids: tuple[str, ...] = ()
    is_rebuild: bool = False
    is_bfv: bool = False
    project_id: str | None = None
    retry_hosts: tuple[tuple[str, str], ...] = ()
    member_of: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.num_instances < 1:
            raise ValueError(f"num_instances must be >= 1, got {self.num_instances}")
        if self.instance_uuids and len(self.instance_uuids) != self.num_instances:
            raise ValueError(
                f"instance_uuids has {len(self.instance_uuids)} entries but "
                f"num_instances is {self.num_instances}"
            )
        if not self.instance_uuids and self.num_instances > 1:
            raise ValueError("a multi-create request needs instance_uuids")

    # Convenience accessors with Nova's RequestSpec property names.
    @property
    def vcpus(self) -> int:
        return self.flavor.vcpus

    @property
    def memory_mb(self) -> int:
        return self.flavor.memory_mb

    @property
    def root_gb(self) -> int:
        return self.flavor.root_gb

    @property
    def ephemeral_gb(self) -> int:
        return self.flavor.ephemeral_gb

    @property
    def swap(self) -> int:
        return self.flavor.swap

    @property
    def same_host(self) -> tuple[str, ...]:
        return tuple(self.scheduler_hints.get("same_host", ()))

    @property
    def different_host(self) -> tuple[str, ...]:
        return tuple(self.scheduler_hints.get("different_host", ()))

    @property
    def request_is_rebuild(self) -> bool:
        """`nova/scheduler/utils.py: request_is_rebuild`."""
        if self.is_rebuild:
            return True
        return tuple(self.scheduler_hints.get("_nova_check_type", ())) == ("rebuild",)

    @property
    def has_check_type(self) -> bool:
        """Whether the `_nova_check_type` hint is present (forced hosts are
        then filtered, see `HostManager.get_filtered_hosts`)."""
        return self.is_rebuild or bool(self.scheduler_hints.get("_nova_check_type"))

    @property
    def request_instance_uuids(self) -> tuple[str | None, ...]:
        """The uuid of each instance to place, in order."""
        return self.instance_uuids or (self.instance_uuid,)

    def get_scheduler_hint(self, name: str, default: Any = None) -> Any:
        """Nova's `RequestSpec.get_scheduler_hint`: a one-element list
        collapses to its element."""
        value = self.scheduler_hints.get(name, default)
        if isinstance(value, (list, tuple)) and len(value) == 1:
            return value[0]
        return value

    def with_instance(self, instance_uuid: str | None) -> RequestSpec:
        return dataclasses.replace(self, instance_uuid=instance_uuid)
