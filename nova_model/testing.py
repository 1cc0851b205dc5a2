"""Properties about one's own cloud, checked by the model (public interface).

The pytest plugin (``nova_model.pytest_plugin``) hands these to a test through its
fixtures; they work without pytest too.

* ``promise`` turns a function ``cluster -> list of violations`` (its docstring's
  first line is the promise) into an invariant the search checks after every step,
  beside the project's own (``invariants.ALL``).
* ``search`` runs the stateful search on a cluster configuration and a catalogue
  (the specification, or a variant built with ``model.variants``) under the loaded
  Hypothesis profile, and writes a counterexample's scenario file when one is found.
* ``assert_promises_kept`` fails with the shrunk trace in operator language, the
  cluster table at the point of failure and the scenario file that replays it.
* ``first_broken_promise`` replays one scenario (``nova_model.strategies``) and
  checks every promise after every step.

``ClusterConfig`` (a cluster file: ``ClusterConfig.load(path)``) is the configuration
the fixtures, the strategies and these helpers take.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping

from hypothesis import settings

from invariants import Invariant
from model.cluster import Cluster
from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from nova_model.search import counterexample
from nova_model.search.machine import (
    SPEC, failure_report, machine_for, unexplained_violations,
)
from nova_model.search.minimize import Replay, replay
from nova_model.search.run import SearchReport, run_search

__all__ = ["ClusterConfig", "PromiseBroken", "assert_promises_kept", "describe",
           "failure_message", "first_broken_promise", "promise", "search"]

Promise = Invariant | Callable[[Any], list[str]]


class PromiseBroken(AssertionError):
    """A promise the model was asked to keep is broken; the message is the readable trace."""


def promise(check: Callable[[Any], list[str]], name: str | None = None) -> Invariant:
    """An invariant from ``check(cluster)``, which returns the violations it sees (readable
    strings, empty when the promise holds). Usable as a decorator. The cluster is a
    ``model.cluster.Cluster``: ``cluster.instances`` (uuid -> instance with ``vm_state``,
    ``task_state``, ``power_state``, ``host``, ``flavor``), ``cluster.hosts`` (name ->
    ``up``, ``enabled``), ``cluster.groups`` (server group -> member uuids),
    ``cluster.migrations``, ``cluster.ledger.usage(host, rc)`` and
    ``cluster.ledger.capacity(host, rc)`` (rc ``"VCPU"``, ``"MEMORY_MB"``, ``"DISK_GB"``)."""
    if isinstance(check, Invariant):
        return check
    return Invariant(name or check.__name__, check)


def _promises(promises: Iterable[Promise]) -> tuple[Invariant, ...]:
    return tuple(promise(p) for p in promises)


def search(config: ClusterConfig | None = None, lifecycle: Lifecycle | None = None, *,
           promises: Iterable[Promise] = (), hold_ratios: bool = False,
           examples: int | None = None, steps: int | None = None,
           out: str | None = None, found_by: str = "the nova pytest plugin") -> SearchReport:
    """The search's report on ``config`` (the embedded cluster if None) and ``lifecycle``
    (the specification if None), checking ``promises`` besides the project's own.
    ``hold_ratios``: no operator changes an allocation ratio during the runs. The budget
    is the loaded Hypothesis profile's (``max_examples`` runs of
    ``stateful_step_count`` steps, its ``derandomize`` and ``database``) unless
    ``examples`` / ``steps`` say otherwise. A counterexample is written into ``out``
    (``report.scenario_file``)."""
    profile = settings()
    machine = machine_for(lifecycle=lifecycle, promises=_promises(promises),
                          hold_ratios=hold_ratios)
    report = run_search(examples or profile.max_examples, steps or profile.stateful_step_count,
                        config=config, derandomize=profile.derandomize,
                        database=profile.database, machine=machine)
    if report.violation is not None and out is not None:
        report.scenario_file = counterexample.write(out, report, found_by)
    return report


def failure_message(report: SearchReport) -> str:
    """What a failed search says: the trace, what broke, the cluster, and how to replay."""
    lines = ["The search broke a promise (the run shrunk to its shortest trace):",
             report.violation or ""]
    if report.scenario_file is not None:
        lines += ["", f"Replay it: nova-model simulate {report.scenario_file}",
                  f"Sequence diagram: {counterexample.picture_path(os.path.dirname(report.scenario_file))}"]
    return "\n".join(lines)


def assert_promises_kept(report: SearchReport) -> None:
    """Fail (``PromiseBroken``) if the search found a run that breaks a promise no
    upstream Nova finding explains (the findings it reproduced are in
    ``report.findings``)."""
    __tracebackhide__ = True  # pytest shows the message, not this frame
    if report.violation is not None:
        raise PromiseBroken(failure_message(report))


def first_broken_promise(scenario: Mapping[str, Any] | list, config: ClusterConfig | None = None,
                         lifecycle: Lifecycle | None = None, *,
                         promises: Iterable[Promise] = ()) -> Replay | None:
    """Replay a scenario document (or a list of steps) and check every promise after every
    step; the run up to the first step that breaks one, or None if none breaks. The
    replay's ``found`` names what broke; ``describe(replay)`` is the readable trace."""
    lifecycle = lifecycle if lifecycle is not None else SPEC
    extra = _promises(promises)
    document = scenario if isinstance(scenario, Mapping) else {"steps": list(scenario)}
    return replay(document["steps"], seed=document.get("seed"),
                  config=config if config is not None else ClusterConfig.default(),
                  lifecycle=lifecycle, cluster_class=Cluster,
                  check=lambda c: unexplained_violations(c, lifecycle, extra)[0])


def describe(broken: Replay, promises: Iterable[Promise] = ()) -> str:
    """A broken replay as the search reports one: numbered trace, what broke, the cluster."""
    return failure_report(broken.lines, broken.found, broken.table, _promises(promises))
