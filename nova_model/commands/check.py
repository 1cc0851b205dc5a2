"""nova-model check: run the model's checks and report them."""

from __future__ import annotations

import json
import sys
import time

from model.graph import check_graph, explore
from model.lifecycle import Lifecycle

NAME = "check"
HELP = "explore the single-instance state graph and run its checks"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="operations racing on one instance in the exploration "
                             "(default 1, plus one preempting request)")


def run(args) -> int:
    from nova_model.cli import UsageError

    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {args.concurrency}")
    started = time.perf_counter()
    lifecycle = Lifecycle()
    result = explore(lifecycle, concurrency=args.concurrency)
    checks = check_graph(result, lifecycle)
    elapsed = time.perf_counter() - started
    ok = all(c.ok for c in checks)
    if args.json:
        json.dump({"ok": ok, "seconds": round(elapsed, 2),
                   "configurations": result.full.number_of_nodes(),
                   "states": result.projected.number_of_nodes(),
                   "transitions": result.projected.number_of_edges(),
                   "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail}
                              for c in checks]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"single-instance state graph: {result.projected.number_of_nodes()} "
              f"(vm_state, task_state, power_state) states, "
              f"{result.projected.number_of_edges()} labelled transitions, "
              f"{result.full.number_of_nodes()} configurations ({elapsed:.1f} s)")
        for c in checks:
            print(f"  [{'PASS' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
        print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1
