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
import select
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

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
    #: after a host's resource audit: {"model": ..., "nova": ...}, each that host's
    #: ComputeNode count and Placement usage (``plan.audit_view``), compared
    audit: dict[str, Any] | None = None


@dataclass
class ScenarioReport:
    name: str
    steps: list[StepReport] = field(default_factory=list)
    not_reproducible: str | None = None
    stopped_at: str | None = None
    harness_error: str | None = None
    seconds: float = 0.0
    retried: bool = False   # Nova hung during its first run (a new process ran it again)
    operations: set[str] = field(default_factory=set)   # requests both accepted
    faults: set[str] = field(default_factory=set)       # faults Nova raised

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
                "harness_error": self.harness_error, "seconds": round(self.seconds, 2),
                "retried": self.retried,
                "operations": sorted(self.operations), "faults": sorted(self.faults)}

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
        if self.retried:
            lines.append("  Nova stopped answering during the first run; run again in a new "
                         "Nova process")
        if self.not_reproducible:
            lines.append(f"  not reproducible in Nova from {self.stopped_at}: "
                         f"{self.not_reproducible}")
        return "\n".join(lines)


def coverage(reports: list[ScenarioReport]) -> dict[str, list[str]]:
    """What the compared runs reached, against what could be reached.

    ``operations``: API operations some request of which both sides accepted;
    ``faults``: declared outcomes Nova was made to give (the fault raised). The
    ``missing_*`` lists name what none reached.
    """
    from model.catalogue import API_OPERATIONS
    from nova_model.conformance.faults import Fault, fault_map
    operations = set().union(*(r.operations for r in reports)) if reports else set()
    faults = set().union(*(r.faults for r in reports)) if reports else set()
    every_op = {op.name for op in API_OPERATIONS}
    every_fault = {f"{op}.{step} {outcome}" for (op, step, outcome), how in fault_map().items()
                   if isinstance(how, Fault)}
    return {"operations": sorted(operations), "missing_operations": sorted(every_op - operations),
            "faults": sorted(faults), "missing_faults": sorted(every_fault - faults)}


def nova_environment() -> dict[str, str]:
    """The environment of the Nova process: this one, less what would stop Nova's
    functional environment from running in its eventlet mode (a process that imported
    Nova's scheduler in native-threading mode, as the differential tests do, sets it)."""
    env = {k: v for k, v in os.environ.items() if k != "OS_NOVA_DISABLE_EVENTLET_PATCHING"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def nova_available() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("nova") is not None
    except (ImportError, ValueError):
        return False


def conform(named: Iterable[tuple[str, scenarios.Scenario]
                           | tuple[str, scenarios.Scenario, ClusterConfig]],
            config: ClusterConfig, *,
            progress: Callable[[str], None] | None = None,
            python: str | None = None, log: str | None = None,
            lifecycle: Lifecycle | None = None, processes: int = 1) -> list[ScenarioReport]:
    """Compare every scenario between the model and Nova, each on ``config`` or on the
    cluster its entry names third (a Nova process builds each scenario's cloud afresh,
    so scenarios of different clusters share its start-up).

    ``lifecycle`` checks a catalogue variant instead of the specification. ``log`` names
    a file that keeps everything the Nova process logged (by default it is discarded);
    ``python`` an interpreter with Nova installed (default: this one). ``processes``
    Nova processes share the scenarios, each its own in-process cloud (every scenario
    starts from a fresh one anyway); each process's log goes to ``log`` with its number
    after the first.
    """
    if python is None and not nova_available():
        raise ConformanceUnavailable(
            "running Nova needs the 'conformance' extra: pip install -e '.[conformance]'")
    if processes < 1:
        raise ValueError("processes must be at least 1")
    entries = [(entry[0], entry[1], entry[2] if len(entry) > 2 else config)
               for entry in named]
    documents: dict[int, dict[str, Any]] = {}
    clusters: dict[str, dict[str, Any]] = {}
    plans = []
    for name, scenario, cluster_config in entries:
        plans.append(build(name, scenario, cluster_config, lifecycle))
        clusters[name] = documents.setdefault(id(cluster_config),
                                              cluster_document(cluster_config))
    reports = {p.name: ScenarioReport(p.name, not_reproducible=p.not_reproducible,
                                      stopped_at=p.stopped_at) for p in plans}
    runnable = [p for p in plans if p.steps]
    shards = [runnable[i::processes] for i in range(processes) if runnable[i::processes]]

    def run(index: int) -> None:
        shard_log = log if log is None or index == 0 else f"{log}.{index}"
        _run_nova(shards[index], clusters, reports, progress, python, shard_log)

    if len(shards) == 1:
        run(0)
    elif shards:
        # (each shard's reports are its own keys; the work is in the Nova processes)
        with ThreadPoolExecutor(len(shards)) as pool:
            for done in [pool.submit(run, i) for i in range(len(shards))]:
                done.result()
    return [reports[p.name] for p in plans]


#: How long the Nova process may stay silent (no step reported) before it is taken for
#: hung; a step normally answers within seconds (a settle gives up after a minute).
SILENCE_LIMIT_S = 240.0


class _Hung(Exception):
    pass


def _lines(proc: subprocess.Popen, limit: float) -> Iterator[str]:
    """The process's stdout line by line; _Hung after ``limit`` seconds of silence."""
    fd = proc.stdout.fileno()
    buffer = b""
    while True:
        ready, _, _ = select.select([fd], [], [], limit)
        if not ready:
            raise _Hung()
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            if buffer.strip():
                yield buffer.decode()
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode()


def _run_nova(plans: list[Plan], clusters: dict[str, dict[str, Any]],
              reports: dict[str, ScenarioReport],
              progress: Callable[[str], None] | None, python: str | None,
              log_path: str | None) -> None:
    """Run the plans in one Nova process; if it hangs, start a new one for the rest.

    A scenario during which Nova hung is run once more in the new process (the report
    says so); a second hang is a harness error for that scenario.
    """
    say = progress or (lambda line: None)
    remaining = list(plans)
    hung_before: set[str] = set()
    with (open(log_path, "w+") if log_path else tempfile.TemporaryFile(mode="w+")) as log:
        while remaining:
            say(f"starting Nova 34 in-process for {len(remaining)} scenario(s)")
            hung = _run_batch(remaining, clusters, reports, say, python, log, len(plans))
            if hung is None:
                return
            done = remaining.index(hung)
            if hung.name in hung_before:
                reports[hung.name].harness_error = (
                    f"Nova stopped answering for {SILENCE_LIMIT_S:.0f} s, twice")
                remaining = remaining[done + 1:]
            else:
                hung_before.add(hung.name)
                reports[hung.name] = ScenarioReport(
                    hung.name, not_reproducible=hung.not_reproducible,
                    stopped_at=hung.stopped_at, retried=True)
                remaining = remaining[done:]


def _run_batch(plans: list[Plan], clusters: dict[str, dict[str, Any]],
               reports: dict[str, ScenarioReport], say: Callable[[str], None],
               python: str | None, log, total: int) -> Plan | None:
    """One Nova process for ``plans`` (each on its cluster document, by name); returns
    the plan it hung in, if it did."""
    request = json.dumps({"plans": [dict(p.request(), cluster=clusters[p.name])
                                    for p in plans]})
    by_name = {p.name: p for p in plans}
    proc = subprocess.Popen(
        [python or sys.executable, "-m", "nova_model.conformance.nova_side"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=nova_environment())
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(request.encode())
    proc.stdin.close()
    current: Plan | None = None
    started = time.monotonic()
    seen: set[str] = set()
    try:
        for line in _lines(proc, SILENCE_LIMIT_S):
            record = json.loads(line)
            if record.get("begin"):
                current, started = by_name[record["plan"]], time.monotonic()
                seen.add(current.name)
                say(f"[{total - len(plans) + len(seen)}/{total}] {current.name}")
                continue
            if record.get("end"):
                report = reports[record["plan"]]
                report.seconds = time.monotonic() - started
                if record["problems"] and report.harness_error is None:
                    report.harness_error = "; ".join(record["problems"])
                continue
            assert current is not None
            _compare_step(current, record, reports[current.name])
    except _Hung:
        proc.kill()
        proc.wait()
        say(f"Nova stopped answering during {current.name if current else 'its start'}")
        return current if current is not None else plans[0]
    code = proc.wait()
    if code != 0:
        log.seek(0)
        tail = log.read().strip().splitlines()[-1:] or ["(no output)"]
        for p in plans:
            if p.name not in seen or reports[p.name].seconds == 0.0:
                reports[p.name].harness_error = (
                    f"the Nova process exited with status {code}: {tail[0]}")
    return None


def _compare_step(plan: Plan, record: dict[str, Any], report: ScenarioReport) -> None:
    step = plan.steps[record["index"]]
    out = StepReport(step.index, step.path, step.words)
    report.steps.append(out)
    if "harness_error" in record:
        report.harness_error = f"step {step.index} ({step.path}): {record['harness_error']}"
        return
    for hold in record.get("unreached", ()):
        # The model's chain waits at that step; Nova's never called the method of its cast.
        out.fields += 1
        out.differences.append(f"hold {hold['key']}: the model's chain is there, Nova never "
                               f"called {hold['target']}")
    if record.get("unreached"):
        return
    if step.audit is not None:
        out.audit = {"model": step.audit, "nova": record.get("audit")}
        fields, diffs = cmp.compare_audit(step.audit, record.get("audit"))
        out.fields += fields
        out.differences += [d.line() for d in diffs]
    if step.accepted is not None:
        out.fields += 1
        if step.accepted and record.get("accepted"):
            report.operations.add(step.action["operation"])
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
        for fault in record.get("faults", ()):
            out.fields += 1
            if fault["fired"]:
                report.faults.add(fault["key"])
            if not fault["fired"]:
                # The model met the outcome; Nova never reached the call that gives it.
                out.differences.append(f"fault {fault['key']}: the model delivered it, "
                                       "Nova never called the code that raises it")
        fields, diffs = cmp.compare(step.model, cmp.nova_view(observed))
        out.fields += fields
        out.differences += [d.line() for d in diffs]
