"""Benchmark a settle after many creates: is it linear in the number of deliveries?

    python bench/bench_settle.py              # 10,000 creates, baseline 1,000
    python bench/bench_settle.py --json
    python bench/bench_settle.py --creates 2000 --baseline 200

One scenario of N ``create`` requests on the default cluster followed by one
``settle`` (``nova_model.scenario.run``, as ``nova-model simulate`` runs it, without
the per-step checks of the promises). Most boots fail for lack of capacity, so the
settle delivers about N + 175 steps and the cluster ends with N instances. The
same scenario with the baseline's smaller number of creates is timed in the same
run, on the same machine; the report gives seconds per delivery of both and their
ratio: about 1 when each delivery costs the same however many instances exist
(linear), about N / baseline when each one looks at every instance or every pending
item again (quadratic). Each size is timed ``--repeat`` times; the fastest counts
(the least disturbed by other work on the machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nova_model import scenario as scenarios  # noqa: E402


def time_settle(creates: int) -> dict:
    """Seconds for ``creates`` creates and one settle, and how many steps it delivered."""
    scenario = scenarios.parse([{"api": "create"}] * creates + [{"settle": True}])
    started = time.perf_counter()
    run = scenarios.run(scenario)
    seconds = time.perf_counter() - started
    try:
        settle = run.results[-1]
        delivered = int(settle.detail.split()[0])
        assert len(run.cluster.instances) == creates
        assert not run.cluster.deliverable(), "the settle left deliverable work"
    finally:
        run.close()
    return {"creates": creates, "seconds": seconds, "delivered": delivered,
            "seconds_per_delivery": seconds / (creates + delivered)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.baseline < args.creates or args.repeat < 1:
        parser.error("need 0 < --baseline < --creates and --repeat >= 1")
    runs = {n: min((time_settle(n) for _ in range(args.repeat)),
                   key=lambda r: r["seconds"])
            for n in (args.baseline, args.creates)}
    base, big = runs[args.baseline], runs[args.creates]
    ratio = big["seconds_per_delivery"] / base["seconds_per_delivery"]
    report = {"baseline": base, "measured": big, "ratio_per_delivery": ratio,
              "quadratic_would_be": args.creates / args.baseline}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    for r in (base, big):
        print(f"{r['creates']:>6} creates + settle: {r['seconds']:6.2f} s, "
              f"{r['delivered']} steps delivered, "
              f"{r['seconds_per_delivery'] * 1e6:7.1f} us per request or delivery")
    print(f"per-delivery cost ratio {args.creates} / {args.baseline}: {ratio:.2f} "
          f"(1 = linear, {args.creates / args.baseline:.0f} = quadratic)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
