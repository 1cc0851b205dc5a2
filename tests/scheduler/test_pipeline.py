"""Unit tests of the scheduling pipeline and the configuration."""

from __future__ import annotations

import random
from typing import Any

import pytest

from model.scheduler.config import (
    DEFAULT_LEGACY_FILTERS,
    DEFAULT_PLACEMENT_FILTERS,
    SchedulerConfig,
    SchedulerConfigError,
)
from model.scheduler.host_state import Aggregate, HostState
from model.scheduler.pipeline import (
    NoValidHost,
    filter_hosts,
    get_sorted_hosts,
    host_filter_results,
    local_placement_query,
    placement_resources,
    select_destinations,
)
from model.scheduler.request import Destination, Flavor, InstanceGroup, RequestSpec

PLACEMENT = SchedulerConfig()
LEGACY = SchedulerConfig(mode="legacy")


def host(name: str, free_ram_mb: int = 8192, **kw: Any) -> HostState:
    base: dict[str, Any] = dict(
        host=name, nodename=name, uuid=f"rp-{name}", total_usable_ram_mb=8192, free_ram_mb=free_ram_mb,
        total_usable_disk_gb=100, free_disk_mb=100 * 1024, vcpus_total=8, cell_uuid="cell1",
    )
    base.update(kw)
    return HostState(**base)


def request(n: int = 1, memory_mb: int = 1024, **kw: Any) -> RequestSpec:
    uuids = tuple(f"inst-{i}" for i in range(n))
    return RequestSpec(flavor=Flavor(memory_mb=memory_mb, vcpus=1, root_gb=1), num_instances=n,
                       instance_uuid=uuids[0], instance_uuids=uuids if n > 1 else (), **kw)


def everyone(spec: RequestSpec) -> set[str]:
    return {f"rp-{c}" for c in "abcdef"}


def select(hosts: list[HostState], spec: RequestSpec, config: SchedulerConfig = PLACEMENT,
           seed: int = 0, **kw: Any) -> list[Any]:
    kw.setdefault("placement_candidates", everyone)
    return select_destinations(hosts, spec, config, rng=random.Random(seed), **kw)


def chosen(selections: list[Any]) -> list[str]:
    return [s.service_host for s in selections]


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------


def test_config_defaults_per_mode() -> None:
    assert PLACEMENT.filters == DEFAULT_PLACEMENT_FILTERS
    assert LEGACY.filters == DEFAULT_LEGACY_FILTERS
    assert "RamFilter" in LEGACY.filters and "RamFilter" not in PLACEMENT.filters
    assert (PLACEMENT.host_subset_size, PLACEMENT.max_attempts) == (1, 3)
    assert (PLACEMENT.max_instances_per_host, PLACEMENT.max_io_ops_per_host) == (50, 8)
    assert PLACEMENT.shuffle_best_same_weighed_hosts is False
    assert PLACEMENT.io_ops_weight_multiplier == -1.0
    assert PLACEMENT.build_failure_weight_multiplier == 1000000.0


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"enabled_filters": ("ComputeFilter", "FooFilter")}, "enabled_filters", "FooFilter"),
        ({"weight_classes": ("RAMWeigher", "BarWeigher")}, "weight_classes", "BarWeigher"),
        ({"host_subset_size": 0}, "host_subset_size", "0"),
        ({"max_attempts": 0}, "max_attempts", "0"),
        ({"max_instances_per_host": 0}, "max_instances_per_host", "0"),
        ({"max_io_ops_per_host": -1}, "max_io_ops_per_host", "-1"),
        ({"soft_anti_affinity_weight_multiplier": -1.0}, "soft_anti_affinity_weight_multiplier", "-1.0"),
        ({"soft_affinity_weight_multiplier": -0.5}, "soft_affinity_weight_multiplier", "-0.5"),
        ({"mode": "magic"}, "mode", "magic"),
        ({"ram_weight_multiplier": float("nan")}, "ram_weight_multiplier", "nan"),
        ({"host_subset_size": True}, "host_subset_size", "True"),
        ({"image_properties_default_architecture": "z80"}, "image_properties_default_architecture", "z80"),
    ],
)
def test_config_errors_name_field_and_value(changes: dict[str, Any], field: str, value: str) -> None:
    with pytest.raises(SchedulerConfigError) as err:
        SchedulerConfig(**changes)
    assert field in str(err.value) and value in str(err.value)


def test_config_from_mapping() -> None:
    cfg = SchedulerConfig.from_mapping({
        "mode": "legacy",
        "enabled_filters": ["RamFilter", "ComputeFilter"],
        "ram_weight_multiplier": 2,
        "host_subset_size": 2,
        "shuffle_best_same_weighed_hosts": True,
    })
    assert cfg.filters == ("RamFilter", "ComputeFilter")
    assert cfg.ram_weight_multiplier == 2.0 and isinstance(cfg.ram_weight_multiplier, float)
    assert cfg.host_subset_size == 2 and cfg.shuffle_best_same_weighed_hosts is True
    assert SchedulerConfig.from_mapping({}) == PLACEMENT


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"no_such_option": 1}, "no_such_option"),
        ({"host_subset_size": "2"}, "host_subset_size"),
        ({"host_subset_size": 2.0}, "host_subset_size"),
        ({"ram_weight_multiplier": "1.0"}, "ram_weight_multiplier"),
        ({"enabled_filters": "ComputeFilter"}, "enabled_filters"),
        ({"enabled_filters": ["ComputeFilter", 3]}, "enabled_filters"),
        ({"shuffle_best_same_weighed_hosts": 1}, "shuffle_best_same_weighed_hosts"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_config_from_mapping_errors(table: dict[str, Any], field: str) -> None:
    with pytest.raises(SchedulerConfigError, match=field):
        SchedulerConfig.from_mapping(table)


# ---------------------------------------------------------------------------
# select_destinations
# ---------------------------------------------------------------------------


def test_best_host_chosen_and_deterministic() -> None:
    hosts = [host("a", 2048), host("b", 8192), host("c", 4096)]
    sel = select(hosts, request())
    assert chosen(sel) == ["b"]
    assert sel[0].alternates == ()
    # host_subset_size: a random pick among the best N, reproducible per seed.
    cfg = PLACEMENT.replace(host_subset_size=2)
    picks = {chosen(select(hosts, request(), cfg, seed=s))[0] for s in range(40)}
    assert picks == {"b", "c"}
    assert [chosen(select(hosts, request(), cfg, seed=s)) for s in range(10)] == \
           [chosen(select(hosts, request(), cfg, seed=s)) for s in range(10)]


def test_multi_create_consumes_in_memory() -> None:
    # After one 4 GiB instance on b, c (6 GiB free) beats b (4 GiB left).
    hosts = [host("a", 2048), host("b", 8192), host("c", 6144)]
    ram_only = PLACEMENT.replace(weight_classes=("RAMWeigher",))
    assert chosen(select(hosts, request(n=3, memory_mb=4096), ram_only)) == ["b", "c", "b"]
    # With all weighers, the io_ops (+1 per placed instance) and disk usage
    # of b and c make the idle host a win the third instance.
    assert chosen(select(hosts, request(n=3, memory_mb=4096))) == ["b", "c", "a"]
    # The caller's host states are not mutated.
    assert hosts[1].free_ram_mb == 8192


def test_consume_from_request() -> None:
    spec = RequestSpec(flavor=Flavor(vcpus=2, memory_mb=1000, root_gb=3, ephemeral_gb=1, swap=512),
                       instance_group=InstanceGroup(policy="anti-affinity"))
    h = host("a", 5000, vcpus_used=1, num_instances=4, num_io_ops=2, free_disk_mb=10000)
    after = h.consume_from_request(spec, "new")
    assert (after.free_ram_mb, after.free_disk_mb, after.vcpus_used) == (4000, 10000 - 4096, 3)
    assert (after.num_instances, after.num_io_ops) == (5, 3)
    assert "new" in after.instances
    assert "new" not in h.consume_from_request(RequestSpec(), "new").instances  # no group: no stub


def test_anti_affinity_multi_create_spreads() -> None:
    group = InstanceGroup(policy="anti-affinity", members=("inst-0", "inst-1", "inst-2"))
    hosts = [host("a"), host("b"), host("c")]
    sel = select(hosts, request(n=3, instance_group=group))
    assert sorted(chosen(sel)) == ["a", "b", "c"]
    with pytest.raises(NoValidHost):
        select(hosts[:2], request(n=3, instance_group=group))


def test_affinity_multi_create_stacks() -> None:
    group = InstanceGroup(policy="affinity", members=("inst-0", "inst-1"))
    sel = select([host("a", 4096), host("b", 8192)], request(n=2, instance_group=group))
    assert chosen(sel) == ["b", "b"]


def test_no_valid_host_releases_claims() -> None:
    group = InstanceGroup(policy="anti-affinity", members=("inst-0", "inst-1"))
    released: list[tuple[str, str | None, int]] = []
    with pytest.raises(NoValidHost) as err:
        select([host("a")], request(n=2, instance_group=group),
               release=lambda h, s, i: released.append((h.host, s.instance_uuid, i)))
    assert err.value.reason
    assert released == [("a", "inst-0", 0)]


def test_claim_failure_moves_to_next_host() -> None:
    hosts = [host("a", 2048), host("b", 8192), host("c", 4096)]
    calls: list[tuple[str, int]] = []

    def claim(h: HostState, spec: RequestSpec, index: int) -> bool:
        calls.append((h.host, index))
        return h.host != "b"

    assert chosen(select(hosts, request(), claim=claim)) == ["c"]
    assert calls == [("b", 0), ("c", 0)]
    with pytest.raises(NoValidHost):
        select(hosts, request(), claim=lambda h, s, i: False)


def test_placement_narrows_candidates() -> None:
    hosts = [host("a", 2048), host("b", 8192)]
    assert chosen(select(hosts, request(), placement_candidates=lambda s: {"rp-a"})) == ["a"]
    with pytest.raises(NoValidHost):
        select(hosts, request(), placement_candidates=lambda s: set())
    with pytest.raises(ValueError):
        select_destinations(hosts, request(), PLACEMENT, rng=random.Random(0))


def recorder(calls: list[str]) -> Any:
    def claim(h: HostState, spec: RequestSpec, index: int) -> bool:
        calls.append(h.host)
        return True

    return claim


def test_legacy_mode_no_placement_no_claim_and_limits() -> None:
    hosts = [host("a", 2048, ram_allocation_ratio=1.5), host("b", 0, ram_allocation_ratio=1.5)]
    claims: list[str] = []
    sel = select(hosts, request(memory_mb=2048), LEGACY, placement_candidates=None,
                 claim=recorder(claims))
    # b has no free RAM but ratio 1.5 leaves 4 GiB of overcommit; RAM weigher prefers a.
    assert chosen(sel) == ["a"] and claims == []
    assert sel[0].limits == {"memory_mb": 8192 * 1.5, "disk_gb": 100.0, "vcpu": 8.0}
    # Legacy RamFilter rejects when even overcommit is exhausted.
    with pytest.raises(NoValidHost):
        select([host("a", -4096, ram_allocation_ratio=1.5)], request(memory_mb=1), LEGACY)


def test_rebuild_checks_only_rebuild_filters_without_claim() -> None:
    down = host("a", service_up=False, supported_instances=(("x86_64", "kvm", "hvm"),))
    claims: list[str] = []
    spec = request(is_rebuild=True, image_properties={"hw_architecture": "x86_64"},
                   requested_destination=Destination("a"))
    sel = select([down, host("b")], spec, placement_candidates=lambda s: set(),
                 claim=recorder(claims))
    assert chosen(sel) == ["a"] and claims == []
    bad_image = request(is_rebuild=True, image_properties={"hw_architecture": "aarch64"},
                        requested_destination=Destination("a"))
    with pytest.raises(NoValidHost):
        select([down], bad_image)


def test_force_hosts_skip_filters_unless_rebuild() -> None:
    disabled = host("a", service_disabled=True)
    assert chosen(select([disabled, host("b")], request(force_hosts=("A",)))) == ["a"]
    assert chosen(select([disabled, host("b")], request(force_nodes=("a",)))) == ["a"]
    with pytest.raises(NoValidHost):
        select([disabled, host("b")], request(force_hosts=("a",), scheduler_hints={"_nova_check_type": ("x",)}))


def test_ignore_hosts_and_requested_destination() -> None:
    hosts = [host("a", 1024), host("b", 8192)]
    assert chosen(select(hosts, request(ignore_hosts=("B",)))) == ["a"]
    assert chosen(select(hosts, request(requested_destination=Destination("a")))) == ["a"]
    assert chosen(select(hosts, request(requested_destination=Destination("a", node="a")))) == ["a"]
    with pytest.raises(NoValidHost):
        select(hosts, request(requested_destination=Destination("a", node="zzz")))


def test_alternates() -> None:
    hosts = [host("a", 1024), host("b", 8192), host("c", 4096), host("d", 2048),
             host("e", 6144, cell_uuid="cell2")]
    sel = select(hosts, request(n=2), return_alternates=True)
    assert chosen(sel) == ["b", "e"]
    # max_attempts - 1 = 2 alternates, same cell, never an already selected host.
    assert [a.host for a in sel[0].alternates] == ["c", "d"]
    assert [a.host for a in sel[1].alternates] == []
    one = select(hosts, request(), PLACEMENT.replace(max_attempts=4), return_alternates=True)
    assert [a.host for a in one[0].alternates] == ["c", "d", "a"]
    assert select(hosts, request(), PLACEMENT.replace(max_attempts=1), return_alternates=True)[0].alternates == ()


def test_duplicate_hosts_rejected() -> None:
    with pytest.raises(ValueError):
        select([host("a"), host("a")], request())


def test_shuffle_best_same_weighed_hosts() -> None:
    hosts = [host(n) for n in "abcd"]
    cfg = PLACEMENT.replace(shuffle_best_same_weighed_hosts=True)
    firsts = {get_sorted_hosts(request(), hosts, 0, cfg, random.Random(s))[0].host for s in range(40)}
    assert firsts == set("abcd")
    plain = {get_sorted_hosts(request(), hosts, 0, PLACEMENT, random.Random(s))[0].host for s in range(40)}
    assert plain == {"a"}


# ---------------------------------------------------------------------------
# filter traces
# ---------------------------------------------------------------------------


def test_filter_hosts_trace() -> None:
    hosts = [host("a", service_disabled=True), host("b", supported_instances=(("aarch64", "kvm", "hvm"),)),
             host("c", supported_instances=(("x86_64", "kvm", "hvm"),)), host("d")]
    spec = request(image_properties={"hw_architecture": "x86_64"}, ignore_hosts=("d",))
    result = filter_hosts(hosts, spec, PLACEMENT)
    assert [h.host for h in result.hosts] == ["c"]
    assert result.removed_by == {("d", "d"): "ignore_hosts", ("a", "a"): "ComputeFilter",
                                 ("b", "b"): "ImagePropertiesFilter"}
    assert [(s.name, s.start, s.end) for s in result.steps] == [
        ("ignore_hosts", 4, 3), ("ComputeFilter", 3, 2), ("ImagePropertiesFilter", 2, 1)]


def test_filter_hosts_stops_when_empty_and_exhaustive_verdicts() -> None:
    hosts = [host("a", service_up=False)]
    spec = request(image_properties={"hw_architecture": "x86_64"})
    quick = filter_hosts(hosts, spec, PLACEMENT)
    assert [s.name for s in quick.steps] == ["ComputeFilter"]
    full = filter_hosts(hosts, spec, PLACEMENT, exhaustive=True)
    assert full.verdicts[("a", "a")] == {
        "ComputeFilter": False, "ComputeCapabilitiesFilter": True, "ImagePropertiesFilter": False,
        "ServerGroupAntiAffinityFilter": True, "ServerGroupAffinityFilter": True}
    assert host_filter_results(hosts[0], spec, PLACEMENT) == full.verdicts[("a", "a")]
    assert full.removed_by == {("a", "a"): "ComputeFilter"}


def test_once_per_request_filters_skip_later_instances() -> None:
    down = host("a", service_up=False)
    assert filter_hosts([down], request(), PLACEMENT, index=0).hosts == ()
    assert filter_hosts([down], request(), PLACEMENT, index=1).hosts == (down,)
    assert host_filter_results(down, request(), PLACEMENT, index=1)["ComputeFilter"] is True


def test_filter_hosts_placement_and_forced() -> None:
    hosts = [host("a"), host("b", service_disabled=True)]
    result = filter_hosts(hosts, request(), PLACEMENT, placement_candidates={"rp-b"})
    assert result.removed_by[("a", "a")] == "placement"
    assert result.removed_by[("b", "b")] == "ComputeFilter"
    forced = filter_hosts(hosts, request(force_hosts=("b",)), PLACEMENT)
    assert forced.filters_skipped and [h.host for h in forced.hosts] == ["b"]


# ---------------------------------------------------------------------------
# placement stand-in
# ---------------------------------------------------------------------------


def test_placement_resources() -> None:
    spec = RequestSpec(flavor=Flavor(vcpus=2, memory_mb=512, root_gb=10, ephemeral_gb=1, swap=1025))
    assert placement_resources(spec) == {"VCPU": 2, "MEMORY_MB": 512, "DISK_GB": 13}
    bfv = RequestSpec(flavor=Flavor(vcpus=1, memory_mb=512, root_gb=10, swap=0), is_bfv=True)
    assert placement_resources(bfv) == {"VCPU": 1, "MEMORY_MB": 512}


def test_local_placement_query() -> None:
    hosts = [host("a", 1024, reserved_host_memory_mb=512),   # used 6656, cap 7680: room 1024
             host("b", 8192 - 512, reserved_host_memory_mb=512)]
    query = local_placement_query(hosts)
    assert query(request(memory_mb=1024)) == {"rp-a", "rp-b"}
    assert query(request(memory_mb=1025)) == {"rp-b"}
    assert query(request(memory_mb=8193)) == frozenset()   # above max_unit
    aggs = host("c", aggregates=(Aggregate("x", metadata={}),))
    assert local_placement_query([aggs])(request()) == {"rp-c"}
