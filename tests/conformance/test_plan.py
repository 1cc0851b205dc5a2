"""The conformance runner's model side: plans, fault table, comparison (no Nova needed)."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys

import pytest

from model.catalogue import CATALOGUE
from model.config import ClusterConfig
from model.operation import OutcomeKind
from nova_model import scenario as scenarios
from nova_model.conformance import compare, plan, walks
from nova_model.conformance.faults import Fault, NotInjectable, fault_map

CONFIG = ClusterConfig.default()


def _plan(steps):
    return plan.build("t", scenarios.parse({"seed": 0, "steps": steps}), CONFIG)


def test_every_non_ok_outcome_has_a_declared_way_or_a_reason():
    declared = {(name, step.name, outcome.name)
                for name, op in CATALOGUE.items() for step in op.steps
                for outcome in step.outcomes if outcome.kind is not OutcomeKind.OK}
    assert set(fault_map()) == declared
    for key, how in fault_map().items():
        assert isinstance(how, (Fault, NotInjectable)), key
        if isinstance(how, Fault):
            assert how.nova and how.target.startswith("nova.") and how.times >= 1, key
        else:
            assert how.reason, key


def test_every_fault_target_and_exception_exists_in_nova():
    # Resolved in a separate interpreter: importing Nova's compute manager monkey-patches.
    targets = sorted({(f.target, f.raises, f.wraps) for f in fault_map().values()
                      if isinstance(f, Fault)})
    code = (
        "import sys, json\n"
        "from nova_model.conformance.nova_side import _resolve\n"
        "bad = []\n"
        "for target, raises, wraps in json.loads(sys.argv[1]):\n"
        "    for path in filter(None, (target, raises, wraps)):\n"
        "        try: _resolve(path)\n"
        "        except Exception as e: bad.append(f'{path}: {e}')\n"
        "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    import json
    from nova_model.conformance.runner import nova_environment
    done = subprocess.run([sys.executable, "-c", code, json.dumps(targets)],
                          capture_output=True, text=True, timeout=300, env=nova_environment())
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]


def test_a_sequential_scenario_is_compared_at_every_quiescent_point():
    p = _plan([{"api": "create"}, {"settle": True}, {"api": "stop", "instance": "vm1"},
               {"settle": True}])
    assert p.not_reproducible is None
    assert [s.action["kind"] for s in p.steps] == ["api", "wait", "api", "wait"]
    # after a request the model still holds work; after a settle it is quiescent
    assert [s.action["observe"] for s in p.steps] == [False, True, False, True]
    assert p.steps[3].model["instances"]["vm1"]["vm_state"] == "stopped"
    assert p.steps[0].accepted is True and p.steps[1].accepted is None


def test_a_step_racing_work_in_flight_stops_the_plan_with_the_reason():
    p = _plan([{"api": "create"}, {"api": "create"}, {"settle": True}])
    assert len(p.steps) == 1
    assert p.stopped_at == "steps[1]"
    assert "create.schedule of vm1" in p.not_reproducible


_RUNNING = [{"api": "create"}, {"settle": True},
            {"api": "live_migrate", "instance": "vm1", "as": "admin"},
            {"deliver": "next"}, {"deliver": "next"}, {"deliver": "next"}]


@pytest.mark.parametrize("op", ["live_migrate_abort", "live_migrate_force_complete"])
def test_a_request_on_a_running_live_migration_has_the_driver_hold_it(op):
    p = _plan(_RUNNING + [{"api": op, "instance": "vm1", "as": "admin"}, {"settle": True}])
    assert p.not_reproducible is None
    assert p.steps[2].action["operation"] == "live_migrate" and p.steps[2].action["hold"]
    assert p.steps[-1].action["observe"]


def test_a_periodic_task_runs_beside_a_running_live_migration_held_in_the_driver():
    # the resource audit during the guest's migration: the driver holds it running, and
    # the model's delivery of post_live_migration lets it end
    audit = {"periodic": "update_available_resource", "host": "compute1"}
    p = _plan(_RUNNING + [audit, {"settle": True}])
    assert p.not_reproducible is None and p.steps[2].action["hold"]
    assert "complete" not in p.steps[6].action
    assert p.steps[7].action["complete"] == ["vm1"] and p.steps[7].action["observe"]
    # an abort the audit made refused (the record it errored is not the one a failed
    # cold migration's context names) does not end the hold: the source's restart
    # still finds the live migration's request, not the refused one, to hold
    failed = [{"api": "create"}, {"settle": True},
              {"api": "migrate", "instance": "vm1", "as": "admin"},
              {"settle": True, "outcomes": {"migrate.resize_migrating": "driver_error"}},
              {"api": "reset_state_active", "instance": "vm1", "as": "admin"}]
    p = _plan(failed + _RUNNING[2:] + [
        audit, {"api": "live_migrate_abort", "instance": "vm1", "as": "admin"},
        {"event": "restart", "host": "compute1"}])
    assert p.not_reproducible is None and p.steps[5].action["hold"]
    assert p.steps[10].action["operation"] == "live_migrate_abort"
    assert p.steps[10].accepted is False and "InvalidMigrationState" in p.steps[10].error
    assert p.steps[11].action["kind"] == "host_event" and p.steps[11].action["observe"]
    # nothing in flight but a chain's queued cast: the audit races it as before
    p = _plan(_RUNNING[:4] + [audit])
    assert "hold" not in p.steps[2].action
    assert [h["target"] for h in p.steps[2].action["holds"]] == [
        "nova.compute.manager.ComputeManager.live_migration"]


def test_only_a_running_live_migration_is_held_in_the_driver():
    # still at pre_live_migration: the abort races a cast, which the harness holds at
    # the source's ComputeManager.live_migration, not the driver
    p = _plan(_RUNNING[:4] + [{"api": "live_migrate_abort", "instance": "vm1", "as": "admin"}])
    assert p.not_reproducible is None and "hold" not in p.steps[2].action
    assert [h["target"] for h in p.steps[2].action["holds"]] == [
        "nova.compute.manager.ComputeManager.live_migration"]
    # another request on the running migration's instance races the driver's own thread,
    # which has no hold
    p = _plan(_RUNNING + [{"api": "stop", "instance": "vm1"}])
    assert p.stopped_at == "steps[6]" and "hold" not in p.steps[2].action
    assert "live_migrate.post_live_migration of vm1" in p.not_reproducible
    assert "cannot be held before it" in p.not_reproducible


_RECLAIM = CONFIG.replace(options=dataclasses.replace(CONFIG.options,
                                                      reclaim_instance_interval=3600))


def test_a_request_racing_a_queued_cast_holds_it_until_its_delivery():
    steps = [{"api": "create"}, {"settle": True}, {"api": "soft_delete", "instance": "vm1"},
             {"api": "force_delete", "instance": "vm1"},
             {"deliver": {"operation": "soft_delete", "step": "soft_delete",
                          "instance": "vm1"}},
             {"settle": True}]
    p = plan.build("t", scenarios.parse({"seed": 0, "steps": steps}), _RECLAIM)
    assert p.not_reproducible is None and len(p.steps) == 6
    soft, force, deliver = (s.action for s in p.steps[2:5])
    [hold] = soft["holds"]
    assert hold == {"key": "soft_delete.soft_delete of vm1 (w7)", "instance": "vm1",
                    "target": "nova.compute.manager.ComputeManager.soft_delete_instance"}
    # the racing request is sent once Nova waits there; the delivery releases it
    assert force["await"] == [hold["key"]] and "release" not in force
    assert deliver["release"] == [hold["key"]] and deliver["observe"]
    assert p.steps[4].model["instances"]["vm1"]["task_state"] == "deleting"


def test_work_nova_runs_by_itself_is_held_when_the_model_delivers_it_later():
    # the delete's terminate runs at once in Nova; the model delivers the held
    # prep_resize first, so terminate is held too, and awaited before the release
    # (prep_resize checks no task_state: its resize_instance then waits behind terminate)
    steps = [{"api": "create"}, {"settle": True},
             {"api": "migrate", "instance": "vm1", "as": "admin"},
             {"deliver": {"operation": "migrate", "step": "schedule", "instance": "vm1"}},
             {"api": "delete", "instance": "vm1"},
             {"deliver": {"operation": "migrate", "step": "prep_resize", "instance": "vm1"}},
             {"deliver": {"operation": "delete", "step": "terminate", "instance": "vm1"}}]
    p = _plan(steps)
    assert p.not_reproducible is None
    delete, prep = p.steps[4].action, p.steps[5].action
    assert [h["key"] for h in delete["holds"]] == ["delete.terminate of vm1 (w9)"]
    assert prep["await"] == ["delete.terminate of vm1 (w9)"]
    assert prep["release"] == ["migrate.prep_resize of vm1 (w8)"]
    assert p.steps[6].action["release"] == ["delete.terminate of vm1 (w9)"]


def test_an_order_nova_cannot_be_held_in_is_not_reproducible_with_the_reason():
    # the queued soft delete and the delete's terminate released by one settle
    steps = [{"api": "create"}, {"settle": True},
             {"api": "migrate", "instance": "vm1", "as": "admin"},
             {"deliver": {"operation": "migrate", "step": "schedule", "instance": "vm1"}},
             {"api": "delete", "instance": "vm1"},
             {"api": "stop", "instance": "vm1"}, {"settle": True}]
    p = _plan(steps)
    assert p.stopped_at == "steps[6]"
    assert "in one step; released together" in p.not_reproducible
    # a step inside a handler (the guest's migration) has no hold
    steps = [{"api": "create"}, {"settle": True},
             {"api": "resize", "instance": "vm1", "args": {"flavor": "m1.large"}},
             {"deliver": "next"}, {"deliver": "next"}, {"deliver": "next"},
             {"api": "stop", "instance": "vm1"}]
    p = _plan(steps)
    assert p.stopped_at == "steps[6]"
    assert "resize.resize_migrated of vm1" in p.not_reproducible
    assert "inside the same handler" in p.not_reproducible


def test_a_fault_is_armed_on_the_request_whose_chain_meets_it():
    p = _plan([{"api": "create"}, {"settle": True}, {"api": "stop", "instance": "vm1"},
               {"settle": True, "outcomes": {"stop.power_off": "driver_error"}}])
    stop = p.steps[2].action
    assert stop["faults"] == [{"key": "stop.power_off driver_error",
                               "target": "nova.virt.fake.FakeDriver.power_off",
                               "raises": fault_map()[("stop", "power_off", "driver_error")].raises,
                               "kwargs": {}, "wraps": None, "times": 1,
                               "guest_off": False, "guest_on": False}]
    assert p.steps[3].model["instances"]["vm1"]["vm_state"] == "active"


def test_an_outcome_nova_cannot_be_made_to_give_is_not_reproducible():
    p = _plan([{"api": "create"},
               {"settle": True, "outcomes": {"create.schedule": "no_valid_host"}}])
    assert p.stopped_at == "steps[1]"
    assert "scheduler's own answer" in p.not_reproducible


def test_a_legacy_scheduler_cluster_is_not_reproducible_at_all():
    legacy = CONFIG.replace(scheduler=CONFIG.scheduler.__class__(mode="legacy"))
    p = plan.build("t", scenarios.parse([{"api": "create"}]), legacy)
    assert p.steps == [] and "RamFilter" in p.not_reproducible


def test_compare_counts_fields_and_finds_each_difference():
    p = _plan([{"api": "create"}, {"settle": True}])
    model = p.steps[1].model
    nova = copy.deepcopy(model)
    # Nova reports power states as codes: the same moment compares equal.
    nova["instances"]["vm1"]["power_state"] = 1
    fields, diffs = compare.compare(model, compare.nova_view(nova))
    assert diffs == [] and fields > 20
    nova["instances"]["vm1"]["vm_state"] = "error"
    nova["allocations"]["vm1"]["compute1"]["VCPU"] = 2
    nova["migrations"]["mig1"] = {"instance": "vm1", "type": "resize", "status": "error",
                                  "source": "compute1", "dest": None}
    _, diffs = compare.compare(model, compare.nova_view(nova))
    assert [d.where for d in diffs] == ["instances.vm1.vm_state", "migrations.mig1",
                                        "allocations.vm1.compute1"]


def test_a_hosts_audit_records_its_tracker_count_and_compares_it():
    p = _plan([{"api": "create"}, {"settle": True},
               {"periodic": "update_available_resource", "host": "compute1"},
               {"periodic": "poll_unconfirmed_resizes"}])
    # only a resource audit says what its host's tracker counts
    assert [s.audit is None for s in p.steps] == [True, True, False, True]
    audit = p.steps[2].audit
    assert audit == {"host": "compute1",
                     "compute_node": {"vcpus_used": 1, "memory_mb_used": 2048,
                                      "local_gb_used": 20},
                     "placement": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}
    nova = copy.deepcopy(audit)
    fields, diffs = compare.compare_audit(audit, nova)
    assert (fields, diffs) == (6, [])
    nova["compute_node"]["memory_mb_used"] = 0
    del nova["placement"]["DISK_GB"]
    _, diffs = compare.compare_audit(audit, nova)
    assert [d.line() for d in diffs] == [
        "audit.compute1.compute_node.memory_mb_used: model 2048, Nova 0",
        "audit.compute1.placement.DISK_GB: model 20, Nova absent"]
    _, diffs = compare.compare_audit(audit, None)   # Nova said nothing of its audit
    assert len(diffs) == 6


def test_walks_are_sequential_deterministic_and_plannable():
    one, again = walks.walk(7, 30, CONFIG), walks.walk(7, 30, CONFIG)
    assert one.document() == again.document()
    assert len(one.steps) >= 30
    verbs = [s.verb for s in one.steps]
    assert all(verbs[i + 1] == "settle" for i in range(0, len(verbs), 2))
    p = plan.build("w", one, CONFIG)
    assert p.not_reproducible is None and len(p.steps) == len(one.steps)


def test_the_cluster_document_is_the_cluster_file():
    doc = plan.cluster_document(CONFIG)
    assert [h["name"] for h in doc["hosts"]] == list(CONFIG.host_names)
    c1 = doc["hosts"][0]
    assert c1["initial_ratio"] == {"VCPU": 16.0, "MEMORY_MB": 1.5, "DISK_GB": 1.0}
    assert c1["aggregates"] == ["agg-az1", "ssd"]
    assert {a["name"]: a["availability_zone"] for a in doc["aggregates"]}["agg-az2"] == "az2"
    assert doc["default_image"] == CONFIG.images[0].name


@pytest.mark.parametrize("argv", [["conform"], ["conform", "--walks", "-1"],
                                  ["conform", "--walks", "1", "--processes", "0"]])
def test_conform_bad_input_is_one_line(argv, capsys):
    from nova_model.cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nova-model: error:")


def test_a_request_the_api_waits_for_answers_with_the_computes_failure():
    p = _plan([{"api": "create"}, {"settle": True},
               {"api": "set_admin_password", "instance": "vm1"},
               {"settle": True,
                "outcomes": {"set_admin_password.set_admin_password": "driver_error"}}])
    request = p.steps[2]
    assert request.accepted is False and "waits for the compute" in request.error
    ok = _plan([{"api": "create"}, {"settle": True},
                {"api": "set_admin_password", "instance": "vm1"}, {"settle": True}])
    assert ok.steps[2].accepted is True


def test_a_request_the_api_waits_for_answers_with_the_computes_own_check():
    """A shelve whose snapshot failed left the guest shut off (the record says
    running): CM.set_admin_password's power-state check clears the task and raises
    InstancePasswordSetFailed, with no fault injected, and the API answers 409."""
    p = _plan([{"api": "create"}, {"settle": True}, {"api": "shelve", "instance": "vm1"},
               {"settle": True, "outcomes": {"shelve.shelved": "driver_error"}},
               {"api": "set_admin_password", "instance": "vm1"}, {"settle": True}])
    request = p.steps[4]
    assert request.accepted is False and "InstancePasswordSetFailed" in request.error
    assert request.action["faults"] == []
    # a driver fault drawn for it is never reached: the check fails before the driver,
    # so the model takes the check and the harness arms nothing (walk 23)
    faulted = _plan([{"api": "create"}, {"settle": True},
                     {"api": "shelve", "instance": "vm1"},
                     {"settle": True, "outcomes": {"shelve.shelved": "driver_error"}},
                     {"api": "set_admin_password", "instance": "vm1"},
                     {"settle": True, "outcomes": {
                         "set_admin_password.set_admin_password": "driver_error"}}])
    request = faulted.steps[4]
    assert request.accepted is False and "InstancePasswordSetFailed" in request.error
    assert request.action["faults"] == []


def test_a_nova_process_that_hangs_is_restarted_then_reported(tmp_path, monkeypatch):
    from nova_model.conformance import runner
    monkeypatch.setattr(runner, "SILENCE_LIMIT_S", 0.5)
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec sleep 30\n")
    silent.chmod(0o755)
    scenario = scenarios.parse([{"api": "create"}, {"settle": True}])
    said = []
    [report] = runner.conform([("s", scenario)], CONFIG, python=str(silent),
                              progress=said.append)
    assert report.retried and not report.agrees
    assert report.harness_error == "Nova stopped answering for 0 s, twice"
    assert sum("starting Nova" in line for line in said) == 2


def test_every_gate_is_a_step_the_catalogue_enters_by_a_message():
    """A hold wraps the endpoint of a cast; a step the catalogue declares entered inside
    its handler (``Step.entry``) has none, and its reason names that handler."""
    from model.catalogue import CATALOGUE
    from model.operation import Entered
    from nova_model.conformance.holds import GATES, NoGate, gate
    assert GATES
    for (op, step) in GATES:
        assert CATALOGUE[op].step(step).entry.kind is not Entered.HANDLER, (op, step)
    lost = gate("resize", "resize_migrated")
    assert isinstance(lost, NoGate) and "CM._resize_instance" in lost.reason


def test_every_gate_is_derived_from_the_handler_the_catalogue_cites():
    """A gate's endpoint is the handler of the step's ``Step.entry`` (or of the step it
    is held at), not written a second time."""
    from model.catalogue import CATALOGUE
    from nova_model.conformance.holds import GATES, HELD, HELD_AT, endpoint
    assert set(GATES) == set(HELD)
    for (op, step), how in GATES.items():
        at = HELD_AT.get((op, step), (step, ""))[0]
        handler = CATALOGUE[op].step(at).entry.handler
        assert how.target == endpoint(handler) and how.nova.startswith(handler), (op, step)
    assert GATES[("live_migrate", "pre_live_migration")].target.endswith(
        "ComputeManager.live_migration")
    with pytest.raises(ValueError, match="names no ComputeManager"):
        endpoint("driver.spawn")


def test_every_gate_endpoint_is_a_method_of_novas_compute_or_conductor_manager():
    """Each held endpoint exists in Nova 34: a method of ``ComputeManager`` or
    ``ComputeTaskManager`` (the RPC endpoints the harness wraps)."""
    import os
    os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
    import nova.tests.unit  # noqa: F401  (before any other nova import)
    from nova.compute.manager import ComputeManager
    from nova.conductor.manager import ComputeTaskManager
    from nova_model.conformance.holds import ENDPOINT_CLASSES, GATES
    classes = {f"{c.__module__}.{c.__qualname__}": c
               for c in (ComputeManager, ComputeTaskManager)}
    assert set(ENDPOINT_CLASSES.values()) == set(classes)
    for key, how in GATES.items():
        owner, _, method = how.target.rpartition(".")
        assert owner in classes, (key, how.target)
        assert callable(getattr(classes[owner], method, None)), (key, how.target)
        assert not method.startswith("_"), (key, how.target)  # an RPC endpoint
