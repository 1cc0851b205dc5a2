"""A violation the search finds is printed readably and replays exactly with simulate."""

from __future__ import annotations

import dataclasses

import invariants
from model.catalogue import CATALOGUE
from model.lifecycle import Lifecycle
from model.operation import Alloc
from nova_model import scenario
from nova_model.commands.check import _write_counterexample
from nova_model.search.machine import ClusterMachine
from nova_model.search.run import run_search


def _confirm_forgets_the_source() -> Lifecycle:
    """Seeded fault: confirm_resize no longer deletes the migration's allocation."""
    confirm = CATALOGUE["confirm_resize"]
    step = confirm.step("confirm")
    ok = step.outcome("ok")
    ok = dataclasses.replace(ok, branches=tuple(
        dataclasses.replace(b, alloc=tuple(a for a in b.alloc if a is not Alloc.DELETE_MIGRATION))
        for b in ok.branches))
    step = dataclasses.replace(step, outcomes=(ok,) + step.outcomes[1:])
    return Lifecycle({**CATALOGUE, "confirm_resize": dataclasses.replace(confirm, steps=(step,))})


class ForgetfulConfirm(ClusterMachine):
    lifecycle = _confirm_forgets_the_source()


def test_a_found_violation_is_readable_and_replays(tmp_path):
    report = run_search(400, 60, machine=ForgetfulConfirm, shrink=False)
    assert report.violation is not None, "the search missed a forgotten release"
    assert "allocations_have_live_consumers" in report.violation
    assert "\n1. " in report.violation and "Cluster at the point of failure" in report.violation

    path = _write_counterexample(str(tmp_path), report)
    loaded = scenario.load(path)
    config = scenario.resolve_config(loaded, None)
    replay = scenario.run(loaded, config, lifecycle=ForgetfulConfirm.lifecycle)
    try:
        found = invariants.violations(replay.cluster)
        assert "allocations_have_live_consumers" in found
        assert any("confirmed but still holds" in m
                   for m in found["allocations_have_live_consumers"])
    finally:
        replay.close()
