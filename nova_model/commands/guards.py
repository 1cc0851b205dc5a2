"""nova-model guards: the guard table derived from the catalogue."""

from __future__ import annotations

import sys

from model.guard_table import guard_json, guard_markdown

NAME = "guards"
HELP = "print the API guard table (which states each operation accepts)"


def add_arguments(parser) -> None:
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")


def run(args) -> int:
    sys.stdout.write(guard_json() if args.format == "json" else guard_markdown())
    return 0
