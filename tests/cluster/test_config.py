"""Tests of the cluster file (model/config.py, model/data/default_cluster.toml)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from model.config import (
    AllocationRatios,
    ClusterConfig,
    ConfigError,
    HostConfig,
    inventories_for,
)
from model.placement import Inventory, ResourceClass
from model.scheduler.config import DEFAULT_LEGACY_FILTERS, DEFAULT_PLACEMENT_FILTERS
from model.scheduler.request import Flavor, InstanceGroup

VCPU = ResourceClass.VCPU
MEM = ResourceClass.MEMORY_MB
DISK = ResourceClass.DISK_GB

HOST = """
[[hosts]]
name = "h1"
vcpus = 8
memory_mb = 16384
local_gb = 200
"""


def load(text: str) -> ClusterConfig:
    return ClusterConfig.loads(textwrap.dedent(text), source="cluster.toml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load(text)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("cluster.toml: ")
    return message


# ---------------------------------------------------------------------------
# The default cluster
# ---------------------------------------------------------------------------


def test_default_cluster_loads() -> None:
    config = ClusterConfig.default()
    assert config.source == "default_cluster.toml"
    assert config.host_names == ("compute1", "compute2", "compute3", "compute4")
    assert config.availability_zones() == ("az1", "az2")
    assert [h.availability_zone for h in config.hosts] == ["az1", "az1", "az2", "az2"]
    small = config.host("compute4")
    assert (small.vcpus, small.memory_mb, small.local_gb) == (4, 8192, 100)
    for name in ("compute1", "compute2", "compute3"):
        h = config.host(name)
        assert (h.vcpus, h.memory_mb, h.local_gb) == (8, 16384, 200)
    assert config.allocation_ratios == AllocationRatios.for_profile("seeds")
    assert config.allocation_ratios.cpu_allocation_ratio == 16.0
    assert config.allocation_ratios.ram_allocation_ratio == 1.5
    assert config.allocation_ratios.reserved_host_memory_mb == 0
    assert [(f.name, f.vcpus, f.memory_mb, f.root_gb) for f in config.flavors] == [
        ("m1.tiny", 1, 512, 1),
        ("m1.small", 1, 2048, 20),
        ("m1.medium", 2, 4096, 40),
        ("m1.large", 4, 8192, 80),
    ]
    assert isinstance(config.flavor("m1.large"), Flavor)
    assert config.image("cirros").properties["hw_architecture"] == "x86_64"
    arch = config.image("arm64").properties["hw_architecture"]
    assert all(arch not in (s[0] for s in h.supported_instances) for h in config.hosts)
    assert {g.name: g.policy for g in config.server_groups} == {
        "web": "anti-affinity",
        "db": "affinity",
        "batch": "soft-anti-affinity",
    }
    assert config.scheduler.mode == "placement"
    assert config.scheduler.filters == DEFAULT_PLACEMENT_FILTERS
    assert config.options.running_deleted_instance_action == "reap"
    assert config.options.sync_power_state_interval == 600
    assert config.aggregate("agg-az1").hosts == ("compute1", "compute2")
    assert config.aggregate("agg-az2").metadata == {"availability_zone": "az2"}
    assert [a.name for a in config.aggregates_of("compute1")] == ["agg-az1", "ssd"]


def test_default_cluster_capacity_is_reachable() -> None:
    config = ClusterConfig.default()
    ledger = config.ledger()
    large = {VCPU: 4, MEM: 8192, DISK: 80}
    placed = 0
    for i in range(20):
        candidates = ledger.candidates(large)
        if not candidates:
            break
        assert ledger.claim(f"vm{i}", {candidates[0]: large})
        placed += 1
    assert placed == 7  # disk: 2 + 2 + 2 on the big hosts, 1 on compute4
    assert ledger.candidates(large) == []


def test_to_toml_round_trip() -> None:
    config = ClusterConfig.default()
    again = ClusterConfig.loads(config.to_toml(), source="out.toml")
    assert again == config
    assert again.to_toml() == config.to_toml()


def test_load_from_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(HOST + "\n[options]\nresize_confirm_window = -5\n")
    with pytest.raises(ConfigError) as err:
        ClusterConfig.load(path)
    assert str(err.value) == f"{path}: options.resize_confirm_window: must be >= 0, got -5"
    path.write_text(HOST)
    assert ClusterConfig.load(path).source == str(path)
    with pytest.raises(ConfigError, match="cannot read"):
        ClusterConfig.load(tmp_path / "missing.toml")


def test_minimal_file_uses_nova_defaults() -> None:
    config = load(HOST)
    assert config.allocation_ratios == AllocationRatios()
    assert config.allocation_ratios.profile == "nova"
    h = config.host("h1")
    assert h.availability_zone == "nova"
    assert (h.service_up, h.enabled) == (True, True)
    assert config.options.shelved_offload_time == 0
    assert config.options.allow_resize_to_same_host is False
    assert config.scheduler.max_attempts == 3
    assert inventories_for(h, config) == {
        VCPU: Inventory(total=8, reserved=0, max_unit=8, allocation_ratio=4.0),
        MEM: Inventory(total=16384, reserved=512, max_unit=16384, allocation_ratio=1.0),
        DISK: Inventory(total=200, reserved=0, max_unit=200, allocation_ratio=1.0),
    }


def test_inventories_follow_profile_overrides_and_host_overrides() -> None:
    config = load(
        """
        [allocation_ratios]
        profile = "nova"
        cpu_allocation_ratio = 2
        reserved_host_disk_mb = 1025
        reserved_host_cpus = 1

        [[hosts]]
        name = "a"
        vcpus = 8
        memory_mb = 65536
        local_gb = 100
        ram_allocation_ratio = 1.5
        reserved_host_memory_mb = 512

        [[hosts]]
        name = "b"
        vcpus = 4
        memory_mb = 4096
        local_gb = 0
        reserved_host_memory_mb = 0
        cpu_allocation_ratio = 8.0
        """
    )
    a = config.inventories_for("a")
    assert a[VCPU] == Inventory(total=8, reserved=1, allocation_ratio=2.0)
    assert a[MEM].capacity == 97536.0  # (65536 - 512) * 1.5
    assert a[DISK] == Inventory(total=100, reserved=2, allocation_ratio=1.0)  # ceil(1025/1024)
    b = config.inventories_for("b")
    assert b[VCPU].allocation_ratio == 8.0
    assert b[MEM].reserved == 0
    assert DISK not in b  # no local disk: no DISK_GB inventory
    assert config.ratios_for("b").cpu_allocation_ratio == 8.0
    assert config.ledger().providers() == ["a", "b"]


def test_a_host_without_supported_instances_gets_the_default_and_schedules() -> None:
    config = load(
        """
        [[hosts]]
        name = "solo"
        vcpus = 4
        memory_mb = 4096
        local_gb = 20

        [[flavors]]
        name = "f"
        vcpus = 1
        ram = 512
        """
    )
    assert config.host("solo").supported_instances == (("x86_64", "kvm", "hvm"),
                                                      ("x86_64", "qemu", "hvm"))
    from model.cluster import Cluster

    cluster = Cluster(config)
    assert cluster.request("create", None, flavor="f").accepted
    cluster.settle()
    assert cluster.instances["vm1"].host == "solo"


def test_host_flags_stats_and_supported_instances() -> None:
    config = load(
        """
        [[hosts]]
        name = "h"
        vcpus = 2
        memory_mb = 2048
        local_gb = 10
        service_up = false
        enabled = false
        availability_zone = "edge"
        stats = { gpus = 2, vendor = "acme" }
        supported_instances = [["AArch64", "KVM", "hvm"]]
        hypervisor_version = 7000000
        """
    )
    h = config.host("h")
    assert (h.service_up, h.enabled, h.availability_zone) == (False, False, "edge")
    assert h.stats == {"gpus": "2", "vendor": "acme"}
    assert h.supported_instances == (("aarch64", "kvm", "hvm"),)
    assert h.hypervisor_version == 7000000


def test_server_group_builds_an_instance_group() -> None:
    config = ClusterConfig.default()
    group = config.server_group("web").instance_group(members=("i1",), hosts=("compute1",))
    assert group == InstanceGroup(
        policy="anti-affinity", rules={"max_server_per_host": 1}, members=("i1",),
        hosts=("compute1",),
    )


def test_flavor_bigger_than_every_host_is_allowed() -> None:
    config = load(HOST + '\n[[flavors]]\nname = "huge"\nvcpus = 64\nram = 1048576\ndisk = 5000\n')
    assert config.flavor("huge").vcpus == 64
    assert config.ledger().candidates({VCPU: 64}) == []


def test_legacy_scheduler_section() -> None:
    config = load(HOST + '\n[scheduler]\nmode = "legacy"\nhost_subset_size = 2\n')
    assert config.scheduler.filters == DEFAULT_LEGACY_FILTERS
    assert config.scheduler.host_subset_size == 2


def test_config_error_is_a_clean_exception() -> None:
    assert issubclass(ConfigError, Exception)
    err = ConfigError("a.toml: x: bad\nthing")
    assert str(err) == "a.toml: x: bad thing"
    assert err.message == str(err)


# ---------------------------------------------------------------------------
# One line per bad input, naming the field
# ---------------------------------------------------------------------------

BAD_INPUTS = [
    pytest.param(
        HOST + HOST.replace('"h1"', '"h2"') + HOST.replace('"h1"', '"h3"').replace(
            "local_gb = 200", "local_gb = 200\ncpu_allocation_ratio = -1.0"),
        "cluster.toml: hosts[2].cpu_allocation_ratio: must be > 0, got -1.0",
        id="ratio-negative",
    ),
    pytest.param(
        HOST.replace("local_gb = 200", "local_gb = 200\nram_allocation_ratio = 0"),
        "cluster.toml: hosts[0].ram_allocation_ratio: must be > 0, got 0",
        id="ratio-zero",
    ),
    pytest.param(
        "[allocation_ratios]\ndisk_allocation_ratio = \"1.0\"\n",
        "cluster.toml: allocation_ratios.disk_allocation_ratio: must be a number, got '1.0'",
        id="ratio-wrong-type",
    ),
    pytest.param(
        HOST.replace("vcpus = 8", "vcpu = 8"),
        "cluster.toml: hosts[0].vcpu: unknown key (did you mean 'vcpus'?)",
        id="unknown-key-did-you-mean",
    ),
    pytest.param(
        HOST + "\n[options]\nmax_attempts = 5\n",
        "cluster.toml: options.max_attempts: unknown key (it belongs in [scheduler])",
        id="misplaced-option",
    ),
    pytest.param(
        "[[host]]\nname = 'x'\n",
        "cluster.toml: host: unknown key (did you mean 'hosts'?)",
        id="unknown-top-level",
    ),
    pytest.param(
        HOST.replace("vcpus = 8", 'vcpus = "8"'),
        "cluster.toml: hosts[0].vcpus: must be an integer, got '8'",
        id="wrong-type",
    ),
    pytest.param(
        HOST.replace("memory_mb = 16384", "memory_mb = 16384.0"),
        "cluster.toml: hosts[0].memory_mb: must be an integer, got 16384.0",
        id="float-for-int",
    ),
    pytest.param(
        HOST.replace("local_gb = 200", "local_gb = -1"),
        "cluster.toml: hosts[0].local_gb: must be >= 0, got -1",
        id="negative",
    ),
    pytest.param(
        HOST.replace("local_gb = 200\n", ""),
        "cluster.toml: hosts[0].local_gb: is required",
        id="missing-required",
    ),
    pytest.param(
        HOST + HOST,
        "cluster.toml: hosts[1].name: duplicate name 'h1' (also hosts[0])",
        id="duplicate-host",
    ),
    pytest.param(
        HOST + '[[flavors]]\nname = "f"\nvcpus = 1\nram = 1\n' * 2,
        "cluster.toml: flavors[1].name: duplicate name 'f' (also flavors[0])",
        id="duplicate-flavor",
    ),
    pytest.param(
        '[[aggregates]]\nname = "fast"\n' + HOST.replace("local_gb = 200", 'local_gb = 200\naggregates = ["fsat"]'),
        "cluster.toml: hosts[0].aggregates[0]: unknown aggregate 'fsat' (did you mean 'fast'?) (known: fast)",
        id="unknown-aggregate",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nenabled_filters = ["ComputeFilter", "RamFiltre"]\n',
        None,  # checked below: the SchedulerConfigError text under scheduler.enabled_filters
        id="unknown-filter",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nmax_attempt = 2\n',
        "cluster.toml: scheduler.max_attempt: unknown key (did you mean 'max_attempts'?)",
        id="unknown-scheduler-option",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nmax_attempts = 0\n',
        "cluster.toml: scheduler.max_attempts: invalid value 0: must be >= 1",
        id="scheduler-minimum",
    ),
    pytest.param(
        '[allocation_ratios]\nprofile = "sedes"\n',
        "cluster.toml: allocation_ratios.profile: must be one of seeds, nova, got 'sedes' (did you mean 'seeds'?)",
        id="unknown-profile",
    ),
    pytest.param(
        '[options]\nrunning_deleted_instance_action = "delete"\n',
        "cluster.toml: options.running_deleted_instance_action: must be one of noop, log, shutdown, reap, got 'delete'",
        id="bad-choice",
    ),
    pytest.param(
        '[options]\nallow_resize_to_same_host = "yes"\n',
        "cluster.toml: options.allow_resize_to_same_host: must be a boolean, got 'yes'",
        id="bad-bool",
    ),
    pytest.param(
        '[[server_groups]]\nname = "g"\npolicy = "anti_affinity"\n',
        "cluster.toml: server_groups[0].policy: must be one of affinity, anti-affinity, "
        "soft-affinity, soft-anti-affinity, got 'anti_affinity' (did you mean 'anti-affinity'?)",
        id="bad-policy",
    ),
    pytest.param(
        '[[server_groups]]\nname = "g"\npolicy = "affinity"\nrules = { max_server_per_host = 2 }\n',
        "cluster.toml: server_groups[0].rules: rules are only allowed with policy 'anti-affinity', not 'affinity'",
        id="rules-with-affinity",
    ),
    pytest.param(
        HOST.replace("memory_mb = 16384", "memory_mb = 256"),
        "cluster.toml: allocation_ratios.reserved_host_memory_mb: reserves 512 but hosts[0].memory_mb (h1) is only 256",
        id="reserved-exceeds-host",
    ),
    pytest.param(
        '[[aggregates]]\nname = "a1"\navailability_zone = "az1"\n'
        + HOST.replace("local_gb = 200", 'local_gb = 200\naggregates = ["a1"]\navailability_zone = "az2"'),
        "cluster.toml: hosts[0].availability_zone: 'az2' conflicts with aggregate 'a1' (availability zone 'az1')",
        id="az-conflict",
    ),
    pytest.param(
        HOST.replace("local_gb = 200", 'local_gb = 200\nsupported_instances = [["x86", "kvm", "hvm"]]'),
        "cluster.toml: hosts[0].supported_instances[0][0]: unknown architecture 'x86' (did you mean 'x86_64'?)",
        id="bad-arch",
    ),
    pytest.param(
        '[[images]]\nname = "i"\nproperties = { hw_architecture = "arm64" }\n',
        "cluster.toml: images[0].properties.hw_architecture: unknown architecture 'arm64' (did you mean 'armv6'?)",
        id="bad-image-arch",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nmetrics_weight_setting = ["cpu.percent"]\n',
        "cluster.toml: scheduler.metrics_weight_setting: invalid value 'cpu.percent': must be 'name=number'",
        id="weight-setting-without-ratio",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nimage_props_weight_setting = ["os_distro=much"]\n',
        "cluster.toml: scheduler.image_props_weight_setting: invalid value 'os_distro=much': "
        "must be 'name=number'",
        id="weight-setting-ratio-not-a-number",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nmetrics_weight_multiplier = "high"\n',
        "cluster.toml: scheduler.metrics_weight_multiplier: invalid value 'high': must be a number",
        id="metrics-multiplier-not-a-number",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nrestrict_isolated_hosts_to_isolated_images = 1\n',
        "cluster.toml: scheduler.restrict_isolated_hosts_to_isolated_images: invalid value 1: "
        "must be a boolean",
        id="restrict-not-a-boolean",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nisolated_hosts = ["h1x"]\n',
        "cluster.toml: scheduler.isolated_hosts[0]: unknown host 'h1x' (did you mean 'h1'?) (known: h1)",
        id="isolated-host-unknown",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nisolated_images = ["cirros"]\n',
        "cluster.toml: scheduler.isolated_images[0]: unknown image 'cirros' (known: none defined)",
        id="isolated-image-unknown",
    ),
    pytest.param(
        HOST.replace("local_gb = 200", 'local_gb = 200\nhost_ip = "10.0.0.300"'),
        "cluster.toml: hosts[0].host_ip: not an IPv4 or IPv6 address: '10.0.0.300'",
        id="bad-host-ip",
    ),
    pytest.param(
        HOST.replace("local_gb = 200", 'local_gb = 200\nmetrics = { "cpu.percnt" = 3 }'),
        'cluster.toml: hosts[0].metrics."cpu.percnt": unknown metric (did you mean \'cpu.percent\'?) '
        "(known: cpu.frequency, cpu.user.time, cpu.kernel.time, cpu.idle.time, cpu.iowait.time, "
        "cpu.user.percent, cpu.kernel.percent, cpu.idle.percent, cpu.iowait.percent, cpu.percent, "
        "numa.membw.max, numa.membw.current)",
        id="unknown-metric",
    ),
    pytest.param(
        HOST.replace("local_gb = 200", 'local_gb = 200\nmetrics = { "cpu.percent" = 2.5 }'),
        'cluster.toml: hosts[0].metrics."cpu.percent": must be an integer, got 2.5',
        id="metric-not-an-integer",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nmetrics_weight_setting = ["cpu.percent=-1"]\n',
        "cluster.toml: hosts[0].metrics: h1 reports no 'cpu.percent', which "
        "scheduler.metrics_weight_setting weighs with metrics_required = true",
        id="required-metric-missing",
    ),
    pytest.param(
        HOST + '\n[scheduler]\nenabled_filters = ["SimpleCIDRAffinityFilter"]\n',
        "cluster.toml: hosts[0].host_ip: h1 needs one: SimpleCIDRAffinityFilter is enabled",
        id="cidr-filter-without-host-ip",
    ),
    pytest.param(
        'project_id = 7\n',
        "cluster.toml: project_id: must be a string, got 7",
        id="project-not-a-string",
    ),
    pytest.param(
        "hosts = 3\n",
        "cluster.toml: hosts: must be an array of tables ([[hosts]]), got integer",
        id="not-an-array",
    ),
    pytest.param(
        '[[flavors]]\nname = "f"\nvcpus = 1\nram = 1\nextra_specs = { "hw:cpu_policy" = 1 }\n',
        'cluster.toml: flavors[0].extra_specs."hw:cpu_policy": must be a string, got 1',
        id="extra-spec-not-string",
    ),
    # Placement's limits: integers up to 2147483647, floats up to 3.40282e38, finite
    pytest.param(
        "[allocation_ratios]\ncpu_allocation_ratio = 1" + "0" * 308 + "\n",
        "cluster.toml: allocation_ratios.cpu_allocation_ratio: 1000000000...(309 digits) "
        "is out of range: integers are at most 2147483647 (Placement's limit)",
        id="309-digit-ratio",
    ),
    pytest.param(
        "[allocation_ratios]\ncpu_allocation_ratio = 1e308\n",
        "cluster.toml: allocation_ratios.cpu_allocation_ratio: 1e+308 is out of range: "
        "numbers are at most 3.40282e+38 (Placement's limit)",
        id="ratio-1e308",
    ),
    pytest.param(
        "[allocation_ratios]\ncpu_allocation_ratio = inf\n",
        "cluster.toml: allocation_ratios.cpu_allocation_ratio: must be a finite number, "
        "got inf",
        id="ratio-inf",
    ),
    pytest.param(
        '[[hosts]]\nname = "h"\nvcpus = 2147483648\nmemory_mb = 1\nlocal_gb = 1\n',
        "cluster.toml: hosts[0].vcpus: 2147483648 is out of range: integers are at most "
        "2147483647 (Placement's limit)",
        id="int-beyond-placement",
    ),
    pytest.param(
        "x = 1" + "0" * 5000 + "\n",
        "cluster.toml: invalid TOML: line 1: an integer of more than 20 digits",
        id="5000-digit-integer",
    ),
    pytest.param(
        "x = " + "[" * 3000 + "]" * 3000 + "\n",
        "cluster.toml: nested more than 32 levels deep",
        id="nested-3000-deep",
    ),
    pytest.param(
        "x = " + "[" * 40 + "]" * 40 + "\n",
        "cluster.toml: x" + "[0]" * 31 + ": nested more than 32 levels deep",
        id="nested-40-deep",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_INPUTS)
def test_bad_input_gives_one_line_naming_the_field(text: str, expected: str | None) -> None:
    message = error_of(text)
    if expected is None:
        assert message.startswith(
            "cluster.toml: scheduler.enabled_filters: invalid value 'RamFiltre': unknown name (known: "
        )
    else:
        assert message == expected


def test_malformed_toml_is_one_line_with_position() -> None:
    message = error_of(HOST + "\nvcpus == 3\n")
    assert message.startswith("cluster.toml: invalid TOML: ")
    assert "line 8" in message and "column" in message


def test_hostconfig_ratios_helper() -> None:
    base = AllocationRatios.for_profile("seeds")
    h = HostConfig(name="x", vcpus=1, memory_mb=1, local_gb=1, cpu_allocation_ratio=2.0)
    assert h.ratios(base).cpu_allocation_ratio == 2.0
    assert h.ratios(base).ram_allocation_ratio == 1.5
    assert HostConfig(name="y", vcpus=1, memory_mb=1, local_gb=1).ratios(base) is base


def test_plugin_options_and_host_attributes_load_and_round_trip() -> None:
    text = 'project_id = "p1"\n' + HOST.replace(
        "local_gb = 200", 'local_gb = 200\nhost_ip = "10.0.0.5"\nmetrics = { "cpu.percent" = 40 }') + (
        '[[images]]\nname = "i"\n'
        '[scheduler]\nenabled_filters = ["IsolatedHostsFilter", "SimpleCIDRAffinityFilter"]\n'
        'isolated_hosts = ["h1"]\nisolated_images = ["i"]\n'
        'weight_classes = ["MetricsWeigher"]\nmetrics_weight_setting = ["cpu.percent=-1.5"]\n')
    config = load(text)
    assert config.project_id == "p1"
    assert config.host("h1").host_ip == "10.0.0.5"
    assert dict(config.host("h1").metrics) == {"cpu.percent": 40}
    assert config.scheduler.isolated_hosts == ("h1",)
    assert config.scheduler.metrics_weight_setting == ("cpu.percent=-1.5",)
    assert ClusterConfig.loads(config.to_toml(), source="again") == config
