"""The lifecycle corpus: one sequential scenario per operation and per injectable outcome.

For every API operation (its success path) and every declared outcome the fault table
can produce in Nova, the shortest sequence of settled requests (and host events) that
brings a fresh instance to where the operation is accepted is found by breadth-first
search on the model, then the operation is requested with that outcome injected. A
target is kept only if the model really delivers that outcome on that run; what no
short sequence reaches is listed with the reason, never dropped silently.

Some outcomes need Nova options other than the defaults (a soft delete exists only
with ``reclaim_instance_interval`` > 0; a shelved instance stays shelved only with
``shelved_offload_time`` = -1): the corpus is built for each of those configurations.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator

from model.catalogue import API_OPERATIONS
from model.config import ClusterConfig
from nova_model import scenario as scenarios
from nova_model.conformance.faults import Fault, fault_map
from nova_model.conformance.plan import refusal

#: How deep the search for a set-up goes (requests before the target one).
MAX_SETUP = 4
#: Arguments a request needs in the corpus (the first other flavor for a resize).
_HOST_DOWN = {"host": "compute1", "event": "service_down"}


@dataclass(frozen=True)
class Target:
    operation: str
    step: str | None        # None: the success path
    outcome: str

    @property
    def key(self) -> str:
        return (f"{self.operation} ok" if self.step is None
                else f"{self.operation}.{self.step} {self.outcome}")


def variants(config: ClusterConfig) -> list[tuple[str, ClusterConfig]]:
    """The cluster as given, and with the options some operations need."""
    o = config.options
    return [
        ("default", config),
        ("soft-delete", config.replace(options=dataclasses.replace(
            o, reclaim_instance_interval=3600))),
        ("keep-shelved", config.replace(options=dataclasses.replace(
            o, shelved_offload_time=-1))),
    ]


def targets() -> list[Target]:
    out = [Target(op.name, None, "ok") for op in API_OPERATIONS]
    out += [Target(op, step, outcome) for (op, step, outcome), how in fault_map().items()
            if isinstance(how, Fault)]
    return out


def build(config: ClusterConfig) -> tuple[list[tuple[str, ClusterConfig, scenarios.Scenario]],
                                          dict[str, str]]:
    """(named scenarios with their cluster, unreached target -> reason)."""
    found: dict[str, tuple[str, ClusterConfig, scenarios.Scenario]] = {}
    for variant, cfg in variants(config):
        flavor = ("m1.small" if any(f.name == "m1.small" for f in cfg.flavors)
                  else cfg.flavors[0].name)
        prefixes = _reachable(cfg, flavor)
        for target in targets():
            if target.key in found:
                continue
            for prefix in prefixes:
                scenario = _scenario(prefix, target, cfg, flavor)
                if scenario is not None:
                    found[target.key] = (f"{target.key} [{variant}]", cfg, scenario)
                    break
    reasons = {t.key: (f"no sequence of up to {MAX_SETUP} settled requests (and a host "
                       "going down) brings one instance to where the model delivers it, "
                       "on any corpus configuration")
               for t in targets() if t.key not in found}
    return [found[k] for k in sorted(found)], reasons


def _reachable(config: ClusterConfig, flavor: str) -> list[list[str]]:
    """The shortest set-up for each distinct state of the instance, shortest first."""
    seen: dict[tuple, list[str]] = {}
    queue: deque[list[str]] = deque([[]])
    order: list[list[str]] = []
    while queue:
        prefix = queue.popleft()
        key = _state(prefix, config, flavor)
        if key is None or key in seen:
            continue
        seen[key] = prefix
        order.append(prefix)
        if len(prefix) < MAX_SETUP:
            for move in _moves(config):
                if move == ["<host down>"] and "<host down>" in prefix:
                    continue
                queue.append(prefix + move)
    return order


def _state(prefix: list[str], config: ClusterConfig, flavor: str) -> tuple | None:
    """vm1's state after the set-up (None if a request of it was refused)."""
    doc = {"seed": 0, "steps": _steps(prefix, config, flavor)}
    scenario = scenarios.parse(doc)
    if any(refusal(s, config) for s in scenario.steps):
        return None
    run = scenarios.run(scenario, config)
    try:
        if not all(r.accepted for r in run.results if r.input.get("api")):
            return None
        inst = run.cluster.instances["vm1"]
        mig = inst.migration
        return (inst.state, int(inst.power_state), inst.locked,
                None if mig is None else (mig.migration_type.value, mig.status.value),
                tuple(sorted(h for h, rec in run.cluster.hosts.items() if not rec.up)))
    finally:
        run.close()


#: Targets that are not API requests: the steps that make them happen.
_TRIGGERS = {"sync_power_state": [{"event": "guest_stopped", "instance": "vm1"}]}


def _scenario(prefix: list[str], target: Target, config: ClusterConfig,
              flavor: str) -> scenarios.Scenario | None:
    steps = _steps(prefix, config, flavor) + (
        _TRIGGERS.get(target.operation) or [_request(target.operation, config, flavor)])
    settle: dict[str, Any] = {"settle": True}
    if target.step is not None:
        settle["outcomes"] = {f"{target.operation}.{target.step}": target.outcome}
    steps.append(settle)
    doc = {"seed": 0, "description": f"corpus: {target.key}", "steps": steps}
    scenario = scenarios.parse(doc, source=f"corpus: {target.key}")
    if any(refusal(s, config) for s in scenario.steps):
        return None
    return scenario if _delivered(scenario, config, target) else None


def _request(op: str, config: ClusterConfig, flavor: str | None) -> dict[str, Any]:
    if op == "create":  # a second instance, beside the set-up's
        return {"api": "create", "args": {"flavor": flavor}}
    step: dict[str, Any] = {"api": op, "instance": "vm1", "as": "admin"}
    if op == "resize":
        others = [f.name for f in config.flavors if f.name != flavor]
        # the smallest larger flavor: never refused for its disk
        bigger = [f for f in config.flavors if f.name in others
                  and f.root_gb >= config.flavor(flavor).root_gb]
        step["args"] = {"flavor": (min(bigger, key=lambda f: f.root_gb).name
                                   if bigger else others[0])}
    return step


def _moves(config: ClusterConfig) -> Iterator[list[dict[str, Any]]]:
    for op in API_OPERATIONS:
        if op.creates_instance:
            continue
        yield [op.name]
    yield ["<host down>"]


def _steps(names: list[str], config: ClusterConfig, flavor: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [{"api": "create", "args": {"flavor": flavor}},
                                   {"settle": True}]
    for name in names:
        if name == "<host down>":
            steps += [_HOST_DOWN]
        else:
            steps += [_request(name, config, flavor), {"settle": True}]
    return steps


def _delivered(scenario: scenarios.Scenario, config: ClusterConfig,
               target: Target) -> bool:
    """The model accepts every request of the scenario and, at its end, the target."""
    seen: list[tuple[str, str, str]] = []

    def observe(obs: scenarios.Observation) -> None:
        if obs.kind == "delivered" and obs.result is not None and obs.result.accepted:
            seen.append((obs.work.operation, obs.work.step, obs.outcome))

    run = scenarios.run(scenario, config, observer=observe)
    try:
        if not all(r.accepted for r in run.results if r.input.get("api")):
            return False
        if target.step is None:
            return True
        return (target.operation, target.step, target.outcome) in seen
    finally:
        run.close()
