"""The filters and weighers the scheduler has, by name: Nova's class names.

The configuration checks ``enabled_filters`` and ``weight_classes`` against these
names (``model.scheduler.config``), and the registries map each name to its class
(``model.scheduler.filters.FILTERS``, ``model.scheduler.weighers.WEIGHERS``); both
import this module, which imports nothing, so the configuration need not import the
plugins that are built with it.
"""

from __future__ import annotations

#: the filters, in the registry's order (Nova 34's and those removed from Nova)
FILTER_NAMES: tuple[str, ...] = (
    "AllHostsFilter",
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
    "DifferentHostFilter",
    "SameHostFilter",
    "AggregateInstanceExtraSpecsFilter",
    "NumInstancesFilter",
    "AggregateNumInstancesFilter",
    "IoOpsFilter",
    "AggregateIoOpsFilter",
    "AggregateTypeAffinityFilter",
    "AggregateMultiTenancyIsolation",
    "AggregateImagePropertiesIsolation",
    "IsolatedHostsFilter",
    "SimpleCIDRAffinityFilter",
    "RetryFilter",
    "AvailabilityZoneFilter",
    "RamFilter",
    "AggregateRamFilter",
    "CoreFilter",
    "AggregateCoreFilter",
    "DiskFilter",
    "AggregateDiskFilter",
)

#: the weighers, in the registry's order
WEIGHER_NAMES: tuple[str, ...] = (
    "RAMWeigher",
    "CPUWeigher",
    "DiskWeigher",
    "IoOpsWeigher",
    "NumInstancesWeigher",
    "HypervisorVersionWeigher",
    "BuildFailureWeigher",
    "ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher",
    "ImagePropertiesWeigher",
    "MetricsWeigher",
)


def registry(names: tuple[str, ...], namespace: dict, base: type) -> dict[str, type]:
    """Each name mapped to the class of that name in ``namespace`` (a plugin module's
    ``globals()``), which must be a subclass of ``base``."""
    out = {}
    for name in names:
        cls = namespace.get(name)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise AssertionError(f"{name} is not a {base.__name__} of its module")
        out[name] = cls
    return out
