"""Benchmark the stateful search: the full ``ClusterMachine`` against a bare machine.

    python bench/bench_search.py                      # table + breakdown
    python bench/bench_search.py --examples 200 --steps 50
    python bench/bench_search.py --json               # machine-readable
    python bench/bench_search.py --profile 25         # + cProfile of the full machine

Three machines run in the same process with the same settings (``max_examples``,
``stateful_step_count``, ``deadline=None``, ``database=None``,
``phases=[Phase.generate]``, every health check suppressed), each timing run
being one search per seed of ``--seeds`` (summed; ``--seeds 0``: one
derandomized search, whose runs change with every edit of the machine):

* **bare**: a ``RuleBasedStateMachine`` with as many trivial rules (and
  initialize rules, and invariants) as the full machine has, found by
  introspection (``setup_state()``); the rules take no arguments and do nothing.
  This is what Hypothesis itself costs per step.
* **hollow**: the full machine's rules with the same argument strategies and
  target bundles but empty bodies and no preconditions (its initialize rules are
  the real ones, to fill the bundles): what the full machine's rule signatures
  cost Hypothesis with no model at all, the floor for the full machine.
* **full**: ``ClusterMachine`` (or ``--machine module:Class``), run as
  ``nova-model check`` runs it: each search with its own ``StateMemo`` (``--memo``),
  so that a run that repeats an earlier run's first calls resumes from the state
  they reached instead of computing it again;
* **no memo**: the same searches computing every step (what the model itself costs).

Each machine is timed ``--repeat`` times (alternating bare, hollow, full) and
its fastest run kept, so a busy computer disturbs the ratio less; CPU time
(``process_time``) is reported beside wall time for the same reason (on a busy
computer trust the CPU ratio).

Steps are counted, not assumed: each machine is subclassed and every rule and
initialize rule is wrapped to count its invocations (Hypothesis may stop a run
early or overrun its buffer). The issue's goal is ``full/bare >= 0.5``. By
default a violation the search finds does not end the run (it is counted and
reported): this measures speed; ``--strict`` restores the real behaviour.

The breakdown instruments a further run of the full machine (timers add a little
overhead, so its total is reported separately from the clean timing run). Times
are CPU time by default (``--clock wall`` for wall time) and *exclusive* (a
category's time excludes the categories nested in it), so they add up to the
run's total:

* ``invariants: <name>``      each check of ``invariants.ALL``;
* ``invariant body: other``   the rest of the machine's invariant (spec check,
                              findings, coverage);
* ``preconditions``           the rules' preconditions (machine code);
* ``teardown``                the machine's teardown (``cluster.close``, ``target``);
* ``cluster.snapshot``        the api rule's before/after snapshots;
* ``cluster.request`` / ``cluster.deliver``  the model doing the work;
* ``cluster.deliverable``     the deliver rule's precondition and draw;
* ``cluster: world``          host events, periodic tasks, resource audit,
                              ratio changes, construction;
* ``rule body: other``        the machine's own code in its rules (guard scan,
                              trace records ...);
* ``hypothesis: data.draw``   draws made inside rules (``st.data()``);
* ``hypothesis: engine``      everything else: choosing rules, drawing their
                              arguments, bundles, the engine itself.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import importlib
import io
import json
import pstats
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, seed, settings  # noqa: E402
from nova_model.search.memo import CAPACITY as MEMO_CAPACITY  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test,
)

DEFAULT_MACHINE = "nova_model.search.machine:ClusterMachine"


# ---------------------------------------------------------------------------- settings

def search_settings(examples: int, steps: int, derandomize: bool = True) -> settings:
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                    database=None, phases=[Phase.generate], derandomize=derandomize,
                    suppress_health_check=list(HealthCheck))


def run_seeded(machine: type[RuleBasedStateMachine], examples: int, steps: int,
               seeds: tuple[int, ...], memo: int = 0) -> list:
    """One search per seed (Hypothesis's ``seed()``), or one derandomized search if
    there are no seeds. ``memo`` > 0 gives each search its own ``StateMemo`` of that
    capacity, as ``nova-model check`` does (a machine without a ``memo`` attribute
    gets none); the memos are returned.

    A derandomized search draws from a digest of the machine's source, so any edit
    of the machine draws other runs, and a handful of runs decide the speed
    measured (+-5% on 100 runs). Seeds keep the workload fixed across edits; several
    of them average it. Like ``nova-model check``, the searches draw without
    Hypothesis's pool of literals from loaded modules (which would make the workload
    depend on what else was imported, this script included)."""
    from nova_model.search.memo import StateMemo
    from nova_model.search.run import _reproducible_generation

    memos = []

    def one_search(klass):
        attrs = {}
        if memo > 0 and hasattr(machine, "memo"):
            attrs["memo"] = StateMemo(memo)
            memos.append(attrs["memo"])
        return type(machine.__name__, (klass,), attrs)

    with _reproducible_generation():
        if not seeds:
            run_state_machine_as_test(one_search(machine),
                                      settings=search_settings(examples, steps))
            return memos
        for value in seeds:
            seeded = seed(value)(one_search(machine))
            run_state_machine_as_test(seeded, settings=search_settings(examples, steps,
                                                                       derandomize=False))
    return memos


def load_machine(spec: str) -> type[RuleBasedStateMachine]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "ClusterMachine")


def shape(machine: type[RuleBasedStateMachine]) -> dict[str, list[str]]:
    """The machine's rules, initialize rules and invariants, by name."""
    state = machine.setup_state()
    return {"rules": sorted(r.function.__name__ for r in state.rules),
            "initializers": sorted(r.function.__name__ for r in state.initializers),
            "invariants": sorted(i.function.__name__ for i in state.invariants)}


# ---------------------------------------------------------------------------- machines

def bare_machine(rules: int, initializers: int, invariants: int) -> type[RuleBasedStateMachine]:
    """A machine with that many do-nothing rules, initialize rules and invariants."""
    body: dict[str, Any] = {}

    def trivial(self) -> None:
        return None

    for i in range(rules):
        body[f"rule_{i}"] = rule()(_renamed(trivial, f"rule_{i}"))
    for i in range(initializers):
        body[f"init_{i}"] = initialize()(_renamed(trivial, f"init_{i}"))
    for i in range(invariants):
        body[f"inv_{i}"] = invariant()(_renamed(trivial, f"inv_{i}"))
    return type("BareMachine", (RuleBasedStateMachine,), body)


def _renamed(fn: Callable, name: str) -> Callable:
    def wrapper(self, *a, **kw):
        return fn(self, *a, **kw)
    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper


def hollow_machine(machine: type[RuleBasedStateMachine]) -> type[RuleBasedStateMachine]:
    """``machine`` with the same rules, argument strategies and target bundles, but
    bodies that do nothing (a rule with a target returns a fresh name) and no
    preconditions; the initialize rules are the real ones (they fill the bundles).

    What the full machine's rule *signatures* cost Hypothesis, with no model at all:
    the floor the full machine cannot go below. (Draws made inside rule bodies with
    ``st.data()`` are not made here.)
    """
    base_state = machine.setup_state()

    def hollow(r):
        name = r.function.__name__

        def body(self, **kw):
            if r.targets:
                self._hollow_made = getattr(self, "_hollow_made", 0) + 1
                return f"{name}{self._hollow_made}"
            return None
        body.__name__ = body.__qualname__ = name
        return replace(r, function=body, preconditions=())

    def no_check(i):
        def check(self) -> None:
            return None
        check.__name__ = check.__qualname__ = i.function.__name__
        return replace(i, function=check, preconditions=())

    state = type(base_state)(rules=[hollow(r) for r in base_state.rules],
                             invariants=[no_check(i) for i in base_state.invariants],
                             initializers=list(base_state.initializers))

    class Hollow(machine):  # type: ignore[valid-type, misc]
        @classmethod
        def setup_state(cls):
            return state

    Hollow.__name__ = Hollow.__qualname__ = f"Hollow{machine.__name__}"
    return Hollow


class Counts:
    def __init__(self) -> None:
        self.examples = 0
        self.steps = 0
        self.failures = 0
        self.first_failure = ""
        self.per_rule: dict[str, int] = defaultdict(int)

    def failed(self, exc: AssertionError) -> None:
        self.failures += 1
        if not self.first_failure:
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            self.first_failure = " / ".join(lines[:1] + [ln.strip() for ln in lines
                                                         if ln.strip().startswith("- ")][:2])


def tolerant(fn: Callable, counts: Counts) -> Callable:
    """``fn`` with its AssertionErrors counted instead of raised (the run goes on)."""
    @functools.wraps(fn)
    def call(*a, **kw):
        try:
            return fn(*a, **kw)
        except AssertionError as exc:
            counts.failed(exc)
            return None
    return call


def counted(machine: type[RuleBasedStateMachine], counts: Counts,
            around: Callable[[str, Callable], Callable] | None = None,
            strict: bool = False) -> type[RuleBasedStateMachine]:
    """A subclass of ``machine`` whose rules and initialize rules count their calls.

    ``around(kind, fn)`` may wrap each rule/initializer ("rule") and invariant
    ("invariant") function further (the breakdown's timers). Unless ``strict``, an
    AssertionError in a rule or invariant (a model bug the search found) is counted
    and the run continues: this measures speed, not correctness.
    """
    base_state = machine.setup_state()

    def wrap_rule(r):
        fn = r.function
        inner = around("rule", fn) if around else fn
        inner = inner if strict or r.targets else tolerant(inner, counts)

        @functools.wraps(fn)
        def step(self, **kw):
            counts.steps += 1
            counts.per_rule[fn.__name__] += 1
            return inner(self, **kw)
        preconditions = (tuple(around("precondition", p) for p in r.preconditions)
                         if around else r.preconditions)
        return replace(r, function=step, preconditions=preconditions)

    def wrap_invariant(i):
        fn = around("invariant", i.function) if around else i.function
        return replace(i, function=fn if strict else tolerant(fn, counts))

    state = type(base_state)(
        rules=[wrap_rule(r) for r in base_state.rules],
        invariants=[wrap_invariant(i) for i in base_state.invariants],
        initializers=[wrap_rule(r) for r in base_state.initializers])

    teardown = around("teardown", machine.teardown) if around else machine.teardown

    class Counted(machine):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            counts.examples += 1
            super().__init__()

        @classmethod
        def setup_state(cls):
            return state

        def teardown(self) -> None:
            teardown(self)

    Counted.__name__ = Counted.__qualname__ = f"Counted{machine.__name__}"
    return Counted


def run(machine: type[RuleBasedStateMachine], examples: int, steps: int,
        around: Callable | None = None, strict: bool = False,
        seeds: tuple[int, ...] = (), memo: int = 0) -> dict[str, Any]:
    counts = Counts()
    subclass = counted(machine, counts, around, strict)
    start, cpu_start = time.perf_counter(), time.process_time()
    memos = run_seeded(subclass, examples, steps, seeds, memo)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"examples": counts.examples, "steps": counts.steps, "seconds": seconds,
            "cpu_seconds": cpu,
            "steps_per_s": counts.steps / seconds if seconds else 0.0,
            "steps_per_cpu_s": counts.steps / cpu if cpu else 0.0,
            "failures": counts.failures, "first_failure": counts.first_failure,
            "per_rule": dict(sorted(counts.per_rule.items())),
            "resumed": sum(m.resumed for m in memos)}


# ---------------------------------------------------------------------------- breakdown

class Timers:
    """Exclusive time per category, with nesting (a stack of open timers)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list] = []  # [category, start, time in children]

    def enter(self, category: str) -> None:
        self._stack.append([category, self.clock(), 0.0])

    def exit(self) -> None:
        category, start, children = self._stack.pop()
        elapsed = self.clock() - start
        self.total[category] += elapsed - children
        self.calls[category] += 1
        if self._stack:
            self._stack[-1][2] += elapsed

    def wrap(self, category: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*a, **kw):
            self.enter(category)
            try:
                return fn(*a, **kw)
            finally:
                self.exit()
        return timed


#: cluster methods the machine calls, timed on their own (queries the invariants use,
#: e.g. ``pending``, stay inside the invariants' time)
_CLUSTER_CATEGORIES = {"snapshot": "cluster.snapshot", "request": "cluster.request",
                       "deliver": "cluster.deliver", "deliverable": "cluster.deliverable"}
_CLUSTER_WORLD = ("__init__", "service_down", "service_up", "restart", "disable", "enable",
                  "set_allocation_ratio", "set_reserved", "update_available_resource",
                  "poll_unconfirmed_resizes", "poll_shelved_instances",
                  "reclaim_queued_deletes", "sync_power_states", "settle", "event")


_MISSING = object()


def breakdown(machine: type[RuleBasedStateMachine], examples: int, steps: int,
              strict: bool = False, clock: str = "cpu",
              seeds: tuple[int, ...] = (), memo: int = 0) -> dict[str, Any]:
    import invariants
    from hypothesis.strategies._internal.core import DataObject
    from model.cluster import Cluster

    cluster_class = getattr(machine, "cluster_class", Cluster)
    timers = Timers(time.process_time if clock == "cpu" else time.perf_counter)
    patches: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        # restore exactly what was there (a method inherited from a base is deleted)
        patches.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    # the invariants, one by one (``violations`` iterates ``invariants.ALL``)
    timed_all = tuple(replace(inv, check=timers.wrap(f"invariants: {inv.name}", inv.check))
                      for inv in invariants.ALL)
    patch(invariants, "ALL", timed_all)
    # the cluster's entry points
    for name in (*_CLUSTER_CATEGORIES, *_CLUSTER_WORLD):
        fn = getattr(cluster_class, name, None)
        if fn is not None:
            patch(cluster_class, name, timers.wrap(
                _CLUSTER_CATEGORIES.get(name, "cluster: world"), fn))
    patch(DataObject, "draw", timers.wrap("hypothesis: data.draw", DataObject.draw))

    def around(kind: str, fn: Callable) -> Callable:
        category = {"rule": "rule body: other", "invariant": "invariant body: other",
                    "precondition": "preconditions", "teardown": "teardown"}[kind]
        return timers.wrap(category, fn)

    gc_time = [0.0, 0.0, 0]  # total, start of the current collection, collections

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_time[1] = timers.clock()
        else:
            gc_time[0] += timers.clock() - gc_time[1]
            gc_time[2] += 1

    gc.callbacks.append(on_gc)
    try:
        result = run(machine, examples, steps, around, strict, seeds, memo)
    finally:
        gc.callbacks.remove(on_gc)
        for owner, name, old in reversed(patches):
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)
    accounted = sum(timers.total.values())
    rows = dict(timers.total)
    total = result["cpu_seconds" if clock == "cpu" else "seconds"]
    rows["hypothesis: engine"] = total - accounted
    table = [{"category": k, "seconds": v, "share": v / total if total else 0.0,
              "calls": timers.calls.get(k, 0),
              "us_per_step": 1e6 * v / result["steps"] if result["steps"] else 0.0}
             for k, v in sorted(rows.items(), key=lambda kv: -kv[1])]
    return {"clock": clock, "seconds": total, "steps": result["steps"],
            "examples": result["examples"],
            "gc_seconds": gc_time[0], "gc_collections": gc_time[2], "rows": table}


def profile(machine: type[RuleBasedStateMachine], examples: int, steps: int, top: int,
            strict: bool = False, seeds: tuple[int, ...] = (), memo: int = 0) -> str:
    counts = Counts()
    subclass = counted(machine, counts, strict=strict)
    prof = cProfile.Profile()
    prof.enable()
    run_seeded(subclass, examples, steps, seeds, memo)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return f"cProfile of {counts.steps} steps\n" + out.getvalue()


# ---------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100,
                        help="max_examples of each search (100)")
    parser.add_argument("--steps", type=int, default=50, help="stateful_step_count (50)")
    parser.add_argument("--seeds", type=int, default=8, metavar="N",
                        help="searches per timing run, seeded 0..N-1, summed (8); 0: one "
                             "derandomized search (its runs change with any edit of the "
                             "machine's source)")
    parser.add_argument("--machine", default=DEFAULT_MACHINE,
                        help=f"module:Class of the full machine ({DEFAULT_MACHINE})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timing runs per machine, alternated; the fastest is kept (3)")
    parser.add_argument("--strict", action="store_true",
                        help="let a violation the search finds end the run (default: count "
                             "it and go on; this measures speed, not correctness)")
    parser.add_argument("--no-hollow", action="store_true",
                        help="skip the hollow machine (the full machine's rules with empty "
                             "bodies)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after the warm-up (moves what is alive then out of "
                             "the collector's way), to measure what that buys")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the instrumented breakdown run")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="the breakdown's clock: process CPU time (default; steadier on "
                             "a busy computer, ~1 us per timed call) or wall time")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="also print the top N functions of a cProfile run")
    parser.add_argument("--memo", type=int, metavar="N", default=MEMO_CAPACITY,
                        help="states each search of the full machine keeps to resume from, "
                             f"as nova-model check does ({MEMO_CAPACITY}); the full machine "
                             "is also timed without them ('no memo'); 0: only without")
    args = parser.parse_args(argv)
    seeds = tuple(range(args.seeds))

    full_class = load_machine(args.machine)
    full_shape = shape(full_class)
    bare_class = bare_machine(len(full_shape["rules"]), len(full_shape["initializers"]),
                              len(full_shape["invariants"]))

    # warm up both (imports, Lifecycle construction, strategy caches)
    run(bare_class, 2, 5)
    run(full_class, 2, 5, strict=args.strict, memo=args.memo)
    hollow_class = hollow_machine(full_class)
    run(hollow_class, 2, 5)
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    # alternate the machines, keep each one's fastest run (the computer may be busy)
    best: dict[str, dict[str, Any]] = {}
    machines = [("bare", bare_class), ("full", full_class)]
    if args.memo > 0:
        machines.append(("no memo", full_class))
    if not args.no_hollow:
        machines.insert(1, ("hollow", hollow_class))
    for _ in range(max(1, args.repeat)):
        for name, klass in machines:
            r = run(klass, args.examples, args.steps,
                    strict=args.strict or name not in ("full", "no memo"), seeds=seeds,
                    memo=args.memo if name == "full" else 0)
            if name not in best or r["seconds"] < best[name]["seconds"]:
                best[name] = r
    bare, full = best["bare"], best["full"]
    for r in best.values():
        r["ratio"] = r["steps_per_s"] / bare["steps_per_s"] if bare["steps_per_s"] else 0.0
        r["cpu_ratio"] = (r["steps_per_cpu_s"] / bare["steps_per_cpu_s"]
                          if bare["steps_per_cpu_s"] else 0.0)
    ratio, cpu_ratio = full["ratio"], full["cpu_ratio"]
    report: dict[str, Any] = {
        "settings": {"max_examples": args.examples, "stateful_step_count": args.steps,
                     "deadline": None, "database": None, "phases": ["generate"],
                     "derandomize": not seeds, "seeds": list(seeds)},
        "machine": args.machine, "shape": full_shape,
        "repeat": args.repeat, "gc_freeze": args.gc_freeze,
        "bare": bare, "hollow": best.get("hollow"), "full": full,
        "no_memo": best.get("no memo"), "memo_capacity": args.memo,
        "ratio_full_over_bare": ratio,
        "cpu_ratio_full_over_bare": cpu_ratio, "goal_met": ratio >= 0.5,
        "goal_met_cpu": cpu_ratio >= 0.5,
    }
    if not args.no_breakdown:
        report["breakdown"] = breakdown(full_class, args.examples, args.steps, args.strict,
                                        args.clock, seeds, args.memo)
    if args.profile:
        report["profile"] = profile(full_class, args.examples, args.steps, args.profile,
                                    args.strict, seeds, args.memo)

    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    drawn = (f"seeds {', '.join(map(str, seeds))} (one search each, summed)" if seeds
             else "derandomize=True")
    print(f"settings: max_examples={args.examples} stateful_step_count={args.steps} "
          f"deadline=None database=None phases=[generate] {drawn}")
    print(f"full machine {args.machine}: {len(full_shape['rules'])} rules "
          f"({', '.join(full_shape['rules'])}), {len(full_shape['initializers'])} "
          f"initialize rules, {len(full_shape['invariants'])} invariants")
    print()
    print(f"{'machine':<8} {'examples':>8} {'steps':>7} {'seconds':>8} {'steps/s':>9} "
          f"{'ratio':>6} {'cpu s':>7} {'steps/cpu s':>11} {'cpu ratio':>9}")
    for name, _ in machines:
        r = best[name]
        print(f"{name:<8} {r['examples']:>8} {r['steps']:>7} {r['seconds']:>8.2f} "
              f"{r['steps_per_s']:>9.0f} {r['ratio']:>6.2f} {r['cpu_seconds']:>7.2f} "
              f"{r['steps_per_cpu_s']:>11.0f} {r['cpu_ratio']:>9.2f}")
    print(f"(fastest of {max(1, args.repeat)} alternated runs per machine; ratio = "
          "full steps/s / bare steps/s)")
    if args.memo > 0:
        print(f"full: each search keeps {args.memo} states to resume from, as nova-model check "
              f"does; {full['resumed']} of its {full['steps']} steps resumed from one "
              "(no memo: every step computed)")
    print(f"goal full/bare >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'} by wall time, "
          f"{'met' if cpu_ratio >= 0.5 else 'NOT met'} by CPU time")
    if full["failures"]:
        print(f"note: the search found {full['failures']} violation(s) (counted, run went on);"
              f" first: {full['first_failure']}")
    print("full machine steps per rule: "
          + ", ".join(f"{k}={v}" for k, v in full["per_rule"].items()))
    if "breakdown" in report:
        b = report["breakdown"]
        print()
        print(f"breakdown (instrumented run: {b['steps']} steps in {b['seconds']:.2f} s of "
              f"{'CPU' if b['clock'] == 'cpu' else 'wall'} time, exclusive times)")
        print(f"{'category':<50} {'seconds':>8} {'share':>6} {'us/step':>8} {'calls':>8}")
        for row in b["rows"]:
            print(f"{row['category']:<50} {row['seconds']:>8.3f} {row['share']:>6.1%} "
                  f"{row['us_per_step']:>8.1f} {row['calls']:>8}")
        print(f"(garbage collection, spread over the categories above: {b['gc_seconds']:.3f} s "
              f"in {b['gc_collections']} collections, "
              f"{1e6 * b['gc_seconds'] / max(1, b['steps']):.1f} us/step)")
    if args.profile:
        print()
        print(report["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
