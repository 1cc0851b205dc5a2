"""From a scenario to what running Nova must do, and what the model says it will show.

The model runs the scenario (``nova_model.scenario.run``); an observer records what
the model looks like after each step and every step outcome it delivers. From that the
plan is built: one Nova action per scenario step, with the faults each request's chain
must meet armed before the request, and a mark on every step after which the model
has no deliverable work (a quiescent point: Nova is waited on and compared there).

Nova runs a request's whole chain by itself. A step that comes while the model still
holds work (a request racing a chain in flight, a host event in the middle of a move)
is performed by *holding* each chain in flight at its next step (``holds``): the
request that started the chain arms a hold on the Nova method that receives that
step's cast, the racing step is sent once Nova waits there, and the delivery of the
held step releases it. Nova runs everything it is not held at by itself, at once, so a
held step may be released only after the model has delivered all the other work that
was in flight. A scenario whose order Nova cannot be made to follow that way (a step
with no declared hold, two held steps released together, a held step the model drops)
or that needs an outcome the harness cannot force, cannot be performed in Nova in that
order: the plan stops at the first such step and says why ("not reproducible in Nova");
it never counts it as agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from model import actions
from model.catalogue import CATALOGUE
from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from model.operation import When
from model.placement import ResourceClass
from model.scheduler.config import WEIGHT_MULTIPLIERS
from nova_model import scenario as scenarios
from nova_model.conformance.faults import Fault, NotInjectable, fault_map
from nova_model.conformance.holds import Gate, gate

#: Scenario verbs that only deliver queued work: in Nova the chain runs by itself.
_DELIVERING = (actions.Deliver, actions.Settle)


@dataclass
class PlannedStep:
    """One scenario step: its Nova action and what the model showed after it."""

    index: int                       # executed-step number, from 1
    path: str                        # the step's place in the file
    words: str                       # the model's words for the step
    action: dict[str, Any]
    model: dict[str, Any] | None     # the comparable view (quiescent points only)
    accepted: bool | None            # the model's verdict on a request
    error: str | None
    #: after a host's resource audit: that host's tracker count and Placement usage in
    #: the model (``audit_view``), compared with Nova's at once (quiescent or not)
    audit: dict[str, Any] | None = None


@dataclass
class Plan:
    name: str
    steps: list[PlannedStep] = field(default_factory=list)
    not_reproducible: str | None = None   # why Nova cannot follow from the next step on
    stopped_at: str | None = None         # the step where the plan stopped

    def request(self) -> dict[str, Any]:
        return {"name": self.name, "actions": [s.action for s in self.steps]}


def cluster_document(config: ClusterConfig) -> dict[str, Any]:
    """The cluster file as the Nova side builds it (plain JSON, no model types)."""
    hosts = []
    for h in config.hosts:
        r = h.ratios(config.allocation_ratios)
        hosts.append({
            "name": h.name, "vcpus": h.vcpus, "memory_mb": h.memory_mb,
            "local_gb": h.local_gb, "aggregates": list(h.aggregates),
            "supported_instances": [list(t) for t in h.supported_instances],
            "hypervisor_type": h.hypervisor_type, "hypervisor_version": h.hypervisor_version,
            "service_up": h.service_up, "enabled": h.enabled,
            "initial_ratio": {"VCPU": r.cpu_allocation_ratio,
                              "MEMORY_MB": r.ram_allocation_ratio,
                              "DISK_GB": r.disk_allocation_ratio},
            "reserved": {"VCPU": r.reserved_host_cpus,
                         "MEMORY_MB": r.reserved_host_memory_mb,
                         "DISK_GB": -(-r.reserved_host_disk_mb // 1024)},
            # what the compute's resource tracker counts as used before any instance
            # (RT._update_usage_from_instances starts from these options)
            "reserved_host": {"reserved_host_cpus": r.reserved_host_cpus,
                              "reserved_host_memory_mb": r.reserved_host_memory_mb,
                              "reserved_host_disk_mb": r.reserved_host_disk_mb},
        })
    zones = {h.name: h.availability_zone for h in config.hosts}
    aggregates = [{"name": a.name, "availability_zone": a.metadata.get("availability_zone"),
                   "metadata": {k: v for k, v in a.metadata.items()
                                if k != "availability_zone"}}
                  for a in config.aggregates]
    # A zone given on a host rather than by an aggregate is still an aggregate in Nova.
    with_zone = {h["name"] for h in hosts for a in config.aggregates_of(h["name"])
                 if a.metadata.get("availability_zone")}
    for name, zone in sorted(zones.items()):
        if zone and zone != config.scheduler.default_availability_zone and name not in with_zone:
            agg = f"zone-{zone}"
            if agg not in {a["name"] for a in aggregates}:
                aggregates.append({"name": agg, "availability_zone": zone, "metadata": {}})
            next(h for h in hosts if h["name"] == name)["aggregates"].append(agg)
    s = config.scheduler
    o = config.options
    return {
        "hosts": hosts, "aggregates": aggregates,
        "flavors": [{"name": f.name, "vcpus": f.vcpus, "memory_mb": f.memory_mb,
                     "root_gb": f.root_gb, "ephemeral_gb": f.ephemeral_gb, "swap": f.swap,
                     "extra_specs": dict(f.extra_specs)} for f in config.flavors],
        "images": [{"name": i.name, "properties": dict(i.properties),
                    "volume_backed": i.volume_backed} for i in config.images],
        "default_image": config.images[0].name if config.images else None,
        "server_groups": [{"name": g.name, "policy": g.policy, "rules": dict(g.rules)}
                          for g in config.server_groups],
        "scheduler": {"enabled_filters": list(s.filters),
                      "host_subset_size": s.host_subset_size, "max_attempts": s.max_attempts,
                      # (Nova's test base turns the build-failure weigher off; the
                      # cluster's own multipliers are what both sides must weigh with)
                      "multipliers": {name: getattr(s, name) for name in WEIGHT_MULTIPLIERS}},
        "options": {name: getattr(o, name) for name in (
            "shelved_offload_time", "resize_confirm_window", "allow_resize_to_same_host",
            "reclaim_instance_interval", "reboot_timeout", "rescue_timeout",
            "instance_build_timeout", "shutdown_timeout", "sync_power_state_interval",
            "running_deleted_instance_action")},
    }


def unsupported_config(config: ClusterConfig) -> str | None:
    """Why Nova 34 cannot run this cluster at all, or None."""
    if config.scheduler.mode != "placement":
        return (f"scheduler mode {config.scheduler.mode!r}: Nova 34 has no RamFilter, "
                "DiskFilter or CoreFilter (Placement decides capacity)")
    kept = {(r.reserved_host_cpus, r.reserved_host_memory_mb, r.reserved_host_disk_mb)
            for r in (h.ratios(config.allocation_ratios) for h in config.hosts)}
    if len(kept) > 1:
        return ("hosts reserve different amounts: Nova's resource tracker reads "
                "reserved_host_cpus, reserved_host_memory_mb and reserved_host_disk_mb from "
                "the one configuration all in-process compute services share")
    # (a rebuild of a volume-backed server is refused only when asked: see refusal)
    return None


def model_view(state: dict[str, Any]) -> dict[str, Any]:
    """The model's ``cluster_state`` in the shape the Nova side reports."""
    instances = {}
    for name, i in state["instances"].items():
        if i["vm_state"] == "deleted":
            instances[name] = {"vm_state": "deleted"}
            continue
        instances[name] = {k: i[k] for k in ("vm_state", "task_state", "power_state", "host",
                                             "flavor", "image", "locked")}
    migrations = {}
    for name, m in state["migrations"].items():
        owner = state["instances"].get(m["instance"], {})
        if owner.get("vm_state") == "deleted":
            migrations[name] = {"instance": m["instance"], "deleted": True}
        else:
            migrations[name] = {k: m[k] for k in ("instance", "type", "status", "source",
                                                  "dest")}
    allocations = {consumer: {host: {rc: n for rc, n in held.items() if n}
                              for host, held in by_host.items()}
                   for consumer, by_host in state["allocations"].items()}
    hosts = {name: {rc: dict(u) for rc, u in h["usage"].items()}
             for name, h in state["hosts"].items()}
    return {"instances": instances, "migrations": migrations,
            "allocations": allocations, "hosts": hosts}


def audit_view(step: scenarios.ScenarioStep, state: dict[str, Any],
               trackers: Mapping[str, tuple[int, int, int]]) -> dict[str, Any] | None:
    """After one host's resource audit, what the model says of that host: its
    resource tracker's count (the ComputeNode record's ``vcpus_used``,
    ``memory_mb_used``, ``local_gb_used``) and Placement's usage of its provider."""
    a = step.action
    if not (isinstance(a, actions.Periodic) and a.task == "update_available_resource"
            and a.host):
        return None
    vcpus, memory_mb, local_gb = trackers[a.host]
    return {"host": a.host,
            "compute_node": {"vcpus_used": vcpus, "memory_mb_used": memory_mb,
                             "local_gb_used": local_gb},
            "placement": {rc: u["used"] for rc, u in state["hosts"][a.host]["usage"].items()}}


@dataclass(frozen=True)
class _InFlight:
    """A step the model holds deliverable: Nova's chain is at it or runs it at once."""

    instance: str
    operation: str
    step: str
    work: str  # the model's work item (two chains of one operation may be in flight)

    @property
    def words(self) -> str:
        return f"{self.operation}.{self.step} of {self.instance}"


class _Recorder:
    """Observes the model run: deliveries with their outcome, state after each step."""

    def __init__(self) -> None:
        self.deliveries: dict[int, list[tuple[str, str, str, str, str]]] = {}
        #: per step, the (instance, operation, error) of each delivered branch that
        #: fails by its own check (``Branch.answers``)
        self.answers: dict[int, list[tuple[str, str, str]]] = {}
        self.after: dict[int, tuple[dict[str, Any], bool, list[str]]] = {}
        self.trackers: dict[int, dict[str, tuple[int, int, int]]] = {}

    def __call__(self, obs: scenarios.Observation) -> None:
        if obs.kind == "deliver":
            w = obs.work
            self.deliveries.setdefault(obs.index, []).append(
                (w.instance, w.operation, w.step, obs.outcome, w.id))
        elif obs.kind == "delivered":
            branch = getattr(obs.result, "branch", None)
            if branch is not None and branch.answers:
                self.answers.setdefault(obs.index, []).append(
                    (obs.work.instance, obs.work.operation, branch.answers))
            if (branch is not None and (When.NO_GUEST in branch.when or branch.answers)
                    and obs.outcome != "ok"):
                # The hypervisor had no guest, or the compute's own check failed: Nova's
                # step fails on it (InstanceNotFound, Branch.answers) before the call the
                # fault stands for, which is then not armed.
                w = obs.work
                self.deliveries[obs.index].remove(
                    (w.instance, w.operation, w.step, obs.outcome, w.id))
        elif obs.kind == "done":
            cluster = obs.cluster
            ready = [_InFlight(w.instance, w.operation, w.step, w.id)
                     for w in cluster.deliverable()]
            self.after[obs.index] = (scenarios.cluster_state(cluster), not ready, ready)
            self.trackers[obs.index] = {
                host: (t.vcpus_used, t.memory_mb_used, t.local_gb_used)
                for host, t in cluster.trackers.items()}


def build(name: str, scenario: scenarios.Scenario, config: ClusterConfig,
          lifecycle: Lifecycle | None = None) -> Plan:
    """Run the scenario on the model (or a catalogue variant's) and plan it for Nova."""
    plan = Plan(name)
    why = unsupported_config(config)
    if why:
        plan.not_reproducible, plan.stopped_at = why, "the cluster"
        return plan
    recorder = _Recorder()
    run = scenarios.run(scenario, config, lifecycle=lifecycle, observer=recorder)
    try:
        requests: dict[str, dict[str, Any]] = {}   # instance -> its latest request action
        chains: dict[tuple[str, str], dict[str, Any]] = {}  # (instance, op) -> its request
        images: dict[str, str | None] = {}          # instance -> the image it boots from
        in_flight: list[_InFlight] = []
        held: dict[_InFlight, str] = {}  # the steps Nova is held before -> the hold's key
        known: set[str] = set()  # the instances made so far
        hosts: dict[str, str | None] = {}  # each instance's host before the step
        released: set[int] = set()  # the held live migrations something else released
        for result, step in zip(run.results, scenario.steps):
            request = step.action if isinstance(step.action, actions.Request) else None
            state, quiescent, ready = recorder.after[result.index]
            deliveries = recorder.deliveries.get(result.index, ())
            awaits: list[str] = []
            if _racing(step, in_flight, chains, hosts):
                awaits, problem = _hold(in_flight, held, chains)
                if problem:
                    plan.not_reproducible = (
                        f"{step.path} ({result.words}) comes while {problem}")
                    plan.stopped_at = step.path
                    break
            refused = refusal(step, config, images)
            if refused:
                plan.not_reproducible, plan.stopped_at = refused, step.path
                break
            releases, late, problem = _releases(deliveries, in_flight, held, ready, chains)
            awaits += late
            if problem:
                plan.not_reproducible = f"{step.path} ({result.words}): {problem}"
                plan.stopped_at = step.path
                break
            action = _action(step, config)
            if awaits:
                action["await"] = awaits
            # a live migration the driver holds running (_holds_live_migration) ends
            # when the model delivers its post_live_migration, unless an accepted abort
            # or force-complete (whose cast reaches the driver by itself) or a restart
            # has released it
            releasing = (request is not None and result.accepted
                         and request.operation in _ON_RUNNING_LIVE_MIGRATION)
            if releasing or (isinstance(step.action, actions.HostEvent)
                             and step.action.kind == "restart"):
                released.update(id(c) for (_, op), c in chains.items()
                                if op == "live_migrate" and c.get("hold"))
            complete = sorted({i for i, op, s, _, _ in deliveries
                               if (op, s) == ("live_migrate", "post_live_migration")
                               and (chains.get((i, op)) or {}).get("hold")
                               and id(chains[(i, op)]) not in released})
            if complete:
                action["complete"] = complete
            if releases:
                action["release"] = releases
            if awaits or releases or (in_flight and not isinstance(step.action, _DELIVERING)):
                # (the work Nova ran by itself, which the model delivered, is done first)
                action["steady"] = True
            if (request is not None and request.instance is None
                    and CATALOGUE[request.operation].creates_instance and result.accepted):
                # (a multi-create's instances all belong to its one request)
                image = request.kwargs.get("image") or (
                    config.images[0].name if config.images else None)
                for made in set(state["instances"]) - known:
                    requests[made] = action
                    chains[(made, request.operation)] = action
                    images[made] = image
            elif request is not None and request.instance:
                requests[request.instance] = action
                chains[(request.instance, request.operation)] = action
            elif isinstance(step.action, actions.GuestEvent):
                requests[step.action.instance] = action  # its power-state sync's chain
            problem = _arm_faults(deliveries, requests, action,
                                  {(w.instance, w.operation): chains.get((w.instance, w.operation))
                                   for w in in_flight})
            if problem:
                plan.not_reproducible, plan.stopped_at = problem, step.path
                break
            for instance, operation, answer in recorder.answers.get(result.index, ()):
                chain = chains.get((instance, operation)) or requests.get(instance)
                if chain is not None:
                    chain["answer"] = answer
            action["observe"] = quiescent
            error = None if result.error is None else (
                f"{type(result.error).__name__}: {result.error.message}")
            plan.steps.append(PlannedStep(
                result.index, step.path, result.words, action,
                model_view(state) if quiescent else None,
                # (an accepted request can still answer with an error after its writes)
                (result.accepted and result.error is None) if request is not None else None,
                error, audit_view(step, state, recorder.trackers[result.index])))
            in_flight = ready
            known = set(state["instances"])
            hosts = {name: i.get("host") for name, i in state["instances"].items()}
    finally:
        run.close()
    _answer_waited_requests(plan, lifecycle)
    return plan


def _answer_waited_requests(plan: Plan, lifecycle: Lifecycle | None) -> None:
    """A request whose API waits for the compute (``Operation.api_waits``) answers with
    the compute step's failure: the model's accepted request whose chain met a fault,
    or failed by the compute's own check (``Branch.answers``), is an error response in
    Nova."""
    catalogue = lifecycle.catalogue if lifecycle is not None else CATALOGUE
    for step in plan.steps:
        action = step.action
        if (action["kind"] == "api" and step.accepted
                and (action.get("faults") or action.get("answer"))
                and catalogue[action["operation"]].api_waits):
            failure = (action["faults"][0]["key"] if action.get("faults")
                       else action["answer"])
            step.accepted = False
            step.error = (f"{failure}: the API waits for the compute, so the failure is "
                          "the request's answer")


#: Requests that act on a running live migration: the harness's driver can hold the
#: migration running (its ``live_migration`` waits for them), so they do not race it.
_ON_RUNNING_LIVE_MIGRATION = ("live_migrate_abort", "live_migrate_force_complete")


def _holds_live_migration(step: scenarios.ScenarioStep, in_flight: list[_InFlight],
                          chains: dict[tuple[str, str], dict[str, Any]],
                          hosts: Mapping[str, str | None] | None = None) -> bool:
    """The step comes while a live migration's driver call alone is still to run, and
    the driver can hold that call running meanwhile: an abort or force-complete of it,
    a restart of its source's compute service (which ends the driver's migration with
    the process), or a periodic task (which runs beside it, as in Nova; the model's
    later delivery of post_live_migration releases the driver, ``complete``). The
    request that started it is marked for the driver to hold it running."""
    action = step.action
    if isinstance(action, actions.Request):
        instance = action.instance
        on_it = action.operation in _ON_RUNNING_LIVE_MIGRATION
    elif isinstance(action, actions.HostEvent) and action.kind == "restart":
        on_source = [w.instance for w in in_flight
                     if (hosts or {}).get(w.instance) == action.host]
        instance = on_source[0] if on_source else None
        on_it = instance is not None
    elif isinstance(action, actions.Periodic):
        instance = in_flight[0].instance if len(in_flight) == 1 else None
        on_it = instance is not None
    else:
        return False
    started = chains.get((instance, "live_migrate"))  # (a refused abort came since)
    if not on_it or started is None or started["operation"] != "live_migrate":
        return False
    if [(w.instance, w.operation, w.step) for w in in_flight] != [
            (instance, "live_migrate", "post_live_migration")]:
        return False
    started["hold"] = True
    return True


def _racing(step: scenarios.ScenarioStep, in_flight: list[_InFlight],
            chains: dict[tuple[str, str], dict[str, Any]],
            hosts: Mapping[str, str | None] | None = None) -> list[str]:
    """The in-flight work this step would race in Nova (empty when nothing is in flight).

    Any step but a delivery races: Nova runs each chain as soon as it is cast, so a
    request, host event, periodic task or operator change sent while the model still
    holds work would meet that work at a point Nova cannot be held at. Even requests on
    different instances race: two creates sent back to back are scheduled concurrently
    by Nova (both see the hosts before either claim is counted), while the model
    schedules them one after the other.
    """
    if isinstance(step.action, _DELIVERING) or _holds_live_migration(step, in_flight, chains,
                                                                     hosts):
        return []
    return [w.words for w in in_flight]


def _arm_hold(work: _InFlight, held: dict[_InFlight, str],
              chains: dict[tuple[str, str], dict[str, Any]]) -> tuple[str | None, str | None]:
    """Arm a hold before ``work`` on the request that started its chain: its key, or
    why Nova cannot be held there."""
    how = gate(work.operation, work.step)
    if not isinstance(how, Gate):
        return None, f"{work.words} is still to run, and Nova cannot be held before it: {how.reason}"
    started = chains.get((work.instance, work.operation))
    if started is None or started["kind"] != "api":
        return None, (f"{work.words} is still to run, and no request of that operation "
                      "started its chain (a hold is armed by the chain's request)")
    key = f"{work.words} ({work.work})"   # the model's work id: one key per step
    started.setdefault("holds", []).append(
        {"key": key, "target": how.target, "instance": work.instance})
    held[work] = key
    return key, None


def _hold(in_flight: list[_InFlight], held: dict[_InFlight, str],
          chains: dict[tuple[str, str], dict[str, Any]]) -> tuple[list[str], str | None]:
    """Hold every chain in flight at its next step (``holds.gate``): each is armed on the
    request that started the chain, and the racing step awaits the new holds. Returns
    the holds to await, or why Nova cannot be held there."""
    awaits = []
    for work in in_flight:
        if work in held:
            continue  # held since an earlier racing step: Nova still waits there
        key, problem = _arm_hold(work, held, chains)
        if problem:
            return [], problem
        awaits.append(key)
    return awaits, None


def _releases(deliveries, in_flight: list[_InFlight], held: dict[_InFlight, str],
              ready: list[_InFlight], chains: dict[tuple[str, str], dict[str, Any]]
              ) -> tuple[list[str], list[str], str | None]:
    """The holds this step's deliveries release, the holds to await first, or why Nova
    cannot follow them.

    Nova runs at once everything it is not held at. So when the model delivers a held
    step, every other step that was in flight and is not delivered before it is held
    too (armed on its chain's request, awaited before the release); after the held step
    only its own chain may run in the same step (Nova runs that chain by itself); two
    held steps released by one step would run concurrently in Nova; and a held step the
    model no longer has deliverable (dropped, or its host down) is a cast Nova cannot
    take back.
    """
    order = [_InFlight(i, op, s, work) for i, op, s, _, work in deliveries]
    released = [w for w in order if w in held]
    awaits: list[str] = []
    if len(released) > 1:
        return [], [], (f"it delivers the held {released[0].words} and {released[1].words} "
                        "in one step; released together, Nova would run them concurrently")
    if released:
        work = released[0]
        at = order.index(work)
        before = set(order[:at])
        for other in in_flight:
            if other in held or other in before:
                continue
            key, problem = _arm_hold(other, held, chains)
            if problem:
                return [], [], f"it delivers the held {work.words} while {problem}"
            awaits.append(key)
        after = [w for w in order[at + 1:]
                 if (w.instance, w.operation) != (work.instance, work.operation)]
        if after:
            return [], [], (f"after the held {work.words} it delivers {after[0].words}; "
                            "Nova runs the released chain by itself, concurrently with "
                            "any other")
    releases = [held.pop(w) for w in released]
    dropped = [w for w in held if w not in ready]
    if dropped:
        return [], [], (f"the held {dropped[0].words} is no longer deliverable in the model "
                        "(dropped, or its host went down); Nova cannot take back a cast it "
                        "holds")
    return releases, awaits, None


def refusal(step: scenarios.ScenarioStep, config: ClusterConfig,
            images: Mapping[str, str | None] | None = None) -> str | None:
    """Why the harness cannot perform this step in Nova, or None. ``images`` names the
    image each instance created so far boots from."""
    a = step.action
    if isinstance(a, actions.Request):
        op, args = a.operation, a.kwargs
        # A volume-backed server boots from a volume the harness makes from the image
        # (Nova's Cinder fixture); rebuilding it re-images that volume through Cinder
        # (API.rebuild with reimage_boot_volume), which the fixture does not do.
        booted = (images or {}).get(a.instance) if op == "rebuild" else None
        image = args.get("image") if op == "rebuild" else None
        for name in (booted, image):
            if name is not None and config.image(name).volume_backed:
                return (f"{step.path}: a rebuild of a volume-backed server (image "
                        f"{name!r}) re-images its boot volume through Cinder, which the "
                        "harness's Cinder fixture does not do")
        interval = config.options.reclaim_instance_interval
        if op == "soft_delete" and interval <= 0:
            return (f"{step.path}: soft_delete needs reclaim_instance_interval > 0 "
                    "(Nova's DELETE soft-deletes only then)")
        if op == "delete" and interval > 0:
            return (f"{step.path}: with reclaim_instance_interval > 0 Nova's DELETE "
                    "soft-deletes; the model's delete is the hard delete")
    return None


def _action(step: scenarios.ScenarioStep, config: ClusterConfig) -> dict[str, Any]:
    match step.action:
        case actions.Request() as a:
            return {"kind": "api", "operation": a.operation, "instance": a.instance,
                    "as": a.caller or "owner", "args": a.kwargs, "faults": []}
        case actions.Periodic() as a:
            return {"kind": "periodic", "task": a.task, "host": a.host}
        case actions.HostEvent() as a:
            return {"kind": "host_event", "event": a.kind, "host": a.host}
        case actions.GuestEvent() as a:
            return {"kind": "instance_event", "event": a.event, "instance": a.instance,
                    "operation": None, "faults": []}
        case actions.OperatorChange() as a:
            field_name = actions.OPERATOR_FIELDS[a.change]
            value = float(a.value) if field_name == "allocation_ratio" else int(a.value)
            return {"kind": "operator", "host": a.host,
                    "resource_class": ResourceClass(a.resource_class).value,
                    "field": field_name, "value": value}
    return {"kind": "wait"}  # a delivery or a settle: the model's work, Nova's own


def _arm_faults(deliveries, requests: dict[str, dict[str, Any]],
                action: dict[str, Any],
                in_flight: dict[tuple[str, str], dict[str, Any] | None] | None = None
                ) -> str | None:
    """Attach each non-ok outcome to the request whose chain meets it (the chain in
    flight of that operation, else the instance's latest request)."""
    for instance, operation, step, outcome, _ in deliveries:
        if outcome == "ok":
            continue
        request = (in_flight or {}).get((instance, operation)) or requests.get(instance)
        if request is None or request["operation"] not in (operation, None):
            return (f"{operation}.{step} {outcome} of {instance}: no request of that "
                    "operation started the chain (the harness arms faults per request)")
        fault = fault_map().get((operation, step, outcome))
        if fault is None:
            return f"{operation}.{step} {outcome}: no way to produce it in Nova is declared"
        if isinstance(fault, NotInjectable):
            return f"{operation}.{step} {outcome}: {fault.reason}"
        assert isinstance(fault, Fault)
        request["faults"].append({"key": f"{operation}.{step} {outcome}",
                                  "target": fault.target, "raises": fault.raises,
                                  "kwargs": dict(fault.kwargs), "wraps": fault.wraps,
                                  "times": fault.times, "guest_off": fault.guest_off,
                                  "guest_on": fault.guest_on})
    return None
