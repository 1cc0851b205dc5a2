"""Scheduler configuration as an immutable value.

Field names are Nova's option names (`nova/conf/scheduler.py`
`[filter_scheduler]` / `[scheduler]`, plus `default_availability_zone` from
`nova/conf/compute.py`), except `mode`, which chooses between the two
scheduler generations this model knows:

* ``"legacy"``: the seeds-era filter scheduler.  Capacity is decided by
  RamFilter/DiskFilter/CoreFilter, there is no placement query and the
  scheduler does not claim (`SchedulerManager._legacy_find_hosts`).
* ``"placement"``: today's scheduler.  Candidates come from a placement query
  supplied by the caller, then the filters run, then the chosen host is
  claimed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from model.scheduler.plugin_names import FILTER_NAMES, WEIGHER_NAMES

__all__ = [
    "WEIGHT_MULTIPLIERS",
    "ALL_ARCHITECTURES",
    "DEFAULT_LEGACY_FILTERS",
    "DEFAULT_PLACEMENT_FILTERS",
    "DEFAULT_WEIGHT_CLASSES",
    "SchedulerConfig",
    "SchedulerConfigError",
    "parse_weight_setting",
]

Mode = Literal["legacy", "placement"]

DEFAULT_LEGACY_FILTERS: tuple[str, ...] = (
    "RetryFilter",
    "AvailabilityZoneFilter",
    "RamFilter",
    "DiskFilter",
    "CoreFilter",
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)

# nova/conf/scheduler.py: [filter_scheduler] enabled_filters default.
DEFAULT_PLACEMENT_FILTERS: tuple[str, ...] = (
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)

# Nova's default is all_weighers(); these are all the weighers modelled here.
DEFAULT_WEIGHT_CLASSES: tuple[str, ...] = WEIGHER_NAMES

# nova/objects/fields.py: Architecture.ALL (choices of
# image_properties_default_architecture).
ALL_ARCHITECTURES: frozenset[str] = frozenset(
    {
        "alpha", "armv6", "armv7l", "armv7b", "aarch64", "cris", "i686",
        "ia64", "lm32", "m68k", "microblaze", "microblazeel", "mips",
        "mipsel", "mips64", "mips64el", "openrisc", "parisc", "parisc64",
        "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "s390", "s390x", "sh4",
        "sh4eb", "sparc", "sparc64", "unicore32", "x86_64", "xtensa",
        "xtensaeb",
    }
)


class SchedulerConfigError(ValueError):
    """A scheduler configuration value is invalid; the message names it."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_INT_FIELDS = (
    "host_subset_size",
    "max_attempts",
    "max_instances_per_host",
    "max_io_ops_per_host",
)
_FLOAT_FIELDS = (
    "ram_weight_multiplier",
    "cpu_weight_multiplier",
    "disk_weight_multiplier",
    "io_ops_weight_multiplier",
    "num_instances_weight_multiplier",
    "hypervisor_version_weight_multiplier",
    "build_failure_weight_multiplier",
    "soft_affinity_weight_multiplier",
    "soft_anti_affinity_weight_multiplier",
    "image_props_weight_multiplier",
    "metrics_weight_multiplier",
    "metrics_weight_of_unavailable",
)
_BOOL_FIELDS = (
    "shuffle_best_same_weighed_hosts",
    "restrict_isolated_hosts_to_isolated_images",
    "metrics_required",
)
_LIST_FIELDS = (
    "enabled_filters",
    "weight_classes",
    "isolated_images",
    "isolated_hosts",
    "image_props_weight_setting",
    "metrics_weight_setting",
)
# `name=ratio` lists (`nova/scheduler/utils.py: parse_options` with a float converter).
_SETTING_FIELDS = ("image_props_weight_setting", "metrics_weight_setting")
#: the weighers' multiplier options in Nova's ``[filter_scheduler]`` group, under their
#: Nova names (the ``metrics_*`` ones are Nova's ``[metrics]`` options)
WEIGHT_MULTIPLIERS: tuple[str, ...] = tuple(
    f for f in _FLOAT_FIELDS if f.endswith("_weight_multiplier") and not f.startswith("metrics_"))
# Lower bounds from the oslo.config `min=` of each option.
_MINIMA: dict[str, float] = {
    "host_subset_size": 1,
    "max_attempts": 1,
    "max_instances_per_host": 1,
    "max_io_ops_per_host": 0,
    "soft_affinity_weight_multiplier": 0.0,
    "soft_anti_affinity_weight_multiplier": 0.0,
}


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """All scheduler options the model reads.  Validated on construction.

    `enabled_filters=None` means the default for `mode`.

    The `[metrics]` group's options carry a `metrics_` prefix here (one flat
    table): `metrics_weight_multiplier` is `[metrics] weight_multiplier` (and
    the aggregate metadata key MetricsWeigher reads), `metrics_weight_setting`
    `[metrics] weight_setting`, `metrics_required` `[metrics] required`,
    `metrics_weight_of_unavailable` `[metrics] weight_of_unavailable`.

    A `*_weight_setting` entry that is not `name=number` is refused; Nova
    logs a warning and ignores it (`parse_options`), which would leave a
    model run weighing differently from what its file says.
    """

    mode: Mode = "placement"
    enabled_filters: tuple[str, ...] | None = None
    weight_classes: tuple[str, ...] = DEFAULT_WEIGHT_CLASSES
    host_subset_size: int = 1
    max_attempts: int = 3
    max_instances_per_host: int = 50
    max_io_ops_per_host: int = 8
    shuffle_best_same_weighed_hosts: bool = False
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    disk_weight_multiplier: float = 1.0
    io_ops_weight_multiplier: float = -1.0
    num_instances_weight_multiplier: float = 0.0
    hypervisor_version_weight_multiplier: float = 1.0
    build_failure_weight_multiplier: float = 1000000.0
    soft_affinity_weight_multiplier: float = 1.0
    soft_anti_affinity_weight_multiplier: float = 1.0
    image_properties_default_architecture: str | None = None
    default_availability_zone: str = "nova"
    isolated_images: tuple[str, ...] = ()
    isolated_hosts: tuple[str, ...] = ()
    restrict_isolated_hosts_to_isolated_images: bool = True
    aggregate_image_properties_isolation_namespace: str | None = None
    aggregate_image_properties_isolation_separator: str = "."
    image_props_weight_multiplier: float = 0.0
    image_props_weight_setting: tuple[str, ...] = ()
    metrics_weight_multiplier: float = 1.0
    metrics_weight_setting: tuple[str, ...] = ()
    metrics_required: bool = True
    metrics_weight_of_unavailable: float = -10000.0

    def __post_init__(self) -> None:
        if self.enabled_filters is None and self.mode in ("legacy", "placement"):
            default = (
                DEFAULT_LEGACY_FILTERS
                if self.mode == "legacy"
                else DEFAULT_PLACEMENT_FILTERS
            )
            object.__setattr__(self, "enabled_filters", default)
        self.validate()

    @property
    def filters(self) -> tuple[str, ...]:
        """`enabled_filters`, never None after construction."""
        assert self.enabled_filters is not None
        return self.enabled_filters

    def validate(self) -> None:
        """Raise SchedulerConfigError naming the first bad field."""
        if self.mode not in ("legacy", "placement"):
            _fail("mode", self.mode, "must be 'legacy' or 'placement'")
        _check_names("enabled_filters", self.enabled_filters, FILTER_NAMES)
        _check_names("weight_classes", self.weight_classes, WEIGHER_NAMES)
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not _is_int(value):
                _fail(name, value, "must be an integer")
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                _fail(name, value, "must be a finite number")
        for name, minimum in _MINIMA.items():
            value = getattr(self, name)
            if value < minimum:
                _fail(name, value, f"must be >= {minimum}")
        for name in _BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                _fail(name, value, "must be a boolean")
        for name in _LIST_FIELDS[2:]:
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                _fail(name, value, "must be a list of non-empty strings")
        for name in _SETTING_FIELDS:
            parse_weight_setting(name, getattr(self, name))
        namespace = self.aggregate_image_properties_isolation_namespace
        if namespace is not None and not isinstance(namespace, str):
            _fail("aggregate_image_properties_isolation_namespace", namespace, "must be a string")
        if not isinstance(self.aggregate_image_properties_isolation_separator, str):
            _fail(
                "aggregate_image_properties_isolation_separator",
                self.aggregate_image_properties_isolation_separator,
                "must be a string",
            )
        arch = self.image_properties_default_architecture
        if arch is not None and arch not in ALL_ARCHITECTURES:
            _fail("image_properties_default_architecture", arch, "unknown architecture")
        if not isinstance(self.default_availability_zone, str) or not (
            self.default_availability_zone
        ):
            _fail(
                "default_availability_zone",
                self.default_availability_zone,
                "must be a non-empty string",
            )

    def replace(self, **changes: Any) -> SchedulerConfig:
        """A copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> SchedulerConfig:
        """Build from a parsed TOML table whose keys are Nova option names.

        Lists become tuples; an integer is accepted where a float is expected.
        Unknown keys and values of the wrong type raise SchedulerConfigError.
        """
        if not isinstance(table, Mapping):
            raise SchedulerConfigError(
                f"scheduler config: expected a table, got {type(table).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                _fail(key, value, "unknown scheduler option")
            kwargs[key] = _coerce(key, value)
        return cls(**kwargs)


def _coerce(key: str, value: Any) -> Any:
    if key in _LIST_FIELDS:
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) for v in value
        ):
            _fail(key, value, "must be a list of strings")
        return tuple(value)
    if key in _FLOAT_FIELDS:
        if not _is_number(value):
            _fail(key, value, "must be a number")
        return float(value)
    if key in _INT_FIELDS:
        if not _is_int(value):
            _fail(key, value, "must be an integer")
        return value
    if key in _BOOL_FIELDS:
        if not isinstance(value, bool):
            _fail(key, value, "must be a boolean")
        return value
    if key in ("mode", "default_availability_zone"):
        if not isinstance(value, str):
            _fail(key, value, "must be a string")
        return value
    if key in (
        "image_properties_default_architecture",
        "aggregate_image_properties_isolation_namespace",
        "aggregate_image_properties_isolation_separator",
    ):
        if value is not None and not isinstance(value, str):
            _fail(key, value, "must be a string")
        return value
    return value


def parse_weight_setting(field_name: str, entries: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """`name=ratio` entries as (name, ratio) pairs, in order.

    The split is `nova/scheduler/utils.py: parse_options` (the first `=`,
    the name kept as written, the ratio through float()); a malformed entry
    raises SchedulerConfigError instead of being dropped with a warning.
    """
    pairs = []
    for entry in entries:
        name, sep, ratio = entry.partition("=")
        try:
            value = float(ratio)
        except ValueError:
            value = None
        if not name or not sep or value is None:
            _fail(field_name, entry, "must be 'name=number'")
        if not math.isfinite(value):
            _fail(field_name, entry, "the ratio must be a finite number")
        pairs.append((name, value))
    return tuple(pairs)


def _check_names(
    field_name: str, names: tuple[str, ...] | None, registry: tuple[str, ...]
) -> None:
    if not isinstance(names, tuple):
        _fail(field_name, names, "must be a tuple of names")
    for name in names:
        if name not in registry:
            _fail(field_name, name, f"unknown name (known: {', '.join(sorted(registry))})")


def _fail(field_name: str, value: Any, why: str) -> NoReturn:
    raise SchedulerConfigError(f"{field_name}: invalid value {value!r}: {why}")


class SchedulerPlugin:
    """What filters and weighers share: the configuration they run under, Nova's name."""

    IN_NOVA_34: bool = True

    def __init__(self, config: "SchedulerConfig | None" = None) -> None:
        self.config = config if config is not None else SchedulerConfig()

    @property
    def name(self) -> str:
        return type(self).__name__
