"""Seeded random sequential walks: scenarios that Nova can perform step for step.

A walk is a scenario in which every request, host event, periodic task and operator
change is followed by a ``settle``, so nothing ever races (each chain runs to its end
before the next step, as ``plan`` requires). The steps are drawn from the same world
the search drives: requests on existing instances (mostly ones the model's guard
accepts, sometimes any, so refusals are compared too) as owner or admin, with their
arguments; creates with flavors, images and groups; faults on a request's chain from
the fault table; hosts going down, coming back, restarting, being disabled; the
hypervisor reporting a guest stopped; periodic tasks; operators changing allocation
ratios. The same seed gives the same walk.

A fault is drawn two ways: any request may carry one of its own operation's faults,
and some requests are drawn *for* a fault: a fault of an operation the instance's
state admits, drawn among all such faults. A move has six faults and a pause one, so
the first way alone leaves the deep steps of the moves' chains the rarest faults of
all; the second gives every fault the state admits the same chance.
"""

from __future__ import annotations

import random
from typing import Any

from model.catalogue import API_OPERATIONS
from model.config import ClusterConfig
from model.lifecycle import ADMIN, DYNAMIC_CONDITIONS, USER
from model.operation import When
from nova_model import scenario as scenarios
from nova_model.conformance.faults import Fault, fault_map
from nova_model.conformance.plan import refusal

#: Requests a walk makes on existing instances (create is drawn on its own).
OPERATIONS = tuple(op.name for op in API_OPERATIONS if not op.creates_instance)
#: The share of requests drawn for a fault, and of the other requests given one.
AIMED_AT_A_FAULT = 0.35
FAULTED = 0.3
#: The share of requests drawn among the (instance, operation) pairs the model admits
#: whose operation the walk has not sent yet (a restore needs its soft-deleted
#: instance, an unpause its paused one, to be the instance drawn)
NEW_OPERATION = 0.35
PERIODIC = ("poll_unconfirmed_resizes", "poll_shelved_instances", "reclaim_queued_deletes",
            "sync_power_states", "update_available_resource")
RATIOS = (1.0, 1.5, 4.0, 16.0)
GUEST_STOPPED = "guest_stopped"


def walk(seed: int, steps: int, config: ClusterConfig) -> scenarios.Scenario:
    """A sequential walk of at least ``steps`` scenario steps (settles included)."""
    rng = random.Random(seed)
    raw: list[dict[str, Any]] = []
    down: set[str] = set()
    hosts = list(config.host_names)
    images = [i.name for i in config.images if not i.volume_backed]
    flavors = [f.name for f in config.flavors]
    groups = [g.name for g in config.server_groups]
    faults: dict[str, list[str]] = {}
    for (op, step, outcome), how in fault_map().items():
        if isinstance(how, Fault):
            faults.setdefault(op, []).append(f"{op}.{step}={outcome}")
    fault = None
    while len(raw) < steps:
        run = scenarios.run(scenarios.parse({"seed": seed, "steps": raw}), config)
        try:
            cluster = run.cluster
            live = [name for name, i in cluster.instances.items()
                    if i.state != "new" and i.vm_state.value != "deleted"]
            roll = rng.random()
            fault = None
            if not live or roll < 0.12:
                step = {"api": "create", "args": _create_args(rng, flavors, images, groups)}
            elif roll < 0.80:
                step, fault = _request(rng, cluster, live, config, flavors, images, hosts,
                                       faults, {s["api"] for s in raw if "api" in s})
            elif roll < 0.87:
                step = _host_event(rng, hosts, down)
            elif roll < 0.90:
                # the hypervisor of a running compute reports on its own guests only,
                # and the model declares the event where its guard admits it
                guests = [n for n in live if cluster.instances[n].host not in (None, *down)
                          and _admits(cluster, GUEST_STOPPED, n)]
                step = guests and {"event": GUEST_STOPPED, "instance": rng.choice(guests)}
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
        if not step or refusal(scenarios.ScenarioStep("", _verb(step), step), config):
            continue
        settle: dict[str, Any] = {"settle": True}
        if fault is None:
            # a hypervisor's guest_stopped event leads to the power sync's stop
            operation = step.get("api") or (
                "sync_power_state" if step.get("event") == GUEST_STOPPED else None)
            if operation in faults and rng.random() < FAULTED:
                fault = rng.choice(faults[operation])
        if fault is not None:
            key, outcome = fault.split("=")
            settle["outcomes"] = {key: outcome}
        raw += [step, settle]
    return scenarios.parse({"seed": seed, "description": f"sequential walk {seed}",
                            "steps": raw}, source=f"walk-{seed}")


def _admits(cluster, op: str, name: str) -> bool:
    """The model's guard admits ``op`` on the instance, and it has a guest to act on."""
    inst = cluster.instances[name]
    lc = cluster.lc
    return (inst.state in lc.api_sources.get(op, ())
            and lc.guard_failure_for(op, inst, ADMIN) is None
            and not DYNAMIC_CONDITIONS[When.NO_GUEST](inst))


def _create_args(rng: random.Random, flavors, images, groups) -> dict[str, Any]:
    args: dict[str, Any] = {"flavor": rng.choice(flavors)}
    if images and rng.random() < 0.5:
        args["image"] = rng.choice(images)
    if groups and rng.random() < 0.25:
        args["group"] = rng.choice(groups)
    return args


def _request(rng: random.Random, cluster, live: list[str], config: ClusterConfig,
             flavors, images, hosts, faults: dict[str, list[str]],
             sent: set[str] = frozenset()) -> tuple[dict[str, Any], str | None]:
    """A request on an existing instance, and the fault drawn for it, if it was drawn
    for one (``sent``: the operations the walk has requested so far)."""
    lc = cluster.lc

    def admitted(name: str, ctx) -> list[str]:
        inst = cluster.instances[name]
        return [op for op in OPERATIONS if inst.state in lc.api_sources.get(op, ())
                and lc.guard_failure_for(op, inst, ctx) is None]

    # a share of the requests goes to an operation the walk has not sent yet, on an
    # instance that admits it (as admin where only an admin may send it)
    new = [(name, op) for name in live for op in admitted(name, ADMIN) if op not in sent]
    if new and rng.random() < NEW_OPERATION:
        name, op = rng.choice(new)
        admin = op not in admitted(name, USER) or rng.random() < 0.5
        return _step(rng, cluster.instances[name], name, op, admin, flavors, images,
                     hosts), None
    name = rng.choice(live)
    inst = cluster.instances[name]

    def accepted(ctx) -> list[str]:
        return admitted(name, ctx)

    admin = rng.random() < 0.5
    # a request drawn for a fault is sent as admin where only an admin may send it
    # (an evacuation): the faults of admin-only operations are drawn as often
    by_admin = accepted(ADMIN)
    admitted_faults = [f for op in by_admin for f in faults.get(op, ())]
    fault = None
    if admitted_faults and rng.random() < AIMED_AT_A_FAULT:
        fault = rng.choice(admitted_faults)
        op = fault.split(".", 1)[0]
        admin = admin or op not in accepted(USER)
    else:
        choices = by_admin if admin else accepted(USER)
        op = rng.choice(choices if choices and rng.random() < 0.85 else list(OPERATIONS))
    return _step(rng, inst, name, op, admin, flavors, images, hosts), fault


def _step(rng: random.Random, inst, name: str, op: str, admin: bool, flavors, images,
          hosts) -> dict[str, Any]:
    """The request ``op`` on the instance, with the arguments it is drawn."""
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
        # twice as likely as the others: only a down host lets an evacuation run
        choices += ["service_down", "service_down"]
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
