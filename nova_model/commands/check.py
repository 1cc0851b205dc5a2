"""nova-model check: explore one instance exhaustively, then search a whole cluster."""

from __future__ import annotations

import json
import sys
import time

from model.config import ClusterConfig, ConfigError
from model.graph import check_graph, explore
from model.lifecycle import Lifecycle
from nova_model.search import counterexample
from nova_model.search.run import run_search

NAME = "check"
HELP = ("explore the single-instance state graph, then run the stateful search on a "
        "cluster; exit 1 on any violation")


def add_arguments(parser) -> None:
    parser.add_argument("--config", help="cluster TOML file (default: the embedded cluster)")
    parser.add_argument("--examples", type=int, default=300,
                        help="search budget: runs of the state machine (default 300)")
    parser.add_argument("--steps", type=int, default=50,
                        help="rules per run (default 50)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="operations racing on one instance in the exploration "
                             "(default 1, plus one preempting request)")
    parser.add_argument("--skip-graph", action="store_true",
                        help="only run the search")
    parser.add_argument("--out", default=".",
                        help="where a failing run's scenario file is written (default .)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _load(path: str | None) -> ClusterConfig | None:
    from nova_model.cli import UsageError

    if path is None:
        return None
    try:
        return ClusterConfig.load(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def run(args) -> int:
    from nova_model.cli import UsageError

    for name in ("concurrency", "examples", "steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1, got {getattr(args, name)}")
    config = _load(args.config)
    say = (lambda *a: None) if args.json else print
    document: dict = {}
    ok = True

    if not args.skip_graph:
        started = time.perf_counter()
        lifecycle = Lifecycle()
        result = explore(lifecycle, concurrency=args.concurrency)
        checks = check_graph(result, lifecycle)
        elapsed = time.perf_counter() - started
        ok = all(c.ok for c in checks)
        document["graph"] = {
            "ok": ok, "seconds": round(elapsed, 2),
            "configurations": result.full.number_of_nodes(),
            "states": result.projected.number_of_nodes(),
            "transitions": result.projected.number_of_edges(),
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]}
        say(f"single-instance state graph: {result.projected.number_of_nodes()} "
            f"(vm_state, task_state, power_state) states, "
            f"{result.projected.number_of_edges()} labelled transitions, "
            f"{result.full.number_of_nodes()} configurations ({elapsed:.1f} s)")
        for c in checks:
            say(f"  [{'PASS' if c.ok else 'FAIL'}] {c.name}: {c.detail}")

    def progress(examples: int, steps: int) -> None:
        if not args.json and sys.stderr.isatty() and examples % 10 == 0:
            print(f"\r  searching: {examples}/{args.examples} runs, {steps} steps",
                  end="", file=sys.stderr, flush=True)

    say(f"stateful search: {args.examples} runs of up to {args.steps} steps on "
        f"{'the embedded cluster' if config is None else args.config}")
    report = run_search(args.examples, args.steps, config=config, progress=progress)
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    document["search"] = report.as_json()
    say(f"  {report.examples} runs, {report.steps} steps in {report.seconds:.1f} s "
        f"({report.steps_per_second:.0f} steps/s)")
    if report.memo:
        say(f"  {report.memo['steps resumed from saved states']} of those steps resumed "
            "from the state an earlier run had reached by the same calls")
    cov = report.coverage
    say(f"  reached {len(cov['vm_states reached'])}/12 vm_states, "
        f"{len(cov['operations accepted'])} operations accepted, events: "
        f"{', '.join(cov['events']) or 'none'}")
    if cov["missing"]:
        say(f"  not reached: {', '.join(cov['missing'])}")
    for finding in report.findings:
        say(f"  upstream finding reproduced: {finding['name']}")
        say(f"    {finding['nova']}")
    if report.violation is not None:
        ok = False
        path = counterexample.write(args.out, report)
        document["search"]["scenario_file"] = path
        say("  VIOLATION (shrunk):")
        say("    " + report.violation.replace("\n", "\n    "))
        say(f"  replay it: nova-model simulate {path}")
        document["search"]["sequence_file"] = counterexample.picture_path(args.out)
        say(f"  sequence diagram: {counterexample.picture_path(args.out)}")
    if args.json:
        json.dump({"ok": ok, **document}, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        say("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1
