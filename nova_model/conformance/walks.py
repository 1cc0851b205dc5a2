"""Seeded random sequential walks: scenarios that Nova can perform step for step.

A walk is a scenario in which every request, host event, periodic task and operator
change is followed by a ``settle``, so nothing ever races (each chain runs to its end
before the next step, as ``plan`` requires). The steps are drawn from the same world
the search drives: requests on existing instances (mostly ones the model's guard
accepts, sometimes any, so refusals are compared too) as owner or admin, with their
arguments; creates with flavors, images and groups; faults on a request's chain from
the fault table; hosts going down, coming back, restarting, being disabled; periodic
tasks; operators changing allocation ratios. The same seed gives the same walk.
"""

from __future__ import annotations

import random
from typing import Any

from model.catalogue import API_OPERATIONS
from model.config import ClusterConfig
from model.lifecycle import ADMIN, USER
from nova_model import scenario as scenarios
from nova_model.conformance.faults import Fault, fault_map
from nova_model.conformance.plan import refusal

#: Requests a walk makes on existing instances (create is drawn on its own).
OPERATIONS = tuple(op.name for op in API_OPERATIONS if not op.creates_instance)
PERIODIC = ("poll_unconfirmed_resizes", "poll_shelved_instances", "reclaim_queued_deletes",
            "sync_power_states", "update_available_resource")
RATIOS = (1.0, 1.5, 4.0, 16.0)


def walk(seed: int, steps: int, config: ClusterConfig) -> scenarios.Scenario:
    """A sequential walk of at least ``steps`` scenario steps (settles included)."""
    rng = random.Random(seed)
    raw: list[dict[str, Any]] = []
    down: set[str] = set()
    hosts = list(config.host_names)
    images = [i.name for i in config.images if not i.volume_backed]
    flavors = [f.name for f in config.flavors]
    groups = [g.name for g in config.server_groups]
    faults = {}
    for (op, step, outcome), how in fault_map().items():
        if isinstance(how, Fault):
            faults.setdefault(op, []).append(f"{op}.{step}={outcome}")
    while len(raw) < steps:
        run = scenarios.run(scenarios.parse({"seed": seed, "steps": raw}), config)
        try:
            cluster = run.cluster
            live = [name for name, i in cluster.instances.items()
                    if i.state != "new" and i.vm_state.value != "deleted"]
            roll = rng.random()
            if not live or roll < 0.12:
                step = {"api": "create", "args": _create_args(rng, flavors, images, groups)}
            elif roll < 0.80:
                step = _request(rng, cluster, live, config, flavors, images, hosts)
            elif roll < 0.90:
                step = _host_event(rng, hosts, down)
            elif roll < 0.97:
                task = rng.choice(PERIODIC)
                step = {"periodic": task} | (
                    {"host": rng.choice(sorted(set(hosts) - down) or hosts)}
                    if task == "update_available_resource" else {})
            else:
                step = {"operator": "set_allocation_ratio", "host": rng.choice(hosts),
                        "resource_class": rng.choice(("VCPU", "MEMORY_MB", "DISK_GB")),
                        "value": rng.choice(RATIOS)}
        finally:
            run.close()
        if step is None or refusal(scenarios.ScenarioStep("", _verb(step), step), config):
            continue
        settle: dict[str, Any] = {"settle": True}
        if "api" in step and step["api"] in faults and rng.random() < 0.3:
            key, outcome = rng.choice(faults[step["api"]]).split("=")
            settle["outcomes"] = {key: outcome}
        raw += [step, settle]
    return scenarios.parse({"seed": seed, "description": f"sequential walk {seed}",
                            "steps": raw}, source=f"walk-{seed}")


def _create_args(rng: random.Random, flavors, images, groups) -> dict[str, Any]:
    args: dict[str, Any] = {"flavor": rng.choice(flavors)}
    if images and rng.random() < 0.5:
        args["image"] = rng.choice(images)
    if groups and rng.random() < 0.25:
        args["group"] = rng.choice(groups)
    return args


def _request(rng: random.Random, cluster, live: list[str], config: ClusterConfig,
             flavors, images, hosts) -> dict[str, Any] | None:
    name = rng.choice(live)
    inst = cluster.instances[name]
    admin = rng.random() < 0.5
    ctx = ADMIN if admin else USER
    lc = cluster.lc
    accepted = [op for op in OPERATIONS
                if inst.state in lc.api_sources.get(op, ())
                and lc.guard_failure_for(op, inst, ctx) is None]
    op = rng.choice(accepted if accepted and rng.random() < 0.85 else list(OPERATIONS))
    args: dict[str, Any] = {}
    if op == "resize":
        others = [f for f in flavors if f != inst.flavor] or flavors
        args["flavor"] = rng.choice(others)
    elif op in ("migrate", "live_migrate", "evacuate") and rng.random() < 0.3:
        targets = [h for h in hosts if h != inst.host]
        if targets:
            args["host"] = rng.choice(targets)
    elif op == "rebuild" and images and rng.random() < 0.5:
        args["image"] = rng.choice(images)
    step: dict[str, Any] = {"api": op, "instance": name, "as": "admin" if admin else "owner"}
    if args:
        step["args"] = args
    return step


def _host_event(rng: random.Random, hosts: list[str], down: set[str]) -> dict[str, Any] | None:
    up = [h for h in hosts if h not in down]
    choices = []
    if len(up) > 2:
        choices.append("service_down")
    if down:
        choices.append("service_up")
    choices += ["restart", "disable", "enable"]
    event = rng.choice(choices)
    if event == "service_down":
        host = rng.choice(up)
        down.add(host)
    elif event == "service_up":
        host = rng.choice(sorted(down))
        down.discard(host)
    else:
        host = rng.choice(up)
    return {"host": host, "event": event}


def _verb(step: dict[str, Any]) -> str:
    return next(verb for verb in scenarios.VERBS if verb in step)
