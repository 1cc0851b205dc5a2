"""Each scheduler plugin of issue #15 item 4 changes where a real cluster places an instance.

Two hosts: h1 is the larger, so with the default weighers alone every first boot goes
to h1. Each test boots once without the plugin (h1) and once with it, where the
plugin's own rule sends the instance elsewhere.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from invariants import violations
from model.cluster import Cluster
from model.cluster_scenarios import boot
from model.config import ClusterConfig

BASE = """
project_id = "{project}"

[[aggregates]]
name = "special"
metadata = {{ {metadata} }}

[[hosts]]
name = "h1"
vcpus = 16
memory_mb = 32768
local_gb = 400
aggregates = ["special"]
host_ip = "10.0.0.1"
metrics = {{ "cpu.percent" = 90 }}

[[hosts]]
name = "h2"
vcpus = 8
memory_mb = 16384
local_gb = 200
host_ip = "10.0.1.1"
metrics = {{ "cpu.percent" = 10 }}

[[flavors]]
name = "small"
vcpus = 1
ram = 2048
disk = 20

[[images]]
name = "ubuntu"
properties = {{ os_distro = "ubuntu" }}

[[images]]
name = "windows"
properties = {{ os_distro = "windows" }}

[scheduler]
{scheduler}
"""


def cluster(scheduler: str = "", metadata: str = "", project: str = "demo") -> Cluster:
    text = BASE.format(scheduler=textwrap.dedent(scheduler), metadata=metadata, project=project)
    return Cluster(ClusterConfig.loads(text, source="plugins.toml"))


def host_of(c: Cluster, **kw: Any) -> str:
    uuid = boot(c, **kw)
    assert violations(c) == {}
    return c.instances[uuid].host


def filters(*names: str) -> str:
    default = ["ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
               "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"]
    return "enabled_filters = [" + ", ".join(f'"{n}"' for n in (*default, *names)) + "]"


def test_without_the_plugins_h1_wins() -> None:
    assert host_of(cluster(metadata='instance_type = "large"', project="p"), image="ubuntu") == "h1"


def test_aggregate_type_affinity_filter_keeps_other_flavors_out() -> None:
    c = cluster(filters("AggregateTypeAffinityFilter"), metadata='instance_type = "large"')
    assert host_of(c) == "h2"
    c = cluster(filters("AggregateTypeAffinityFilter"), metadata='instance_type = "large,small"')
    assert host_of(c) == "h1"


def test_aggregate_multi_tenancy_isolation_keeps_other_projects_out() -> None:
    metadata = 'filter_tenant_id = "p1, p2"'
    assert host_of(cluster(filters("AggregateMultiTenancyIsolation"), metadata, "p3")) == "h2"
    assert host_of(cluster(filters("AggregateMultiTenancyIsolation"), metadata, "p2")) == "h1"


def test_aggregate_image_properties_isolation_keeps_other_images_out() -> None:
    c = cluster(filters("AggregateImagePropertiesIsolation"), metadata='os_distro = "windows"')
    assert host_of(c, image="ubuntu") == "h2"
    assert host_of(c, image="windows") == "h1"


@pytest.mark.parametrize(("image", "restrict", "expected"), [
    ("windows", "true", "h1"),    # an isolated image only runs on an isolated host
    ("ubuntu", "true", "h2"),     # an isolated host only runs isolated images
    ("ubuntu", "false", "h1"),    # unless the isolated hosts are not restricted
])
def test_isolated_hosts_filter(image: str, restrict: str, expected: str) -> None:
    c = cluster(filters("IsolatedHostsFilter") + f"""
isolated_hosts = ["h1"]
isolated_images = ["windows"]
restrict_isolated_hosts_to_isolated_images = {restrict}""")
    assert host_of(c, image=image) == expected


def test_isolated_image_never_runs_elsewhere() -> None:
    c = cluster(filters("IsolatedHostsFilter") + '\nisolated_hosts = ["h2"]\nisolated_images = ["windows"]')
    assert host_of(c, image="windows") == "h2"
    assert host_of(c, image="ubuntu") == "h1"


def test_simple_cidr_affinity_filter_builds_near_the_hinted_address() -> None:
    c = cluster(filters("SimpleCIDRAffinityFilter"))
    assert host_of(c, hints={"build_near_host_ip": ["10.0.1.77"]}) == "h2"
    assert host_of(c, hints={"build_near_host_ip": ["10.0.1.77"], "cidr": ["/16"]}) == "h1"
    r = c.request("create", flavor="small", hints={"build_near_host_ip": ["192.168.0.1"]})
    c.settle()
    assert c.instances[r.instance].vm_state.value == "error"  # no host is near it: NoValidHost


@pytest.mark.parametrize("hints", [{"build_near_host_ip": ["nonsense"]},
                                   {"build_near_host_ip": ["10.0.0.1"], "cidr": ["/33"]}])
def test_unreadable_cidr_hints_fail_the_build(hints: dict) -> None:
    c = cluster(filters("SimpleCIDRAffinityFilter"))
    r = c.request("create", flavor="small", hints=hints)
    c.settle()
    inst = c.instances[r.instance]
    assert (inst.vm_state.value, inst.host) == ("error", None)
    assert violations(c) == {}


def test_image_properties_weigher_spreads_instances_of_one_image() -> None:
    plain = cluster()
    spread = cluster("image_props_weight_multiplier = -2.0")
    for c in (plain, spread):
        assert host_of(c, image="ubuntu") == "h1"
    assert host_of(plain, image="ubuntu") == "h1"
    assert host_of(spread, image="ubuntu") == "h2"   # h1 already runs an ubuntu instance
    assert host_of(spread, image="windows") == "h1"  # no instance shares windows' properties


def test_metrics_weigher_prefers_the_idle_host() -> None:
    # at the default multiplier the larger host's RAM, CPU and disk weights still win
    assert host_of(cluster('metrics_weight_setting = ["cpu.percent=-1"]')) == "h1"
    busy_avoided = cluster('metrics_weight_setting = ["cpu.percent=-1"]\nmetrics_weight_multiplier = 2.0')
    assert host_of(busy_avoided) == "h2"
