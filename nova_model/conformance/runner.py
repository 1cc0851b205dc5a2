"""Run scenarios on the model and on running Nova 34, and compare them step by step.

``conform(named_scenarios, config)`` plans every scenario on the model
(``plan.build``), sends the plans to one Nova process (``nova_side``, started with
this interpreter), and compares each step as it comes back: a request's verdict
(accepted or refused) after every request, and the whole observable state at every
quiescent point. The report says, per scenario, the steps and fields compared, every
difference, and where and why a scenario could not be performed in Nova.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from nova_model import scenario as scenarios
from nova_model.conformance import compare as cmp
from nova_model.conformance.plan import Plan, build, cluster_document


class ConformanceUnavailable(RuntimeError):
    """Nova cannot be run here (the ``conformance`` extra is not installed)."""


@dataclass
class StepReport:
    index: int
    path: str
    words: str
    fields: int = 0
    differences: list[str] = field(default_factory=list)
    settled: dict[str, Any] | None = None


@dataclass
class ScenarioReport:
    name: str
    steps: list[StepReport] = field(default_factory=list)
    not_reproducible: str | None = None
    stopped_at: str | None = None
    harness_error: str | None = None
    seconds: float = 0.0

    @property
    def fields(self) -> int:
        return sum(s.fields for s in self.steps)

    @property
    def differences(self) -> list[tuple[StepReport, str]]:
        return [(s, d) for s in self.steps for d in s.differences]

    @property
    def agrees(self) -> bool:
        return not self.differences and self.harness_error is None

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "steps_compared": len(self.steps),
                "fields_compared": self.fields, "agrees": self.agrees,
                "differences": [{"step": s.index, "path": s.path, "words": s.words,
                                 "difference": d} for s, d in self.differences],
                "not_reproducible": self.not_reproducible, "stopped_at": self.stopped_at,
                "harness_error": self.harness_error, "seconds": round(self.seconds, 2)}

    def text(self) -> str:
        verdict = ("agrees" if self.agrees else
                   "harness error" if self.harness_error else
                   f"{len(self.differences)} difference(s)")
        head = (f"{self.name}: {verdict}; {len(self.steps)} steps, {self.fields} fields "
                f"compared in {self.seconds:.1f} s")
        lines = [head]
        for step, diff in self.differences:
            lines.append(f"  step {step.index} ({step.path}: {step.words}): {diff}")
        if self.harness_error:
            lines.append(f"  harness error: {self.harness_error}")
        if self.not_reproducible:
            lines.append(f"  not reproducible in Nova from {self.stopped_at}: "
                         f"{self.not_reproducible}")
        return "\n".join(lines)


def nova_available() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("nova") is not None
    except (ImportError, ValueError):
        return False


def conform(named: Iterable[tuple[str, scenarios.Scenario]], config: ClusterConfig, *,
            progress: Callable[[str], None] | None = None,
            python: str | None = None, log: str | None = None,
            lifecycle: Lifecycle | None = None) -> list[ScenarioReport]:
    """Compare every scenario (all on ``config``) between the model and Nova.

    ``lifecycle`` checks a catalogue variant instead of the specification. ``log`` names a file that keeps everything the Nova process logged (by default it
    is discarded); ``python`` an interpreter with Nova installed (default: this one).
    """
    if python is None and not nova_available():
        raise ConformanceUnavailable(
            "running Nova needs the 'conformance' extra: pip install -e '.[conformance]'")
    plans = [build(name, scenario, config, lifecycle) for name, scenario in named]
    reports = {p.name: ScenarioReport(p.name, not_reproducible=p.not_reproducible,
                                      stopped_at=p.stopped_at) for p in plans}
    runnable = [p for p in plans if p.steps]
    if runnable:
        _run_nova(runnable, cluster_document(config), reports, progress, python, log)
    return [reports[p.name] for p in plans]


def _run_nova(plans: list[Plan], cluster: dict[str, Any],
              reports: dict[str, ScenarioReport],
              progress: Callable[[str], None] | None, python: str | None,
              log_path: str | None) -> None:
    request = json.dumps({"cluster": cluster, "plans": [p.request() for p in plans]})
    by_name = {p.name: p for p in plans}
    say = progress or (lambda line: None)
    say(f"starting Nova 34 in-process for {len(plans)} scenario(s)")
    with (open(log_path, "w+") if log_path else tempfile.TemporaryFile(mode="w+")) as log:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", "nova_model.conformance.nova_side"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(request)
        proc.stdin.close()
        current: Plan | None = None
        started = time.monotonic()
        seen: set[str] = set()
        for line in proc.stdout:
            record = json.loads(line)
            if record.get("begin"):
                current, started = by_name[record["plan"]], time.monotonic()
                seen.add(current.name)
                say(f"[{len(seen)}/{len(plans)}] {current.name}")
                continue
            if record.get("end"):
                report = reports[record["plan"]]
                report.seconds = time.monotonic() - started
                if record["problems"] and report.harness_error is None:
                    report.harness_error = "; ".join(record["problems"])
                continue
            assert current is not None
            _compare_step(current, record, reports[current.name])
        code = proc.wait()
        if code != 0:
            log.seek(0)
            tail = log.read().strip().splitlines()[-1:] or ["(no output)"]
            for p in plans:
                if p.name not in seen or reports[p.name].seconds == 0.0:
                    reports[p.name].harness_error = (
                        f"the Nova process exited with status {code}: {tail[0]}")


def _compare_step(plan: Plan, record: dict[str, Any], report: ScenarioReport) -> None:
    step = plan.steps[record["index"]]
    out = StepReport(step.index, step.path, step.words)
    report.steps.append(out)
    if "harness_error" in record:
        report.harness_error = f"step {step.index} ({step.path}): {record['harness_error']}"
        return
    if step.accepted is not None:
        out.fields += 1
        if record.get("accepted") != step.accepted:
            nova = ("accepted" if record.get("accepted") else
                    f"refused ({record.get('status')}: {record.get('error')})")
            model = "accepted" if step.accepted else f"refused ({step.error})"
            out.differences.append(f"request: model {model}, Nova {nova}")
    if step.model is not None:
        observed = record.get("observed")
        if observed is None:
            out.differences.append("Nova was not observed at a quiescent point")
            return
        out.settled = observed.get("settled")
        fields, diffs = cmp.compare(step.model, cmp.nova_view(observed))
        out.fields += fields
        out.differences += [d.line() for d in diffs]
