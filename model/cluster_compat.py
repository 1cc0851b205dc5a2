"""How the cluster reads ``model.config.ClusterConfig`` and uses ``model.placement``.

Kept in one place so that a change of the config module's container types
touches only these accessors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model.config import ClusterConfig, inventories_for
from model.placement import Inventory, Ledger, PlacementError, ResourceClass
from model.scheduler.config import SchedulerConfig
from model.scheduler.host_state import Aggregate
from model.scheduler.request import Flavor

__all__ = [
    "ClusterConfig", "Inventory", "Ledger", "PlacementError", "ResourceClass", "aggregates_of",
    "flavors_of", "group_policy", "has_group", "host_aggregates", "host_attr", "host_name",
    "hosts_of", "image_volume_backed", "images_of", "option", "project_of",
    "provider_inventories", "scheduler_of",
]


def _get(obj: Any, name: str, default: Any = None) -> Any:
    # collections.abc, not typing: typing.Mapping's isinstance check is several times
    # slower, and this runs on every option lookup of every search step
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def hosts_of(config) -> list:
    hosts = _get(config, "hosts", ())
    return list(hosts.values()) if isinstance(hosts, Mapping) else list(hosts)


def host_name(host) -> str:
    return _get(host, "name")


def host_attr(host, name: str, default: Any = None) -> Any:
    return _get(host, name, default)


def host_aggregates(config, host) -> tuple[Aggregate, ...]:
    if hasattr(config, "aggregates_of"):
        return tuple(config.aggregates_of(host))
    return tuple(a if isinstance(a, Aggregate) else Aggregate(str(a), (host_name(host),), {})
                 for a in _get(host, "aggregates", ()) or ())


def aggregates_of(config) -> tuple[Aggregate, ...]:
    """Every aggregate of the cluster (a config without any has none)."""
    return tuple(_get(config, "aggregates", ()) or ())


def flavors_of(config) -> dict[str, Flavor]:
    flavors = _get(config, "flavors", {})
    if isinstance(flavors, Mapping):
        return dict(flavors)
    return {f.name: f for f in flavors}


def images_of(config) -> dict[str, Mapping[str, Any]]:
    images = _get(config, "images", {})
    if isinstance(images, Mapping):
        return {k: (v if isinstance(v, Mapping) else dict(_get(v, "properties", {})))
                for k, v in images.items()}
    return {_get(i, "name"): dict(_get(i, "properties", {}) or {}) for i in images}


def image_volume_backed(config, image: str) -> bool:
    images = _get(config, "images", {})
    found = images.get(image) if isinstance(images, Mapping) else next(
        (i for i in images if _get(i, "name") == image), None)
    return bool(_get(found, "volume_backed", False)) if found is not None else False


def group_policy(config, group: str) -> tuple[str | None, Mapping[str, int]]:
    if type(config) is ClusterConfig:  # the usual case, without the generic lookups
        for g in config.server_groups:
            if g.name == group:
                return g.policy, dict(g.rules or {})
        raise KeyError(group)
    groups = _get(config, "server_groups", {})
    if isinstance(groups, Mapping):
        g = groups.get(group)
    else:
        g = next((x for x in groups if _get(x, "name") == group), None)
    if g is None:
        raise KeyError(group)
    if isinstance(g, str):
        return g, {}
    return _get(g, "policy"), dict(_get(g, "rules", {}) or {})


def has_group(config, group: str) -> bool:
    try:
        group_policy(config, group)
        return True
    except KeyError:
        return False


def scheduler_of(config) -> SchedulerConfig:
    return _get(config, "scheduler", None) or SchedulerConfig()


def project_of(config) -> str | None:
    """The project the cluster's instances belong to (None: not said)."""
    return _get(config, "project_id", None)


def option(config, name: str, default: Any) -> Any:
    options = _get(config, "options", None)
    value = _get(options, name, None) if options is not None else None
    return default if value is None else value


def provider_inventories(host, config) -> dict:
    return inventories_for(host, config)
