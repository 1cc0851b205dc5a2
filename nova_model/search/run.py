"""Run the stateful search with a budget and summarise it (``nova-model check``)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from invariants import findings
from model.config import ClusterConfig
from nova_model.search.coverage import Coverage
from nova_model.search.machine import (
    ClusterMachine, failure_report, unexplained_violations, unsearchable,
)
from nova_model.search.memo import StateMemo
from nova_model.search.minimize import minimize


@contextlib.contextmanager
def _reproducible_generation():
    """Hypothesis mixes literals from every loaded local module into its draws
    (``providers._get_local_constants``), so the same derandomized search would draw
    differently in ``pytest`` (which has imported the test modules) and in
    ``nova-model check``. The search runs with no local constants: the same budget
    draws the same runs wherever it is started."""
    from hypothesis.internal.conjecture import providers

    saved, saved_cache = providers._get_local_constants, providers.CONSTANTS_CACHE
    empty = type(saved())()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE = type(saved_cache)(1024)  # filled from the empty pool
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = saved, saved_cache


@dataclass
class SearchReport:
    examples: int
    steps: int
    seconds: float
    coverage: dict
    findings: list[dict] = field(default_factory=list)
    memo: dict = field(default_factory=dict)  # StateMemo.summary(): steps resumed, computed
    violation: str | None = None   # the shrunk counterexample, in operator language
    scenario: list[dict] | None = None  # the same run as `nova-model simulate` steps
    config: ClusterConfig | None = None  # the configuration that run used
    lifecycle: Any = None                # the catalogue searched (a variant, or the spec)
    cluster_class: Any = None            # the cluster class searched
    scenario_file: str | None = None     # where the counterexample was written, if it was

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict:
        return {"examples": self.examples, "steps": self.steps,
                "seconds": round(self.seconds, 2),
                "steps_per_second": round(self.steps_per_second, 1),
                "coverage": self.coverage, "memo": self.memo,
                "upstream_findings": self.findings,
                "violation": self.violation, "scenario": self.scenario}


def run_search(examples: int, steps: int, *, config: ClusterConfig | None = None,
               derandomize: bool = True, shrink: bool = True,
               machine: type[ClusterMachine] = ClusterMachine,
               progress: Callable[[int, int], None] | None = None,
               shrink_seconds: float = 60.0, database=None,
               memo: bool | StateMemo = True) -> SearchReport:
    """Search ``examples`` runs of up to ``steps`` rules each on ``config``.

    ``machine`` may be a subclass searching a variant (a seeded fault, a proposed
    guard); ``shrink=False`` reports the first failing run as found. Shrinking is
    ``nova_model.search.minimize`` on the failing run's scenario, not Hypothesis's
    shrinker (see there why); ``shrink_seconds`` bounds it. ``database`` is
    Hypothesis's example database (the ``dev`` and ``thorough`` profiles keep one,
    so a failing run found once is replayed first next time). ``memo=False`` computes
    every step, even those an earlier run already took (the search is the same, only
    slower: ``StateMemo``); a ``StateMemo`` is used as given (one that verifies, say).
    """
    problem = unsearchable(config if config is not None else machine.config)
    if problem is not None:
        raise ValueError(": ".join(problem))
    coverage = Coverage.of(config if config is not None else machine.config,
                           multi_create=machine.multi_create)
    seen = {"examples": 0, "last": None}

    class Search(machine):  # type: ignore[valid-type, misc]
        pass

    Search.coverage = coverage
    Search.memo = memo if isinstance(memo, StateMemo) else StateMemo() if memo else None
    if config is not None:
        Search.config = config

    original_init = Search.__init__

    def counting_init(self) -> None:
        original_init(self)
        seen["examples"] += 1
        seen["last"] = self
        if progress is not None:
            progress(seen["examples"], coverage.steps)

    Search.__init__ = counting_init  # type: ignore[method-assign]
    started = time.perf_counter()
    violation = None
    scenario = None
    run_config = None
    try:
        phases = [Phase.explicit, Phase.reuse, Phase.generate]
        with _reproducible_generation():
            run_state_machine_as_test(Search, settings=settings(
                max_examples=examples, stateful_step_count=steps, deadline=None,
                derandomize=derandomize, database=database, phases=phases,
                suppress_health_check=list(HealthCheck)))
    except AssertionError as failure:
        violation = str(failure).strip()
        last = seen["last"]
        scenario = list(last.steps) if last is not None else None
        run_config = last.run_config if last is not None else None
        if shrink and scenario and run_config is not None and last.failure:
            shrunk = minimize(
                scenario, config=run_config, lifecycle=machine.lifecycle,
                cluster_class=machine.cluster_class, target=next(iter(last.failure)),
                check=lambda c: unexplained_violations(c, machine.lifecycle, machine.promises,
                                                       machine.specification)[0],
                seconds=shrink_seconds)
            if shrunk is not None:
                scenario = shrunk.steps
                violation = failure_report(shrunk.lines, shrunk.found, shrunk.table,
                                           machine.promises).strip()
    elapsed = time.perf_counter() - started
    reproduced = [{"name": f.name, "summary": f.summary, "nova": f.nova}
                  for f in findings.UPSTREAM if f.name in coverage.findings]
    memo_summary = Search.memo.summary() if Search.memo is not None else {}
    return SearchReport(seen["examples"], coverage.steps, elapsed, coverage.summary(),
                        reproduced, memo_summary, violation, scenario, run_config,
                        machine.lifecycle, machine.cluster_class)
