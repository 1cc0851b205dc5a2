"""nova-model simulate SCENARIO.json: run a scenario on a cluster and show what happened.

The scenario format, its checks and the runner are in ``nova_model.scenario``; the
sequence diagram ``--sequence`` writes is drawn by ``nova_model.render.sequence``; this
module only wires them to the command line.
"""

from __future__ import annotations

import os
import sys

from model.config import ConfigError
from nova_model import scenario as scenarios
from nova_model.files import atomic_write

NAME = "simulate"
HELP = "run a scenario (JSON steps: requests, deliveries, host events) on a cluster"


def add_arguments(parser) -> None:
    parser.add_argument("scenario", help="the scenario file (JSON)")
    parser.add_argument("--config", metavar="FILE",
                        help="the cluster file (TOML); default: the scenario's \"config\", "
                             "else the packaged default cluster")
    parser.add_argument("--json", action="store_true",
                        help="one JSON document on stdout instead of text")
    parser.add_argument("--sequence", metavar="OUT.md",
                        help="also write the run as a Markdown document: a Mermaid sequence "
                             "diagram across API, conductor, scheduler, Placement and the "
                             "hosts, and a before/after table of host usage")


def run(args) -> int:
    from nova_model.cli import UsageError
    from nova_model.render import sequence

    recorder = sequence.Recorder() if args.sequence else None
    try:
        scenario = scenarios.load(args.scenario)
        config = scenarios.resolve_config(scenario, args.config)
        result = scenarios.run(scenario, config, observer=recorder)
    except (scenarios.ScenarioError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    try:
        if recorder is not None:
            # Written before anything is printed: a path that cannot be written is bad
            # input (one line, exit 2), not half a result.
            _write(args.sequence, sequence.document(result, recorder), UsageError)
        sys.stdout.write(result.json() if args.json else result.text())
    finally:
        result.close()
    return 0


def _write(path: str, text: str, usage_error: type[Exception]) -> None:
    if os.path.isdir(path):
        # os.replace onto a directory fails with a misleading "Not a directory"
        raise usage_error(f"{path}: is a directory; name the file to write")
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise usage_error(f"{path}: cannot write: {exc.strerror or exc}") from None
