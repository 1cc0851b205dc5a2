"""nova-model explain OP: one operation's guard, steps, outcomes and resource effect."""

from __future__ import annotations

import difflib
import sys

from model.catalogue import CATALOGUE
from model.explain import explain

NAME = "explain"
HELP = "explain one operation: guard, task-state steps, outcomes, resource effect"


def add_arguments(parser) -> None:
    parser.add_argument("operation", help="operation name, e.g. resize or reboot_hard")


def run(args) -> int:
    from nova_model.commands import UsageError

    op = CATALOGUE.get(args.operation)
    if op is None:
        close = difflib.get_close_matches(args.operation, CATALOGUE, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown operation {args.operation!r}{hint}; "
                         f"see 'nova-model guards' for the list")
    sys.stdout.write(explain(op))
    return 0
