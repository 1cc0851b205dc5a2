"""Nova's host weighers and the weighing handler.

Weighing follows `nova/weights.py`: every host starts at 0.0; for each
weigher the raw values are clamped to the weigher's minval/maxval, normalised
to [0, 1] over the candidate list (`normalize`), multiplied by the per-host
multiplier and added.  Hosts are then sorted by weight, highest first, ties
keeping their input order (Python's sort is stable, as Nova relies on).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from model.scheduler.config import SchedulerConfig, SchedulerPlugin, parse_weight_setting
from model.scheduler.filters import validate_num_values
from model.scheduler.host_state import HostState, aggregate_values_from_key
from model.scheduler.plugin_names import WEIGHER_NAMES, registry
from model.scheduler.request import RequestSpec

__all__ = [
    "ComputeHostMetricNotFound",
    "NOVA_34_WEIGHERS",
    "WEIGHERS",
    "BaseHostWeigher",
    "WeighedHost",
    "get_weight_multiplier",
    "get_weighed_objects",
    "make_weighers",
    "normalize",
]


def normalize(
    weight_list: Sequence[float],
    minval: float | None = None,
    maxval: float | None = None,
) -> list[float]:
    """`nova/weights.py: normalize`: (w - min) / (max - min), where min/max
    are the given bounds or the list's own; all zero when min == max."""
    if not weight_list:
        return []
    hi = float(max(weight_list) if maxval is None else maxval)
    lo = float(min(weight_list) if minval is None else minval)
    if lo == hi:
        return [0.0] * len(weight_list)
    span = hi - lo
    return [(w - lo) / span for w in weight_list]


def get_weight_multiplier(host_state: HostState, name: str, config_value: float) -> float:
    """`nova/scheduler/utils.py: get_weight_multiplier`: the minimum of the
    host's aggregate metadata values for `name`, else `config_value` (also
    when any aggregate value is not a number)."""
    values = aggregate_values_from_key(host_state, name)
    if not values:
        return config_value
    try:
        return float(validate_num_values(values, config_value, cast_to=float))
    except ValueError:
        return config_value


class BaseHostWeigher(SchedulerPlugin):
    """Base of all host weighers (`nova/weights.py: BaseWeigher`)."""

    minval: ClassVar[float | None] = None
    maxval: ClassVar[float | None] = None
    multiplier_option: ClassVar[str] = ""

    def weight_multiplier(self, host_state: HostState) -> float:
        return get_weight_multiplier(
            host_state, self.multiplier_option, getattr(self.config, self.multiplier_option)
        )

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        raise NotImplementedError

    def weigh_objects(self, hosts: Sequence[HostState], spec: RequestSpec) -> list[float]:
        """Raw weights, clamped to [minval, maxval] where those are set."""
        weights = []
        for host_state in hosts:
            weight = self._weigh_object(host_state, spec)
            if self.minval is not None:
                weight = max(weight, self.minval)
            if self.maxval is not None:
                weight = min(weight, self.maxval)
            weights.append(weight)
        return weights


class RAMWeigher(BaseHostWeigher):
    """Raw weight free_ram_mb (min 0); positive multiplier spreads."""

    minval = 0
    multiplier_option = "ram_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return host_state.free_ram_mb


class CPUWeigher(BaseHostWeigher):
    """Raw weight vcpus_total * cpu_allocation_ratio - vcpus_used (min 0)."""

    minval = 0
    multiplier_option = "cpu_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return host_state.vcpus_total * host_state.cpu_allocation_ratio - host_state.vcpus_used


class DiskWeigher(BaseHostWeigher):
    """Raw weight free_disk_mb (min 0)."""

    minval = 0
    multiplier_option = "disk_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return host_state.free_disk_mb


class IoOpsWeigher(BaseHostWeigher):
    """Raw weight num_io_ops (min 0); the default multiplier -1.0 prefers idle hosts."""

    minval = 0
    multiplier_option = "io_ops_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return host_state.num_io_ops


class NumInstancesWeigher(BaseHostWeigher):
    """Raw weight num_instances; default multiplier 0.0 (off)."""

    multiplier_option = "num_instances_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return host_state.num_instances


class HypervisorVersionWeigher(BaseHostWeigher):
    """Raw weight hypervisor_version (None -> 0); positive multiplier prefers newer."""

    multiplier_option = "hypervisor_version_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return host_state.hypervisor_version or 0


class BuildFailureWeigher(BaseHostWeigher):
    """Raw weight failed_builds with the negated build_failure_weight_multiplier."""

    multiplier_option = "build_failure_weight_multiplier"

    def weight_multiplier(self, host_state: HostState) -> float:
        return -1 * super().weight_multiplier(host_state)

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return host_state.failed_builds


class _SoftAffinityWeigherBase(BaseHostWeigher):
    policy_name: ClassVar[str] = ""

    def _members_on_host(self, host_state: HostState, spec: RequestSpec) -> int:
        group = spec.instance_group
        if group is None or group.policy != self.policy_name:
            return 0
        return sum(1 for m in set(group.members) if m in host_state.instances)


class ServerGroupSoftAffinityWeigher(_SoftAffinityWeigherBase):
    """Raw weight = group members on the host when the policy is soft-affinity."""

    policy_name = "soft-affinity"
    multiplier_option = "soft_affinity_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return self._members_on_host(host_state, spec)


class ServerGroupSoftAntiAffinityWeigher(_SoftAffinityWeigherBase):
    """Raw weight = minus the group members on the host when the policy is soft-anti-affinity."""

    policy_name = "soft-anti-affinity"
    multiplier_option = "soft_anti_affinity_weight_multiplier"

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        return -1 * self._members_on_host(host_state, spec)


class ImagePropertiesWeigher(BaseHostWeigher):
    """Raw weight: how often the image's properties occur among the host's instances (default multiplier 0.0: off)."""

    multiplier_option = "image_props_weight_multiplier"

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        super().__init__(config)
        self.setting = dict(
            parse_weight_setting("image_props_weight_setting", self.config.image_props_weight_setting)
        )

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        """`nova/scheduler/weights/image_props.py: ImagePropertiesWeigher`: each
        (property, value) pair the request's image shares with at least one
        instance on the host counts once per instance having it, times its ratio
        in `image_props_weight_setting` (a property the setting does not name then
        counts 0), or 1 when the setting is empty.  Values compare as text.  The
        weigher is off (0.0 everywhere) when the configured
        `image_props_weight_multiplier` is 0, whatever the aggregates say.

        Nova loads the instances' image properties from their cell (a host whose
        cell is unknown weighs 0); cells are not modelled, the properties are those
        `HostState.instances` carries.
        """
        if self.config.image_props_weight_multiplier == 0.0:
            return 0.0
        requested = {(key, str(value)) for key, value in spec.image_properties.items()}
        counts: dict[tuple[str, str], int] = {}
        for props in host_state.instances.values():
            for pair in {(key, str(value)) for key, value in props.items()}:
                counts[pair] = counts.get(pair, 0) + 1
        weight = 0.0
        # (sorted: Nova sums over a set; with the ratios a file can write the
        # sum does not depend on the order)
        for pair in sorted(requested & counts.keys()):
            ratio = self.setting.get(pair[0], 0.0) if self.setting else 1.0
            weight += ratio * counts[pair]
        return weight


class ComputeHostMetricNotFound(ValueError):
    """A metric `metrics_weight_setting` names is missing on a host while
    `metrics_required` is set: Nova's MetricsWeigher raises
    `exception.ComputeHostMetricNotFound`, which fails the scheduling request."""


class MetricsWeigher(BaseHostWeigher):
    """Raw weight: sum of metric value * ratio over `metrics_weight_setting` (empty by default: 0)."""

    multiplier_option = "metrics_weight_multiplier"

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        super().__init__(config)
        self.setting = parse_weight_setting("metrics_weight_setting", self.config.metrics_weight_setting)

    def _weigh_object(self, host_state: HostState, spec: RequestSpec) -> float:
        """`nova/scheduler/weights/metrics.py: MetricsWeigher`: a metric the host does
        not report raises ComputeHostMetricNotFound when `metrics_required`;
        otherwise the host weighs `metrics_weight_of_unavailable` (unless that
        metric's ratio times the host's multiplier is 0: then it is skipped).
        """
        value = 0.0
        for name, ratio in self.setting:
            metric = host_state.metrics.get(name)
            if metric is not None:
                value += metric * ratio
            elif self.config.metrics_required:
                raise ComputeHostMetricNotFound(
                    f"metric {name} not found on {host_state.host} ({host_state.nodename})"
                )
            elif ratio * self.weight_multiplier(host_state) != 0:
                return self.config.metrics_weight_of_unavailable
        return value


@dataclass(frozen=True, slots=True)
class WeighedHost:
    """A host and its total weight (`nova/scheduler/weights: WeighedHost`)."""

    obj: HostState
    weight: float


def get_weighed_objects(
    weighers: Iterable[BaseHostWeigher],
    hosts: Sequence[HostState],
    spec: RequestSpec,
) -> list[WeighedHost]:
    """`BaseWeightHandler.get_weighed_objects`: sorted, highest weight first."""
    totals = [0.0] * len(hosts)
    if len(hosts) <= 1:
        return [WeighedHost(h, 0.0) for h in hosts]
    for weigher in weighers:
        raw = weigher.weigh_objects(hosts, spec)
        normalized = normalize(raw, minval=weigher.minval, maxval=weigher.maxval)
        for i, weight in enumerate(normalized):
            totals[i] += weigher.weight_multiplier(hosts[i]) * weight
    order = sorted(range(len(hosts)), key=lambda i: totals[i], reverse=True)
    return [WeighedHost(hosts[i], totals[i]) for i in order]


#: every weigher by name (``plugin_names.WEIGHER_NAMES``, which the configuration checks)
WEIGHERS: dict[str, type[BaseHostWeigher]] = registry(WEIGHER_NAMES, globals(),
                                                      BaseHostWeigher)

NOVA_34_WEIGHERS: frozenset[str] = frozenset(
    name for name, cls in WEIGHERS.items() if cls.IN_NOVA_34
)


def make_weighers(config: SchedulerConfig) -> list[BaseHostWeigher]:
    """Instances of `config.weight_classes`, in order."""
    return [WEIGHERS[name](config) for name in config.weight_classes]
