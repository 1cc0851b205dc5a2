"""Nova's host filters, one class each, under Nova's class names.

Every filter is constructed with a `SchedulerConfig` (the options it reads)
and answers `host_passes(host_state, spec) -> bool` without side effects.
Nova's RAM/Core/Disk filters also stored `host_state.limits` for the compute
claim; here the same numbers are available from `legacy_limits()`.

Semantics follow Nova at commit 00a030403f (= nova 34.0.0 for these files);
filters removed from Nova follow the last commit that had them (see
`REMOVED_FROM_NOVA`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from model.scheduler.config import SchedulerConfig, SchedulerPlugin
from model.scheduler.plugin_names import FILTER_NAMES, registry
from model.scheduler.host_state import (
    NOVA_HOST_STATE_ATTRIBUTES,
    NOVA_HOST_STATE_OPAQUE_ATTRIBUTES,
    HostState,
    aggregate_metadata_get_by_host,
    aggregate_values_from_key,
    instance_uuids_overlap,
)
from model.scheduler.request import RequestSpec

__all__ = [
    "FILTERS",
    "NOVA_34_FILTERS",
    "REMOVED_FROM_NOVA",
    "BaseHostFilter",
    "ExtraSpecError",
    "FilterError",
    "HintError",
    "extra_specs_match",
    "legacy_limits",
    "validate_num_values",
]


class FilterError(ValueError):
    """A request a filter cannot judge: Nova lets the error escape from the
    filter, which fails the whole scheduling request."""


class ExtraSpecError(FilterError):
    """An extra spec that makes Nova's `extra_specs_ops.match` raise
    (IndexError/ValueError in Nova)."""


class HintError(FilterError):
    """A scheduler hint (or host address) SimpleCIDRAffinityFilter cannot
    read: netaddr raises AddrFormatError/TypeError in Nova."""


# ---------------------------------------------------------------------------
# extra_specs_ops
# ---------------------------------------------------------------------------


def _as_float(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ExtraSpecError(f"not a number: {text!r}") from exc


_OPS: dict[str, Callable[[str, Any], bool]] = {
    "=": lambda x, y: _as_float(x) >= _as_float(y),
    "<in>": lambda x, y: y in x,
    "<all-in>": lambda x, y: all(v in x for v in y),
    "==": lambda x, y: _as_float(x) == _as_float(y),
    "!=": lambda x, y: _as_float(x) != _as_float(y),
    ">=": lambda x, y: _as_float(x) >= _as_float(y),
    "<=": lambda x, y: _as_float(x) <= _as_float(y),
    "s==": lambda x, y: x == y,
    "s!=": lambda x, y: x != y,
    "s<": lambda x, y: x < y,
    "s<=": lambda x, y: x <= y,
    "s>": lambda x, y: x > y,
    "s>=": lambda x, y: x >= y,
}


def extra_specs_match(value: str | None, req: str) -> bool:
    """Nova's `nova/scheduler/filters/extra_specs_ops.py: match`.

    The first word of `req` is the operator; without a known operator the
    whole `req` must equal `value`.  Numeric operators compare floats;
    `s*` operators compare strings; `<in>` is a substring test; `<all-in>`
    needs every following word as a substring; `<or>` accepts any of the
    words at even positions after it ("<or> a <or> b").  Only the first
    operand word counts for the binary operators.
    """
    words = req.split()
    op = words[0] if words else None
    method = _OPS.get(op) if op is not None else None
    if op != "<or>" and method is None:
        return value == req
    if value is None:
        return False
    operands = words[1:]
    if op == "<or>":
        if not operands:
            # Nova pops from an empty list here (IndexError).
            raise ExtraSpecError(f"'<or>' without operands in {req!r}")
        return value in operands[::2]
    if not operands:
        return False
    assert method is not None
    if op == "<all-in>":
        return method(value, operands)
    return method(value, operands[0])


# ---------------------------------------------------------------------------
# helpers shared by filters and weighers
# ---------------------------------------------------------------------------


def validate_num_values(
    vals: Iterable[str], default: Any, cast_to: Callable[[str], Any] = int
) -> Any:
    """Min of the cast values, or `default` when there are none.

    `nova/scheduler/filters/utils.py: validate_num_values`: one bad value
    raises ValueError (callers then fall back to the config value).
    """
    values = list(vals)
    if not values:
        return default
    return min(cast_to(v) for v in values)


def _aggregate_num(host_state: HostState, key: str, default: Any, cast_to: Callable[[str], Any]) -> Any:
    try:
        return validate_num_values(aggregate_values_from_key(host_state, key), default, cast_to)
    except ValueError:
        return default


# ---------------------------------------------------------------------------
# base class
# ---------------------------------------------------------------------------


class BaseHostFilter(SchedulerPlugin):
    """Base of all host filters (`nova/scheduler/filters: BaseHostFilter`)."""

    RUN_ON_REBUILD: ClassVar[bool] = False
    run_filter_once_per_request: ClassVar[bool] = False

    def run_filter_for_index(self, index: int) -> bool:
        """`nova/filters.py: BaseFilter.run_filter_for_index`."""
        return not (self.run_filter_once_per_request and index > 0)

    def filter_one(self, host_state: HostState, spec: RequestSpec) -> bool:
        """`BaseHostFilter._filter_one`: on rebuild only RUN_ON_REBUILD
        filters judge; the others let every host through."""
        if not self.RUN_ON_REBUILD and spec.request_is_rebuild:
            return True
        return self.host_passes(host_state, spec)

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        raise NotImplementedError

    def limits(self, host_state: HostState) -> dict[str, float]:
        """What Nova stored in `host_state.limits` when the host passed."""
        return {}


# ---------------------------------------------------------------------------
# filters present in nova 34.0.0
# ---------------------------------------------------------------------------


class AllHostsFilter(BaseHostFilter):
    """Always passes."""

    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        return True


class ComputeFilter(BaseHostFilter):
    """Passes iff the compute service is enabled and up."""

    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        return not host_state.service_disabled and host_state.service_up


def _nova_shape(value: Any) -> Any:
    """Render model values as Nova holds them (lists, dicts) so str() and
    attribute access behave the same."""
    if isinstance(value, tuple):
        return [_nova_shape(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _nova_shape(v) for k, v in value.items()}
    return value


def _host_capability(host_state: HostState, name: str) -> Any:
    """`getattr(host_state, name)` falling back to `host_state.stats`, as in
    `ComputeCapabilitiesFilter._get_capabilities`."""
    if name in NOVA_HOST_STATE_OPAQUE_ATTRIBUTES:
        return None
    if name in NOVA_HOST_STATE_ATTRIBUTES:
        value = getattr(host_state, name)
        if value is not None:
            return _nova_shape(value)
    return _nova_shape(host_state.stats.get(name))


def _has_capability_attr(host_state: HostState, name: str) -> bool:
    return (
        name in NOVA_HOST_STATE_ATTRIBUTES
        or name in NOVA_HOST_STATE_OPAQUE_ATTRIBUTES
        or name in host_state.stats
    )


class ComputeCapabilitiesFilter(BaseHostFilter):
    """Passes iff every un-scoped (attribute/stat) or `capabilities:` extra spec matches the host."""

    run_filter_once_per_request = True

    @staticmethod
    def _get_capabilities(host_state: HostState, scope: list[str]) -> Any:
        cap: Any = host_state
        for name in scope:
            if isinstance(cap, str):
                try:
                    cap = json.loads(cap)
                except ValueError:
                    return None
            if isinstance(cap, HostState):
                cap = _host_capability(cap, name)
            elif isinstance(cap, Mapping):
                cap = cap.get(name)
            else:
                # Nova: getattr(cap, name) else cap.stats -> AttributeError.
                cap = getattr(cap, name, None)
                if callable(cap):
                    # Nova would go on with str(<bound method>); opaque here.
                    return None
            if cap is None:
                return None
        return cap

    def _satisfies_extra_specs(self, host_state: HostState, extra_specs: Mapping[str, str]) -> bool:
        especs = dict(extra_specs)
        bits = especs.get("hw:maxphysaddr_bits")
        if bits is not None:
            especs["capabilities:cpu_info:maxphysaddr:bits"] = ">= " + bits
            del especs["hw:maxphysaddr_bits"]
        for key, req in especs.items():
            scope = key.split(":")
            if len(scope) == 1:
                if not _has_capability_attr(host_state, key):
                    continue
            elif scope[0] != "capabilities":
                continue
            else:
                del scope[0]
            cap = self._get_capabilities(host_state, scope)
            if cap is None:
                return False
            if not extra_specs_match(str(cap), req):
                return False
        return True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        return self._satisfies_extra_specs(host_state, spec.flavor.extra_specs)


# nova/objects/fields.py: Architecture / HVType / VMMode
_ARCHITECTURES = frozenset(
    {
        "alpha", "armv6", "armv7l", "armv7b", "aarch64", "cris", "i686",
        "ia64", "lm32", "m68k", "microblaze", "microblazeel", "mips",
        "mipsel", "mips64", "mips64el", "openrisc", "parisc", "parisc64",
        "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "s390", "s390x", "sh4",
        "sh4eb", "sparc", "sparc64", "unicore32", "x86_64", "xtensa",
        "xtensaeb",
    }
)
_HV_TYPES = frozenset(
    {
        "baremetal", "bhyve", "docker", "fake", "hyperv", "ironic", "kqemu",
        "kvm", "lxc", "lxd", "openvz", "parallels", "phyp", "qemu", "test",
        "uml", "vbox", "vz", "vmware", "xen", "zvm", "prsm",
    }
)
_VM_MODES = frozenset({"hvm", "xen", "uml", "exe"})
_ARCH_ALIASES = {
    "i386": "i686", "i486": "i686", "i586": "i686",
    "x86_32": "i686", "x86_32p": "i686", "amd64": "x86_64",
}
_HV_ALIASES = {"xapi": "xen"}
_VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}


def _canonicalize(name: str | None, aliases: Mapping[str, str], valid: frozenset[str], what: str) -> str | None:
    """`Architecture/HVType/VMMode.canonicalize`: lower-case, map the old
    aliases, reject unknown names (Nova raises Invalid*Name)."""
    if name is None:
        return None
    lowered = name.lower()
    lowered = aliases.get(lowered, lowered)
    if lowered not in valid:
        raise ValueError(f"invalid {what} {name!r}")
    return lowered


def canonicalize_architecture(name: str | None) -> str | None:
    return _canonicalize(name, _ARCH_ALIASES, _ARCHITECTURES, "architecture")


def canonicalize_hv_type(name: str | None) -> str | None:
    return _canonicalize(name, _HV_ALIASES, _HV_TYPES, "hypervisor type")


def canonicalize_vm_mode(name: str | None) -> str | None:
    return _canonicalize(name, _VM_MODE_ALIASES, _VM_MODES, "vm mode")


def convert_version_to_tuple_from_int(version: int) -> tuple[int, ...]:
    """Digits of `oslo_utils.versionutils.convert_version_to_str` (base 1000)."""
    if version < 0:
        # Nova loops forever on a negative version; refuse it instead.
        raise ValueError(f"negative hypervisor_version {version}")
    parts: list[int] = []
    while version != 0:
        parts.insert(0, version % 1000)
        version //= 1000
    return tuple(parts)


_PREDICATE = re.compile(r"^\s*(<=|>=|<|>|!=|==)\s*([^\s]+)\s*$")
_RELEASE = re.compile(r"^v?(\d+(?:\.\d+)*)$", re.IGNORECASE)
_CMP: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "!=": lambda a, b: a != b,
}


def _release_key(parts: Iterable[int]) -> tuple[int, ...]:
    # packaging.version compares releases with trailing zeros dropped.
    key = list(parts)
    while key and key[-1] == 0:
        key.pop()
    return tuple(key)


def _parse_release(text: str) -> tuple[int, ...]:
    match = _RELEASE.match(text)
    if match is None:
        # packaging accepts pre/post/dev releases too; the model only knows
        # plain releases.
        raise ValueError(f"unsupported version {text!r}")
    return _release_key(int(p) for p in match.group(1).split("."))


def version_predicate_satisfied(predicate: str, version: tuple[int, ...]) -> bool:
    """`oslo_utils.versionutils.VersionPredicate(predicate).satisfied_by`."""
    parsed = []
    for part in predicate.split(","):
        match = _PREDICATE.match(part)
        if match is None:
            raise ValueError(f"bad package restriction syntax: {part!r}")
        parsed.append((match.group(1), _parse_release(match.group(2))))
    have = _release_key(version)
    return all(_CMP[op](have, want) for op, want in parsed)


class ImagePropertiesFilter(BaseHostFilter):
    """Passes iff no arch/hv_type/vm_mode is asked, or a supported_instances entry, hypervisor version and bits fit."""

    RUN_ON_REBUILD = True
    run_filter_once_per_request = True

    def _instance_supported(self, host_state: HostState, image_props: Mapping[str, Any]) -> bool:
        img_arch = image_props.get("hw_architecture")
        if img_arch is None:
            img_arch = self.config.image_properties_default_architecture
        checked = (
            canonicalize_architecture(img_arch),
            canonicalize_hv_type(image_props.get("img_hv_type")),
            canonicalize_vm_mode(image_props.get("hw_vm_mode")),
        )
        if not any(checked):
            return True
        supported = host_state.supported_instances
        if not supported:
            return False
        for entry in supported:
            if (
                all(not prop or prop in entry for prop in checked)
                and self._compare_product_version(host_state, image_props)
                and self._compare_maxphysaddr_bits(host_state, image_props)
            ):
                return True
        return False

    @staticmethod
    def _compare_product_version(host_state: HostState, image_props: Mapping[str, Any]) -> bool:
        required = image_props.get("img_hv_requested_version")
        version = host_state.hypervisor_version
        if not (version and required):
            return True
        return version_predicate_satisfied(required, convert_version_to_tuple_from_int(version))

    @staticmethod
    def _compare_maxphysaddr_bits(host_state: HostState, image_props: Mapping[str, Any]) -> bool:
        required = image_props.get("hw_maxphysaddr_bits")
        if not required:
            return True
        maxphysaddr = host_state.cpu_info.get("maxphysaddr", {})
        bits = maxphysaddr.get("bits") if isinstance(maxphysaddr, Mapping) else None
        if not bits:
            return True
        return bool(bits >= required)

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        return self._instance_supported(host_state, spec.image_properties)


class ServerGroupAntiAffinityFilter(BaseHostFilter):
    """Passes iff policy != anti-affinity, the instance is here, or group members here < max_server_per_host (1)."""

    policy_name: ClassVar[str] = "anti-affinity"

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        group = spec.instance_group
        policy = group.policy if group is not None else None
        if policy != self.policy_name:
            return True
        assert group is not None
        # A move may re-check the source host (Nova's NOTE(hanrong)).
        if spec.instance_uuid in host_state.instances:
            return True
        on_host = sum(1 for m in set(group.members) if m in host_state.instances)
        rules = group.rules
        max_server_per_host = (
            rules["max_server_per_host"]
            if rules and "max_server_per_host" in rules
            else 1
        )
        return on_host < max_server_per_host


class ServerGroupAffinityFilter(BaseHostFilter):
    """Passes iff the group policy is not affinity, the group has no hosts yet, or the host is one of them."""

    policy_name: ClassVar[str] = "affinity"

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        group = spec.instance_group
        if group is None or group.policy != self.policy_name:
            return True
        if group.hosts:
            return host_state.host in group.hosts
        return True


class DifferentHostFilter(BaseHostFilter):
    """Passes iff none of the `different_host` hint's instances is on the host."""

    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        uuids = spec.get_scheduler_hint("different_host")
        if uuids:
            return not instance_uuids_overlap(host_state, uuids)
        return True


class SameHostFilter(BaseHostFilter):
    """Passes iff there is no `same_host` hint or one of its instances is on the host."""

    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        uuids = spec.get_scheduler_hint("same_host")
        if uuids:
            return instance_uuids_overlap(host_state, uuids)
        return True


_AGGREGATE_SCOPE = "aggregate_instance_extra_specs"


class AggregateInstanceExtraSpecsFilter(BaseHostFilter):
    """Passes iff every un-scoped or `aggregate_instance_extra_specs:` extra spec matches aggregate metadata."""

    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        extra_specs = spec.flavor.extra_specs
        if not extra_specs:
            return True
        metadata = aggregate_metadata_get_by_host(host_state)
        for key, req in extra_specs.items():
            scope = key.split(":", 1)
            if len(scope) > 1:
                if scope[0] != _AGGREGATE_SCOPE:
                    continue
                key = scope[1]
            values = metadata.get(key)
            if not values:
                return False
            if not _any_value_matches(values, req):
                return False
        return True


def _any_value_matches(values: Iterable[str], req: str) -> bool:
    """Whether some aggregate value matches `req`.

    Nova walks a set (hash order) and stops at the first match, so when one
    value raises and another matches, Nova's outcome depends on
    PYTHONHASHSEED.  The model is deterministic: a match wins; otherwise
    the first error (in sorted order) is raised.
    """
    error: ExtraSpecError | None = None
    for value in sorted(values):
        try:
            if extra_specs_match(value, req):
                return True
        except ExtraSpecError as exc:
            error = error or exc
    if error is not None:
        raise error
    return False


class NumInstancesFilter(BaseHostFilter):
    """Passes iff num_instances < max_instances_per_host."""

    def _get_max_instances_per_host(self, host_state: HostState) -> int:
        return self.config.max_instances_per_host

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        return host_state.num_instances < self._get_max_instances_per_host(host_state)


class AggregateNumInstancesFilter(NumInstancesFilter):
    """Passes iff num_instances < min aggregate max_instances_per_host (else the config value)."""

    def _get_max_instances_per_host(self, host_state: HostState) -> int:
        default = self.config.max_instances_per_host
        return int(_aggregate_num(host_state, "max_instances_per_host", default, int))


class IoOpsFilter(BaseHostFilter):
    """Passes iff num_io_ops < max_io_ops_per_host."""

    def _get_max_io_ops_per_host(self, host_state: HostState) -> int:
        return self.config.max_io_ops_per_host

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        return host_state.num_io_ops < self._get_max_io_ops_per_host(host_state)


class AggregateIoOpsFilter(IoOpsFilter):
    """Passes iff num_io_ops < min aggregate max_io_ops_per_host (else the config value)."""

    def _get_max_io_ops_per_host(self, host_state: HostState) -> int:
        default = self.config.max_io_ops_per_host
        return int(_aggregate_num(host_state, "max_io_ops_per_host", default, int))


class AggregateTypeAffinityFilter(BaseHostFilter):
    """Passes iff no aggregate has `instance_type` metadata or one such comma list names the flavor."""

    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        """`nova/scheduler/filters/type_filter.py: AggregateTypeAffinityFilter` (it
        reads the raw values, `aggregate_values_from_key`, and splits each itself).
        """
        values = aggregate_values_from_key(host_state, "instance_type")
        if not values:
            return True
        flavor = spec.flavor.name
        return any(flavor in {name.strip() for name in value.split(",")} for value in values)


class AggregateMultiTenancyIsolation(BaseHostFilter):
    """Passes iff the aggregates name no `filter_tenant_id*` tenants or the project is among them."""

    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        """`nova/scheduler/filters/aggregate_multitenancy_isolation.py`: the tenants
        of every such key of every aggregate of the host are pooled (comma lists,
        stripped), so a host in two restricted aggregates admits either's tenants.
        A host outside restricted aggregates admits everyone.
        """
        tenants: set[str] = set()
        for key, values in aggregate_metadata_get_by_host(host_state).items():
            if key.startswith("filter_tenant_id"):
                tenants |= values
        return not tenants or spec.project_id in tenants


class AggregateImagePropertiesIsolation(BaseHostFilter):
    """Passes iff every aggregate metadata key the image sets lists the image's value."""

    RUN_ON_REBUILD = True
    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        """`nova/scheduler/filters/aggregate_image_properties_isolation.py`: only keys
        under `aggregate_image_properties_isolation_namespace` + separator count when
        the namespace is set; a key the image does not set is no restriction.

        Deviation: Nova compares the properties after `ImageMetaProps` coerced them
        (so a property that is not an ImageMetaProps field never restricts); the
        model compares them as the cluster file writes them.
        """
        namespace = self.config.aggregate_image_properties_isolation_namespace
        prefix = None
        if namespace:
            prefix = namespace + self.config.aggregate_image_properties_isolation_separator
        props = spec.image_properties
        for key, allowed in aggregate_metadata_get_by_host(host_state).items():
            if prefix is not None and not key.startswith(prefix):
                continue
            wanted = props.get(key)
            if wanted and str(wanted) not in allowed:
                return False
        return True


class IsolatedHostsFilter(BaseHostFilter):
    """Passes iff the image's isolation matches the host's."""

    RUN_ON_REBUILD = True
    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        """`nova/scheduler/filters/isolated_hosts_filter.py`: an image in
        `isolated_images` only runs on a host in `isolated_hosts`; with
        `restrict_isolated_hosts_to_isolated_images` (the default) an isolated
        host runs only isolated images.  With no isolated images configured, an
        isolated host is closed to everything when restricting and open otherwise.
        A request without an image (volume-backed) counts as not isolated.
        """
        cfg = self.config
        host_isolated = host_state.host in cfg.isolated_hosts
        restrict = cfg.restrict_isolated_hosts_to_isolated_images
        if not cfg.isolated_images:
            return not (restrict and host_isolated)
        image_isolated = spec.image_id is not None and spec.image_id in cfg.isolated_images
        if restrict:
            return image_isolated == host_isolated
        return host_isolated or not image_isolated


def _ip_address(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(text, str):
        raise HintError(f"not an IP address: {text!r}")
    try:
        return ipaddress.ip_address(text)
    except ValueError as exc:
        raise HintError(f"not an IP address: {text!r}") from exc


def _prefix_length(text: str, bits: int, whole: str) -> int:
    """The prefix of `address/prefix`: a length or, for IPv4, a dotted netmask
    (netaddr takes both, and ignores whitespace after the prefix)."""
    text = text.rstrip()
    if text.isascii() and text.isdigit():
        length = int(text)
        if length <= bits:
            return length
    elif bits == 32:
        try:
            mask = int(ipaddress.IPv4Address(text))
        except ValueError:
            mask = -1
        ones = bin(mask).count("1") if mask >= 0 else -1
        if ones >= 0 and mask == ((1 << 32) - 1) ^ ((1 << (32 - ones)) - 1):
            return ones
    raise HintError(f"not a network: {whole!r}")


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """`netaddr.IPNetwork(text)` for the forms the model accepts: an address,
    optionally with `/prefix` (host bits may be set)."""
    address, sep, prefix = text.partition("/")
    ip = _ip_address(address)
    length = _prefix_length(prefix, ip.max_prefixlen, text) if sep else ip.max_prefixlen
    return ipaddress.ip_network((ip, length), strict=False)


class SimpleCIDRAffinityFilter(BaseHostFilter):
    """Passes iff there is no `build_near_host_ip` hint or host_ip is in that address + `cidr` (/24)."""

    run_filter_once_per_request = True

    @staticmethod
    def affinity_network(spec: RequestSpec) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        """The network the hints name (None: no `build_near_host_ip` hint); HintError
        when they cannot be read."""
        near = spec.get_scheduler_hint("build_near_host_ip")
        if not near:
            return None
        cidr = spec.get_scheduler_hint("cidr", "/24")
        if not isinstance(near, str) or not isinstance(cidr, str):
            raise HintError(f"build_near_host_ip {near!r} / cidr {cidr!r}: one value each")
        return _network(near + cidr)

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        """`nova/scheduler/filters/affinity_filter.py: SimpleCIDRAffinityFilter`: the
        hint and the cidr are joined as text (`cidr` must start with `/`, else the
        digits extend the address), and a malformed address, network or host IP
        fails the request (HintError).
        """
        network = self.affinity_network(spec)
        if network is None:
            return True
        host_ip = _ip_address(host_state.host_ip)
        return host_ip.version == network.version and host_ip in network


# ---------------------------------------------------------------------------
# filters removed from Nova (legacy mode)
# ---------------------------------------------------------------------------


class RetryFilter(BaseHostFilter):
    """Passes iff (host, nodename) is not among the request's already-tried hosts."""

    IN_NOVA_34 = False

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        if not spec.retry_hosts:
            return True
        return (host_state.host, host_state.nodename) not in {
            (h, n) for h, n in spec.retry_hosts
        }


class AvailabilityZoneFilter(BaseHostFilter):
    """Passes iff no AZ is asked or it is among the host's aggregate AZs (else default_availability_zone)."""

    IN_NOVA_34 = False
    run_filter_once_per_request = True

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        requested = spec.availability_zone
        if not requested:
            return True
        metadata = aggregate_metadata_get_by_host(host_state, key="availability_zone")
        if "availability_zone" in metadata:
            return requested in metadata["availability_zone"]
        return requested == self.config.default_availability_zone


class RamFilter(BaseHostFilter):
    """Passes iff memory_mb <= total RAM and total * ratio - (total - free_ram_mb) >= memory_mb."""

    IN_NOVA_34 = False

    def _get_ram_allocation_ratio(self, host_state: HostState) -> float:
        return host_state.ram_allocation_ratio

    def memory_mb_limit(self, host_state: HostState) -> float:
        return host_state.total_usable_ram_mb * self._get_ram_allocation_ratio(host_state)

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        requested = spec.flavor.memory_mb
        total = host_state.total_usable_ram_mb
        # No overcommit of an instance against itself.
        if not total >= requested:
            return False
        used_ram_mb = total - host_state.free_ram_mb  # includes reserved
        usable_ram = self.memory_mb_limit(host_state) - used_ram_mb
        return usable_ram >= requested

    def limits(self, host_state: HostState) -> dict[str, float]:
        return {"memory_mb": self.memory_mb_limit(host_state)}


class AggregateRamFilter(RamFilter):
    """RamFilter with ratio = min of the aggregates' ram_allocation_ratio (else the host's)."""

    def _get_ram_allocation_ratio(self, host_state: HostState) -> float:
        return float(_aggregate_num(host_state, "ram_allocation_ratio", host_state.ram_allocation_ratio, float))


class CoreFilter(BaseHostFilter):
    """Passes iff vcpus_total is 0, or vcpus <= vcpus_total and vcpus_total * ratio - vcpus_used >= vcpus."""

    IN_NOVA_34 = False

    def _get_cpu_allocation_ratio(self, host_state: HostState) -> float:
        return host_state.cpu_allocation_ratio

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        if not host_state.vcpus_total:
            # Nova: "VCPUs not set; assuming CPU collection broken".
            return True
        requested = spec.flavor.vcpus
        vcpus_limit = host_state.vcpus_total * self._get_cpu_allocation_ratio(host_state)
        if vcpus_limit > 0 and requested > host_state.vcpus_total:
            return False
        return vcpus_limit - host_state.vcpus_used >= requested

    def limits(self, host_state: HostState) -> dict[str, float]:
        if not host_state.vcpus_total:
            return {}
        vcpus_limit = host_state.vcpus_total * self._get_cpu_allocation_ratio(host_state)
        return {"vcpu": vcpus_limit} if vcpus_limit > 0 else {}


class AggregateCoreFilter(CoreFilter):
    """CoreFilter with ratio = min of the aggregates' cpu_allocation_ratio (else the host's)."""

    def _get_cpu_allocation_ratio(self, host_state: HostState) -> float:
        return float(_aggregate_num(host_state, "cpu_allocation_ratio", host_state.cpu_allocation_ratio, float))


class DiskFilter(BaseHostFilter):
    """Passes iff request MB <= total disk MB and total MB * ratio - (total MB - free_disk_mb) >= request."""

    IN_NOVA_34 = False

    def _get_disk_allocation_ratio(self, host_state: HostState) -> float:
        return host_state.disk_allocation_ratio

    def disk_mb_limit(self, host_state: HostState) -> float:
        return host_state.total_usable_disk_gb * 1024 * self._get_disk_allocation_ratio(host_state)

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        flavor = spec.flavor
        # Boot-from-volume is not special-cased by the legacy filter.
        requested = 1024 * (flavor.root_gb + flavor.ephemeral_gb) + flavor.swap
        total_mb = host_state.total_usable_disk_gb * 1024
        if total_mb < requested:
            return False
        used_disk_mb = total_mb - host_state.free_disk_mb
        return self.disk_mb_limit(host_state) - used_disk_mb >= requested

    def limits(self, host_state: HostState) -> dict[str, float]:
        return {"disk_gb": self.disk_mb_limit(host_state) / 1024}


class AggregateDiskFilter(DiskFilter):
    """DiskFilter with ratio = min of the aggregates' disk_allocation_ratio (else the host's)."""

    def _get_disk_allocation_ratio(self, host_state: HostState) -> float:
        return float(_aggregate_num(host_state, "disk_allocation_ratio", host_state.disk_allocation_ratio, float))


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------

#: every filter by name (``plugin_names.FILTER_NAMES``, which the configuration checks)
FILTERS: dict[str, type[BaseHostFilter]] = registry(FILTER_NAMES, globals(), BaseHostFilter)

NOVA_34_FILTERS: frozenset[str] = frozenset(
    name for name, cls in FILTERS.items() if cls.IN_NOVA_34
)

# name -> the upstream commit that removed it (the parent has the code).
REMOVED_FROM_NOVA: dict[str, str] = {
    "RamFilter": "78645e61c63bf042453d1f822ae8b3f1ee6a311b (2019-07-23)",
    "CoreFilter": "78645e61c63bf042453d1f822ae8b3f1ee6a311b (2019-07-23)",
    "DiskFilter": "78645e61c63bf042453d1f822ae8b3f1ee6a311b (2019-07-23)",
    "RetryFilter": "4939d0d1e27f8acf76985c978919da0fd5ad0a0f (2020-08-11)",
    "AggregateRamFilter": "4939d0d1e27f8acf76985c978919da0fd5ad0a0f (2020-08-11)",
    "AggregateCoreFilter": "4939d0d1e27f8acf76985c978919da0fd5ad0a0f (2020-08-11)",
    "AggregateDiskFilter": "4939d0d1e27f8acf76985c978919da0fd5ad0a0f (2020-08-11)",
    "AvailabilityZoneFilter": "5edd805f (2023-07)",
}


def make_filters(config: SchedulerConfig) -> list[BaseHostFilter]:
    """Instances of `config.enabled_filters`, in order."""
    return [FILTERS[name](config) for name in config.filters]


def legacy_limits(host_state: HostState, filters: Iterable[BaseHostFilter]) -> dict[str, float]:
    """The `limits` Nova's enabled RAM/Core/Disk filters left on a host that
    passed them (sent to the compute for the legacy `Claim._test`)."""
    limits: dict[str, float] = {}
    for flt in filters:
        limits.update(flt.limits(host_state))
    return limits
