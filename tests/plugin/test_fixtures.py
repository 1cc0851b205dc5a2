"""The plugin's fixtures, as this suite gets them (the entry point loads the plugin here
too): the configuration, the catalogue or a variant, a fresh cluster, the search."""

from __future__ import annotations

import json

import pytest

from model.catalogue import CATALOGUE
from model.states import VmState
from model.variants import variant, with_guard
from nova_model.search.machine import SPEC
from nova_model.testing import PromiseBroken, assert_promises_kept

#: a variant: rescue also admits a stopped instance
RESCUE_STOPPED = variant(rescue=with_guard(
    CATALOGUE["rescue"], vm_states=CATALOGUE["rescue"].guard.vm_states | {VmState.STOPPED}))


def test_the_cluster_is_the_embedded_default_and_fresh(nova_cluster, nova_lifecycle):
    assert sorted(nova_cluster.hosts) == ["compute1", "compute2", "compute3", "compute4"]
    assert nova_cluster.instances == {} and nova_cluster.allocations() == {}
    assert nova_lifecycle is SPEC and nova_cluster.lc is SPEC


@pytest.mark.nova(config="two_hosts.toml")
def test_the_marker_names_a_cluster_file_beside_the_test(nova_cluster):
    assert sorted(nova_cluster.hosts) == ["alpha", "beta"]
    server = nova_cluster.request("create", None, flavor="tiny").instance
    nova_cluster.settle()
    assert nova_cluster.instances[server].vm_state is VmState.ACTIVE


@pytest.mark.parametrize("nova_lifecycle", [RESCUE_STOPPED], indirect=True)
def test_a_variant_given_as_a_parameter_runs_the_cluster(nova_cluster, nova_lifecycle):
    assert nova_cluster.lc is RESCUE_STOPPED
    server = nova_cluster.request("create", None, flavor="m1.tiny").instance
    nova_cluster.settle()
    assert nova_cluster.request("stop", server).accepted
    nova_cluster.settle()
    assert nova_cluster.request("rescue", server).accepted  # the specification refuses


@pytest.mark.nova(lifecycle=RESCUE_STOPPED)
def test_the_marker_names_a_variant(nova_lifecycle):
    assert nova_lifecycle is RESCUE_STOPPED


@pytest.mark.nova(config="two_hosts.toml", examples=20, steps=15)
def test_the_search_runs_on_the_fixture_cluster_with_the_marker_budget(nova_search):
    hosts_seen: set[str] = set()

    def looks_at_the_hosts(cluster):
        """Keeps nothing from breaking: records the hosts the search's clusters have."""
        hosts_seen.update(cluster.hosts)
        return []

    report = nova_search(promises=[looks_at_the_hosts])
    assert_promises_kept(report)
    assert hosts_seen == {"alpha", "beta"}
    assert 0 < report.examples < 100  # the marker's 20, not the ci profile's 1500


@pytest.mark.nova(config="two_hosts.toml", examples=60, steps=20)
def test_a_broken_promise_writes_a_replayable_scenario(nova_search, tmp_path):
    def never_active(cluster):
        """No server is ever active."""
        return [f"{uuid} is active" for uuid, inst in sorted(cluster.instances.items())
                if inst.vm_state is VmState.ACTIVE]

    report = nova_search(promises=[never_active])
    with pytest.raises(PromiseBroken) as failure:
        assert_promises_kept(report)
    message = str(failure.value)
    assert "never_active: No server is ever active." in message
    assert report.scenario_file == str(tmp_path / "nova-model-counterexample.json")
    assert f"Replay it: nova-model simulate {report.scenario_file}" in message
    scenario = json.loads((tmp_path / "nova-model-counterexample.json").read_text())
    assert scenario["config"] == "nova-model-counterexample.toml"
