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

import dataclasses
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from model import actions, errors
from model.actions import Action, Deliver, Request
from model.catalogue import CATALOGUE
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
    actions: list[Action] = field(default_factory=list)  # the steps' actions


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
    return _replay(parsed, config, lifecycle, cluster_class, check, target)


def _replay_actions(steps: Sequence[Action], seed: int | None, config: ClusterConfig,
                    lifecycle: Lifecycle, cluster_class: type[Cluster], check: Check,
                    target: str | None) -> Replay | None:
    """``replay`` of a run's actions."""
    return replay([actions.to_json(a) for a in steps], seed=seed, config=config,
                  lifecycle=lifecycle, cluster_class=cluster_class, check=check,
                  target=target)


def _replay(parsed: scenarios.Scenario, config: ClusterConfig, lifecycle: Lifecycle,
            cluster_class: type[Cluster], check: Check, target: str | None
            ) -> Replay | None:
    state: dict[str, Any] = {"lines": [], "before": None, "cluster": None, "hit": None}

    def observe(seen: scenarios.Observation) -> None:
        state["cluster"] = seen.cluster
        request = seen.step.action if isinstance(seen.step.action, Request) else None
        if seen.kind == "step" and request is not None:
            state["before"] = seen.cluster.witness()
        if seen.kind != "done":
            return
        result = seen.result
        state["lines"].append(result.line().split(". ", 1)[1])
        found = dict(check(seen.cluster))
        if (request is not None and not result.accepted
                and seen.cluster.witness() != state["before"]):
            found[REJECTION] = [f"rejected {request.operation} changed the cluster"]
        if found and (target is None or target in found):
            from nova_model.render.cluster_table import table as cluster_table
            state["hit"] = (seen.index, found, cluster_table(seen.cluster))
            raise _Stop

    try:
        scenarios.run(parsed, config, lifecycle=lifecycle, cluster_class=cluster_class,
                      observer=observe).close()
        return None
    except _Stop:
        index, found, table = state["hit"]
        ran = parsed.steps[:index]
        return Replay([dict(s.data) for s in ran], state["lines"], found, table,
                      [s.action for s in ran])
    except scenarios.ScenarioError:
        return None
    finally:
        if state["cluster"] is not None:
            state["cluster"].close()


def minimize(records: Sequence[Mapping[str, Any]], *, config: ClusterConfig,
             lifecycle: Lifecycle, cluster_class: type[Cluster], check: Check,
             target: str | None = None, seconds: float = 60.0) -> Replay | None:
    """The shortest failing trace found within ``seconds``; None if the run does not
    fail when replayed (then the caller keeps what the search printed). ``records``
    are the run's scenario steps (a ``{"seed": N}`` among them sets the seed); the
    deletions work on their actions."""
    seed = next((r["seed"] for r in records if "seed" in r), None)
    try:
        recorded = [step.action for step in scenarios.parse(
            [dict(r) for r in records if "seed" not in r]).steps]
    except scenarios.ScenarioError:
        return None
    steps = _unpinned_where_unambiguous(recorded, seed, config, lifecycle, cluster_class)

    def attempt(candidate: list[Action]) -> Replay | None:
        return _replay_actions(candidate, seed, config, lifecycle, cluster_class, check,
                               target)

    best = attempt(steps)
    if best is None:
        return None
    target = target or next(iter(best.found))
    deadline = time.perf_counter() + seconds
    progress = True
    while progress and time.perf_counter() < deadline:
        progress = False
        for candidate in _without_each_instance(best.actions):
            if time.perf_counter() > deadline:
                break
            found = attempt(candidate)
            if found is not None and len(found.actions) < len(best.actions):
                best, progress = found, True
                break
        if progress:
            continue
        chunk = max(1, len(best.actions) // 2)
        while chunk >= 1 and time.perf_counter() < deadline:
            start, shrunk = 0, False
            while start < len(best.actions) and time.perf_counter() < deadline:
                candidate = best.actions[:start] + best.actions[start + chunk:]
                found = attempt(candidate)
                if found is not None and len(found.actions) < len(best.actions):
                    best, shrunk, progress = found, True, True
                else:
                    start += chunk
            if not shrunk:
                chunk //= 2
    best.steps = [{"seed": seed}, *best.steps] if seed is not None else best.steps
    return best


def _unpinned_where_unambiguous(steps: Sequence[Action], seed: int | None,
                                config: ClusterConfig, lifecycle: Lifecycle,
                                cluster_class: type[Cluster]) -> list[Action]:
    """``steps`` with each delivery unpinned (``_unpinned``) where the replay would
    still deliver the same work: the oldest pending of its operation, step and
    instance, as the scenario runner picks it."""
    pinned: set[int] = set()

    def observe(seen: scenarios.Observation) -> None:
        what = seen.step.action
        if seen.kind != "step" or not isinstance(what, Deliver):
            return
        if not what.by_step or what.work is None:
            return
        c = seen.cluster
        matching = [w for w in c.pending() if (w.operation, w.step, w.instance)
                    == (what.operation, what.step, what.instance)]
        ready = [w for w in matching if w.target is None or c.service_is_up(w.target)]
        oldest = min(ready or matching, key=lambda w: name_order(w.id), default=None)
        if oldest is None or oldest.id != what.work:
            pinned.add(seen.index)

    try:
        document = [actions.to_json(a) for a in steps]
        parsed = scenarios.parse({"seed": seed, "steps": document}
                                 if seed is not None else document)
        scenarios.run(parsed, config, lifecycle=lifecycle, cluster_class=cluster_class,
                      observer=observe).close()
    except scenarios.ScenarioError:
        pinned.clear()
    return [a if index in pinned else _unpinned(a) for index, a in enumerate(steps, 1)]


def _unpinned(action: Action) -> Action:
    """A delivery by operation, step and instance: the oldest such pending work item."""
    if isinstance(action, Deliver) and action.by_step:
        return dataclasses.replace(action, work=None)
    return action


_VM = re.compile(r"vm(\d+)")


def _creates(action: Action) -> bool:
    return (isinstance(action, Request) and action.operation in CATALOGUE
            and CATALOGUE[action.operation].creates_instance)


def _without_each_instance(steps: list[Action]) -> list[list[Action]]:
    """For each created instance, latest first: the steps without it, later ones renamed.
    An instance of a multi-create is removed by asking that request for one fewer."""
    owners: list[int] = []  # per instance vm1, vm2, ...: the index of its create step
    for i, a in enumerate(steps):
        if _creates(a):
            owners += [i] * _count(a)
    out = []
    for number in range(len(owners), 0, -1):
        name = f"vm{number}"
        at = owners[number - 1]
        kept = []
        for i, a in enumerate(steps):
            if i == at:
                if _count(a) > 1:
                    kept.append(_one_fewer(a))
            elif name not in actions.instances_named(a):
                kept.append(a)
        out.append([_renamed(a, number) for a in kept])
    return out


def _count(create: Request) -> int:
    """How many instances a create step makes (its max_count)."""
    args = create.kwargs
    try:
        return create_counts(args.get("min_count"), args.get("max_count"))[1]
    except errors.InvalidRequest:
        return 0  # refused: it makes none


def _one_fewer(create: Request) -> Request:
    """A multi-create step asking for one instance fewer."""
    args = create.kwargs
    low, high = create_counts(args.pop("min_count", None), args.pop("max_count", None))
    if high - 1 > 1:
        args["max_count"] = high - 1
        if min(low, high - 1) > 1:
            args["min_count"] = min(low, high - 1)
    return create.with_kwargs(args)


def _renamed(action: Action, removed: int) -> Action:
    def rename(name: str) -> str:
        match = _VM.fullmatch(name)
        if match and int(match.group(1)) > removed:
            return f"vm{int(match.group(1)) - 1}"
        return name

    return actions.renamed(action, rename)
