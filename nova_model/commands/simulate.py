"""nova-model simulate SCENARIO.json: run a scenario on a cluster and show what happened.

The scenario format, its checks and the runner are in ``nova_model.scenario``; the
sequence diagram ``--sequence`` writes is drawn by ``nova_model.render.sequence``; this
module only wires them to the command line.
"""

from __future__ import annotations

import sys

from model.config import ConfigError
from nova_model import scenario as scenarios
from nova_model.files import atomic_write

NAME = "simulate"
HELP = ("run a scenario (JSON steps: requests, deliveries, host events) on a cluster, "
        "checking the invariants after every step; exit 1 if one breaks")


def add_arguments(parser) -> None:
    parser.add_argument("scenario", help="the scenario file (JSON)")
    parser.add_argument("--config", metavar="FILE",
                        help="the cluster file (TOML); default: the scenario's \"config\", "
                             "else the packaged default cluster")
    parser.add_argument("--json", action="store_true",
                        help="one JSON document on stdout instead of text")
    parser.add_argument("--variant", metavar="FILE.py:NAME",
                        help="replay on a variant of the model (a seeded fault or a "
                             "proposal: a search machine class, or a function returning "
                             "one), as nova-model check --variant searched it")
    parser.add_argument("--sequence", metavar="OUT.md",
                        help="also write the run as a Markdown document: a Mermaid sequence "
                             "diagram across API, conductor, scheduler, Placement and the "
                             "hosts, and a before/after table of host usage")


def run(args) -> int:
    from nova_model import variant as variants
    from nova_model.commands import UsageError
    from nova_model.promises import Watch
    from nova_model.render import sequence

    try:
        chosen = variants.load(args.variant) if args.variant is not None else None
        scenario = scenarios.load(args.scenario)
        config = scenarios.resolve_config(scenario, args.config)
        lifecycle = chosen.lifecycle if chosen is not None else scenarios.specification()
        recorder = sequence.Recorder() if args.sequence else None
        watch = Watch(lifecycle)

        def observe(seen: scenarios.Observation) -> None:
            if recorder is not None:
                recorder(seen)
            watch(seen)

        extra = {} if chosen is None else {"cluster_class": chosen.cluster_class}
        result = scenarios.run(scenario, config, lifecycle=lifecycle, observer=observe,
                               **extra)
    except (scenarios.ScenarioError, ConfigError, variants.VariantError) as exc:
        raise UsageError(str(exc)) from None
    try:
        if recorder is not None:
            # Written before anything is printed: a path that cannot be written is bad
            # input (one line, exit 2), not half a result.
            replay = variants.replay_command(args.scenario, args.variant)
            atomic_write(args.sequence, sequence.document(result, recorder, replay=replay))
        if args.json:
            sys.stdout.write(result.json(watch.document()))
        else:
            sys.stdout.write(result.text())
            if watch.findings or watch.broken:
                sys.stdout.write("\n" + watch.text())
    finally:
        result.close()
    return 1 if watch.broken else 0
