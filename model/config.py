"""The cluster file: a TOML description of hosts, flavors, images and options.

`ClusterConfig.load(path)` / `loads(text)` parse and validate a cluster file
into frozen dataclasses (a value; nothing global).  `ClusterConfig.default()`
reads the packaged `model/data/default_cluster.toml`.

Every problem raises `ConfigError` whose message is one line naming the file,
the field path and the problem, e.g.::

    cluster.toml: hosts[2].cpu_allocation_ratio: must be > 0, got -1.0

Field paths index arrays from 0 (``hosts[0]`` is the first ``[[hosts]]``).

Option names are Nova's (`nova/conf/compute.py`, `nova/conf/scheduler.py`).
Allocation ratios come from a profile (``"seeds"``: the pre-2022 defaults
16.0 / 1.5 / 1.0 with no reserved memory; ``"nova"``: today's initial_*
defaults 4.0 / 1.0 / 1.0 with reserved_host_memory_mb 512), overridden by
explicit options, overridden per host.  A file without an
``[allocation_ratios]`` table uses the ``"nova"`` profile.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import ipaddress
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from model import documents
from model.placement import Inventory, Ledger, PlacementError, ResourceClass
from model.scheduler.config import ALL_ARCHITECTURES, SchedulerConfig, SchedulerConfigError
from model.scheduler.host_state import Aggregate
from model.scheduler.request import SERVER_GROUP_POLICIES, Flavor, InstanceGroup

__all__ = [
    "DEFAULT_CLUSTER_RESOURCE",
    "PROFILES",
    "RUNNING_DELETED_INSTANCE_ACTIONS",
    "AllocationRatios",
    "ClusterConfig",
    "ConfigError",
    "HostConfig",
    "ImageConfig",
    "Options",
    "ServerGroupConfig",
    "inventories_for",
]

DEFAULT_CLUSTER_RESOURCE = "data/default_cluster.toml"


class ConfigError(ValueError):
    """A cluster file is invalid.  `str()` is one line: file, field, problem."""

    def __init__(self, message: str):
        message = " ".join(message.split("\n"))
        super().__init__(message)
        self.message = message


# ----------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------

_RATIO_FIELDS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio")
_RESERVED_FIELDS = ("reserved_host_memory_mb", "reserved_host_disk_mb", "reserved_host_cpus")

# profile -> option values (nova/conf/compute.py; "seeds" = before commit
# 1260cdd4 "update default overcommit", with no reserved host memory).
PROFILES: Mapping[str, Mapping[str, float | int]] = {
    "seeds": {
        "cpu_allocation_ratio": 16.0,
        "ram_allocation_ratio": 1.5,
        "disk_allocation_ratio": 1.0,
        "reserved_host_memory_mb": 0,
        "reserved_host_disk_mb": 0,
        "reserved_host_cpus": 0,
    },
    "nova": {
        "cpu_allocation_ratio": 4.0,
        "ram_allocation_ratio": 1.0,
        "disk_allocation_ratio": 1.0,
        "reserved_host_memory_mb": 512,
        "reserved_host_disk_mb": 0,
        "reserved_host_cpus": 0,
    },
}


@dataclass(frozen=True, slots=True)
class AllocationRatios:
    """Overcommit ratios and reserved host resources (resolved values)."""

    profile: str = "nova"
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    reserved_host_disk_mb: int = 0
    reserved_host_cpus: int = 0

    @classmethod
    def for_profile(cls, profile: str, **overrides: Any) -> AllocationRatios:
        """The profile's values with `overrides` (option name -> value)."""
        if profile not in PROFILES:
            raise ValueError(f"unknown allocation ratio profile {profile!r}")
        values = {**PROFILES[profile], **overrides}
        return cls(profile=profile, **values)  # type: ignore[arg-type]


# nova/objects/fields.py: MonitorMetricType.ALL (the metrics a compute node may report).
MONITOR_METRICS: tuple[str, ...] = (
    "cpu.frequency", "cpu.user.time", "cpu.kernel.time", "cpu.idle.time", "cpu.iowait.time",
    "cpu.user.percent", "cpu.kernel.percent", "cpu.idle.percent", "cpu.iowait.percent",
    "cpu.percent", "numa.membw.max", "numa.membw.current",
)

#: What a libvirt/KVM host reports when the file does not say.
DEFAULT_SUPPORTED_INSTANCES: tuple[tuple[str, str, str], ...] = (
    ("x86_64", "kvm", "hvm"),
    ("x86_64", "qemu", "hvm"),
)


@dataclass(frozen=True, slots=True)
class HostConfig:
    """One compute host (one compute node, named like the host).

    The optional ratio / reserved fields override the cluster-wide
    `AllocationRatios`; None means "use the cluster value".
    `availability_zone` is resolved: the AZ of its aggregates, else the
    explicit value, else `scheduler.default_availability_zone`.
    `host_ip` is the compute node's `host_ip` (SimpleCIDRAffinityFilter) and
    `metrics` the monitor metrics it reports, name -> integer value
    (MetricsWeigher).
    """

    name: str
    vcpus: int
    memory_mb: int
    local_gb: int
    availability_zone: str = "nova"
    aggregates: tuple[str, ...] = ()
    stats: Mapping[str, str] = field(default_factory=dict)
    supported_instances: tuple[tuple[str, str, str], ...] = DEFAULT_SUPPORTED_INSTANCES
    hypervisor_type: str = "QEMU"
    hypervisor_version: int = 8002000
    service_up: bool = True
    enabled: bool = True
    host_ip: str | None = None
    metrics: Mapping[str, int] = field(default_factory=dict)
    cpu_allocation_ratio: float | None = None
    ram_allocation_ratio: float | None = None
    disk_allocation_ratio: float | None = None
    reserved_host_memory_mb: int | None = None
    reserved_host_disk_mb: int | None = None
    reserved_host_cpus: int | None = None

    def ratios(self, cluster: AllocationRatios) -> AllocationRatios:
        """`cluster` with this host's overrides applied."""
        changes = {
            name: getattr(self, name)
            for name in (*_RATIO_FIELDS, *_RESERVED_FIELDS)
            if getattr(self, name) is not None
        }
        return dataclasses.replace(cluster, **changes) if changes else cluster


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """A Glance image: its properties as the scheduler reads them."""

    name: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    volume_backed: bool = False


@dataclass(frozen=True, slots=True)
class ServerGroupConfig:
    """A server group template; members and hosts are filled in at runtime."""

    name: str
    policy: str
    rules: Mapping[str, int] = field(default_factory=dict)

    def instance_group(
        self,
        *,
        members: tuple[str, ...] = (),
        hosts: tuple[str, ...] = (),
        uuid: str | None = None,
    ) -> InstanceGroup:
        return InstanceGroup(
            policy=self.policy, rules=dict(self.rules), members=members, hosts=hosts,
            uuid=uuid,
        )


RUNNING_DELETED_INSTANCE_ACTIONS = ("noop", "log", "shutdown", "reap")


@dataclass(frozen=True, slots=True)
class Options:
    """Nova's lifecycle options (names and defaults of `nova/conf/*.py`)."""

    shelved_offload_time: int = 0
    shelved_poll_interval: int = 3600
    resize_confirm_window: int = 0
    allow_resize_to_same_host: bool = False
    reclaim_instance_interval: int = 0
    reboot_timeout: int = 0
    rescue_timeout: int = 0
    instance_build_timeout: int = 0
    shutdown_timeout: int = 60
    sync_power_state_interval: int = 600
    migrate_max_retries: int = -1
    running_deleted_instance_action: str = "reap"


# option -> minimum (oslo.config `min=`); options absent have no minimum.
_OPTION_MINIMA: Mapping[str, int] = {
    "shelved_offload_time": -1,
    "resize_confirm_window": 0,
    "reboot_timeout": 0,
    "rescue_timeout": 0,
    "instance_build_timeout": 0,
    "shutdown_timeout": 0,
    "migrate_max_retries": -1,
}


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A whole cluster description.  Build with `load`/`loads`/`default`.

    `project_id` is the project (tenant) the cluster's instances belong to:
    the model has one tenant, its owner; the administrator acts on the owner's
    instances (`RequestSpec.project_id` is the instance's project).
    """

    hosts: tuple[HostConfig, ...] = ()
    aggregates: tuple[Aggregate, ...] = ()
    flavors: tuple[Flavor, ...] = ()
    images: tuple[ImageConfig, ...] = ()
    server_groups: tuple[ServerGroupConfig, ...] = ()
    allocation_ratios: AllocationRatios = field(default_factory=AllocationRatios)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    options: Options = field(default_factory=Options)
    description: str = ""
    project_id: str = "demo"
    source: str = field(default="<string>", compare=False)

    # -- construction --------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClusterConfig:
        """Read and validate a cluster file (a regular file; see ``model.documents``)."""
        try:
            text = documents.read_text(path)
        except documents.DocumentError as exc:
            raise ConfigError(str(exc)) from None
        return cls.loads(text, source=os.fspath(path))

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> ClusterConfig:
        """Parse and validate cluster TOML text; `source` names it in errors."""
        try:
            raw = documents.parse_toml(text, source)
        except documents.DocumentError as exc:
            raise ConfigError(str(exc)) from None
        return _Parser(source).cluster(raw)

    @classmethod
    def default(cls) -> ClusterConfig:
        """The packaged default cluster (`model/data/default_cluster.toml`)."""
        resource = importlib.resources.files("model").joinpath(DEFAULT_CLUSTER_RESOURCE)
        return cls.loads(resource.read_text(encoding="utf-8"), source="default_cluster.toml")

    def replace(self, **changes: Any) -> ClusterConfig:
        return dataclasses.replace(self, **changes)

    # -- lookups ---------------------------------------------------------

    def host(self, name: str) -> HostConfig:
        return _lookup(self.hosts, name, "host")

    def flavor(self, name: str) -> Flavor:
        return _lookup(self.flavors, name, "flavor")

    def image(self, name: str) -> ImageConfig:
        return _lookup(self.images, name, "image")

    def server_group(self, name: str) -> ServerGroupConfig:
        return _lookup(self.server_groups, name, "server group")

    def aggregate(self, name: str) -> Aggregate:
        return _lookup(self.aggregates, name, "aggregate")

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    def aggregates_of(self, host: str | HostConfig) -> tuple[Aggregate, ...]:
        """The aggregates a host belongs to, in the host's order."""
        h = host if isinstance(host, HostConfig) else self.host(host)
        return tuple(self.aggregate(name) for name in h.aggregates)

    def availability_zones(self) -> tuple[str, ...]:
        return tuple(sorted({h.availability_zone for h in self.hosts}))

    def ratios_for(self, host: str | HostConfig) -> AllocationRatios:
        """The cluster ratios with the host's overrides applied."""
        h = host if isinstance(host, HostConfig) else self.host(host)
        return h.ratios(self.allocation_ratios)

    def inventories_for(self, host: str | HostConfig) -> dict[ResourceClass, Inventory]:
        h = host if isinstance(host, HostConfig) else self.host(host)
        return inventories_for(h, self)

    def ledger(self) -> Ledger:
        """A ledger with one resource provider per host and no allocations."""
        ledger = Ledger()
        for h in self.hosts:
            ledger.add_provider(h.name, inventories_for(h, self))
        return ledger

    # -- output ----------------------------------------------------------

    def to_toml(self) -> str:
        """TOML text that `loads` back to an equal ClusterConfig."""
        return _to_toml(self)

    def summary(self) -> str:
        """A few human-readable lines describing the cluster."""
        r = self.allocation_ratios
        lines = [
            f"{len(self.hosts)} hosts in AZs {', '.join(self.availability_zones())}; "
            f"ratios ({r.profile}) cpu {r.cpu_allocation_ratio:g} ram "
            f"{r.ram_allocation_ratio:g} disk {r.disk_allocation_ratio:g}, reserved "
            f"{r.reserved_host_memory_mb} MB / {r.reserved_host_disk_mb} MB disk / "
            f"{r.reserved_host_cpus} cpus; scheduler {self.scheduler.mode}",
        ]
        for h in self.hosts:
            inv = inventories_for(h, self)
            caps = ", ".join(f"{rc} {i.capacity:g}" for rc, i in inv.items())
            flags = "" if h.service_up and h.enabled else (
                f" [{'up' if h.service_up else 'down'}, "
                f"{'enabled' if h.enabled else 'disabled'}]"
            )
            lines.append(
                f"  {h.name} ({h.availability_zone}; {h.vcpus} vcpus, {h.memory_mb} MB, "
                f"{h.local_gb} GB; capacity {caps}){flags}"
            )
        lines.append("  flavors: " + ", ".join(
            f"{f.name} {f.vcpus}/{f.memory_mb}/{f.root_gb}" for f in self.flavors))
        lines.append("  images: " + ", ".join(i.name for i in self.images))
        lines.append("  server groups: " + ", ".join(
            f"{g.name} ({g.policy})" for g in self.server_groups))
        return "\n".join(lines)


def inventories_for(host: HostConfig, config: ClusterConfig) -> dict[ResourceClass, Inventory]:
    """The Placement inventory the libvirt driver reports for `host`.

    VCPU total=vcpus reserved=reserved_host_cpus; MEMORY_MB total=memory_mb
    reserved=reserved_host_memory_mb; DISK_GB total=local_gb
    reserved=ceil(reserved_host_disk_mb / 1024); min_unit 1, max_unit total,
    step_size 1; ratio from the host override, else the cluster value.  A
    class whose total is 0 is left out (Placement needs total >= 1).
    """
    r = host.ratios(config.allocation_ratios)
    rows = (
        (ResourceClass.VCPU, host.vcpus, r.reserved_host_cpus, r.cpu_allocation_ratio),
        (ResourceClass.MEMORY_MB, host.memory_mb, r.reserved_host_memory_mb,
         r.ram_allocation_ratio),
        (ResourceClass.DISK_GB, host.local_gb, math.ceil(r.reserved_host_disk_mb / 1024),
         r.disk_allocation_ratio),
    )
    return {
        rc: Inventory(total=total, reserved=reserved, max_unit=total, allocation_ratio=ratio)
        for rc, total, reserved, ratio in rows
        if total > 0
    }


def _lookup(items: tuple[Any, ...], name: str, kind: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    known = [item.name for item in items]
    raise KeyError(f"unknown {kind} {name!r}{_did_you_mean(name, known)}")


# ----------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------

_TOP_KEYS = (
    "description", "project_id", "allocation_ratios", "hosts", "aggregates", "flavors", "images",
    "server_groups", "scheduler", "options",
)
_HOST_KEYS = (
    "name", "vcpus", "memory_mb", "local_gb", "availability_zone", "aggregates", "stats",
    "supported_instances", "hypervisor_type", "hypervisor_version", "service_up",
    "enabled", "host_ip", "metrics", *_RATIO_FIELDS, *_RESERVED_FIELDS,
)
_AGGREGATE_KEYS = ("name", "metadata", "availability_zone")
_FLAVOR_KEYS = ("name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
_IMAGE_KEYS = ("name", "properties", "volume_backed")
_GROUP_KEYS = ("name", "policy", "rules")
_GROUP_RULES = ("max_server_per_host",)
_OPTION_KEYS = tuple(f.name for f in dataclasses.fields(Options))
_SCHEDULER_KEYS = tuple(f.name for f in dataclasses.fields(SchedulerConfig))
_HOST_FIELDS = {f.name: f for f in dataclasses.fields(HostConfig)}
# Keys that people put in the wrong table: key -> where it belongs.
_MISPLACED: Mapping[str, str] = {
    **{k: "scheduler" for k in _SCHEDULER_KEYS},
    **{k: "options" for k in _OPTION_KEYS},
    **{k: "allocation_ratios" for k in ("profile", *_RATIO_FIELDS, *_RESERVED_FIELDS)},
}


def _did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return _type_name(value)
    return repr(value)


class _Parser:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, problem: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {path}: {problem}" if path else f"{self.source}: {problem}")

    # -- primitives ------------------------------------------------------

    def table(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be a table, got {_type_name(value)}")
        return value

    def keys(
        self, table: dict[str, Any], path: str, allowed: tuple[str, ...],
        required: tuple[str, ...] = (),
    ) -> None:
        for key in table:
            if key not in allowed:
                if key in _MISPLACED and path != _MISPLACED[key]:
                    hint = f" (it belongs in [{_MISPLACED[key]}])"
                else:
                    hint = _did_you_mean(key, allowed)
                self.fail(_join(path, key), f"unknown key{hint}")
        for key in required:
            if key not in table:
                self.fail(_join(path, key), "is required")

    def int_(
        self, table: dict[str, Any], key: str, path: str, default: Any = None,
        minimum: int | None = None,
    ) -> Any:
        if key not in table:
            return default
        value = table[key]
        where = _join(path, key)
        if not _is_int(value):
            self.fail(where, f"must be an integer, got {_show(value)}")
        if minimum is not None and value < minimum:
            self.fail(where, f"must be >= {minimum}, got {value}")
        return value

    def ratio(self, table: dict[str, Any], key: str, path: str, default: Any = None) -> Any:
        if key not in table:
            return default
        value = table[key]
        where = _join(path, key)
        if not _is_number(value):
            self.fail(where, f"must be a number, got {_show(value)}")
        if not math.isfinite(value):
            self.fail(where, f"must be a finite number, got {value!r}")
        if value <= 0:
            self.fail(where, f"must be > 0, got {value!r}")
        return float(value)

    def bool_(self, table: dict[str, Any], key: str, path: str, default: bool) -> bool:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            self.fail(_join(path, key), f"must be a boolean, got {_show(value)}")
        return value

    def str_(
        self, table: dict[str, Any], key: str, path: str, default: Any = None,
        choices: tuple[str, ...] | None = None,
    ) -> Any:
        if key not in table:
            return default
        value = table[key]
        where = _join(path, key)
        if not isinstance(value, str):
            self.fail(where, f"must be a string, got {_show(value)}")
        if not value:
            self.fail(where, "must not be empty")
        if choices is not None and value not in choices:
            self.fail(
                where,
                f"must be one of {', '.join(choices)}, got {value!r}"
                f"{_did_you_mean(value, choices)}",
            )
        return value

    def str_list(self, table: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        if key not in table:
            return ()
        value = table[key]
        where = _join(path, key)
        if not isinstance(value, list):
            self.fail(where, f"must be an array of strings, got {_type_name(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.fail(f"{where}[{i}]", f"must be a non-empty string, got {_show(item)}")
        return tuple(value)

    def string_map(
        self, table: dict[str, Any], key: str, path: str, numbers: bool = True
    ) -> dict[str, str]:
        """A table of strings (numbers are turned into strings if allowed)."""
        if key not in table:
            return {}
        where = _join(path, key)
        value = self.table(table[key], where)
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, str):
                out[k] = v
            elif numbers and _is_number(v):
                out[k] = str(v)
            else:
                kind = "a string or number" if numbers else "a string"
                self.fail(_join(where, k), f"must be {kind}, got {_show(v)}")
        return out

    def array_of_tables(self, raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
        if key not in raw:
            return []
        value = raw[key]
        if not isinstance(value, list):
            self.fail(key, f"must be an array of tables ([[{key}]]), got {_type_name(value)}")
        for i, item in enumerate(value):
            self.table(item, f"{key}[{i}]")
        return value

    def unique(self, items: list[dict[str, Any]], key: str) -> None:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            name = item["name"]
            if name in seen:
                self.fail(f"{key}[{i}].name", f"duplicate name {name!r} (also {key}[{seen[name]}])")
            seen[name] = i

    # -- sections ----------------------------------------------------------

    def cluster(self, raw: dict[str, Any]) -> ClusterConfig:
        self.keys(raw, "", _TOP_KEYS)
        description = raw.get("description", "")
        if not isinstance(description, str):
            self.fail("description", f"must be a string, got {_show(description)}")
        project_id = self.str_(raw, "project_id", "", default="demo")
        ratios = self.allocation_ratios(raw.get("allocation_ratios", {}))
        scheduler = self.scheduler(raw.get("scheduler", {}))
        options = self.options(raw.get("options", {}))

        agg_tables = self.array_of_tables(raw, "aggregates")
        aggregates_raw = [self.aggregate(t, f"aggregates[{i}]") for i, t in enumerate(agg_tables)]
        self.unique(aggregates_raw, "aggregates")
        agg_index = {a["name"]: i for i, a in enumerate(aggregates_raw)}

        host_tables = self.array_of_tables(raw, "hosts")
        hosts = [
            self.host(t, f"hosts[{i}]", ratios, scheduler, aggregates_raw, agg_index)
            for i, t in enumerate(host_tables)
        ]
        self.unique([{"name": h.name} for h in hosts], "hosts")
        aggregates = tuple(
            Aggregate(
                name=a["name"],
                hosts=tuple(h.name for h in hosts if a["name"] in h.aggregates),
                metadata=a["metadata"],
            )
            for a in aggregates_raw
        )

        flavor_tables = self.array_of_tables(raw, "flavors")
        flavors = [self.flavor(t, f"flavors[{i}]") for i, t in enumerate(flavor_tables)]
        self.unique([{"name": f.name} for f in flavors], "flavors")

        image_tables = self.array_of_tables(raw, "images")
        images = [self.image(t, f"images[{i}]") for i, t in enumerate(image_tables)]
        self.unique([{"name": im.name} for im in images], "images")

        group_tables = self.array_of_tables(raw, "server_groups")
        groups = [self.server_group(t, f"server_groups[{i}]") for i, t in enumerate(group_tables)]
        self.unique([{"name": g.name} for g in groups], "server_groups")
        self.isolation(scheduler, hosts, images)
        self.metrics_available(scheduler, hosts)
        self.addresses_available(scheduler, hosts)

        return ClusterConfig(
            hosts=tuple(hosts),
            aggregates=aggregates,
            flavors=tuple(flavors),
            images=tuple(images),
            server_groups=tuple(groups),
            allocation_ratios=ratios,
            scheduler=scheduler,
            options=options,
            description=description,
            project_id=project_id,
            source=self.source,
        )

    def isolation(self, scheduler: SchedulerConfig, hosts: list[HostConfig],
                  images: list[ImageConfig]) -> None:
        """IsolatedHostsFilter's lists must name the cluster's hosts and images (Nova
        cannot tell a typo from a host it does not know yet; a cluster file can)."""
        for key, names, known in (
            ("isolated_hosts", scheduler.isolated_hosts, [h.name for h in hosts]),
            ("isolated_images", scheduler.isolated_images, [im.name for im in images]),
        ):
            for i, name in enumerate(names):
                if name not in known:
                    kind = key.removeprefix("isolated_")[:-1]
                    self.fail(f"scheduler.{key}[{i}]",
                              f"unknown {kind} {name!r}{_did_you_mean(name, known)} "
                              f"(known: {', '.join(known) or 'none defined'})")

    def addresses_available(self, scheduler: SchedulerConfig, hosts: list[HostConfig]) -> None:
        """SimpleCIDRAffinityFilter reads every host's `host_ip`: without one, Nova's
        filter raises on any request with a `build_near_host_ip` hint."""
        if "SimpleCIDRAffinityFilter" not in scheduler.filters:
            return
        for i, h in enumerate(hosts):
            if h.host_ip is None:
                self.fail(f"hosts[{i}].host_ip", f"{h.name} needs one: SimpleCIDRAffinityFilter "
                          f"is enabled")

    def metrics_available(self, scheduler: SchedulerConfig, hosts: list[HostConfig]) -> None:
        """With MetricsWeigher and `metrics_required`, every host must report every
        metric `metrics_weight_setting` names: otherwise Nova's weigher raises
        ComputeHostMetricNotFound whenever that host is weighed."""
        if "MetricsWeigher" not in scheduler.weight_classes or not scheduler.metrics_required:
            return
        for entry in scheduler.metrics_weight_setting:
            name = entry.partition("=")[0]
            for i, h in enumerate(hosts):
                if name not in h.metrics:
                    self.fail(f"hosts[{i}].metrics",
                              f"{h.name} reports no {name!r}, which "
                              f"scheduler.metrics_weight_setting weighs with "
                              f"metrics_required = true")

    def allocation_ratios(self, value: Any) -> AllocationRatios:
        path = "allocation_ratios"
        t = self.table(value, path)
        self.keys(t, path, ("profile", *_RATIO_FIELDS, *_RESERVED_FIELDS))
        profile = self.str_(t, "profile", path, default="nova", choices=tuple(PROFILES))
        overrides: dict[str, Any] = {}
        for name in _RATIO_FIELDS:
            if name in t:
                overrides[name] = self.ratio(t, name, path)
        for name in _RESERVED_FIELDS:
            if name in t:
                overrides[name] = self.int_(t, name, path, minimum=0)
        return AllocationRatios.for_profile(profile, **overrides)

    def scheduler(self, value: Any) -> SchedulerConfig:
        path = "scheduler"
        t = self.table(value, path)
        self.keys(t, path, _SCHEDULER_KEYS)
        try:
            return SchedulerConfig.from_mapping(t)
        except SchedulerConfigError as exc:
            text = str(exc)
            name, sep, rest = text.partition(": ")
            if sep and name in _SCHEDULER_KEYS:
                self.fail(f"{path}.{name}", rest)
            self.fail(path, text)

    def options(self, value: Any) -> Options:
        path = "options"
        t = self.table(value, path)
        self.keys(t, path, _OPTION_KEYS)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(Options):
            if f.name not in t:
                continue
            if f.type in ("int", int):
                values[f.name] = self.int_(t, f.name, path, minimum=_OPTION_MINIMA.get(f.name))
            elif f.type in ("bool", bool):
                values[f.name] = self.bool_(t, f.name, path, default=False)
            else:
                values[f.name] = self.str_(
                    t, f.name, path, choices=RUNNING_DELETED_INSTANCE_ACTIONS
                )
        return Options(**values)

    def aggregate(self, t: dict[str, Any], path: str) -> dict[str, Any]:
        self.keys(t, path, _AGGREGATE_KEYS, required=("name",))
        name = self.str_(t, "name", path)
        metadata = self.string_map(t, "metadata", path)
        az = self.str_(t, "availability_zone", path)
        if az is not None:
            meta_az = metadata.get("availability_zone")
            if meta_az is not None and meta_az != az:
                self.fail(
                    _join(path, "availability_zone"),
                    f"{az!r} conflicts with metadata.availability_zone {meta_az!r}",
                )
            metadata["availability_zone"] = az
        return {"name": name, "metadata": metadata}

    def host(
        self, t: dict[str, Any], path: str, ratios: AllocationRatios,
        scheduler: SchedulerConfig, aggregates: list[dict[str, Any]],
        agg_index: dict[str, int],
    ) -> HostConfig:
        self.keys(t, path, _HOST_KEYS, required=("name", "vcpus", "memory_mb", "local_gb"))
        name = self.str_(t, "name", path)
        vcpus = self.int_(t, "vcpus", path, minimum=1)
        memory_mb = self.int_(t, "memory_mb", path, minimum=1)
        local_gb = self.int_(t, "local_gb", path, minimum=0)
        overrides: dict[str, Any] = {}
        for key in _RATIO_FIELDS:
            overrides[key] = self.ratio(t, key, path)
        for key in _RESERVED_FIELDS:
            overrides[key] = self.int_(t, key, path, minimum=0)

        agg_names = self.str_list(t, "aggregates", path)
        az_from_aggs: tuple[str, str] | None = None  # (az, aggregate name)
        for i, agg in enumerate(agg_names):
            where = f"{path}.aggregates[{i}]"
            if agg not in agg_index:
                known = ", ".join(a["name"] for a in aggregates) or "none defined"
                self.fail(
                    where,
                    f"unknown aggregate {agg!r}{_did_you_mean(agg, list(agg_index))} "
                    f"(known: {known})",
                )
            if agg_names.index(agg) != i:
                self.fail(where, f"aggregate {agg!r} listed twice")
            agg_az = aggregates[agg_index[agg]]["metadata"].get("availability_zone")
            if agg_az is not None:
                if az_from_aggs is not None and az_from_aggs[0] != agg_az:
                    self.fail(
                        where,
                        f"aggregate {agg!r} puts the host in availability zone {agg_az!r} "
                        f"but aggregate {az_from_aggs[1]!r} puts it in {az_from_aggs[0]!r}",
                    )
                az_from_aggs = (agg_az, agg)
        explicit_az = self.str_(t, "availability_zone", path)
        if explicit_az is not None and az_from_aggs is not None and explicit_az != az_from_aggs[0]:
            self.fail(
                _join(path, "availability_zone"),
                f"{explicit_az!r} conflicts with aggregate {az_from_aggs[1]!r} "
                f"(availability zone {az_from_aggs[0]!r})",
            )
        if az_from_aggs is not None:
            az = az_from_aggs[0]
        elif explicit_az is not None:
            az = explicit_az
        else:
            az = scheduler.default_availability_zone

        # (not HostConfig.supported_instances: with slots that is the field's descriptor)
        supported = DEFAULT_SUPPORTED_INSTANCES
        if "supported_instances" in t:
            supported = self.supported_instances(t["supported_instances"], path)
        host = HostConfig(
            name=name,
            vcpus=vcpus,
            memory_mb=memory_mb,
            local_gb=local_gb,
            availability_zone=az,
            aggregates=agg_names,
            stats=self.string_map(t, "stats", path),
            supported_instances=supported,  # type: ignore[arg-type]
            hypervisor_type=self.str_(t, "hypervisor_type", path, default="QEMU"),
            hypervisor_version=self.int_(t, "hypervisor_version", path, default=8002000,
                                         minimum=0),
            service_up=self.bool_(t, "service_up", path, default=True),
            enabled=self.bool_(t, "enabled", path, default=True),
            host_ip=self.ip_address(t, "host_ip", path),
            metrics=self.metrics(t, path),
            **overrides,
        )
        # Reserved amounts must fit in the host (Placement refuses reserved > total).
        effective = host.ratios(ratios)
        for reserved_key, total_key, total, reserved in (
            ("reserved_host_cpus", "vcpus", vcpus, effective.reserved_host_cpus),
            ("reserved_host_memory_mb", "memory_mb", memory_mb,
             effective.reserved_host_memory_mb),
            ("reserved_host_disk_mb", "local_gb", local_gb,
             math.ceil(effective.reserved_host_disk_mb / 1024)),
        ):
            if 0 < total < reserved:  # a zero total has no inventory at all
                where = (
                    _join(path, reserved_key)
                    if overrides.get(reserved_key) is not None
                    else f"allocation_ratios.{reserved_key}"
                )
                unit = " (rounded up to GB)" if reserved_key == "reserved_host_disk_mb" else ""
                self.fail(
                    where,
                    f"reserves {reserved}{unit} but {path}.{total_key} ({name}) is only {total}",
                )
        try:
            inventories_for(host, _RatiosOnly(ratios))  # type: ignore[arg-type]
        except PlacementError as exc:  # pragma: no cover - guarded above
            self.fail(path, str(exc))
        return host

    def ip_address(self, table: dict[str, Any], key: str, path: str) -> str | None:
        value = self.str_(table, key, path)
        if value is None:
            return None
        try:
            ipaddress.ip_address(value)
        except ValueError:
            self.fail(_join(path, key), f"not an IPv4 or IPv6 address: {value!r}")
        return value

    def metrics(self, table: dict[str, Any], path: str) -> dict[str, int]:
        if "metrics" not in table:
            return {}
        where = _join(path, "metrics")
        out: dict[str, int] = {}
        for name, value in self.table(table["metrics"], where).items():
            if name not in MONITOR_METRICS:
                self.fail(_join(where, name), f"unknown metric{_did_you_mean(name, MONITOR_METRICS)} "
                          f"(known: {', '.join(MONITOR_METRICS)})")
            out[name] = self.int_(table["metrics"], name, where)
        return out

    def supported_instances(self, value: Any, path: str) -> tuple[tuple[str, str, str], ...]:
        where = _join(path, "supported_instances")
        if not isinstance(value, list):
            self.fail(where, f"must be an array of [arch, hv_type, vm_mode], got {_type_name(value)}")
        out = []
        for i, entry in enumerate(value):
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or not all(isinstance(x, str) and x for x in entry)
            ):
                self.fail(
                    f"{where}[{i}]",
                    f"must be [arch, hv_type, vm_mode] (3 strings), got {_show_list(entry)}",
                )
            arch = entry[0].lower()
            if arch not in ALL_ARCHITECTURES:
                self.fail(
                    f"{where}[{i}][0]",
                    f"unknown architecture {entry[0]!r}"
                    f"{_did_you_mean(arch, sorted(ALL_ARCHITECTURES))}",
                )
            out.append((arch, entry[1].lower(), entry[2].lower()))
        return tuple(out)

    def flavor(self, t: dict[str, Any], path: str) -> Flavor:
        self.keys(t, path, _FLAVOR_KEYS, required=("name", "vcpus", "ram"))
        return Flavor(
            name=self.str_(t, "name", path),
            vcpus=self.int_(t, "vcpus", path, minimum=1),
            memory_mb=self.int_(t, "ram", path, minimum=1),
            root_gb=self.int_(t, "disk", path, default=0, minimum=0),
            ephemeral_gb=self.int_(t, "ephemeral", path, default=0, minimum=0),
            swap=self.int_(t, "swap", path, default=0, minimum=0),
            extra_specs=self.string_map(t, "extra_specs", path, numbers=False),
        )

    def image(self, t: dict[str, Any], path: str) -> ImageConfig:
        self.keys(t, path, _IMAGE_KEYS, required=("name",))
        name = self.str_(t, "name", path)
        props: dict[str, Any] = {}
        if "properties" in t:
            where = _join(path, "properties")
            for k, v in self.table(t["properties"], where).items():
                if not isinstance(v, (str, int, float, bool)):
                    self.fail(_join(where, k), f"must be a string, number or boolean, got {_show(v)}")
                if k in ("hw_architecture", "architecture"):
                    if not isinstance(v, str) or v.lower() not in ALL_ARCHITECTURES:
                        self.fail(
                            _join(where, k),
                            f"unknown architecture {v!r}"
                            f"{_did_you_mean(str(v).lower(), sorted(ALL_ARCHITECTURES))}",
                        )
                props[k] = v
        return ImageConfig(
            name=name,
            properties=props,
            volume_backed=self.bool_(t, "volume_backed", path, default=False),
        )

    def server_group(self, t: dict[str, Any], path: str) -> ServerGroupConfig:
        self.keys(t, path, _GROUP_KEYS, required=("name", "policy"))
        name = self.str_(t, "name", path)
        policy = self.str_(t, "policy", path, choices=tuple(sorted(SERVER_GROUP_POLICIES)))
        rules: dict[str, int] = {}
        if "rules" in t:
            where = _join(path, "rules")
            table = self.table(t["rules"], where)
            self.keys(table, where, _GROUP_RULES)
            if table and policy != "anti-affinity":
                self.fail(where, f"rules are only allowed with policy 'anti-affinity', not {policy!r}")
            for key in table:
                rules[key] = self.int_(table, key, where, minimum=1)
        return ServerGroupConfig(name=name, policy=policy, rules=rules)


@dataclass(frozen=True, slots=True)
class _RatiosOnly:
    """What `inventories_for` reads of a ClusterConfig (used while parsing)."""

    allocation_ratios: AllocationRatios


def _join(path: str, key: str) -> str:
    if not path:
        return key
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return f"{path}.{key}"
    return f"{path}.{json.dumps(key)}"


def _show_list(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return _show(value)


# ----------------------------------------------------------------------
# TOML output
# ----------------------------------------------------------------------


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _to_toml(config: ClusterConfig) -> str:
    out: list[str] = []

    def kv(key: str, value: Any) -> None:
        out.append(f"{_toml_key(key)} = {_toml_value(value)}")

    if config.description:
        kv("description", config.description)
    kv("project_id", config.project_id)
    out.append("")
    out.append("[allocation_ratios]")
    for f in dataclasses.fields(AllocationRatios):
        kv(f.name, getattr(config.allocation_ratios, f.name))
    out.append("")
    out.append("[scheduler]")
    for f in dataclasses.fields(SchedulerConfig):
        value = getattr(config.scheduler, f.name)
        if value is not None:
            kv(f.name, value)
    out.append("")
    out.append("[options]")
    for f in dataclasses.fields(Options):
        kv(f.name, getattr(config.options, f.name))
    for agg in config.aggregates:
        out += ["", "[[aggregates]]"]
        kv("name", agg.name)
        kv("metadata", dict(agg.metadata))
    for h in config.hosts:
        out += ["", "[[hosts]]"]
        for f in dataclasses.fields(HostConfig):
            value = getattr(h, f.name)
            if value is None:
                continue
            if f.name in ("stats", "metrics"):
                value = dict(value)
            kv(f.name, value)
    for fl in config.flavors:
        out += ["", "[[flavors]]"]
        kv("name", fl.name)
        kv("vcpus", fl.vcpus)
        kv("ram", fl.memory_mb)
        kv("disk", fl.root_gb)
        kv("ephemeral", fl.ephemeral_gb)
        kv("swap", fl.swap)
        kv("extra_specs", dict(fl.extra_specs))
    for im in config.images:
        out += ["", "[[images]]"]
        kv("name", im.name)
        kv("properties", dict(im.properties))
        kv("volume_backed", im.volume_backed)
    for g in config.server_groups:
        out += ["", "[[server_groups]]"]
        kv("name", g.name)
        kv("policy", g.policy)
        kv("rules", dict(g.rules))
    return "\n".join(out) + "\n"
