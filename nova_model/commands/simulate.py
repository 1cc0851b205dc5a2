"""nova-model simulate SCENARIO.json: run a scenario on a cluster and show what happened.

The scenario format, its checks and the runner are in ``nova_model.scenario``; this
module only wires them to the command line.
"""

from __future__ import annotations

import sys

from model.config import ConfigError
from nova_model import scenario as scenarios

NAME = "simulate"
HELP = "run a scenario (JSON steps: requests, deliveries, host events) on a cluster"


def add_arguments(parser) -> None:
    parser.add_argument("scenario", help="the scenario file (JSON)")
    parser.add_argument("--config", metavar="FILE",
                        help="the cluster file (TOML); default: the scenario's \"config\", "
                             "else the packaged default cluster")
    parser.add_argument("--json", action="store_true",
                        help="one JSON document on stdout instead of text")


def run(args) -> int:
    from nova_model.cli import UsageError

    try:
        scenario = scenarios.load(args.scenario)
        config = scenarios.resolve_config(scenario, args.config)
        result = scenarios.run(scenario, config)
    except (scenarios.ScenarioError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    try:
        sys.stdout.write(result.json() if args.json else result.text())
    finally:
        result.close()
    return 0
