"""Benchmark one scheduling decision against 10 .. 10,000 hosts.

    python bench/bench_scheduler.py            # table
    python bench/bench_scheduler.py --json     # machine-readable

For each mode (placement: Nova's default five filters; legacy: the seeds'
ten filters incl. Ram/Disk/Core) with all weighers, one decision =
`select_destinations` for a single-instance request with return_alternates.
In placement mode the candidate set is precomputed (placement is a separate
service; its query is not part of the scheduler's cost).  Each size is run
N times, N chosen so that the size takes about 1.5 s; the median is
reported, with its ratio to the 10-host time and the growth exponent
log(t_n / t_prev) / log(n / prev) (1.0 = linear).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.scheduler.config import SchedulerConfig  # noqa: E402
from model.scheduler.host_state import Aggregate, HostState  # noqa: E402
from model.scheduler.pipeline import select_destinations  # noqa: E402
from model.scheduler.request import Flavor, InstanceGroup, RequestSpec  # noqa: E402

SIZES = (10, 100, 1000, 10000)
TARGET_SECONDS = 1.5


def make_hosts(count: int, seed: int = 42) -> list[HostState]:
    """A deterministic, varied fleet: free capacity, load, aggregates."""
    rng = random.Random(seed)
    aggregates = (
        Aggregate("az1", metadata={"availability_zone": "az1"}),
        Aggregate("fast", metadata={"ssd": "true", "ram_weight_multiplier": "2.0"}),
    )
    hosts = []
    for i in range(count):
        ram = rng.choice([65536, 131072, 262144])
        hosts.append(
            HostState(
                host=f"compute{i:05d}",
                nodename=f"compute{i:05d}",
                uuid=f"rp-{i:05d}",
                total_usable_ram_mb=ram,
                free_ram_mb=rng.randint(0, ram - 512),
                total_usable_disk_gb=2048,
                free_disk_mb=rng.randint(0, 2048) * 1024,
                vcpus_total=64,
                vcpus_used=rng.randint(0, 200),
                num_instances=rng.randint(0, 40),
                num_io_ops=rng.randint(0, 6),
                failed_builds=1 if rng.random() < 0.02 else 0,
                cpu_allocation_ratio=4.0,
                ram_allocation_ratio=1.5,
                disk_allocation_ratio=1.0,
                aggregates=tuple(a for a in aggregates if rng.random() < 0.3),
                supported_instances=(("x86_64", "kvm", "hvm"),),
                hypervisor_type="kvm",
                hypervisor_version=rng.choice([6000000, 7002000, 8000000]),
                cell_uuid="cell1",
                instances={f"inst-{i}-{j}": {} for j in range(rng.randint(0, 3))},
                reserved_host_memory_mb=512,
            )
        )
    return hosts


REQUEST = RequestSpec(
    flavor=Flavor(name="m1.medium", vcpus=2, memory_mb=4096, root_gb=20,
                  extra_specs={"capabilities:hypervisor_type": "kvm"}),
    image_properties={"hw_architecture": "x86_64"},
    instance_group=InstanceGroup(policy="anti-affinity", members=("inst-0-0", "new")),
    instance_uuid="new",
)


def decision_time(hosts: list[HostState], config: SchedulerConfig) -> tuple[float, int]:
    candidates = frozenset(h.placement_key for h in hosts)

    def once(seed: int) -> float:
        start = time.perf_counter()
        select_destinations(hosts, REQUEST, config, rng=random.Random(seed),
                            placement_candidates=lambda spec: candidates, return_alternates=True)
        return time.perf_counter() - start

    first = once(0)
    runs = max(5, min(10000, int(TARGET_SECONDS / max(first, 1e-6))))
    samples = [once(seed) for seed in range(1, runs + 1)]
    return statistics.median(samples), runs


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    modes = {"placement": SchedulerConfig(mode="placement"), "legacy": SchedulerConfig(mode="legacy")}
    for mode, config in modes.items():
        base: float | None = None
        prev: tuple[int, float] | None = None
        for n in SIZES:
            t, runs = decision_time(make_hosts(n), config)
            base = base or t
            exponent = math.log(t / prev[1]) / math.log(n / prev[0]) if prev else None
            rows.append({"mode": mode, "hosts": n, "seconds": t, "runs": runs,
                         "ratio_to_10": t / base, "growth_exponent": exponent})
            prev = (n, t)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'mode':<10} {'hosts':>6} {'ms/decision':>12} {'runs':>6} {'x 10-host':>10} {'exponent':>9}")
    for r in rows:
        exp = "-" if r["growth_exponent"] is None else f"{r['growth_exponent']:.2f}"
        print(f"{r['mode']:<10} {r['hosts']:>6} {r['seconds'] * 1000:>12.3f} {r['runs']:>6} "
              f"{r['ratio_to_10']:>10.1f} {exp:>9}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1].strip())
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rows = run()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
