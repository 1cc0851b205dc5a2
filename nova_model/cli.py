"""``nova-model``: the command line. Each subcommand lives in ``nova_model.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from nova_model.commands import UsageError
from nova_model.files import OutputError

#: Subcommand modules; each has ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``.
COMMANDS = ("guards", "explain", "check", "diagram", "report", "simulate", "conform", "review")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nova-model",
        description="An executable model of the OpenStack Nova compute lifecycle.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"nova_model.commands.{name}")
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (UsageError, OutputError) as exc:
        print(f"nova-model: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
