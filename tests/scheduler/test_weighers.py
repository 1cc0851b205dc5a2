"""Unit tests of the weighers and the weighing handler (model/scheduler/weighers.py)."""

from __future__ import annotations

from typing import Any

import pytest

from model.scheduler.config import SchedulerConfig
from model.scheduler.host_state import Aggregate, HostState
from model.scheduler.request import InstanceGroup, RequestSpec
from model.scheduler.weighers import (
    WEIGHERS,
    BuildFailureWeigher,
    ComputeHostMetricNotFound,
    CPUWeigher,
    DiskWeigher,
    HypervisorVersionWeigher,
    ImagePropertiesWeigher,
    IoOpsWeigher,
    MetricsWeigher,
    NumInstancesWeigher,
    RAMWeigher,
    ServerGroupSoftAffinityWeigher,
    ServerGroupSoftAntiAffinityWeigher,
    get_weighed_objects,
    get_weight_multiplier,
    make_weighers,
    normalize,
)


def host(name: str, **kw: Any) -> HostState:
    return HostState(host=name, nodename=name, **kw)


def order(result: list[Any]) -> list[str]:
    return [w.obj.host for w in result]


def weights(result: list[Any]) -> dict[str, float]:
    return {w.obj.host: w.weight for w in result}


SPEC = RequestSpec()


def test_normalize() -> None:
    assert normalize([]) == []
    assert normalize([1, 2, 3]) == [0.0, 0.5, 1.0]
    assert normalize([5, 5, 5]) == [0.0, 0.0, 0.0]
    assert normalize([0, 5, 10], minval=0, maxval=20) == [0.0, 0.25, 0.5]
    assert normalize([2, 4], minval=0) == [0.5, 1.0]
    assert normalize([-4, -2]) == [0.0, 1.0]


def test_no_weighing_for_one_host() -> None:
    result = get_weighed_objects([RAMWeigher()], [host("a", free_ram_mb=10)], SPEC)
    assert [(w.obj.host, w.weight) for w in result] == [("a", 0.0)]
    assert get_weighed_objects([RAMWeigher()], [], SPEC) == []


def test_ram_weigher_spreads_by_default() -> None:
    hosts = [host("a", free_ram_mb=1024), host("b", free_ram_mb=4096), host("c", free_ram_mb=2048)]
    result = get_weighed_objects([RAMWeigher()], hosts, SPEC)
    assert order(result) == ["b", "c", "a"]
    # minval 0: normalised against [0, max], not [min, max]
    assert weights(result) == {"a": 0.25, "b": 1.0, "c": 0.5}


def test_ram_weigher_negative_multiplier_stacks() -> None:
    cfg = SchedulerConfig(ram_weight_multiplier=-1.0)
    hosts = [host("a", free_ram_mb=1024), host("b", free_ram_mb=4096)]
    assert order(get_weighed_objects([RAMWeigher(cfg)], hosts, SPEC)) == ["a", "b"]


def test_negative_raw_values_clamped_to_minval() -> None:
    hosts = [host("a", free_ram_mb=-500), host("b", free_ram_mb=0)]
    assert weights(get_weighed_objects([RAMWeigher()], hosts, SPEC)) == {"a": 0.0, "b": 0.0}


def test_cpu_weigher_formula() -> None:
    w = CPUWeigher()
    assert w._weigh_object(host("a", vcpus_total=8, cpu_allocation_ratio=4.0, vcpus_used=10), SPEC) == 22.0
    hosts = [host("a", vcpus_total=8, cpu_allocation_ratio=4.0, vcpus_used=10),  # 22
             host("b", vcpus_total=8, cpu_allocation_ratio=1.0, vcpus_used=0)]    # 8
    assert order(get_weighed_objects([w], hosts, SPEC)) == ["a", "b"]


def test_disk_weigher() -> None:
    hosts = [host("a", free_disk_mb=100), host("b", free_disk_mb=300)]
    assert weights(get_weighed_objects([DiskWeigher()], hosts, SPEC)) == {"a": pytest.approx(1 / 3), "b": 1.0}


def test_io_ops_weigher_prefers_idle_hosts() -> None:
    hosts = [host("busy", num_io_ops=4), host("idle", num_io_ops=0)]
    result = get_weighed_objects([IoOpsWeigher()], hosts, SPEC)
    assert order(result) == ["idle", "busy"]
    assert weights(result) == {"idle": 0.0, "busy": -1.0}


def test_num_instances_weigher_off_by_default() -> None:
    hosts = [host("a", num_instances=1), host("b", num_instances=9)]
    assert weights(get_weighed_objects([NumInstancesWeigher()], hosts, SPEC)) == {"a": 0.0, "b": 0.0}
    cfg = SchedulerConfig(num_instances_weight_multiplier=-1.0)
    assert order(get_weighed_objects([NumInstancesWeigher(cfg)], hosts, SPEC)) == ["a", "b"]


def test_hypervisor_version_weigher() -> None:
    w = HypervisorVersionWeigher()
    assert w._weigh_object(host("a"), SPEC) == 0
    hosts = [host("old", hypervisor_version=1000), host("new", hypervisor_version=6000000)]
    assert order(get_weighed_objects([w], hosts, SPEC)) == ["new", "old"]


def test_build_failure_weigher_negates_multiplier() -> None:
    w = BuildFailureWeigher()
    assert w.weight_multiplier(host("a")) == -1000000.0
    hosts = [host("flaky", failed_builds=3), host("ok", failed_builds=0), host("meh", failed_builds=1)]
    result = get_weighed_objects([w], hosts, SPEC)
    assert order(result) == ["ok", "meh", "flaky"]
    assert weights(result)["flaky"] == -1000000.0


def test_soft_affinity_weighers() -> None:
    g_aff = InstanceGroup(policy="soft-affinity", members=("u1", "u2"))
    g_anti = InstanceGroup(policy="soft-anti-affinity", members=("u1", "u2"))
    hosts = [host("empty"), host("one", instances={"u1": {}}), host("two", instances={"u1": {}, "u2": {}})]
    aff = get_weighed_objects([ServerGroupSoftAffinityWeigher()], hosts, RequestSpec(instance_group=g_aff))
    assert order(aff) == ["two", "one", "empty"]
    anti = get_weighed_objects([ServerGroupSoftAntiAffinityWeigher()], hosts, RequestSpec(instance_group=g_anti))
    assert order(anti) == ["empty", "one", "two"]
    assert ServerGroupSoftAntiAffinityWeigher()._weigh_object(hosts[2], RequestSpec(instance_group=g_anti)) == -2
    # Wrong policy or no group: no preference.
    assert ServerGroupSoftAffinityWeigher()._weigh_object(hosts[2], RequestSpec(instance_group=g_anti)) == 0
    assert ServerGroupSoftAntiAffinityWeigher()._weigh_object(hosts[2], SPEC) == 0


def test_multiplier_from_aggregates_is_the_minimum() -> None:
    h = host("a", aggregates=(Aggregate("x", metadata={"ram_weight_multiplier": "3.0"}),
                              Aggregate("y", metadata={"ram_weight_multiplier": "-2"})))
    assert get_weight_multiplier(h, "ram_weight_multiplier", 1.0) == -2.0
    assert RAMWeigher().weight_multiplier(h) == -2.0
    assert get_weight_multiplier(host("b"), "ram_weight_multiplier", 1.5) == 1.5
    bad = host("c", aggregates=(Aggregate("x", metadata={"ram_weight_multiplier": "3.0"}),
                                Aggregate("z", metadata={"ram_weight_multiplier": "lots"})))
    assert get_weight_multiplier(bad, "ram_weight_multiplier", 1.5) == 1.5
    assert BuildFailureWeigher().weight_multiplier(
        host("d", aggregates=(Aggregate("x", metadata={"build_failure_weight_multiplier": "10"}),))) == -10.0


def test_per_host_multiplier_changes_order() -> None:
    stacked = host("stack", free_ram_mb=100, aggregates=(Aggregate("s", metadata={"ram_weight_multiplier": "-1"}),))
    spread = host("spread", free_ram_mb=50)
    result = get_weighed_objects([RAMWeigher()], [stacked, spread], SPEC)
    assert weights(result) == {"stack": -1.0, "spread": 0.5}
    assert order(result) == ["spread", "stack"]


def test_two_hosts_contribute_zero_or_full_multiplier() -> None:
    cfg = SchedulerConfig(ram_weight_multiplier=2.0, disk_weight_multiplier=3.0)
    hosts = [host("a", free_ram_mb=1, free_disk_mb=500), host("b", free_ram_mb=2, free_disk_mb=1000)]
    result = get_weighed_objects([RAMWeigher(cfg), DiskWeigher(cfg)], hosts, SPEC)
    assert weights(result) == {"a": 2 * 0.5 + 3 * 0.5, "b": 5.0}


def test_ties_keep_input_order() -> None:
    hosts = [host(n, free_ram_mb=10) for n in ("c", "a", "b")]
    assert order(get_weighed_objects([RAMWeigher()], hosts, SPEC)) == ["c", "a", "b"]


def test_combined_default_weighers() -> None:
    hosts = [host("a", free_ram_mb=1000, num_io_ops=2, failed_builds=1),
             host("b", free_ram_mb=500, num_io_ops=0),
             host("c", free_ram_mb=1000, num_io_ops=0)]
    result = get_weighed_objects(make_weighers(SchedulerConfig()), hosts, SPEC)
    assert order(result) == ["c", "b", "a"]


def test_registry() -> None:
    assert list(WEIGHERS) == list(SchedulerConfig().weight_classes)
    for name, cls in WEIGHERS.items():
        assert cls.__name__ == name
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()
        assert hasattr(SchedulerConfig(), cls.multiplier_option)


# ---------------------------------------------------------------------------
# ImagePropertiesWeigher and MetricsWeigher
# ---------------------------------------------------------------------------

UBUNTU = {"os_distro": "ubuntu", "hw_architecture": "x86_64"}
WINDOWS = {"os_distro": "windows", "hw_architecture": "x86_64"}


def test_image_properties_weigher_counts_shared_properties() -> None:
    packed = host("packed", instances={"a": UBUNTU, "b": UBUNTU, "c": WINDOWS})
    other = host("other", instances={"d": WINDOWS})
    empty = host("empty")
    spec = RequestSpec(image_properties=UBUNTU)
    on = ImagePropertiesWeigher(SchedulerConfig(image_props_weight_multiplier=1.0))
    # os_distro=ubuntu twice, hw_architecture=x86_64 three times
    assert on.weigh_objects([packed, other, empty], spec) == [5.0, 1.0, 0.0]
    assert order(get_weighed_objects([on], [empty, other, packed], spec)) == ["packed", "other", "empty"]
    spread = ImagePropertiesWeigher(SchedulerConfig(image_props_weight_multiplier=-1.0))
    assert order(get_weighed_objects([spread], [packed, other, empty], spec)) == ["empty", "other", "packed"]


def test_image_properties_weigher_setting_and_off_switch() -> None:
    packed = host("packed", instances={"a": UBUNTU, "b": UBUNTU})
    spec = RequestSpec(image_properties=UBUNTU)
    weighted = ImagePropertiesWeigher(SchedulerConfig(
        image_props_weight_multiplier=1.0, image_props_weight_setting=("os_distro=2.5",)))
    assert weighted.weigh_objects([packed], spec) == [5.0]  # hw_architecture is not in the setting
    # off by default, even where an aggregate sets a multiplier
    agg = Aggregate("a", ("packed",), {"image_props_weight_multiplier": "3"})
    off = ImagePropertiesWeigher()
    assert off.weigh_objects([host("packed", instances={"a": UBUNTU}, aggregates=(agg,))], spec) == [0.0]


def test_metrics_weigher() -> None:
    cfg = SchedulerConfig(metrics_weight_setting=("cpu.frequency=1.0", "cpu.percent=-2"))
    weigher = MetricsWeigher(cfg)
    busy = host("busy", metrics={"cpu.frequency": 3000, "cpu.percent": 90})
    idle = host("idle", metrics={"cpu.frequency": 3000, "cpu.percent": 10})
    assert weigher.weigh_objects([busy, idle], RequestSpec()) == [2820.0, 2980.0]
    assert order(get_weighed_objects([weigher], [busy, idle], RequestSpec())) == ["idle", "busy"]
    assert MetricsWeigher().weigh_objects([busy], RequestSpec()) == [0.0]  # nothing to weigh by default


def test_metrics_weigher_missing_metric() -> None:
    setting = ("cpu.frequency=1.0",)
    bare = host("bare")
    with pytest.raises(ComputeHostMetricNotFound, match="cpu.frequency"):
        MetricsWeigher(SchedulerConfig(metrics_weight_setting=setting)).weigh_objects([bare], RequestSpec())
    lenient = MetricsWeigher(SchedulerConfig(metrics_weight_setting=setting, metrics_required=False,
                                             metrics_weight_of_unavailable=-7.0))
    assert lenient.weigh_objects([bare], RequestSpec()) == [-7.0]
    # a metric whose ratio or multiplier is 0 is skipped when missing
    skipped = MetricsWeigher(SchedulerConfig(metrics_weight_setting=("cpu.frequency=0",),
                                             metrics_required=False))
    assert skipped.weigh_objects([bare], RequestSpec()) == [0.0]
