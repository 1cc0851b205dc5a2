"""Multi-create: ``POST /servers`` with ``min_count`` / ``max_count``.

One request makes several instances; the conductor asks the scheduler once for all of
them (``COND.schedule_and_build_instances`` -> ``SchedulerManager._schedule``), which
places them one after another, consuming each chosen host and adding it to the server
group's hosts (``_consume_selected_host``), claims in Placement per instance, and
answers NoValidHost for all when it places fewer than it was asked for
(``_ensure_sufficient_hosts``, which removes the claims already made). Each instance
then builds on its own. The scenario files under ``scenarios/`` are pinned here, and
the rest through the cluster directly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import invariants
from model.cluster import MAX_INSTANCES_PER_REQUEST, Cluster, create_counts
from model.cluster_scenarios import allocs, res, small_config, SMALL
from model import errors
from model.scheduler.decision import FILTER
from nova_model.cli import main
from nova_model.scenario import ScenarioError, loads

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def simulate(name: str, capsys) -> dict:
    assert main(["simulate", str(SCENARIOS / name), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def hosts_of(doc: dict) -> dict[str, str | None]:
    return {uuid: i["host"] for uuid, i in doc["instances"].items()}


def test_anti_affinity_within_one_request_spreads_the_members(capsys):
    doc = simulate("multi_create_anti_affinity.json", capsys)
    hosts = hosts_of(doc)
    assert sorted(hosts) == ["vm1", "vm2", "vm3", "vm4"]
    assert len(set(hosts.values())) == 4 and None not in hosts.values()
    assert all(i["vm_state"] == "active" for i in doc["instances"].values())
    # one claim per instance, on its own host
    assert doc["allocations"] == {u: {h: {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}
                                  for u, h in hosts.items()}
    # the one scheduling step placed all four and sent each its own build
    assert "for vm1, vm2, vm3, vm4" in doc["steps"][1]["detail"]


def test_no_valid_host_for_one_is_no_valid_host_for_all(capsys):
    doc = simulate("multi_create_no_valid_host.json", capsys)
    assert sorted(doc["instances"]) == ["vm1", "vm2", "vm3", "vm4", "vm5"]
    for uuid, inst in doc["instances"].items():
        assert (inst["vm_state"], inst["task_state"], inst["host"]) == ("error", None, None)
    assert doc["allocations"] == {} and doc["pending"] == []
    assert all(u["used"] == 0 for h in doc["hosts"].values() for u in h["usage"].values())


def test_affinity_counts_the_members_placed_earlier_in_the_request(capsys):
    doc = simulate("multi_create_affinity.json", capsys)
    hosts = hosts_of(doc)
    assert len(hosts) == 3 and len(set(hosts.values())) == 1 and None not in hosts.values()
    (host,) = set(hosts.values())
    assert doc["hosts"][host]["usage"]["VCPU"]["used"] == 3


def _cluster(**kw) -> Cluster:
    return Cluster(small_config(**kw), seed=1)


def test_one_decision_consumes_each_chosen_host():
    """Without a group, each instance sees the hosts the earlier ones consumed: three
    hosts, three instances, three hosts (the RAM weigher spreads)."""
    c = _cluster(hosts=3)
    r = c.request("create", flavor="small", max_count=3)
    assert r.accepted and r.instance == "vm1"
    assert [w.instances for w in c.pending()] == [("vm1", "vm2", "vm3")]
    c.deliver(c.pending()[0].id)
    assert [(d.kind, d.consumer) for d in c.decisions] == [
        (FILTER, "vm1"), (FILTER, "vm2"), (FILTER, "vm3")]
    assert len({d.chosen for d in c.decisions}) == 3
    # each one's build goes to its own host, with its own alternates
    builds = {w.instance: w for w in c.pending()}
    assert sorted(builds) == ["vm1", "vm2", "vm3"]
    for uuid, w in builds.items():
        assert w.step == "build" and w.target == w.get("dest")
        assert allocs(c, uuid) == {w.target: res(SMALL)}
        assert w.target not in w.get("alternates")
    assert invariants.violations(c) == {}


def test_anti_affinity_counts_earlier_members_where_the_weighers_would_stack():
    """Weighers set to stack (negative RAM, CPU and disk weights, positive I/O and
    instance-count weights) put a request's instances on one host; anti-affinity
    still puts each member of the request on its own host."""
    config = small_config(hosts=3)
    config = dataclasses.replace(config, scheduler=dataclasses.replace(
        config.scheduler, ram_weight_multiplier=-1.0, cpu_weight_multiplier=-1.0,
        disk_weight_multiplier=-1.0, io_ops_weight_multiplier=1.0,
        num_instances_weight_multiplier=1.0))
    plain = Cluster(config, seed=1)
    plain.request("create", flavor="small", max_count=3)
    plain.settle()
    assert len({i.host for i in plain.instances.values()}) == 1  # stacked
    grouped = Cluster(config, seed=1)
    grouped.request("create", flavor="small", group="anti", max_count=3)
    grouped.settle()
    assert len({i.host for i in grouped.instances.values()}) == 3
    assert invariants.violations(grouped) == {}


def test_placement_claims_per_instance_and_frees_them_on_no_valid_host():
    """Two hosts with room for one large each: the scheduler claims the first, finds
    no host for the second, and removes the first claim; both end in error."""
    c = _cluster(hosts=2, vcpus=4)
    c.request("create", flavor="large", max_count=2)
    assert c.deliver("w1").accepted  # the decision itself was made
    c2 = _cluster(hosts=1, vcpus=4)
    fresh = c2.host_states()
    c2.request("create", flavor="large", min_count=1, max_count=2)
    result = c2.deliver("w1")
    assert "no_valid_host" in result.detail
    assert [d.chosen for d in c2.decisions] == ["host1", None]
    assert c2.ledger.consumers() == [] or not any(
        c2.ledger.allocations_of(u) for u in c2.instances)
    for inst in c2.instances.values():
        assert (inst.vm_state.value, inst.host) == ("error", None)
        assert c2.error_causes[inst.uuid].trigger == "scheduler"
    assert c2.host_states() == fresh  # the failed decision left nothing behind
    assert invariants.violations(c2) == {}


def test_each_instance_builds_and_fails_on_its_own():
    c = _cluster(hosts=3)
    c.request("create", flavor="small", max_count=3)
    c.deliver("w1")
    vm2_build = next(w for w in c.pending() if w.instance == "vm2")
    c.deliver(vm2_build.id)
    spawn = next(w for w in c.pending() if w.instance == "vm2")
    c.deliver(spawn.id, "build_abort")
    c.settle()
    states = {u: (i.vm_state.value, i.host) for u, i in c.instances.items()}
    assert states["vm2"] == ("error", None) and allocs(c, "vm2") == {}
    assert states["vm1"][0] == states["vm3"][0] == "active"
    assert invariants.violations(c) == {}


def test_a_member_deleted_before_scheduling_is_left_out():
    c = _cluster(hosts=3)
    c.request("create", flavor="small", max_count=3)
    assert c.request("delete", "vm1").accepted  # deleted while building: at once
    assert [w.instances for w in c.pending()] == [("vm1", "vm2", "vm3")]
    c.settle()
    assert c.instances["vm1"].vm_state.value == "deleted" and allocs(c, "vm1") == {}
    assert all(c.instances[u].vm_state.value == "active" for u in ("vm2", "vm3"))
    assert invariants.violations(c) == {}


def test_an_injected_no_valid_host_errors_every_member():
    c = _cluster(hosts=3)
    c.request("create", flavor="small", group="aff", max_count=2)
    c.settle(create__schedule="no_valid_host")
    assert {i.vm_state.value for i in c.instances.values()} == {"error"}
    assert invariants.violations(c) == {}


@pytest.mark.parametrize("args, message", [
    ({"min_count": 3, "max_count": 2}, "min_count must be <= max_count"),
    ({"min_count": 0}, "min_count must be at least 1"),
    ({"max_count": 0}, "max_count must be at least 1"),
    ({"max_count": 2.5}, "max_count must be an integer"),
    ({"max_count": True}, "max_count must be an integer"),
    ({"max_count": MAX_INSTANCES_PER_REQUEST + 1}, "more than the model creates"),
])
def test_bad_counts_are_refused(args, message):
    with pytest.raises(errors.InvalidRequest, match=message):
        create_counts(args.get("min_count"), args.get("max_count"))
    c = _cluster()
    r = c.request("create", flavor="small", **args)
    assert not r.accepted and message in r.detail and c.instances == {}


def test_counts_default_as_nova_reads_them():
    assert create_counts() == (1, 1)
    assert create_counts(min_count=3) == (3, 3)
    assert create_counts(max_count=3) == (1, 3)


@pytest.mark.parametrize("args, field, message", [
    ({"min_count": 3, "max_count": 2}, "min_count", "min_count must be <= max_count"),
    ({"max_count": 0}, "max_count", "at least 1"),
    ({"min_count": -1}, "min_count", "at least 1"),
    ({"max_count": "2"}, "max_count", "expected a positive integer, got '2'"),
    ({"max_count": 1.5}, "max_count", "expected a positive integer"),
])
def test_a_scenario_with_bad_counts_is_one_clear_error(tmp_path, capsys, args, field,
                                                       message):
    doc = [{"api": "create", "args": {"flavor": "m1.small", **args}}]
    with pytest.raises(ScenarioError, match=message) as caught:
        loads(json.dumps(doc), "s.json")
    assert f"s.json: steps[0].args.{field}: " in str(caught.value)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    assert main(["simulate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_a_scenario_names_every_instance_a_multi_create_made():
    steps = [{"api": "create", "args": {"max_count": 3}},
             {"api": "delete", "instance": "vm3"}]
    assert len(loads(json.dumps(steps)).steps) == 2
    with pytest.raises(ScenarioError, match="no instance 'vm4'"):
        loads(json.dumps(steps + [{"api": "delete", "instance": "vm4"}]))


def test_the_minimizer_removes_a_member_by_asking_the_request_for_one_fewer():
    from model.actions import from_json, to_json
    from nova_model.search import minimize

    def _without_each_instance(steps):  # (the minimizer works on the steps' actions)
        return [[to_json(a) for a in candidate] for candidate in
                minimize._without_each_instance([from_json(s) for s in steps])]

    many = {"api": "create", "args": {"flavor": "m1.small", "min_count": 2, "max_count": 3}}
    steps = [many, {"api": "delete", "instance": "vm3"},
             {"api": "create", "args": {"flavor": "m1.small"}},
             {"api": "stop", "instance": "vm4"}]
    without = _without_each_instance(steps)
    assert len(without) == 4  # vm4, vm3, vm2, vm1: latest first
    assert without[0] == steps[:2]
    fewer = {"api": "create", "args": {"flavor": "m1.small", "min_count": 2, "max_count": 2}}
    assert without[1] == [fewer, steps[2], {"api": "stop", "instance": "vm3"}]
    assert without[2] == [fewer, {"api": "delete", "instance": "vm2"}, steps[2],
                          {"api": "stop", "instance": "vm3"}]
    two = {"api": "create", "args": {"max_count": 2}}
    assert _without_each_instance([two])[0] == [{"api": "create", "args": {}}]


def test_the_soft_anti_affinity_weigher_counts_earlier_members_of_the_request():
    """ServerGroupSoftAntiAffinityWeigher reads the members on each host, the request's
    earlier ones included (the stub ``_consume_selected_host`` adds): with weighers
    otherwise set to stack, a soft-anti-affinity request still spreads."""
    from model.config import ServerGroupConfig
    config = small_config(hosts=3)
    stacking = dict(ram_weight_multiplier=-1.0, cpu_weight_multiplier=-1.0,
                    disk_weight_multiplier=-1.0, io_ops_weight_multiplier=1.0,
                    num_instances_weight_multiplier=1.0)
    config = dataclasses.replace(
        config, server_groups=(*config.server_groups,
                               ServerGroupConfig("soft", "soft-anti-affinity")),
        scheduler=dataclasses.replace(config.scheduler, soft_anti_affinity_weight_multiplier=1000.0,
                                      **stacking))
    c = Cluster(config, seed=1)
    c.request("create", flavor="small", group="soft", max_count=3)
    c.settle()
    assert len({i.host for i in c.instances.values()}) == 3
    assert invariants.violations(c) == {}
