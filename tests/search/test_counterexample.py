"""A violation the search finds is printed readably and replays exactly with simulate."""

from __future__ import annotations

import dataclasses

import invariants
from invariants import findings
from model.catalogue import CATALOGUE
from model.lifecycle import Lifecycle
from model.operation import Alloc
from nova_model import scenario
from nova_model.search.counterexample import write as write_counterexample
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
    report = run_search(1000, 60, machine=ForgetfulConfirm, shrink=False)
    assert report.violation is not None, "the search missed a forgotten release"
    assert "\n1. " in report.violation and "Cluster at the point of failure" in report.violation
    violated = {name for name in invariants.BY_NAME
                if f"\n  {name}: " in report.violation}
    assert violated, report.violation

    path = write_counterexample(str(tmp_path), report)
    picture = (tmp_path / "nova-model-counterexample.md").read_text()
    # drawn from a replay of the variant that failed, ending at the broken promise
    assert "sequenceDiagram" in picture
    assert all(name in picture for name in violated), picture[-2000:]
    loaded = scenario.load(path)
    config = scenario.resolve_config(loaded, None)
    replay = scenario.run(loaded, config, lifecycle=ForgetfulConfirm.lifecycle)
    try:
        # the replayed run ends in exactly the state the search reported
        unexplained, _ = findings.split(invariants.violations(replay.cluster))
        assert set(unexplained) == violated
    finally:
        replay.close()
