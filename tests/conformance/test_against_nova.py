"""The model against running Nova 34: every example scenario and seeded sequential walks.

Each test starts one Nova process (Nova's functional environment, in-process
Placement) and compares every step (``nova_model.conformance``). The default run is a
fast subset; ``pytest --conformance-corpus`` runs the whole corpus (the lifecycle
corpus of ``nova_model.conformance.corpus`` and 200 walks of 24 steps), which takes
about an hour.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from model.catalogue import CATALOGUE
from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from model.states import VmState
from nova_model import scenario as scenarios
from nova_model.conformance.runner import conform, coverage
from nova_model.conformance.walks import walk

pytestmark = pytest.mark.conformance

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ClusterConfig.default()
#: Nova processes that share a test's scenarios: one per core, two at most (the model
#: side is light, each Nova process keeps one core busy)
PROCESSES = max(1, min(2, os.cpu_count() or 1))
#: Walks compared by default; the corpus option runs CORPUS_WALKS.
FAST_WALKS = 6
CORPUS_WALKS = 200
WALK_STEPS = 24
#: The corpus's walks after the first 160 run on the cluster files that let a DELETE
#: soft-delete (a restore, a soft delete's fault) and keep a shelved instance on its
#: host (an unshelve's power-on), which the default cluster never does.
CORPUS_WALK_CLUSTERS = ((160, "scenarios/reclaim_cluster.toml"),
                        (180, "scenarios/shelve_kept_cluster.toml"))
#: The faults no walk of the corpus reaches in Nova, as measured on its 200 seeds (each
#: needs its step's state at the moment a fault is drawn: a down host and an admin for
#: an evacuation, a paused or offloaded instance, a revert's refused move back); the
#: lifecycle corpus reaches each (test_the_lifecycle_corpus_agrees_with_nova).
WALKS_LEAVE_TO_THE_CORPUS = frozenset({
    "evacuate.power_off driver_error", "evacuate.rebuilding claim_failed",
    "evacuate.rebuilding group_policy_violation", "rebuild.power_off driver_error",
    "revert_resize.finish_revert_resize allocation_move_failed",
    "unpause.unpause driver_error", "unshelve.power_on driver_error",
    "unshelve.spawned driver_error"})
#: The operations no sequential walk can have accepted: an abort or force-complete acts
#: on a running live migration, and a walk settles every request before the next (the
#: lifecycle corpus cannot either: it names them unreached; scenarios/live_migrate_abort.json
#: and scenarios/live_migrate_force_complete.json race one each, and
#: test_the_examples_race_what_no_walk_can_reach asks for both).
WALKS_CANNOT_REACH = frozenset({"live_migrate_abort", "live_migrate_force_complete"})


#: Differences conformance found that the model does not mend yet, each with its cause in
#: Nova's code. A listed run must show exactly these (so a new difference in it still
#: fails), and a run that starts to agree must be taken off the list.
OPEN: dict[str, tuple[str, set[str]]] = {}


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


#: The volume-backed shelve scenario run once more with shelved_offload_time -1
#: (test_a_volume_backed_shelve_offloads_at_once_in_nova), in the examples' run.
VOLUME_SHELVE = "shelve_volume_backed.json"
VOLUME_SHELVE_KEPT = f"{VOLUME_SHELVE} [shelved_offload_time=-1]"


def _keep_shelved(config: ClusterConfig) -> ClusterConfig:
    return config.replace(options=dataclasses.replace(config.options,
                                                      shelved_offload_time=-1))


@pytest.fixture(scope="module")
def example_reports() -> dict[str, object]:
    """Every example scenario compared with Nova 34, each on its own cluster file (the
    default one unless it names one), and the variants the tests below need, in one
    run (its Nova processes start once)."""
    paths = sorted((ROOT / "scenarios").glob("*.json"))
    named = [(path.name, scenario, scenarios.resolve_config(scenario))
             for path in paths for scenario in [scenarios.load(path)]]
    volume = scenarios.load(ROOT / "scenarios" / VOLUME_SHELVE)
    named.append((VOLUME_SHELVE_KEPT, volume, _keep_shelved(CONFIG)))
    return {r.name: r for r in conform(named, CONFIG, processes=PROCESSES)}


def test_every_example_scenario_agrees_with_nova(example_reports):
    reports = [r for name, r in example_reports.items() if name != VOLUME_SHELVE_KEPT]
    assert len(reports) == len(list((ROOT / "scenarios").glob("*.json")))
    _assert_agree(reports)
    # the comparison is not empty: every scenario compares its first steps at least,
    # and the corpus compares hundreds of fields
    assert all(r.steps for r in reports), _describe(reports)
    assert sum(r.fields for r in reports) > 500
    # what Nova cannot be made to do in the scenario's order is said, with a reason
    for r in reports:
        assert (r.not_reproducible is None) == (r.stopped_at is None)


def test_the_examples_race_what_no_walk_can_reach(example_reports):
    """The operations no sequential walk can have accepted are accepted by the model and
    by Nova in the example scenarios (each races a running live migration)."""
    reached = coverage(list(example_reports.values()))
    assert WALKS_CANNOT_REACH <= set(reached["operations"]), reached["missing_operations"]


def _walks(request) -> int:
    return CORPUS_WALKS if request.config.getoption("--conformance-corpus") else FAST_WALKS


def _walk_clusters(count: int) -> list[tuple[ClusterConfig, range]]:
    """Which seeds walk on which cluster: the default one, then CORPUS_WALK_CLUSTERS."""
    starts = [(0, CONFIG)] + [(first, ClusterConfig.load(ROOT / path))
                              for first, path in CORPUS_WALK_CLUSTERS if first < count]
    ends = [first for first, _ in starts[1:]] + [count]
    return [(config, range(first, end)) for (first, config), end in zip(starts, ends)]


def test_seeded_sequential_walks_agree_with_nova(request):
    count = _walks(request)
    named = [(f"walk-{seed}", walk(seed, WALK_STEPS, config), config)
             for config, seeds in _walk_clusters(count) for seed in seeds]
    reports = conform(named, CONFIG, processes=PROCESSES)
    _assert_agree(reports)
    assert all(r.not_reproducible is None for r in reports), _describe(reports)
    assert sum(len(r.steps) for r in reports) == count * WALK_STEPS
    if count == CORPUS_WALKS:
        reached = coverage(reports)
        assert set(reached["missing_operations"]) <= WALKS_CANNOT_REACH, reached
        assert set(reached["missing_faults"]) <= WALKS_LEAVE_TO_THE_CORPUS, reached


def test_the_lifecycle_corpus_agrees_with_nova(request):
    """One scenario per operation and per injectable outcome (--conformance-corpus)."""
    if not request.config.getoption("--conformance-corpus"):
        pytest.skip("the whole corpus runs with --conformance-corpus (about 8 minutes)")
    from nova_model.conformance.corpus import build
    built, unreached = build(CONFIG)
    # what no short set-up reaches is named, and only what needs a race
    assert set(unreached) == {"live_migrate_abort ok", "live_migrate_force_complete ok"}
    reports = conform([(name, scenario, config) for name, config, scenario in built],
                      CONFIG, processes=PROCESSES)
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


def test_a_volume_backed_shelve_offloads_at_once_in_nova(example_reports):
    """With shelved_offload_time -1 the image-backed server stays shelved and the
    volume-backed one is offloaded at once (API.shelve casts shelve_offload_instance
    for it), on the model and in Nova 34 (the harness boots it from a volume made from
    the image, through Nova's Cinder fixture)."""
    config = _keep_shelved(CONFIG)
    scenario = scenarios.load(ROOT / "scenarios" / VOLUME_SHELVE)
    run = scenarios.run(scenario, config)
    try:
        assert run.cluster.instances["vm2"].vm_state is VmState.SHELVED
        shelves = [r.detail for r in run.results if r.input.get("api") == "shelve"]
        assert shelves[:2] == ["shelve accepted -> offload",
                               "shelve accepted -> shelving_image_pending_upload"]
    finally:
        run.close()
    report = example_reports[VOLUME_SHELVE_KEPT]
    _assert_agree([report])
    assert report.not_reproducible is None and len(report.steps) == len(scenario.steps)


def test_a_delete_stuck_in_the_middle_of_a_cold_migration_is_not_counted_by_the_destinations_audit(
        example_reports):
    """The stuck-delete finding's consequence, shown in Nova 34 rather than read: in the
    middle of a cold migration vm1 is left in deleting (a force delete racing a soft
    delete), and compute2's resource audit skips the move
    (RT._update_usage_from_migrations: vm1 is neither resizing nor live-migrating), so
    compute2's ComputeNode record counts nothing while Placement keeps vm1's claim
    there. The tracker's count is read off Nova's ComputeNode record after the audit,
    and equals the model's tracker."""
    name = "delete_stuck_in_the_middle_of_a_cold_migration.json"
    scenario = scenarios.load(ROOT / "scenarios" / name)
    report = example_reports[name]
    _assert_agree([report])
    assert report.not_reproducible is None and len(report.steps) == len(scenario.steps)
    [audit] = [s.audit for s in report.steps if s.audit is not None]
    nothing = {"vcpus_used": 0, "memory_mb_used": 0, "local_gb_used": 0}
    claim = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}   # m1.small, held for vm1
    for side in ("model", "nova"):
        assert audit[side]["host"] == "compute2"
        assert audit[side]["compute_node"] == nothing, audit
        assert audit[side]["placement"] == claim, audit
