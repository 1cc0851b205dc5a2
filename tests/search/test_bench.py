"""The search benchmark runs and reports what it promises (its numbers are not judged here:
speed is measured by ``bench/``, not by timed tests)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_search.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_search", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_search_benchmark_times_every_machine_it_names(capsys):
    assert _bench().main(["--examples", "5", "--steps", "10", "--seeds", "1", "--repeat", "1",
                          "--no-breakdown", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for machine in ("bare", "hollow", "full", "no_memo"):
        assert report[machine]["steps"] > 0, machine
    assert report["memo_capacity"] > 0
    assert report["full"]["steps"] == report["no_memo"]["steps"]  # the same searches
    assert report["full"]["resumed"] > 0 and report["no_memo"]["resumed"] == 0
    assert report["ratio_full_over_bare"] == report["full"]["ratio"]


def test_the_settle_benchmark_compares_against_its_baseline(capsys):
    spec = importlib.util.spec_from_file_location("bench_settle", BENCH.with_name(
        "bench_settle.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--creates", "60", "--baseline", "20", "--repeat", "1",
                        "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["baseline"]["creates"] == 20 and report["measured"]["creates"] == 60
    assert report["measured"]["delivered"] > report["baseline"]["delivered"] > 0
    assert report["ratio_per_delivery"] == (report["measured"]["seconds_per_delivery"]
                                            / report["baseline"]["seconds_per_delivery"])
    assert report["quadratic_would_be"] == 3
