"""The stateful search: green on the model, and not an empty run.

The search runs under the loaded Hypothesis profile (``ci`` by default); the
coverage it reports must contain every vm_state, every operation accepted, a host
near capacity, a confirmed and a reverted resize, an evacuation, an unshelve onto
another host and a resize onto the same host, every shape of request arguments the
cluster offers, every step outcome the catalogue declares and every interleaving
of ``targets.INTERLEAVINGS`` (but those ``coverage.UNREACHED_OUTCOMES`` and
``UNREACHED_INTERLEAVINGS`` name, each with its reason).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import settings

from model.config import ClusterConfig
from nova_model.search import arguments, targets
from nova_model.search.coverage import (
    DECLARED_OUTCOMES, REQUIRED_INTERLEAVINGS, REQUIRED_OUTCOMES, UNREACHED_INTERLEAVINGS,
    UNREACHED_OUTCOMES,
)
from nova_model.search.run import run_search

#: the upstream finding whose opening is ``targets.REVERT_TAKEN``
REVERT_TAKEN_FINDING = ("a revert whose task another request takes leaves the migration "
                        "holding the source and the instance the destination")


@pytest.fixture(scope="module")
def report():
    profile = settings()  # the loaded profile: ci unless --hypothesis-profile says otherwise
    return run_search(profile.max_examples, profile.stateful_step_count,
                      derandomize=profile.derandomize, database=profile.database)


@pytest.fixture(scope="module")
def coverage(report):
    return report.coverage


def test_the_model_keeps_every_promise_under_search(report):
    assert report.violation is None, report.violation
    assert report.steps > 1000  # the search ran, and it ran long


def test_the_search_is_not_vacuous(coverage):
    assert coverage["missing"] == [], coverage
    assert len(coverage["vm_states reached"]) == 12, coverage


def test_the_search_reproduces_an_upstream_finding(report):
    assert report.findings, report.coverage


def test_the_search_sends_every_argument_shape_of_the_cluster(coverage):
    shapes = arguments.shapes(ClusterConfig.default())
    # the moves with and without a host, forced where the request takes force, a
    # rebuild with its own and with a new image, a create with each option
    assert {"live_migrate: a host, forced", "evacuate: a host, forced", "migrate: a host",
            "rebuild: a new image", "rebuild: the same image", "create: an availability zone",
            "create: a server group", "create: the hint same_host"} <= set(shapes)
    assert set(shapes) <= set(coverage["arguments reached"]), coverage["missing"]


def test_the_search_delivers_every_declared_step_outcome(coverage):
    delivered = set(coverage["outcomes delivered"])
    required = {".".join(o) for o in REQUIRED_OUTCOMES}
    assert required - delivered == set(), sorted(required - delivered)
    # among them faults on a chain's first step and on a one-step chain's only step
    assert {"confirm_resize.confirm.driver_error", "live_migrate.schedule.no_valid_host",
            "pause.pause.driver_error"} <= delivered


def test_the_outcomes_left_out_are_declared_and_each_says_why():
    for outcome, why in UNREACHED_OUTCOMES.items():
        assert outcome in DECLARED_OUTCOMES, outcome
        assert len(why) > 20, (outcome, why)


def test_the_shapes_come_from_the_configuration():
    config = ClusterConfig.loads(
        '[[hosts]]\nname = "only"\nvcpus = 4\nmemory_mb = 4096\nlocal_gb = 40\n'
        '[[flavors]]\nname = "f"\nvcpus = 1\nram = 512\ndisk = 1\n'
        '[[images]]\nname = "one"\n')
    shapes = set(arguments.shapes(config))
    # one host: no move names a host; one image: no rebuild changes it; one flavor: no
    # resize; no group; the host's zone is the default one
    assert not any(s.endswith(("a host", "a host, forced", "a new image", "a new flavor",
                               "a server group")) for s in shapes), shapes
    assert {"rebuild: the same image", "migrate: no host (the scheduler's choice)",
            "create: an availability zone", "create: an image"} <= shapes


def test_check_says_in_its_last_line_what_it_did_not_reach(capsys, tmp_path):
    from nova_model.cli import main

    args = ["check", "--skip-graph", "--examples", "3", "--steps", "10", "--out", str(tmp_path)]
    assert main(args + ["--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    missing = document["search"]["coverage"]["missing"]
    assert document["ok"] and missing  # three runs reach little, and break nothing
    verdict = f"no violation; {len(missing)} coverage items not reached (raise --examples)"
    assert document["verdict"] == verdict
    assert main(args) == 0
    assert capsys.readouterr().out.rstrip("\n").splitlines()[-1] == verdict


def test_the_search_reaches_every_interleaving(coverage):
    reached = set(coverage["interleavings reached"])
    assert set(REQUIRED_INTERLEAVINGS) <= reached, sorted(set(REQUIRED_INTERLEAVINGS) - reached)
    # among them the evacuation's source coming back after its done, idle and busy,
    # and group members moving together
    assert {targets.BACK_AFTER_IDLE, targets.BACK_AFTER_BUSY, *targets.GROUP_MOVES} <= reached
    # and a request taking the task of a queued revert, whose violations the search
    # reports as that upstream finding
    assert targets.REVERT_TAKEN in reached
    assert REVERT_TAKEN_FINDING in coverage["upstream findings reproduced"], coverage


def test_the_interleavings_left_out_cannot_happen_and_each_says_why():
    """Only guest_stopped on the vm_states its guard refuses is left out: the event is
    refused there and changes nothing."""
    from model.catalogue import CATALOGUE
    from model.cluster import Cluster
    from model.lifecycle import ADMIN
    from model.states import VmState

    admitted = CATALOGUE["guest_stopped"].guard.vm_states
    for item, why in UNREACHED_INTERLEAVINGS.items():
        assert item in targets.INTERLEAVINGS and item.startswith("guest_stopped"), item
        assert len(why) > 20, (item, why)
    assert {targets.guest_stopped_on(vm, busy) for vm in VmState for busy in (False, True)
            if vm not in admitted} == set(UNREACHED_INTERLEAVINGS)
    cluster = Cluster(ClusterConfig.default(), seed=1)
    try:
        uuid = cluster.request("create", None, ADMIN, flavor="m1.tiny").instance
        cluster.settle()
        assert cluster.request("stop", uuid, ADMIN).accepted
        cluster.settle()
        before = cluster.witness()
        assert not cluster.event("guest_stopped", uuid).accepted  # a stopped instance
        assert cluster.witness() == before
    finally:
        cluster.close()


def test_the_routes_to_a_target_come_from_the_catalogue():
    """The way to a step: ok where ok leads there, a failure where only a failure does;
    what the instance must be before the request; what prepares it."""
    from model.states import VmState
    from nova_model.scenario import specification

    p = targets.planner(specification())
    assert p.route("resize", "reschedule")[0] == (("schedule", "ok"),
                                                  ("prep_resize", "claim_failed"))
    # a rebuild's power-off follows only for an instance that was stopped; an
    # unshelve's power-on only for one shelved and not offloaded
    assert p.needs("rebuild", "power_off") == (frozenset({VmState.STOPPED}), None)
    assert p.needs("unshelve", "power_on") == (frozenset({VmState.SHELVED}), False)
    assert p.needs("shelve", "offload") == (None, True)
    resized = frozenset({VmState.RESIZED})
    assert set(p.next_preparers(resized, False, VmState.ACTIVE)) == {"resize", "migrate"}
    assert p.next_preparers(frozenset({VmState.ACTIVE}), False, VmState.ACTIVE) == ()
    # a run draws only the targets its configuration can reach
    assert ("shelve", "offload", "ok") in p.feasible(True)
    assert ("shelve", "offload", "ok") not in p.feasible(False)
    assert ("unshelve", "power_on", "ok") in p.feasible(False)
    # every declared step outcome of the operations the search sends is a target
    assert {(o, s, r) for o, s, r in DECLARED_OUTCOMES if o != "sync_power_state"} == set(
        p.targets)


def test_the_search_draws_and_aims_at_multi_creates(coverage):
    """The default search draws multi-creates (``boot``: one request for two or three
    instances, one scheduling decision) and aims at them (``pursue``): it reaches one
    accepted, one placed by one decision and one failed for all its instances, and
    requires them."""
    from nova_model.search.coverage import Coverage
    assert set(Coverage.MULTI_CREATE_EVENTS) <= set(coverage["events"]), coverage
    assert set(Coverage.MULTI_CREATE_EVENTS) <= set(Coverage.of(ClusterConfig.default())
                                                    .missing())


def test_a_search_may_leave_multi_creates_out():
    """``machine_for(multi_create=False)``: no multi-create is drawn or aimed at, and
    none is required."""
    from nova_model.search.coverage import Coverage
    from nova_model.search.machine import machine_for
    report = run_search(30, 20, derandomize=True,
                        machine=machine_for(multi_create=False, name="SingleCreates"))
    assert report.violation is None, report.violation
    assert not set(Coverage.MULTI_CREATE_EVENTS) & set(report.coverage["events"])
    assert not set(Coverage.MULTI_CREATE_EVENTS) & set(report.coverage["missing"])


def test_the_search_aims_at_a_request_taking_a_queued_reverts_task():
    """``pursue``'s aim at ``REVERT_TAKEN``: an instance resized and reverted, the
    revert's first step delivered or not, then a request of ``TAKE_A_REVERT`` (a delete,
    soft, hard or forced) while the rest is queued. The interleaving is recorded along
    with the cause the upstream finding reads (the request overlapping the revert's
    chain), and what breaks is explained by the findings: the revert's own once the
    rest of the revert finds a soft delete's task."""
    from invariants.accounting import REVERT, TAKE_A_REVERT
    from nova_model.promises import unexplained_violations
    from nova_model.search.coverage import Coverage
    from nova_model.search.machine import SPEC, Choices, ClusterMachine

    class Aiming(ClusterMachine):
        coverage = Coverage()

    reached, explained_by = 0, set()
    for k in range(20):
        machine = Aiming()
        machine.start(seed=k, fault_weight=0, focus=k, world_focus=k, choice=k)
        Aiming.coverage.interleavings.clear()
        try:
            machine._aim_interleaving(targets.planner(SPEC), targets.REVERT_TAKEN, Choices(k))
            cluster = machine.cluster
            if targets.REVERT_TAKEN in Aiming.coverage.interleavings:
                reached += 1
                assert any(o.chain == REVERT.name and o.operation in TAKE_A_REVERT
                           for seen in cluster.overlaps.values() for o in seen), cluster.overlaps
            found, explained = unexplained_violations(cluster, SPEC, (), SPEC)
            assert found == {}, found
            explained_by |= {f.name for f, _ in explained}
        finally:
            machine.cluster.close()
    assert reached >= 5, reached
    assert REVERT_TAKEN_FINDING in explained_by, explained_by


def test_a_search_that_holds_ratios_aims_at_no_ratio_change():
    """``pursue``'s aim at an operator's change in the middle of a move makes the change
    only where the run's operators change ratios: a search with ``hold_ratios`` (the
    example plugin suite's) gets the move and no change."""
    from nova_model.search.coverage import Coverage
    from nova_model.search.machine import SPEC, Choices, ClusterMachine, machine_for

    changed = {}
    for name, base in (("plain", ClusterMachine), ("holding", machine_for(hold_ratios=True))):
        machine_class = type(name, (base,), {"coverage": Coverage()})
        changed[name] = 0
        for k in range(10):
            machine = machine_class()
            machine.start(seed=k, fault_weight=0, focus=k, world_focus=k, choice=k)
            try:
                machine._aim_interleaving(targets.planner(SPEC), targets.OPERATOR_MID_MOVE,
                                          Choices(k))
                changed[name] += bool(machine.cluster.inventory_changes)
            finally:
                machine.cluster.close()
    assert changed["plain"] > 0, changed
    assert changed["holding"] == 0, changed
