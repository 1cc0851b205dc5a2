"""Unit tests of the host filters (model/scheduler/filters.py).

The legacy RAM/Core/Disk, Retry and AvailabilityZone filters no longer exist
in Nova; their boundary tests below follow the sources at the commits named in
`REMOVED_FROM_NOVA` (RamFilter/CoreFilter/DiskFilter at 4781ef33,
RetryFilter at 4939d0d1^, AvailabilityZoneFilter at 5edd805f^).
"""

from __future__ import annotations

from typing import Any

import pytest

from model.scheduler.config import SchedulerConfig
from model.scheduler.filters import (
    FILTERS,
    NOVA_34_FILTERS,
    REMOVED_FROM_NOVA,
    AggregateCoreFilter,
    AggregateDiskFilter,
    AggregateInstanceExtraSpecsFilter,
    AggregateIoOpsFilter,
    AggregateNumInstancesFilter,
    AggregateRamFilter,
    AllHostsFilter,
    AvailabilityZoneFilter,
    ComputeCapabilitiesFilter,
    ComputeFilter,
    CoreFilter,
    DifferentHostFilter,
    DiskFilter,
    ExtraSpecError,
    HintError,
    ImagePropertiesFilter,
    IoOpsFilter,
    NumInstancesFilter,
    RamFilter,
    RetryFilter,
    SameHostFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
    canonicalize_architecture,
    extra_specs_match,
    legacy_limits,
    version_predicate_satisfied,
)
from model.scheduler.host_state import Aggregate, HostState
from model.scheduler.pipeline import (
    legacy_capacity,
    placement_capacity,
    placement_fits,
    placement_resources,
)
from model.scheduler.request import Flavor, InstanceGroup, RequestSpec

U1, U2, U3 = "uuid-1", "uuid-2", "uuid-3"


def host(**kw: Any) -> HostState:
    defaults: dict[str, Any] = dict(
        host="host1", nodename="node1", total_usable_ram_mb=4096, free_ram_mb=4096,
        total_usable_disk_gb=100, free_disk_mb=100 * 1024, vcpus_total=8, vcpus_used=0,
    )
    defaults.update(kw)
    return HostState(**defaults)


def spec(**kw: Any) -> RequestSpec:
    flavor_keys = {"vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap", "extra_specs"}
    flavor = Flavor(**{k: kw.pop(k) for k in list(kw) if k in flavor_keys})
    return RequestSpec(flavor=flavor, **kw)


# ---------------------------------------------------------------------------
# extra_specs_ops.match
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "req", "expected"),
    [
        ("1", "1", True),              # plain equality
        ("1", "1.0", False),           # plain equality is textual
        ("123", "= 123", True),        # '=' means numeric >=
        ("124", "= 123", True),
        ("122", "= 123", False),
        ("12", "== 12.0", True),
        ("12", "!= 12", False),
        ("12", ">= 12", True),
        ("11", "<= 12", True),
        ("13", "<= 12", False),
        ("abc", "s== abc", True),
        ("abc", "s!= abc", False),
        ("abc", "s< abd", True),
        ("abc", "s<= abc", True),
        ("abd", "s> abc", True),
        ("abc", "s>= abd", False),
        ("kvm, qemu", "<in> qemu", True),       # substring
        ("kvm", "<in> qemu", False),
        ("avx avx2 sse", "<all-in> avx sse", True),
        ("avx sse", "<all-in> avx avx2", False),
        ("b", "<or> a <or> b", True),
        ("c", "<or> a <or> b", False),
        ("b", "<or> a b", False),       # the word after a value is skipped
        ("12", "= 12 13", True),        # only the first operand counts
        ("12", "==", False),            # operator without operand
        (None, "s== abc", False),
        ("x", "", False),
        ("", "", True),
    ],
)
def test_extra_specs_match(value: str | None, req: str, expected: bool) -> None:
    assert extra_specs_match(value, req) is expected


@pytest.mark.parametrize(("value", "req"), [("abc", "= 1"), ("1", ">= abc"), ("x", "<or>")])
def test_extra_specs_match_raises_where_nova_raises(value: str, req: str) -> None:
    with pytest.raises(ExtraSpecError):
        extra_specs_match(value, req)


# ---------------------------------------------------------------------------
# RamFilter / CoreFilter / DiskFilter (legacy formulas)
# ---------------------------------------------------------------------------

GIB64 = 65536
RESERVED = 512
RATIO = 1.5


def ram_host(instances_mb: int) -> HostState:
    """64 GiB host, 512 MB reserved, ratio 1.5, `instances_mb` in use."""
    return host(total_usable_ram_mb=GIB64, free_ram_mb=GIB64 - RESERVED - instances_mb,
                ram_allocation_ratio=RATIO, reserved_host_memory_mb=RESERVED)


def test_worked_example_legacy_ram_filter_boundary() -> None:
    """The legacy filter admits 64 GiB * 1.5 - 512 = 97,792 MB of instances."""
    flt = RamFilter()
    assert flt.host_passes(ram_host(97792 - 1024), spec(memory_mb=1024))
    assert not flt.host_passes(ram_host(97793 - 1024), spec(memory_mb=1024))
    assert legacy_capacity(GIB64, RESERVED, RATIO) == 97792


def test_worked_example_ram_filter_packs_exactly_97792_mb() -> None:
    flt, state, request = RamFilter(), ram_host(0), spec(memory_mb=512)
    placed = 0
    while flt.host_passes(state, request):
        state = state.consume_from_request(request)
        placed += 512
    assert placed == 97792


def test_worked_example_placement_capacity() -> None:
    """Placement admits (64 GiB - 512) * 1.5 = 97,536 MB: 256 MB less."""
    assert placement_capacity(GIB64, RESERVED, RATIO) == 97536
    request = spec(memory_mb=1024, vcpus=1, root_gb=0)
    resources = placement_resources(request)
    assert placement_fits(ram_host(97536 - 1024), resources)
    assert not placement_fits(ram_host(97537 - 1024), resources)


def test_ram_filter_no_overcommit_against_itself() -> None:
    big = host(total_usable_ram_mb=4096, free_ram_mb=4096, ram_allocation_ratio=100.0)
    assert RamFilter().host_passes(big, spec(memory_mb=4096))
    assert not RamFilter().host_passes(big, spec(memory_mb=4097))


def test_ram_filter_negative_free_ram() -> None:
    # used = 4096 - (-1024) = 5120; limit 4096 * 1.5 = 6144; room 1024.
    h = host(total_usable_ram_mb=4096, free_ram_mb=-1024, ram_allocation_ratio=1.5)
    assert RamFilter().host_passes(h, spec(memory_mb=1024))
    assert not RamFilter().host_passes(h, spec(memory_mb=1025))


def test_ram_filter_limits() -> None:
    assert RamFilter().limits(ram_host(0)) == {"memory_mb": GIB64 * RATIO}


def test_aggregate_ram_filter_uses_min_aggregate_ratio() -> None:
    aggs = (Aggregate("a", metadata={"ram_allocation_ratio": "2.0"}),
            Aggregate("b", metadata={"ram_allocation_ratio": "1.0"}))
    h = host(total_usable_ram_mb=4096, free_ram_mb=0, ram_allocation_ratio=10.0, aggregates=aggs)
    assert not AggregateRamFilter().host_passes(h, spec(memory_mb=1))
    assert RamFilter().host_passes(h, spec(memory_mb=1))
    bad = host(free_ram_mb=0, ram_allocation_ratio=2.0,
               aggregates=(Aggregate("c", metadata={"ram_allocation_ratio": "x"}),))
    assert AggregateRamFilter().host_passes(bad, spec(memory_mb=1))  # falls back to 2.0


def test_core_filter_fail_safe_without_vcpus() -> None:
    assert CoreFilter().host_passes(host(vcpus_total=0, vcpus_used=999), spec(vcpus=64))
    assert CoreFilter().limits(host(vcpus_total=0)) == {}


def test_core_filter_boundaries() -> None:
    h = host(vcpus_total=8, vcpus_used=30, cpu_allocation_ratio=4.0)  # limit 32, free 2
    assert CoreFilter().host_passes(h, spec(vcpus=2))
    assert not CoreFilter().host_passes(h, spec(vcpus=3))
    roomy = host(vcpus_total=8, vcpus_used=0, cpu_allocation_ratio=16.0)
    assert CoreFilter().host_passes(roomy, spec(vcpus=8))
    assert not CoreFilter().host_passes(roomy, spec(vcpus=9))  # not against itself
    assert CoreFilter().limits(roomy) == {"vcpu": 128.0}


def test_core_filter_zero_ratio_skips_self_check() -> None:
    # vcpus_limit == 0: no self check, free = 0 - used.
    h = host(vcpus_total=4, vcpus_used=0, cpu_allocation_ratio=0.0)
    assert not CoreFilter().host_passes(h, spec(vcpus=1))
    assert CoreFilter().limits(h) == {}


def test_aggregate_core_filter() -> None:
    h = host(vcpus_total=4, vcpus_used=4, cpu_allocation_ratio=1.0,
             aggregates=(Aggregate("a", metadata={"cpu_allocation_ratio": "2"}),))
    assert AggregateCoreFilter().host_passes(h, spec(vcpus=4))
    assert not CoreFilter().host_passes(h, spec(vcpus=1))


def test_disk_filter_counts_swap_and_boundaries() -> None:
    # total 10 GB, ratio 1.0, 1 GB free -> room 1024 MB.
    h = host(total_usable_disk_gb=10, free_disk_mb=1024, disk_allocation_ratio=1.0)
    assert DiskFilter().host_passes(h, spec(root_gb=1, ephemeral_gb=0, swap=0))
    assert not DiskFilter().host_passes(h, spec(root_gb=1, ephemeral_gb=0, swap=1))
    assert not DiskFilter().host_passes(host(total_usable_disk_gb=1, free_disk_mb=1024, disk_allocation_ratio=50.0),
                                        spec(root_gb=1, swap=1))  # not against itself
    assert DiskFilter().limits(h) == {"disk_gb": 10.0}


def test_disk_filter_overcommit() -> None:
    h = host(total_usable_disk_gb=10, free_disk_mb=0, disk_allocation_ratio=2.0)  # room 10 GB
    assert DiskFilter().host_passes(h, spec(root_gb=10))
    assert not DiskFilter().host_passes(h, spec(root_gb=10, swap=1))
    agg = host(total_usable_disk_gb=10, free_disk_mb=0, disk_allocation_ratio=2.0,
               aggregates=(Aggregate("a", metadata={"disk_allocation_ratio": "1.0"}),))
    assert not AggregateDiskFilter().host_passes(agg, spec(root_gb=1))


def test_legacy_limits_collects_enabled_filters() -> None:
    h = host(total_usable_ram_mb=1000, ram_allocation_ratio=1.5, vcpus_total=4, cpu_allocation_ratio=2.0,
             total_usable_disk_gb=10, disk_allocation_ratio=1.0)
    limits = legacy_limits(h, [RamFilter(), CoreFilter(), DiskFilter(), ComputeFilter()])
    assert limits == {"memory_mb": 1500.0, "vcpu": 8.0, "disk_gb": 10.0}


# ---------------------------------------------------------------------------
# RetryFilter / AvailabilityZoneFilter
# ---------------------------------------------------------------------------


def test_retry_filter() -> None:
    h = host(host="h1", nodename="n1")
    assert RetryFilter().host_passes(h, spec())
    assert not RetryFilter().host_passes(h, spec(retry_hosts=(("h1", "n1"),)))
    assert RetryFilter().host_passes(h, spec(retry_hosts=(("h1", "n2"), ("h2", "n1"))))


def test_availability_zone_filter() -> None:
    flt = AvailabilityZoneFilter()
    in_az1 = host(aggregates=(Aggregate("a", metadata={"availability_zone": "az1"}),))
    plain = host()
    assert flt.host_passes(plain, spec())
    assert flt.host_passes(in_az1, spec(availability_zone="az1"))
    assert not flt.host_passes(in_az1, spec(availability_zone="nova"))
    assert flt.host_passes(plain, spec(availability_zone="nova"))  # default AZ
    assert not flt.host_passes(plain, spec(availability_zone="az1"))
    other_default = AvailabilityZoneFilter(SchedulerConfig(default_availability_zone="zone0"))
    assert other_default.host_passes(plain, spec(availability_zone="zone0"))
    multi = host(aggregates=(Aggregate("a", metadata={"availability_zone": "az1, az2"}),))
    assert flt.host_passes(multi, spec(availability_zone="az2"))


def test_availability_zone_field_becomes_an_aggregate() -> None:
    h = host(availability_zone="az1")
    assert AvailabilityZoneFilter().host_passes(h, spec(availability_zone="az1"))
    assert not AvailabilityZoneFilter().host_passes(h, spec(availability_zone="nova"))
    explicit = host(availability_zone="ignored", aggregates=(Aggregate("a", metadata={"availability_zone": "az9"}),))
    assert len(explicit.aggregates) == 1


# ---------------------------------------------------------------------------
# filters present in Nova today
# ---------------------------------------------------------------------------


def test_all_hosts_filter() -> None:
    assert AllHostsFilter().host_passes(host(service_disabled=True), spec())


@pytest.mark.parametrize(("up", "disabled", "expected"), [(True, False, True), (False, False, False),
                                                          (True, True, False), (False, True, False)])
def test_compute_filter(up: bool, disabled: bool, expected: bool) -> None:
    assert ComputeFilter().host_passes(host(service_up=up, service_disabled=disabled), spec()) is expected


def test_compute_capabilities_unscoped_attribute_and_stats() -> None:
    flt = ComputeCapabilitiesFilter()
    h = host(free_ram_mb=2048, hypervisor_type="kvm", stats={"gpu": "2"})
    assert flt.host_passes(h, spec(extra_specs={"free_ram_mb": ">= 2048"}))
    assert not flt.host_passes(h, spec(extra_specs={"free_ram_mb": ">= 2049"}))
    assert flt.host_passes(h, spec(extra_specs={"hypervisor_type": "kvm"}))
    assert flt.host_passes(h, spec(extra_specs={"gpu": "= 1"}))
    # Unknown un-scoped keys and other scopes are ignored.
    assert flt.host_passes(h, spec(extra_specs={"unknown": "x", "hw:cpu_policy": "dedicated"}))


def test_compute_capabilities_scoped_and_nested() -> None:
    flt = ComputeCapabilitiesFilter()
    h = host(cpu_info={"maxphysaddr": {"bits": 42}, "vendor": "Intel"}, stats={"foo": "bar"})
    assert flt.host_passes(h, spec(extra_specs={"capabilities:cpu_info:vendor": "Intel"}))
    assert not flt.host_passes(h, spec(extra_specs={"capabilities:cpu_info:vendor": "AMD"}))
    assert flt.host_passes(h, spec(extra_specs={"capabilities:cpu_info:maxphysaddr:bits": ">= 40"}))
    assert flt.host_passes(h, spec(extra_specs={"capabilities:foo": "bar"}))  # falls back to stats
    # A scoped key the host cannot answer fails the host.
    assert not flt.host_passes(h, spec(extra_specs={"capabilities:missing": "x"}))
    # JSON strings along the path are decoded.
    js = host(stats={"blob": '{"a": {"b": "7"}}'})
    assert flt.host_passes(js, spec(extra_specs={"capabilities:blob:a:b": "== 7"}))
    assert not flt.host_passes(host(stats={"blob": "not json"}), spec(extra_specs={"capabilities:blob:a": "x"}))


def test_compute_capabilities_maxphysaddr_bits() -> None:
    flt = ComputeCapabilitiesFilter()
    h = host(cpu_info={"maxphysaddr": {"bits": 42}})
    assert flt.host_passes(h, spec(extra_specs={"hw:maxphysaddr_bits": "42"}))
    assert not flt.host_passes(h, spec(extra_specs={"hw:maxphysaddr_bits": "43"}))
    assert not flt.host_passes(host(), spec(extra_specs={"hw:maxphysaddr_bits": "36"}))


def test_compute_capabilities_renders_values_like_nova() -> None:
    flt = ComputeCapabilitiesFilter()
    h = host(supported_instances=(("x86_64", "kvm", "hvm"),))
    # Plain equality against str() of the list Nova holds (not a tuple).
    assert flt.host_passes(h, spec(extra_specs={"supported_instances": "[['x86_64', 'kvm', 'hvm']]"}))
    # Binary operators only read the first operand word.
    assert not flt.host_passes(h, spec(extra_specs={"supported_instances": "s== [['x86_64', 'kvm', 'hvm']]"}))
    assert flt.host_passes(h, spec(extra_specs={"capabilities:supported_instances": "<in> kvm"}))


def test_compute_capabilities_opaque_attributes_fail() -> None:
    assert not ComputeCapabilitiesFilter().host_passes(host(), spec(extra_specs={"limits": "{}"}))


def test_compute_capabilities_error_propagates() -> None:
    with pytest.raises(ExtraSpecError):
        ComputeCapabilitiesFilter().host_passes(host(hypervisor_type="kvm"),
                                                spec(extra_specs={"hypervisor_type": ">= 1"}))


SUPPORTED = (("x86_64", "kvm", "hvm"), ("aarch64", "qemu", "hvm"))


def test_image_properties_filter_matching() -> None:
    flt = ImagePropertiesFilter()
    h = host(supported_instances=SUPPORTED)
    assert flt.host_passes(h, spec())
    assert flt.host_passes(h, spec(image_properties={"hw_architecture": "x86_64", "img_hv_type": "kvm"}))
    assert flt.host_passes(h, spec(image_properties={"hw_architecture": "AMD64"}))  # canonicalized
    assert not flt.host_passes(h, spec(image_properties={"hw_architecture": "aarch64", "img_hv_type": "kvm"}))
    assert not flt.host_passes(h, spec(image_properties={"hw_vm_mode": "xen"}))
    assert flt.host_passes(h, spec(image_properties={"hw_vm_mode": "hv"}))  # hv -> hvm
    assert not flt.host_passes(host(), spec(image_properties={"hw_architecture": "x86_64"}))


def test_image_properties_default_architecture() -> None:
    h = host(supported_instances=(("aarch64", "qemu", "hvm"),))
    assert ImagePropertiesFilter().host_passes(h, spec())
    x86 = ImagePropertiesFilter(SchedulerConfig(image_properties_default_architecture="x86_64"))
    assert not x86.host_passes(h, spec())
    assert x86.host_passes(h, spec(image_properties={"hw_architecture": "aarch64"}))


def test_image_properties_hypervisor_version() -> None:
    flt = ImagePropertiesFilter()
    h = host(supported_instances=SUPPORTED, hypervisor_version=6001002)  # 6.1.2
    props = {"hw_architecture": "x86_64"}
    assert flt.host_passes(h, spec(image_properties={**props, "img_hv_requested_version": ">=6.1"}))
    assert flt.host_passes(h, spec(image_properties={**props, "img_hv_requested_version": ">=6.0,<7"}))
    assert not flt.host_passes(h, spec(image_properties={**props, "img_hv_requested_version": ">6.1.2"}))
    assert flt.host_passes(h, spec(image_properties={**props, "img_hv_requested_version": "==6.1.2.0"}))
    # No hypervisor version: the requirement is not checked.
    assert flt.host_passes(host(supported_instances=SUPPORTED),
                           spec(image_properties={**props, "img_hv_requested_version": ">=99"}))
    # Only evaluated when some compute property is requested.
    assert flt.host_passes(h, spec(image_properties={"img_hv_requested_version": ">=99"}))


def test_image_properties_maxphysaddr_bits() -> None:
    flt = ImagePropertiesFilter()
    props = {"hw_architecture": "x86_64", "hw_maxphysaddr_bits": 42}
    assert flt.host_passes(host(supported_instances=SUPPORTED, cpu_info={"maxphysaddr": {"bits": 42}}),
                           spec(image_properties=props))
    assert not flt.host_passes(host(supported_instances=SUPPORTED, cpu_info={"maxphysaddr": {"bits": 40}}),
                               spec(image_properties=props))
    assert flt.host_passes(host(supported_instances=SUPPORTED), spec(image_properties=props))  # unknown bits


def test_version_helpers() -> None:
    assert version_predicate_satisfied(">=1.0,<2", (1, 5))
    assert not version_predicate_satisfied("!=1.0", (1,))
    with pytest.raises(ValueError):
        version_predicate_satisfied("1.0", (1,))
    assert canonicalize_architecture("i386") == "i686"
    with pytest.raises(ValueError):
        canonicalize_architecture("z80")


def group(policy: str | None, **kw: Any) -> InstanceGroup:
    return InstanceGroup(policy=policy, **kw)


def test_anti_affinity_filter() -> None:
    flt = ServerGroupAntiAffinityFilter()
    busy = host(instances={U1: {}})
    g = group("anti-affinity", members=(U1, U2))
    assert not flt.host_passes(busy, spec(instance_group=g, instance_uuid=U2))
    assert flt.host_passes(host(), spec(instance_group=g, instance_uuid=U2))
    # The instance itself already being there (a move) passes.
    assert flt.host_passes(host(instances={U1: {}, U2: {}}), spec(instance_group=g, instance_uuid=U2))
    # max_server_per_host
    g2 = group("anti-affinity", members=(U1, U2, U3), rules={"max_server_per_host": 2})
    assert flt.host_passes(busy, spec(instance_group=g2, instance_uuid=U3))
    assert not flt.host_passes(host(instances={U1: {}, U2: {}}), spec(instance_group=g2, instance_uuid=U3))
    # Other policies are not this filter's business.
    assert flt.host_passes(busy, spec(instance_group=group("soft-anti-affinity", members=(U1,))))
    assert flt.host_passes(busy, spec())


def test_affinity_filter() -> None:
    flt = ServerGroupAffinityFilter()
    assert flt.host_passes(host(host="h1"), spec(instance_group=group("affinity")))
    assert flt.host_passes(host(host="h1"), spec(instance_group=group("affinity", hosts=("h1",))))
    assert not flt.host_passes(host(host="h2"), spec(instance_group=group("affinity", hosts=("h1",))))
    assert flt.host_passes(host(host="h2"), spec(instance_group=group("anti-affinity", hosts=("h1",))))


def test_same_and_different_host_filters() -> None:
    h = host(instances={U1: {}})
    assert SameHostFilter().host_passes(h, spec())
    assert SameHostFilter().host_passes(h, spec(scheduler_hints={"same_host": (U1, U2)}))
    assert not SameHostFilter().host_passes(h, spec(scheduler_hints={"same_host": (U2,)}))
    assert DifferentHostFilter().host_passes(h, spec(scheduler_hints={"different_host": (U2,)}))
    assert not DifferentHostFilter().host_passes(h, spec(scheduler_hints={"different_host": (U2, U1)}))
    assert DifferentHostFilter().host_passes(h, spec(scheduler_hints={"different_host": ()}))


def test_aggregate_instance_extra_specs_filter() -> None:
    flt = AggregateInstanceExtraSpecsFilter()
    h = host(aggregates=(Aggregate("a", metadata={"ssd": "true", "tier": "gold, silver"}),
                         Aggregate("b", metadata={"ssd": "false"})))
    assert flt.host_passes(h, spec())
    assert flt.host_passes(h, spec(extra_specs={"ssd": "true"}))
    assert flt.host_passes(h, spec(extra_specs={"aggregate_instance_extra_specs:tier": "silver"}))
    assert not flt.host_passes(h, spec(extra_specs={"tier": "bronze"}))
    assert not flt.host_passes(h, spec(extra_specs={"missing": "x"}))  # un-scoped must be present
    assert flt.host_passes(h, spec(extra_specs={"hw:cpu_policy": "dedicated"}))  # other scope ignored
    assert flt.host_passes(h, spec(extra_specs={"ssd": "<or> maybe <or> false"}))


def test_aggregate_instance_extra_specs_match_wins_over_error() -> None:
    h = host(aggregates=(Aggregate("a", metadata={"n": "abc, 5"}),))
    assert AggregateInstanceExtraSpecsFilter().host_passes(h, spec(extra_specs={"n": ">= 3"}))
    with pytest.raises(ExtraSpecError):
        AggregateInstanceExtraSpecsFilter().host_passes(h, spec(extra_specs={"n": ">= 9"}))


def test_num_instances_and_io_ops_filters() -> None:
    cfg = SchedulerConfig(max_instances_per_host=3, max_io_ops_per_host=2)
    assert NumInstancesFilter(cfg).host_passes(host(num_instances=2), spec())
    assert not NumInstancesFilter(cfg).host_passes(host(num_instances=3), spec())
    assert IoOpsFilter(cfg).host_passes(host(num_io_ops=1), spec())
    assert not IoOpsFilter(cfg).host_passes(host(num_io_ops=2), spec())
    assert NumInstancesFilter().host_passes(host(num_instances=49), spec())
    assert not NumInstancesFilter().host_passes(host(num_instances=50), spec())
    assert not IoOpsFilter().host_passes(host(num_io_ops=8), spec())


def test_aggregate_num_instances_and_io_ops_filters() -> None:
    aggs = (Aggregate("a", metadata={"max_instances_per_host": "5", "max_io_ops_per_host": "1"}),
            Aggregate("b", metadata={"max_instances_per_host": "7"}))
    h = host(num_instances=5, num_io_ops=1, aggregates=aggs)
    assert not AggregateNumInstancesFilter().host_passes(h, spec())
    assert not AggregateIoOpsFilter().host_passes(h, spec())
    bad = host(num_instances=5, aggregates=(Aggregate("c", metadata={"max_instances_per_host": "1.5"}),))
    assert AggregateNumInstancesFilter().host_passes(bad, spec())  # falls back to 50


# ---------------------------------------------------------------------------
# base behaviour and registry
# ---------------------------------------------------------------------------


def test_rebuild_runs_only_run_on_rebuild_filters() -> None:
    rebuild = spec(is_rebuild=True, image_properties={"hw_architecture": "x86_64"})
    down = host(service_up=False, supported_instances=())
    assert ComputeFilter().filter_one(down, rebuild)
    assert not ImagePropertiesFilter().filter_one(down, rebuild)
    hinted = spec(scheduler_hints={"_nova_check_type": ("rebuild",)})
    assert ComputeFilter().filter_one(down, hinted)


def test_run_filter_for_index() -> None:
    assert ComputeFilter().run_filter_for_index(0)
    assert not ComputeFilter().run_filter_for_index(1)
    assert ServerGroupAntiAffinityFilter().run_filter_for_index(1)
    assert RamFilter().run_filter_for_index(2)


def test_registry() -> None:
    assert set(FILTERS) == NOVA_34_FILTERS | set(REMOVED_FROM_NOVA)
    assert "RamFilter" not in NOVA_34_FILTERS and "ComputeFilter" in NOVA_34_FILTERS
    for name, cls in FILTERS.items():
        assert cls.__name__ == name
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()
    assert ImagePropertiesFilter.RUN_ON_REBUILD
    assert not ComputeCapabilitiesFilter.RUN_ON_REBUILD


# ---------------------------------------------------------------------------
# aggregate and isolation filters
# ---------------------------------------------------------------------------


def in_aggregates(*metadata: dict[str, str], **kw: Any) -> HostState:
    return host(aggregates=tuple(Aggregate(f"agg{i}", ("host1",), m) for i, m in enumerate(metadata)), **kw)


def flavored(name: str) -> RequestSpec:
    return RequestSpec(flavor=Flavor(name=name))


def test_aggregate_type_affinity_filter() -> None:
    flt = FILTERS["AggregateTypeAffinityFilter"]()
    assert flt.host_passes(in_aggregates({"foo": "bar"}), flavored("m1.small"))
    assert flt.host_passes(in_aggregates({"instance_type": "m1.tiny, m1.small "}), flavored("m1.small"))
    assert not flt.host_passes(in_aggregates({"instance_type": "m1.tiny"}), flavored("m1.small"))
    # one aggregate naming the flavor suffices, whatever the others say
    two = in_aggregates({"instance_type": "m1.tiny"}, {"instance_type": "m1.small"})
    assert flt.host_passes(two, flavored("m1.small"))
    assert not flt.host_passes(two, flavored("m1.large"))


def test_aggregate_multi_tenancy_isolation() -> None:
    flt = FILTERS["AggregateMultiTenancyIsolation"]()
    p1, p3 = spec(project_id="p1"), spec(project_id="p3")
    assert flt.host_passes(host(), p3)
    assert flt.host_passes(in_aggregates({"ssd": "true"}), p3)
    restricted = in_aggregates({"filter_tenant_id": "p1, p2"})
    assert flt.host_passes(restricted, p1)
    assert not flt.host_passes(restricted, p3)
    # every key with the prefix counts, pooled over the host's aggregates
    pooled = in_aggregates({"filter_tenant_id_a": "p1"}, {"filter_tenant_id2": "p3"})
    assert flt.host_passes(pooled, p1) and flt.host_passes(pooled, p3)
    assert not flt.host_passes(pooled, spec(project_id=None))


def test_aggregate_image_properties_isolation() -> None:
    flt = FILTERS["AggregateImagePropertiesIsolation"]()
    linux = spec(image_properties={"os_distro": "ubuntu"})
    windows = spec(image_properties={"os_distro": "windows"})
    agg = in_aggregates({"os_distro": "ubuntu,debian", "ssd": "true"})
    assert flt.host_passes(agg, linux)
    assert not flt.host_passes(agg, windows)
    assert flt.host_passes(agg, spec())  # an image that does not set the key is not restricted
    assert flt.host_passes(in_aggregates({"hw_maxphysaddr_bits": "40"}),
                           spec(image_properties={"hw_maxphysaddr_bits": 40}))  # compared as text
    namespaced = FILTERS["AggregateImagePropertiesIsolation"](
        SchedulerConfig(aggregate_image_properties_isolation_namespace="ns"))
    assert namespaced.host_passes(agg, windows)  # keys outside the namespace are ignored
    assert not namespaced.host_passes(in_aggregates({"ns.os_distro": "ubuntu"}),
                                      spec(image_properties={"ns.os_distro": "windows"}))
    assert FILTERS["AggregateImagePropertiesIsolation"].RUN_ON_REBUILD


@pytest.mark.parametrize(
    ("restrict", "image", "host_name", "expected"),
    [
        (True, "iso", "isolated", True),
        (True, "plain", "isolated", False),
        (True, "iso", "other", False),
        (True, "plain", "other", True),
        (True, None, "isolated", False),   # no image (volume-backed) is not isolated
        (False, "iso", "isolated", True),
        (False, "plain", "isolated", True),
        (False, "iso", "other", False),
        (False, "plain", "other", True),
    ],
)
def test_isolated_hosts_filter(restrict: bool, image: str | None, host_name: str, expected: bool) -> None:
    cfg = SchedulerConfig(isolated_images=("iso",), isolated_hosts=("isolated",),
                          restrict_isolated_hosts_to_isolated_images=restrict)
    flt = FILTERS["IsolatedHostsFilter"](cfg)
    assert flt.host_passes(host(host=host_name), spec(image_id=image)) is expected


def test_isolated_hosts_without_isolated_images() -> None:
    closed = FILTERS["IsolatedHostsFilter"](SchedulerConfig(isolated_hosts=("isolated",)))
    assert not closed.host_passes(host(host="isolated"), spec(image_id="any"))
    assert closed.host_passes(host(host="other"), spec(image_id="any"))
    open_ = FILTERS["IsolatedHostsFilter"](SchedulerConfig(
        isolated_hosts=("isolated",), restrict_isolated_hosts_to_isolated_images=False))
    assert open_.host_passes(host(host="isolated"), spec(image_id="any"))


def near(ip: str, cidr: str | None = None) -> RequestSpec:
    hints = {"build_near_host_ip": (ip,)} | ({"cidr": (cidr,)} if cidr is not None else {})
    return spec(scheduler_hints=hints)


@pytest.mark.parametrize(
    ("host_ip", "hint", "cidr", "expected"),
    [
        ("10.0.0.200", "10.0.0.1", None, True),         # /24 by default
        ("10.0.1.2", "10.0.0.1", None, False),
        ("10.0.1.2", "10.0.0.1", "/16", True),
        ("10.0.0.1", "10.0.0.1", "/32", True),
        ("10.0.0.9", "10.0.0.1", "/255.255.255.0", True),  # a netmask works too
        ("10.0.0.3", "10.0.0.1", "24", False),          # no slash: 10.0.0.124/32
        ("fe80::2", "fe80::1", "/64", True),
        ("10.0.0.5", "::1", "/0", False),               # another address family
    ],
)
def test_simple_cidr_affinity_filter(host_ip: str, hint: str, cidr: str | None, expected: bool) -> None:
    flt = FILTERS["SimpleCIDRAffinityFilter"]()
    assert flt.host_passes(host(host_ip=host_ip), near(hint, cidr)) is expected


def test_simple_cidr_affinity_filter_without_hint_or_with_bad_input() -> None:
    flt = FILTERS["SimpleCIDRAffinityFilter"]()
    assert flt.host_passes(host(host_ip=None), spec())
    for bad in (near("10.0.0.1", "/33"), near("010.0.0.1"), near("nonsense"),
                spec(scheduler_hints={"build_near_host_ip": ("10.0.0.1", "10.0.0.2")})):
        with pytest.raises(HintError):
            flt.host_passes(host(host_ip="10.0.0.1"), bad)
    with pytest.raises(HintError):  # a host without an address cannot be near anything
        flt.host_passes(host(host_ip=None), near("10.0.0.1"))
