"""A violation the search finds is printed readably and replays exactly with simulate."""

from __future__ import annotations

import dataclasses
import pathlib
import shlex

import invariants
from invariants import findings
from model.catalogue import CATALOGUE
from model.lifecycle import Lifecycle
from model.operation import Alloc
from nova_model import scenario
from nova_model.cli import main
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
        unexplained, _ = findings.split(invariants.violations(replay.cluster), replay.cluster)
        assert set(unexplained) == violated
    finally:
        replay.close()


SEEDED = pathlib.Path(__file__).with_name("test_seeded_faults.py")
VARIANT = f"{SEEDED}:confirm_keeps_the_source"


def _check_variant(capsys, out_dir) -> tuple[int, str, str]:
    code = main(["check", "--skip-graph", "--examples", "300", "--steps", "50",
                 "--variant", VARIANT, "--out", str(out_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def _violated(text: str) -> set[str]:
    return {name for name in invariants.BY_NAME if f"{name}: " in text}


def test_a_variants_counterexample_replays_on_the_variant_by_the_printed_command(
        capsys, tmp_path):
    code, out, err = _check_variant(capsys, tmp_path)
    assert (code, err) == (1, "")
    violated = _violated(out.split("VIOLATION (shrunk):")[1])
    assert violated == {"allocations_have_live_consumers"}, out
    command = next(line.split("replay it: ", 1)[1] for line in out.splitlines()
                   if "replay it: " in line)
    words = shlex.split(command)
    assert words[:2] == ["nova-model", "simulate"] and words[-2:] == ["--variant", VARIANT]
    assert command in (tmp_path / "nova-model-counterexample.md").read_text()

    assert main(words[1:]) == 1  # the replay reports the same violation
    replayed = capsys.readouterr().out
    assert _violated(replayed.split("VIOLATED after step", 1)[1]) == violated
    # without the variant the unmodified model breaks nothing on the same steps
    assert main(words[1:3]) == 0
    assert "VIOLATED" not in capsys.readouterr().out


def test_a_violation_is_printed_even_when_its_files_cannot_be_written(capsys, tmp_path):
    # the picture's path is taken by a directory: the write fails after the search
    (tmp_path / "nova-model-counterexample.md").mkdir()
    code, out, err = _check_variant(capsys, tmp_path)
    assert code == 1
    assert "VIOLATION (shrunk):" in out and "allocations_have_live_consumers" in out
    assert err.count("\n") == 1 and err.startswith(
        "nova-model: error: counterexample not written: ") and "is a directory" in err
    # nothing half written: neither the scenario nor its cluster, nor a temporary file
    assert [p.name for p in tmp_path.iterdir()] == ["nova-model-counterexample.md"]


FORCED = f"{SEEDED}:forced_move_skips_the_claim"


def test_a_counterexample_with_arguments_replays_by_the_printed_command(capsys, tmp_path):
    """A fault only a forced move reaches: the shrunk scenario carries the move's
    host and force, and replays with the same violation."""
    code = main(["check", "--skip-graph", "--examples", "1500", "--steps", "60",
                 "--variant", FORCED, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    violated = _violated(out.split("VIOLATION (shrunk):")[1])
    loaded = scenario.load(str(tmp_path / "nova-model-counterexample.json"))
    forced = [s.data for s in loaded.steps if s.verb == "api" and s.data.get("args", {}).get("force")]
    assert forced and all("host" in s["args"] for s in forced), loaded.steps
    command = next(line.split("replay it: ", 1)[1] for line in out.splitlines()
                   if "replay it: " in line)
    assert main(shlex.split(command)[1:]) == 1
    replayed = capsys.readouterr().out
    assert _violated(replayed.split("VIOLATED after step", 1)[1]) == violated
