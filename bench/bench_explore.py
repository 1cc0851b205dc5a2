"""Benchmark the single-instance exploration: the explorer before issue #16 and now.

    python bench/bench_explore.py              # both, one after the other
    python bench/bench_explore.py --json
    python bench/bench_explore.py --repeat 2

The same exploration (the embedded catalogue, ``shelved_offload_time`` 0 and -1,
concurrency 1) by the explorer as it was (``bench/explore_before.py``: every move of
every configuration through the ``transitions`` machine, the full graph a
``networkx.DiGraph``) and by ``model.graph.explore`` (configurations as tuples, each
distinct move of an instance's variables computed once through the machine's
compiled table, the full graph in arrays). Each runs in a fresh Python process, so
that the peak resident memory (``resource.getrusage(...).ru_maxrss``) is its own;
the memory before the exploration (interpreter, imports, the lifecycle) is reported
too, and the peak above it. Both must find the same counts; the report gives
configurations per second and the ratios new / before. Each is timed ``--repeat``
times; the fastest counts (the least disturbed by other work on the machine).

It also measures why the explorer does not take its successors from the cluster's
``model.actions.apply``: one move of a configuration by the explorer (its seconds over
the full graph's edges) against one move by the cluster (thaw a frozen two-host
cluster with one instance, apply a request, take the snapshot that would be its
canonical key), and what the exploration would take at the cluster's rate. The two
agree move for move (``tests/lifecycle/test_explorer_agrees_with_cluster.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(which: str) -> dict:
    """One exploration in this process: seconds, counts, resident memory (MB)."""
    from model.lifecycle import Lifecycle

    if which == "before":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from explore_before import explore  # noqa: E402
    else:
        from model.graph import explore as explore_worlds, WORLDS  # noqa: E402

        def explore(lifecycle):  # the two worlds the explorer before explores
            return explore_worlds(lifecycle, worlds=WORLDS[:2])
    lifecycle = Lifecycle()
    lifecycle.compiled  # built before the clock starts, as the lifecycle itself is
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = explore(lifecycle)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    configurations = result.full.number_of_nodes()
    moves = result.full.number_of_edges()
    return {"explorer": which, "seconds": seconds, "moves": moves,
            "microseconds_per_move": seconds / moves * 1e6,
            "states": result.projected.number_of_nodes(),
            "transitions": result.projected.number_of_edges(),
            "configurations": configurations,
            "configurations_per_second": configurations / seconds,
            "peak_mb": peak, "before_mb": base, "peak_above_before_mb": peak - base}


def measure_cluster_step(repeat: int = 200) -> dict:
    """The cluster's own step on a configuration: thaw, apply one request, snapshot."""
    from model import actions as a
    from model.cluster import Cluster
    from model.cluster_scenarios import small_config

    cluster = Cluster(small_config())
    a.apply(cluster, a.Request.of("create", None, False, {"flavor": "small"}))
    a.apply(cluster, a.Settle())
    frozen = cluster.freeze()
    requests = [a.Request.of("stop", "vm1", True), a.Request.of("pause", "vm1", True),
                a.Request.of("resize", "vm1", False, {"flavor": "large"}),
                a.Request.of("suspend", "vm1", True)]
    started = time.perf_counter()
    for _ in range(repeat):
        for request in requests:
            moved = Cluster.thaw(frozen)
            a.apply(moved, request)
            moved.snapshot()
            moved.close()
    seconds = time.perf_counter() - started
    return {"microseconds_per_move": seconds / (repeat * len(requests)) * 1e6}


def in_child(which: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", which], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=("before", "new", "cluster"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_cluster_step() if args.child == "cluster"
                         else measure(args.child)))
        return 0
    if args.repeat < 1:
        parser.error("need --repeat >= 1")
    runs = {}
    for which in ("before", "new"):
        tries = [in_child(which) for _ in range(args.repeat)]
        runs[which] = min(tries, key=lambda r: r["seconds"])
        runs[which]["peak_mb"] = max(r["peak_mb"] for r in tries)
    before, new = runs["before"], runs["new"]
    cluster = min((in_child("cluster") for _ in range(args.repeat)),
                  key=lambda r: r["microseconds_per_move"])
    cluster["exploration_seconds_at_this_rate"] = (
        cluster["microseconds_per_move"] * new["moves"] / 1e6)
    counts = [(r["states"], r["transitions"], r["configurations"]) for r in (before, new)]
    if counts[0] != counts[1]:
        print(f"the explorers disagree: before {counts[0]}, new {counts[1]}",
              file=sys.stderr)
        return 1
    report = {"before": before, "new": new,
              "speedup_configurations_per_second":
                  new["configurations_per_second"] / before["configurations_per_second"],
              "peak_memory_ratio": new["peak_mb"] / before["peak_mb"],
              "peak_above_start_ratio":
                  new["peak_above_before_mb"] / before["peak_above_before_mb"],
              "cluster_step": cluster,
              "cluster_step_over_explorer_per_move":
                  cluster["microseconds_per_move"] / new["microseconds_per_move"]}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    for r in (before, new):
        print(f"{r['explorer']:>6}: {r['configurations']} configurations "
              f"({r['states']} states, {r['transitions']} transitions) in "
              f"{r['seconds']:6.1f} s = {r['configurations_per_second']:7.0f} a second; "
              f"peak {r['peak_mb']:6.0f} MB ({r['peak_above_before_mb']:5.0f} MB above the "
              f"{r['before_mb']:.0f} MB before exploring)")
    print(f"configurations per second: x{report['speedup_configurations_per_second']:.1f}; "
          f"peak memory: x{report['peak_memory_ratio']:.2f} "
          f"(above the start: x{report['peak_above_start_ratio']:.2f})")
    print(f"one move: explorer {new['microseconds_per_move']:.1f} us, the cluster's step "
          f"{cluster['microseconds_per_move']:.0f} us "
          f"(x{report['cluster_step_over_explorer_per_move']:.0f}): the {new['moves']} moves "
          f"of this exploration would take {cluster['exploration_seconds_at_this_rate']:.0f} s "
          "through the cluster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
