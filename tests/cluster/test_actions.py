"""The cluster's actions (``model.actions``): one vocabulary for scenario steps and rules.

Every scenario verb is read as exactly one kind of action, every file in ``scenarios/``
reads and writes back as written, and ``apply`` does what each action says to a real
cluster (through the cluster's own methods), a refused one changing nothing.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from model import actions
from model.actions import (
    Batch, Deliver, GuestEvent, HostEvent, OperatorChange, Periodic, Request, Settle,
)
from model.cluster import Cluster
from model.cluster_scenarios import small_config
from model.states import PowerState
from nova_model import scenario as scenarios

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.json"))

#: One step of each form a scenario may write, and the kind of action it is.
FORMS = [
    ({"api": "create", "args": {"flavor": "m1.small", "hints": {"same_host": ["vm1"]}}},
     Request),
    ({"api": "stop", "instance": "vm1", "as": "admin"}, Request),
    ({"deliver": "next"}, Deliver),
    ({"deliver": "w3", "outcome": "ok"}, Deliver),
    ({"deliver": {"operation": "create", "step": "build", "instance": "vm1",
                  "work": "w2"}, "outcome": "group_policy_violation"}, Deliver),
    ({"settle": True, "outcomes": {"resize.prep_resize": "claim_failed"},
      "instance": "vm1"}, Settle),
    ({"periodic": "update_available_resource", "host": "compute1"}, Periodic),
    ({"periodic": "sync_power_states"}, Periodic),
    ({"host": "compute1", "event": "service_down"}, HostEvent),
    ({"event": "guest_stopped", "instance": "vm1"}, GuestEvent),
    ({"operator": "set_allocation_ratio", "host": "compute1", "resource_class": "VCPU",
      "value": 2.0}, OperatorChange),
    ({"operator": "set_reserved", "host": "compute1", "resource_class": "DISK_GB",
      "value": 10}, OperatorChange),
]


def test_every_scenario_verb_is_exactly_one_kind_of_action():
    verbs = {verb: {kind for step, kind in FORMS if verb in step} for verb in scenarios.VERBS}
    # (a seed is the run's, not an action: it can only be a scenario's first step)
    assert verbs.pop("seed") == set()
    # an event names a host (a compute service's event) or an instance (a hypervisor's)
    assert verbs.pop("event") == {HostEvent, GuestEvent}
    assert all(len(kinds) == 1 for kinds in verbs.values()), verbs
    assert {kind for kinds in verbs.values() for kind in kinds} | {HostEvent, GuestEvent} \
        == set(actions.KINDS)
    assert {kind.verb for kind in actions.KINDS} == set(scenarios.VERBS) - {"seed"}
    for step, kind in FORMS:
        parsed = scenarios.parse([{"api": "create"}, step] if "vm1" in json.dumps(step)
                                 else [step]).steps[-1]
        assert type(parsed.action) is kind and parsed.action.verb in step
        assert actions.to_json(parsed.action) == step


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_every_example_scenario_reads_as_actions_and_writes_back_as_written(path):
    raw = json.loads(path.read_text())
    written = raw["steps"] if isinstance(raw, dict) else raw
    written = [s for s in written if set(s) != {"seed"}]
    parsed = scenarios.load(path)
    assert len(parsed.steps) == len(written)
    for step, original in zip(parsed.steps, written):
        action = step.action
        note = {"note": original["note"]} if "note" in original else {}
        assert actions.to_json(action) | note == original
        assert actions.from_json(actions.to_json(action)) == action
        hash(action)  # a value: usable as a key
        assert "\n" not in actions.describe(action)


def _cluster() -> Cluster:
    return Cluster(small_config(hosts=2), seed=0)


def test_apply_runs_each_kind_of_action_through_the_cluster():
    c = _cluster()
    made = actions.apply(c, Request("create", args=(("flavor", "small"),)))
    assert made.accepted and made.instance == "vm1" and c.pending()
    # a delivery by operation step and instance runs the oldest such item
    first = c.pending()[0]
    ran = actions.apply(c, Deliver(first.operation, first.step, "vm1"))
    assert ran.accepted and first.id not in c.work
    settled = actions.apply(c, Settle())
    assert isinstance(settled, Batch) and settled.accepted and not c.pending()
    assert len(settled.parts) == len(settled.notes) > 0
    assert c.instances["vm1"].vm_state.value == "active"
    host = c.instances["vm1"].host

    stopped = actions.apply(c, GuestEvent("guest_stopped", "vm1"))
    assert stopped.accepted and [w.operation for w in c.pending()] == ["sync_power_state"]
    assert c.instances["vm1"].power_state is PowerState.SHUTDOWN
    actions.apply(c, Settle(instance="vm1"))
    assert c.instances["vm1"].vm_state.value == "stopped"
    synced = actions.apply(c, Periodic("sync_power_states"))  # the database agrees now
    assert isinstance(synced, Batch) and synced.parts == () and synced.detail == "nothing to do"
    assert actions.apply(c, Periodic("update_available_resource", host)).parts == ()

    before = c.ledger.capacity(host, "VCPU")
    assert actions.apply(c, OperatorChange("set_allocation_ratio", host, "VCPU", 2)).accepted
    assert c.ledger.capacity(host, "VCPU") == 2 * before
    assert actions.apply(c, OperatorChange("set_reserved", host, "VCPU", 3)).accepted
    assert c.ledger.capacity(host, "VCPU") == 2 * before - 6

    assert actions.apply(c, HostEvent("service_down", host)).accepted
    assert not c.hosts[host].up
    assert actions.apply(c, HostEvent("service_up", host)).accepted and c.hosts[host].up
    assert actions.apply(c, HostEvent("disable", host)).accepted and not c.hosts[host].enabled
    # an administrator's request, as written in a scenario
    assert actions.apply(c, Request("lock", "vm1", "admin")).accepted
    assert c.instances["vm1"].locked


def test_a_delivery_of_work_that_is_not_pending_is_refused_and_changes_nothing():
    c = _cluster()
    actions.apply(c, Request("create", args=(("flavor", "small"),)))
    pending = c.pending()[0]
    before = c.witness()
    for action in (Deliver(work="w99"), Deliver("create", "no_such_step", "vm1"),
                   Deliver(pending.operation, pending.step, "vm1", work="w99")):
        refused = actions.apply(c, action)
        assert not refused.accepted and refused.error is not None
        assert c.witness() == before
    c.settle()
    assert not actions.apply(c, Deliver()).accepted  # nothing left to deliver
    assert not actions.apply(c, Request("unpause", "vm1")).accepted  # the guard refuses


def test_describe_is_the_scenario_runners_words():
    run = scenarios.run(scenarios.load(ROOT / "scenarios" / "resize_confirm.json"))
    try:
        for step, result in zip(run.scenario.steps, run.results):
            if not isinstance(step.action, Deliver):
                assert result.words == actions.describe(step.action)
    finally:
        run.close()
    assert actions.describe(Request("create", args=(("flavor", "m1.small"),),
                                    caller="admin")) == "create a m1.small server (as admin)"
    assert actions.describe(Deliver(work="w7", outcome="claim_failed")) == \
        "deliver w7 fails: claim_failed"
