"""The public strategies draw what the project accepts, and reach somewhere."""

from __future__ import annotations

from hypothesis import Phase, given, settings

from model.cluster import Cluster
from model.config import ClusterConfig
from nova_model import scenario
from nova_model import strategies as nova_st
from nova_model.testing import describe, first_broken_promise

DEFAULT = ClusterConfig.default()


@settings(max_examples=40, deadline=None)
@given(nova_st.cluster_configs())
def test_a_drawn_cluster_is_a_file_the_loader_accepts_and_it_boots(config):
    assert ClusterConfig.loads(config.to_toml()) == config
    assert 2 <= len(config.hosts) <= 4 and 1 <= len(config.flavors) <= 4
    cluster = Cluster(config)
    try:
        smallest = min(config.flavors, key=lambda f: (f.vcpus, f.memory_mb, f.root_gb))
        server = cluster.request("create", None, flavor=smallest.name).instance
        cluster.settle()
        assert cluster.instances[server].vm_state.value in ("active", "error")
    finally:
        cluster.close()


@settings(max_examples=60, deadline=None)
@given(nova_st.scenarios(DEFAULT, max_steps=12))
def test_a_drawn_scenario_parses_and_names_only_what_the_cluster_has(document):
    parsed = scenario.parse(document)
    scenario.check_against(parsed, DEFAULT)
    assert document["steps"][0]["api"] == "create" and len(document["steps"]) <= 12


@given(nova_st.flavors(max_vcpus=4, max_ram_mb=4096, max_disk_gb=50))
def test_a_drawn_flavor_stays_within_its_bounds(flavor):
    assert 1 <= flavor.vcpus <= 4 and flavor.memory_mb <= 4096 and flavor.root_gb <= 50


def test_drawn_scenarios_get_somewhere():
    reached: set[str] = set()

    def note(cluster):
        """Never breaks: records the vm_states reached."""
        reached.update(i.vm_state.value for i in cluster.instances.values())
        return []

    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate])
    @given(nova_st.scenarios(DEFAULT))
    def run(document):
        first_broken_promise(document, DEFAULT, promises=[note])

    run()
    wanted = {"active", "stopped", "resized", "shelved_offloaded", "error", "deleted"}
    assert wanted <= reached, sorted(wanted - reached)


def test_a_broken_promise_is_described_like_the_search_describes_it():
    def nobody_active(cluster):
        """No server is ever active."""
        return [f"{u} is active" for u, i in sorted(cluster.instances.items())
                if i.vm_state.value == "active"]

    steps = [{"api": "create", "args": {"flavor": "m1.tiny"}}, {"settle": True},
             {"api": "stop", "instance": "vm1"}]
    broken = first_broken_promise({"seed": 1, "steps": steps}, DEFAULT, promises=[nobody_active])
    assert broken is not None and set(broken.found) == {"nobody_active"}
    assert len(broken.steps) == 2  # it stops at the settle that made vm1 active
    text = describe(broken, [nobody_active])
    assert "1. create a m1.tiny server" in text
    assert "nobody_active: No server is ever active." in text
    assert "    - vm1 is active" in text and "Cluster at the point of failure:" in text
    assert first_broken_promise(steps[:1], DEFAULT, promises=[nobody_active]) is None
