"""nova-model check: explore one instance exhaustively, then search a whole cluster."""

from __future__ import annotations

import gc
import json
import sys
import time

from model.config import ClusterConfig, ConfigError
from model.graph import check_graph, explore
from model.lifecycle import Lifecycle
from nova_model.files import OutputError, check_directory
from nova_model.search import counterexample
from nova_model.search.machine import unsearchable
from nova_model.search.run import run_search

NAME = "check"
HELP = ("explore the single-instance state graph, then run the stateful search on a "
        "cluster; exit 1 on any violation")


#: The largest ``--concurrency``: 2 explores 1,077,678 configurations (about 70 s of CPU
#: and 1.05 GB here), and each step up multiplies both.
MAX_CONCURRENCY = 2


def add_arguments(parser) -> None:
    parser.add_argument("--config", help="cluster TOML file (default: the embedded cluster)")
    parser.add_argument("--examples", type=int, default=300,
                        help="search budget: runs of the state machine (default 300)")
    parser.add_argument("--steps", type=int, default=50,
                        help="rules per run (default 50)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="operations racing on one instance in the exploration "
                             f"(default 1, plus one preempting request; at most "
                             f"{MAX_CONCURRENCY})")
    parser.add_argument("--skip-graph", action="store_true",
                        help="only run the search")
    parser.add_argument("--variant", metavar="FILE.py:NAME",
                        help="search a variant of the model (a seeded fault or a proposal: "
                             "a search machine class, or a function returning one); a "
                             "counterexample's replay command names it too")
    parser.add_argument("--out", default=".",
                        help="where a failing run's scenario file is written (default .)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _load(path: str | None) -> ClusterConfig | None:
    from nova_model.commands import UsageError

    if path is None:
        return None
    try:
        config = ClusterConfig.load(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    problem = unsearchable(config)
    if problem is not None:
        raise UsageError(f"{path}: {problem[0]}: {problem[1]}")
    return config


def _check_arguments(args) -> None:
    from nova_model.commands import UsageError

    for name in ("concurrency", "examples", "steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.concurrency > MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be at most {MAX_CONCURRENCY}, got "
                         f"{args.concurrency}")
    check_directory(args.out)  # not after a search of minutes found what to write there


def _explore(concurrency: int, say) -> dict:
    """The single-instance exploration and its checks, as the JSON document's part.

    Its own function so that the explored graph (hundreds of megabytes with
    ``--concurrency 2``) is freed before the search starts: kept alive, every garbage
    collection of the search would walk it again (the search ran 2 to 7 times slower).
    """
    started = time.perf_counter()
    lifecycle = Lifecycle()
    result = explore(lifecycle, concurrency=concurrency)
    checks = check_graph(result, lifecycle)
    elapsed = time.perf_counter() - started
    say(f"single-instance state graph: {result.projected.number_of_nodes()} "
        f"(vm_state, task_state, power_state) states, "
        f"{result.projected.number_of_edges()} labelled transitions, "
        f"{result.full.number_of_nodes()} configurations ({elapsed:.1f} s)")
    for c in checks:
        say(f"  [{'PASS' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    return {"ok": all(c.ok for c in checks), "seconds": round(elapsed, 2),
            "configurations": result.full.number_of_nodes(),
            "states": result.projected.number_of_nodes(),
            "transitions": result.projected.number_of_edges(),
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]}


def _verdict(ok: bool, unreached: int) -> str:
    """The final line: a green run that did not reach all it must says so (a search
    that never got somewhere proves nothing there)."""
    if not ok:
        return "SOME CHECKS FAILED"
    if unreached:
        return (f"no violation; {unreached} coverage item{'s' if unreached != 1 else ''} "
                f"not reached (raise --examples)")
    return "all checks passed"


def run(args) -> int:
    from nova_model import variant as variants
    from nova_model.commands import UsageError

    _check_arguments(args)
    config = _load(args.config)
    try:
        chosen = variants.load(args.variant) if args.variant is not None else None
    except variants.VariantError as exc:
        raise UsageError(str(exc)) from None
    if chosen is not None and config is None:
        problem = unsearchable(chosen.machine.config)
        if problem is not None:
            raise UsageError(f"--variant {args.variant}: {problem[0]}: {problem[1]}")
    say = (lambda *a: None) if args.json else print
    document: dict = {}
    ok = True

    if not args.skip_graph:
        document["graph"] = _explore(args.concurrency, say)
        ok = document["graph"]["ok"]
        gc.collect()  # the graph's reference cycles, before the search allocates

    def progress(examples: int, steps: int) -> None:
        if not args.json and sys.stderr.isatty() and examples % 10 == 0:
            print(f"\r  searching: {examples}/{args.examples} runs, {steps} steps",
                  end="", file=sys.stderr, flush=True)

    searched = "the embedded cluster" if config is None else args.config
    if chosen is not None:
        searched += f", variant {args.variant}"
    say(f"stateful search: {args.examples} runs of up to {args.steps} steps on {searched}")
    extra = {} if chosen is None else {"machine": chosen.machine}
    report = run_search(args.examples, args.steps, config=config, progress=progress, **extra)
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
    say(f"  sent {len(cov['arguments reached'])} shapes of request arguments; delivered "
        f"{len(cov['outcomes delivered'])} of the {cov['outcomes declared']} step outcomes "
        f"the catalogue declares")
    if cov["missing"]:
        say(f"  not reached: {', '.join(cov['missing'])}")
    for finding in report.findings:
        say(f"  upstream finding reproduced: {finding['name']}")
        say(f"    {finding['nova']}")
    unwritten = None
    if report.violation is not None:
        ok = False
        # The violation is printed before its files are written: a place that cannot
        # be written must not lose what the search found.
        say("  VIOLATION (shrunk):")
        say("    " + report.violation.replace("\n", "\n    "))
        path = counterexample.scenario_path(args.out)
        replay = variants.replay_command(path, args.variant)
        document["search"].update(scenario_file=path,
                                  sequence_file=counterexample.picture_path(args.out),
                                  replay=replay)
        try:
            counterexample.write(args.out, report, replay=replay)
            say(f"  replay it: {replay}")
            say(f"  sequence diagram: {counterexample.picture_path(args.out)}")
        except OutputError as exc:
            unwritten = str(exc)
            document["search"]["unwritten"] = unwritten
    document["verdict"] = verdict = _verdict(ok, len(cov["missing"]))
    if args.json:
        json.dump({"ok": ok, **document}, sys.stdout, indent=2, sort_keys=True,
                  allow_nan=False)
        sys.stdout.write("\n")
    else:
        say(verdict)
    if unwritten is not None:
        print(f"nova-model: error: counterexample not written: {unwritten}", file=sys.stderr)
    return 0 if ok else 1
