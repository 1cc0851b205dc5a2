"""Seconds per conformance step: the model against Nova 34, and the model alone.

    python bench/bench_conformance.py [--walks N] [--steps M] [--seed S]

Runs N seeded sequential walks of M steps through ``nova_model.conformance`` (one Nova
process for all of them) and reports the wall-clock seconds per compared step, with
Nova's start-up counted apart. The baseline, measured in the same run on the same
walks, is the model side alone (planning: the model runs every walk and records what
it shows), so the ratio says what running Nova costs over the model.
"""

from __future__ import annotations

import argparse
import json
import time

from model.config import ClusterConfig
from nova_model.conformance.plan import build
from nova_model.conformance.runner import conform
from nova_model.conformance.walks import walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walks", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = ClusterConfig.default()
    named = [(f"walk-{args.seed + i}", walk(args.seed + i, args.steps, config))
             for i in range(args.walks)]

    start = time.perf_counter()
    for name, scenario in named:
        build(name, scenario, config)
    model_seconds = time.perf_counter() - start

    start = time.perf_counter()
    reports = conform(named, config)
    total = time.perf_counter() - start
    per_walk = sum(r.seconds for r in reports)
    steps = sum(len(r.steps) for r in reports)
    fields = sum(r.fields for r in reports)
    result = {
        "walks": args.walks, "steps": steps, "fields": fields,
        "differences": sum(len(r.differences) for r in reports),
        "seconds_total": round(total, 2),
        "seconds_nova_start": round(total - per_walk, 2),
        "seconds_per_step": round(per_walk / steps, 4) if steps else None,
        "model_seconds_per_step": round(model_seconds / steps, 5) if steps else None,
        "nova_over_model": round((per_walk / steps) / (model_seconds / steps), 1)
        if steps and model_seconds else None,
    }
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    print(f"{result['walks']} walks, {steps} steps, {fields} fields compared, "
          f"{result['differences']} difference(s)")
    print(f"Nova start-up and set-up: {result['seconds_nova_start']} s")
    print(f"conformance: {result['seconds_per_step']} s per step; model alone: "
          f"{result['model_seconds_per_step']} s per step "
          f"(Nova costs {result['nova_over_model']}x the model)")


if __name__ == "__main__":
    main()
