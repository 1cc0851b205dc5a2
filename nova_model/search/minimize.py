"""Shrink a failing run to a short trace by replaying its scenario.

The search records every run as the scenario steps ``nova-model simulate`` replays.
When a run breaks a promise, ``minimize`` deletes steps for as long as the same
promise still breaks, replaying the scenario directly on a fresh cluster each time
(a few milliseconds, against tens for a replay through Hypothesis's engine, which
needed minutes and still left traces of 60 steps). Two kinds of deletion:

* an instance and everything that names it (its create, its requests, its steps),
  with the later instances renamed (vm3 becomes vm2), so that bystanders go;
* chunks of steps, halving the chunk size down to single steps (ddmin).

The promises are checked after every step, as the search checks them after every
rule, and the run stops at the first step that breaks the target promise, so the
result is also a minimal prefix. Deliveries name their work by operation, step and
instance rather than by work id, so that deleting an earlier step does not rename
the work a later one delivers; except where that would name other work (two such
items pending, the run delivering the newer: a move's step left queued by a task
that was reset, then the same step of the next move), which keeps its id.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from model import errors
from model.cluster import Cluster, create_counts
from model.cluster_records import name_order
from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from nova_model import scenario as scenarios

Check = Callable[[Cluster], dict[str, list[str]]]
#: The pseudo-invariant of a rejected request that changed the cluster.
REJECTION = "rejected_request_changes_nothing"


@dataclass
class Replay:
    """A replay that broke the target promise at its last step."""

    steps: list[dict[str, Any]]   # the scenario steps up to and including that step
    lines: list[str]              # each step in operator language
    found: dict[str, list[str]]   # every unexplained violation at that point
    table: str                    # the cluster at that point


class _Stop(Exception):
    pass


def replay(steps: Sequence[Mapping[str, Any]], *, seed: int | None, config: ClusterConfig,
           lifecycle: Lifecycle, cluster_class: type[Cluster], check: Check,
           target: str | None = None) -> Replay | None:
    """Run ``steps``, checking after each; the failing prefix, or None if nothing broke.

    ``target`` names the promise that must break (any unexplained one if None). A
    scenario the runner refuses (a step naming an instance that no longer exists)
    counts as not failing.
    """
    try:
        parsed = scenarios.parse({"seed": seed, "steps": [dict(s) for s in steps]}
                                 if seed is not None else [dict(s) for s in steps])
    except scenarios.ScenarioError:
        return None
    state: dict[str, Any] = {"lines": [], "before": None, "cluster": None, "hit": None}

    def observe(seen: scenarios.Observation) -> None:
        state["cluster"] = seen.cluster
        if seen.kind == "step" and seen.step.verb == "api":
            state["before"] = seen.cluster.witness()
        if seen.kind != "done":
            return
        result = seen.result
        state["lines"].append(result.line().split(". ", 1)[1])
        found = dict(check(seen.cluster))
        if (seen.step.verb == "api" and not result.accepted
                and seen.cluster.witness() != state["before"]):
            found[REJECTION] = [f"rejected {seen.step.data['api']} changed the cluster"]
        if found and (target is None or target in found):
            state["hit"] = (seen.index, found, seen.cluster.table())
            raise _Stop

    try:
        scenarios.run(parsed, config, lifecycle=lifecycle, cluster_class=cluster_class,
                      observer=observe).close()
        return None
    except _Stop:
        index, found, table = state["hit"]
        return Replay([dict(s) for s in steps[:index]], state["lines"], found, table)
    except scenarios.ScenarioError:
        return None
    finally:
        if state["cluster"] is not None:
            state["cluster"].close()


def minimize(records: Sequence[Mapping[str, Any]], *, config: ClusterConfig,
             lifecycle: Lifecycle, cluster_class: type[Cluster], check: Check,
             target: str | None = None, seconds: float = 60.0) -> Replay | None:
    """The shortest failing trace found within ``seconds``; None if the run does not
    fail when replayed (then the caller keeps what the search printed)."""
    seed = next((r["seed"] for r in records if "seed" in r), None)
    steps = _unpinned_where_unambiguous([r for r in records if "seed" not in r], seed,
                                        config, lifecycle, cluster_class)

    def attempt(candidate: list[dict]) -> Replay | None:
        return replay(candidate, seed=seed, config=config, lifecycle=lifecycle,
                      cluster_class=cluster_class, check=check, target=target)

    best = attempt(steps)
    if best is None:
        return None
    target = target or next(iter(best.found))
    deadline = time.perf_counter() + seconds
    progress = True
    while progress and time.perf_counter() < deadline:
        progress = False
        for candidate in _without_each_instance(best.steps):
            if time.perf_counter() > deadline:
                break
            found = attempt(candidate)
            if found is not None and len(found.steps) < len(best.steps):
                best, progress = found, True
                break
        if progress:
            continue
        chunk = max(1, len(best.steps) // 2)
        while chunk >= 1 and time.perf_counter() < deadline:
            start, shrunk = 0, False
            while start < len(best.steps) and time.perf_counter() < deadline:
                candidate = best.steps[:start] + best.steps[start + chunk:]
                found = attempt(candidate)
                if found is not None and len(found.steps) < len(best.steps):
                    best, shrunk, progress = found, True, True
                else:
                    start += chunk
            if not shrunk:
                chunk //= 2
    best.steps = [{"seed": seed}, *best.steps] if seed is not None else best.steps
    return best


def _unpinned_where_unambiguous(steps: Sequence[Mapping[str, Any]], seed: int | None,
                                config: ClusterConfig, lifecycle: Lifecycle,
                                cluster_class: type[Cluster]) -> list[dict[str, Any]]:
    """``steps`` with each delivery unpinned (``_unpinned``) where the replay would
    still deliver the same work: the oldest pending of its operation, step and
    instance, as the scenario runner picks it."""
    pinned: set[int] = set()

    def observe(seen: scenarios.Observation) -> None:
        if seen.kind != "step" or seen.step.verb != "deliver":
            return
        what = seen.step.data["deliver"]
        if not isinstance(what, Mapping) or "work" not in what:
            return
        c = seen.cluster
        matching = [w for w in c.pending() if (w.operation, w.step, w.instance)
                    == (what["operation"], what["step"], what["instance"])]
        ready = [w for w in matching if w.target is None or c.service_is_up(w.target)]
        oldest = min(ready or matching, key=lambda w: name_order(w.id), default=None)
        if oldest is None or oldest.id != what["work"]:
            pinned.add(seen.index)

    try:
        parsed = scenarios.parse({"seed": seed, "steps": [dict(s) for s in steps]}
                                 if seed is not None else [dict(s) for s in steps])
        scenarios.run(parsed, config, lifecycle=lifecycle, cluster_class=cluster_class,
                      observer=observe).close()
    except scenarios.ScenarioError:
        pinned.clear()
    return [dict(s) if index in pinned else _unpinned(s)
            for index, s in enumerate(steps, 1)]


def _unpinned(record: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery by operation, step and instance: the oldest such pending work item."""
    out = dict(record)
    if isinstance(out.get("deliver"), Mapping):
        out["deliver"] = {k: v for k, v in out["deliver"].items() if k != "work"}
    return out


_VM = re.compile(r"vm(\d+)")


def _without_each_instance(steps: list[dict]) -> list[list[dict]]:
    """For each created instance, latest first: the steps without it, later ones renamed.
    An instance of a multi-create is removed by asking that request for one fewer."""
    owners: list[int] = []  # per instance vm1, vm2, ...: the index of its create step
    for i, s in enumerate(steps):
        if s.get("api") == "create":
            owners += [i] * _count(s)
    out = []
    for number in range(len(owners), 0, -1):
        name = f"vm{number}"
        at = owners[number - 1]
        kept = []
        for i, s in enumerate(steps):
            if i == at:
                if _count(s) > 1:
                    kept.append(_one_fewer(s))
            elif name not in {n for _, n in scenarios.instance_refs(s)}:
                kept.append(s)
        out.append([_renamed(s, number) for s in kept])
    return out


def _count(create: Mapping[str, Any]) -> int:
    """How many instances a create step makes (its max_count)."""
    args = create.get("args") or {}
    try:
        return create_counts(args.get("min_count"), args.get("max_count"))[1]
    except errors.InvalidRequest:
        return 0  # refused: it makes none


def _one_fewer(create: dict) -> dict:
    """A multi-create step asking for one instance fewer."""
    args = dict(create.get("args") or {})
    low, high = create_counts(args.pop("min_count", None), args.pop("max_count", None))
    if high - 1 > 1:
        args["max_count"] = high - 1
        if min(low, high - 1) > 1:
            args["min_count"] = min(low, high - 1)
    return {**create, "args": args}


def _renamed(step: dict, removed: int) -> dict:
    def rename(name: str) -> str:
        match = _VM.fullmatch(name)
        if match and int(match.group(1)) > removed:
            return f"vm{int(match.group(1)) - 1}"
        return name

    out = dict(step)
    if isinstance(out.get("instance"), str):
        out["instance"] = rename(out["instance"])
    if isinstance(out.get("deliver"), Mapping):
        deliver = dict(out["deliver"])
        if isinstance(deliver.get("instance"), str):
            deliver["instance"] = rename(deliver["instance"])
        out["deliver"] = deliver
    return out
