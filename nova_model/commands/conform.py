"""nova-model conform SCENARIO...: replay scenarios on the model and on running Nova 34.

The planning, the Nova process and the comparison are in ``nova_model.conformance``;
this module wires them to the command line.
"""

from __future__ import annotations

import json
import sys

from model.config import ClusterConfig, ConfigError
from nova_model import scenario as scenarios

NAME = "conform"
HELP = ("replay scenarios on the model and on Nova 34 in-process, and compare every "
        "state, allocation and migration")


def add_arguments(parser) -> None:
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="scenario files (JSON), as nova-model simulate reads them")
    parser.add_argument("--corpus", action="store_true",
                        help="also compare the lifecycle corpus: one scenario per operation "
                             "and per injectable outcome (nova_model.conformance.corpus)")
    parser.add_argument("--walks", type=int, default=0, metavar="N",
                        help="also compare N seeded random sequential walks "
                             "(nova_model.conformance.walks)")
    parser.add_argument("--walk-steps", type=int, default=20, metavar="M",
                        help="steps per walk, settles included (default 20)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the first walk's seed; walk i uses seed + i (default 0)")
    parser.add_argument("--config", metavar="FILE",
                        help="the cluster file (TOML); default: each scenario's \"config\", "
                             "else the packaged default cluster")
    parser.add_argument("--nova-log", metavar="FILE",
                        help="keep everything the Nova process logs in FILE")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="Nova processes that share the scenarios (default 1; one "
                             "per core is the most that helps)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON document on stdout instead of text")


def run(args) -> int:
    from nova_model.commands import UsageError
    from nova_model.conformance.runner import ConformanceUnavailable, conform, coverage

    groups: dict[str, tuple[object, list]] = {}
    try:
        for path in args.scenarios:
            scenario = scenarios.load(path)
            config = scenarios.resolve_config(scenario, args.config)
            key = getattr(config, "source", "")
            groups.setdefault(key, (config, []))[1].append((path, scenario))
        if args.walks < 0 or args.walk_steps < 1 or args.processes < 1:
            raise UsageError("--walks must be >= 0, --walk-steps and --processes >= 1")
        if not args.scenarios and not args.walks and not args.corpus:
            raise UsageError("name at least one scenario, or --walks N, or --corpus")
        if args.walks:
            from nova_model.conformance.walks import walk
            config = scenarios.resolve_config(scenarios.parse([]), args.config)
            key = getattr(config, "source", "")
            named = groups.setdefault(key, (config, []))[1]
            named += [(f"walk-{args.seed + i}", walk(args.seed + i, args.walk_steps, config))
                      for i in range(args.walks)]
        unreached: dict[str, str] = {}
        if args.corpus:
            from nova_model.conformance.corpus import build
            base = scenarios.resolve_config(scenarios.parse([]), args.config)
            named_corpus, unreached = build(base)
            for name, config, scenario in named_corpus:
                variant = name.rsplit("[", 1)[-1].rstrip("]")
                groups.setdefault(f"corpus:{variant}", (config, []))[1].append((name, scenario))
    except (scenarios.ScenarioError, ConfigError) as exc:
        raise UsageError(str(exc)) from None

    def progress(line: str) -> None:
        print(f"conform: {line}", file=sys.stderr, flush=True)

    # (one call: its Nova processes run every scenario, each on its own cluster)
    entries = [(name, scenario, config) for config, named in groups.values()
               for name, scenario in named]
    try:
        reports = conform(entries, ClusterConfig.default(), progress=progress,
                          log=args.nova_log, processes=args.processes) if entries else []
    except ConformanceUnavailable as exc:
        raise UsageError(str(exc)) from None
    steps = sum(len(r.steps) for r in reports)
    fields = sum(r.fields for r in reports)
    differences = sum(len(r.differences) for r in reports)
    errors = sum(1 for r in reports if r.harness_error)
    partial = sum(1 for r in reports if r.not_reproducible)
    summary = (f"{len(reports)} scenario(s), {steps} steps and {fields} fields compared: "
               f"{differences} difference(s), {errors} harness error(s), "
               f"{partial} not reproducible in Nova past some step")
    reached = coverage(reports)
    if args.json:
        json.dump({"scenarios": [r.document() for r in reports], "summary": summary,
                   "steps_compared": steps, "fields_compared": fields,
                   "differences": differences, "coverage": reached,
                   "corpus_unreached": unreached},
                  sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        for r in reports:
            print(r.text())
        for key, reason in sorted(unreached.items()):
            print(f"corpus: {key} not built: {reason}")
        for what in ("operations", "faults"):
            missing = reached[f"missing_{what}"]
            print(f"{what} reached: {len(reached[what])} of {len(reached[what]) + len(missing)}"
                  + (f"; not reached: {', '.join(missing)}" if missing else ""))
        print(summary)
    return 1 if differences or errors else 0
