"""Nova's filter scheduler as a pure library (see pipeline.select_destinations)."""

from model.scheduler.config import SchedulerConfig, SchedulerConfigError
from model.scheduler.filters import FILTERS, NOVA_34_FILTERS, BaseHostFilter, ExtraSpecError
from model.scheduler.host_state import Aggregate, HostState
from model.scheduler.pipeline import (
    FilterResult,
    FilterStep,
    NoValidHost,
    Selection,
    filter_hosts,
    host_filter_results,
    local_placement_query,
    placement_capacity,
    select_destinations,
)
from model.scheduler.request import Destination, Flavor, InstanceGroup, RequestSpec
from model.scheduler.weighers import NOVA_34_WEIGHERS, WEIGHERS, BaseHostWeigher

__all__ = [
    "FILTERS",
    "NOVA_34_FILTERS",
    "NOVA_34_WEIGHERS",
    "WEIGHERS",
    "Aggregate",
    "BaseHostFilter",
    "BaseHostWeigher",
    "Destination",
    "ExtraSpecError",
    "FilterResult",
    "FilterStep",
    "Flavor",
    "HostState",
    "InstanceGroup",
    "NoValidHost",
    "RequestSpec",
    "SchedulerConfig",
    "SchedulerConfigError",
    "Selection",
    "filter_hosts",
    "host_filter_results",
    "local_placement_query",
    "placement_capacity",
    "select_destinations",
]
