"""The model against running Nova 34: every example scenario and seeded sequential walks.

Each test starts one Nova process (Nova's functional environment, in-process
Placement) and compares every step (``nova_model.conformance``). The default run is a
fast subset; ``pytest --conformance-corpus`` runs the whole corpus (the lifecycle
corpus of ``nova_model.conformance.corpus`` and 200 walks of 24 steps), which takes
about an hour.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from model.catalogue import CATALOGUE
from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from model.states import VmState
from nova_model import scenario as scenarios
from nova_model.conformance.runner import conform
from nova_model.conformance.walks import walk

pytestmark = pytest.mark.conformance

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ClusterConfig.default()
#: Walks compared by default; the corpus option runs CORPUS_WALKS.
FAST_WALKS = 6
CORPUS_WALKS = 200
WALK_STEPS = 24


#: Differences conformance found that the model does not mend yet, each with its cause in
#: Nova's code. A listed run must show exactly these (so a new difference in it still
#: fails), and a run that starts to agree must be taken off the list.
OPEN: dict[str, tuple[str, set[str]]] = {
    "two_evacuations_at_once.json": (
        "COND.rebuild_instance takes the evacuation's migration by "
        "Migration.get_by_instance_and_status(instance, 'accepted') (the first one in the "
        "database), so both conductors use the first evacuation's record: the second "
        "evacuation's failure marks it failed after the first marked it done, and the "
        "second's own record stays accepted; the model gives each chain its own record. "
        "The instance (in error: CM._check_instance_exists raises InstanceExists on the "
        "destination it already runs on, inside _error_out_instance_on_exception, and "
        "reverts_task_state clears the task) and the allocations agree: the finding's "
        "symptom is Nova's.",
        {"migrations.mig1.status: model 'done', Nova 'failed'",
         "migrations.mig2.status: model 'failed', Nova 'accepted'"}),
    "source_back_during_evacuation.json": (
        "CM._destroy_evacuated_instances marks the 'accepted' evacuation record completed "
        "when the source's compute service starts; the conductor's rebuild_instance then "
        "finds no 'accepted' record (Migration.get_by_instance_and_status) and passes none, "
        "so the destination's RT.rebuild_claim makes a new one (pre-migrating, with its "
        "destination), which the failed spawn cannot mark failed (CM.rebuild_instance's "
        "_set_migration_status has no record); the model's chain keeps its first record. "
        "The instance and the allocations agree: the finding's symptom is Nova's.",
        {"migrations.mig1.status: model 'failed', Nova 'completed'",
         "migrations.mig1.dest: model 'compute2', Nova None",
         "migrations.mig2: model absent, Nova {'dest': 'compute2', 'instance': 'vm1', "
         "'source': 'compute1', 'status': 'pre-migrating', 'type': 'evacuation'}"}),
    "second_resize_while_first_queued.json": (
        "MigrationTask._preallocate_migration reuses the instance's 'pre-migrating' record "
        "of the same migration type, so a second resize scheduled while the first's record "
        "is still pre-migrating shares it (Nova has no mig2), and the second's "
        "CM._resize_instance, failing its task_state check, runs _revert_allocation on that "
        "shared record: its source allocation goes back to the instance, replacing the "
        "destination claim both resizes made on compute2 (nothing leaks); the model makes "
        "the second its own record, whose revert gives nothing back. The instance (error, "
        "then resize_finish when the first's CM._finish_resize fails its check too) and "
        "mig1 (error) agree.",
        {"allocations.vm1.compute1: model absent, Nova {'DISK_GB': 20, 'MEMORY_MB': 2048, "
         "'VCPU': 1}",
         "allocations.vm1.compute2: model {'DISK_GB': 80, 'MEMORY_MB': 8192, 'VCPU': 4}, "
         "Nova absent",
         "hosts.compute1.DISK_GB.used: model 0, Nova 20",
         "hosts.compute1.MEMORY_MB.used: model 0, Nova 2048",
         "hosts.compute1.VCPU.used: model 0, Nova 1",
         "hosts.compute2.DISK_GB.used: model 80, Nova 0",
         "hosts.compute2.MEMORY_MB.used: model 8192, Nova 0",
         "hosts.compute2.VCPU.used: model 4, Nova 0",
         "migrations.mig2: model {'instance': 'vm1', 'type': 'resize', 'status': 'error', "
         "'source': 'compute1', 'dest': 'compute2'}, Nova absent"}),
}


def _describe(reports) -> str:
    return "\n".join(r.text() for r in reports)


def _assert_agree(reports) -> None:
    """Every run agrees with Nova, except the OPEN ones, which show exactly their list."""
    wrong = []
    for r in reports:
        assert r.harness_error is None, r.text()
        shown = {d for _, d in r.differences}
        expected = OPEN.get(r.name, ("", set()))[1]
        if shown != expected:
            wrong.append(r.text() + (f"\n  (open, expected exactly: {sorted(expected)})"
                                     if expected else ""))
    assert not wrong, "\n".join(wrong)


def test_every_example_scenario_agrees_with_nova():
    paths = sorted((ROOT / "scenarios").glob("*.json"))
    # each on its own cluster file (the default one unless it names one)
    by_config: dict[str, tuple[ClusterConfig, list]] = {}
    for path in paths:
        scenario = scenarios.load(path)
        config = scenarios.resolve_config(scenario)
        by_config.setdefault(getattr(config, "source", ""), (config, []))[1].append(
            (path.name, scenario))
    reports = [r for config, named in by_config.values() for r in conform(named, config)]
    _assert_agree(reports)
    # the comparison is not empty: every scenario compares its first steps at least,
    # and the corpus compares hundreds of fields
    assert all(r.steps for r in reports), _describe(reports)
    assert sum(r.fields for r in reports) > 500
    # what Nova cannot be made to do in the scenario's order is said, with a reason
    for r in reports:
        assert (r.not_reproducible is None) == (r.stopped_at is None)


def _walks(request) -> int:
    return CORPUS_WALKS if request.config.getoption("--conformance-corpus") else FAST_WALKS


def test_seeded_sequential_walks_agree_with_nova(request):
    count = _walks(request)
    named = [(f"walk-{seed}", walk(seed, WALK_STEPS, CONFIG)) for seed in range(count)]
    reports = conform(named, CONFIG)
    _assert_agree(reports)
    assert all(r.not_reproducible is None for r in reports), _describe(reports)
    assert sum(len(r.steps) for r in reports) == count * WALK_STEPS


def test_the_lifecycle_corpus_agrees_with_nova(request):
    """One scenario per operation and per injectable outcome (--conformance-corpus)."""
    if not request.config.getoption("--conformance-corpus"):
        pytest.skip("the whole corpus runs with --conformance-corpus (about 8 minutes)")
    from nova_model.conformance.corpus import build
    built, unreached = build(CONFIG)
    # what no short set-up reaches is named, and only what needs a race
    assert set(unreached) == {"live_migrate_abort ok", "live_migrate_force_complete ok"}
    reports = []
    by_config: dict[int, tuple] = {}
    for name, config, scenario in built:
        by_config.setdefault(id(config), (config, []))[1].append((name, scenario))
    for config, named in by_config.values():
        reports += conform(named, config)
    _assert_agree(reports)


def test_a_model_that_disagrees_with_nova_is_caught():
    """A seeded mistake in the catalogue (stop leaves the instance active) must show."""
    stop = CATALOGUE["stop"]

    def keep_active(step):
        if step.name != "power_off":
            return step
        outcomes = tuple(
            dataclasses.replace(o, branches=tuple(
                dataclasses.replace(b, vm=VmState.ACTIVE) for b in o.branches))
            if o.name == "ok" else o for o in step.outcomes)
        return dataclasses.replace(step, outcomes=outcomes)

    variant = Lifecycle({**CATALOGUE, "stop": dataclasses.replace(
        stop, steps=tuple(keep_active(s) for s in stop.steps))})
    scenario = scenarios.parse([{"api": "create"}, {"settle": True},
                                {"api": "stop", "instance": "vm1"}, {"settle": True}])
    [report] = conform([("stop-variant", scenario)], CONFIG, lifecycle=variant)
    assert not report.agrees
    assert [d for _, d in report.differences] == [
        "instances.vm1.vm_state: model 'active', Nova 'stopped'"]


def test_a_volume_backed_shelve_offloads_at_once_in_nova():
    """With shelved_offload_time -1 the image-backed server stays shelved and the
    volume-backed one is offloaded at once (API.shelve casts shelve_offload_instance
    for it), on the model and in Nova 34 (the harness boots it from a volume made from
    the image, through Nova's Cinder fixture)."""
    config = CONFIG.replace(options=dataclasses.replace(CONFIG.options,
                                                        shelved_offload_time=-1))
    scenario = scenarios.load(ROOT / "scenarios" / "shelve_volume_backed.json")
    run = scenarios.run(scenario, config)
    try:
        assert run.cluster.instances["vm2"].vm_state is VmState.SHELVED
        shelves = [r.detail for r in run.results if r.input.get("api") == "shelve"]
        assert shelves[:2] == ["shelve accepted -> offload",
                               "shelve accepted -> shelving_image_pending_upload"]
    finally:
        run.close()
    [report] = conform([("shelve_volume_backed.json", scenario)], config)
    _assert_agree([report])
    assert report.not_reproducible is None and len(report.steps) == len(scenario.steps)
