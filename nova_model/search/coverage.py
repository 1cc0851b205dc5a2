"""What the search reached: the "sometimes" partners of the invariants.

A green run proves little if it never got anywhere. ``Coverage`` watches every
cluster the search builds and records the states and events a meaningful run
must contain, the shapes of the requests it sent (``arguments``) and every outcome
of every step it delivered; ``missing()`` names the ones that were never reached.

Every outcome the catalogue declares for a step is required (the single-instance
exploration, ``model.graph``, reaches them all), except those ``UNREACHED_OUTCOMES``
names, each with the reason the cluster search cannot deliver it; so is every
interleaving of ``targets.INTERLEAVINGS`` (host events, periodic tasks and operators'
changes placed inside or after a move, a request that takes a queued revert's task,
group members moving together, the hypervisor's guest_stopped on each vm_state),
except those ``UNREACHED_INTERLEAVINGS`` names. The search does not wait for luck to
reach them: it aims at each (``targets``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from invariants.accounting import REVERT, REVERTING, TAKE_A_REVERT
from model.catalogue import API_OPERATIONS, CATALOGUE
from model.lifecycle import STATE_PAIRS
from model.placement import ResourceClass
from model.states import MigrationStatus, MigrationType, VmState
from nova_model.search import arguments
from nova_model.search.targets import (
    AUDIT_MID_MOVE, BACK_AFTER_BUSY, BACK_AFTER_IDLE, BACK_DURING_BUSY, BACK_DURING_IDLE,
    EVAC_DOWN_AFTER, EVAC_DOWN_BEFORE, EVAC_DOWN_DURING, INTERLEAVINGS,
    GUEST_STOPPED_VM_STATES, OPERATOR_MID_MOVE, POLLER_MID_MOVE, REQUEST_HOST_DOWN_BUSY,
    RESTART_MID_CHAIN, REVERT_TAKEN, guest_stopped_on,
)

#: A multi-create (``min_count`` / ``max_count``): accepted, placed by one scheduling
#: decision, and failed for all its instances (NoValidHost) in one step.
MULTI_CREATE_ACCEPTED = "multi-create accepted"
MULTI_CREATE_PLACED = "multi-create placed by one decision"
MULTI_CREATE_FAILED = "multi-create failed for all its instances"

#: How full a host must get to count as "at or near capacity".
NEAR_CAPACITY = 0.9

_MOVES = (MigrationType.RESIZE, MigrationType.MIGRATION)
_CLASSES = (ResourceClass.VCPU, ResourceClass.MEMORY_MB, ResourceClass.DISK_GB)
_EVACUATED = (MigrationStatus.DONE, MigrationStatus.COMPLETED)
_OFFLOADED, _ACTIVE = VmState.SHELVED_OFFLOADED, VmState.ACTIVE
_EVACUATION, _LIVE = MigrationType.EVACUATION, MigrationType.LIVE_MIGRATION
_CONFIRMED, _REVERTED = MigrationStatus.CONFIRMED, MigrationStatus.REVERTED
_COMPLETED, _DONE = MigrationStatus.COMPLETED, MigrationStatus.DONE
_NEVER = (None, False)  # an instance's history before it ever ran
_RESIZE = MigrationType.RESIZE
_REVERT = REVERT.name

_GROUP_MOVE_KINDS = {"evacuate": (_EVACUATION,), "migrate": _MOVES,
                     "live_migrate": (_LIVE,)}

#: Declared step outcomes that cannot happen in a cluster run, each with its reason.
#: None today: the search aims at every other one (``targets``, the ``pursue`` rule),
#: and the coverage test asserts each is delivered under ``ci``.
UNREACHED_OUTCOMES: dict[tuple[str, str, str], str] = {}

#: Every (operation, step, outcome) the catalogue declares, but the API steps (whose
#: only outcome is the request being accepted: ``operations accepted``).
DECLARED_OUTCOMES = tuple((op.name, step.name, outcome.name)
                          for op in CATALOGUE.values() for step in op.steps
                          for outcome in step.outcomes)
REQUIRED_OUTCOMES = tuple(o for o in DECLARED_OUTCOMES if o not in UNREACHED_OUTCOMES)

_GUEST_STOPPED = CATALOGUE["guest_stopped"].guard
#: Interleavings that cannot happen in a cluster run, each with its reason.
UNREACHED_INTERLEAVINGS: dict[str, str] = {
    **{guest_stopped_on(vm, busy): (
        f"the catalogue declares the guest_stopped event (CM.handle_lifecycle_event) on "
        f"{', '.join(sorted(v.value for v in _GUEST_STOPPED.vm_states))} instances only: on "
        f"a {vm.value} instance it is refused and changes nothing (the periodic "
        f"sync_power_states, CM._sync_instance_power_state, handles a guest found "
        f"stopped there)")
       for vm in GUEST_STOPPED_VM_STATES for busy in (False, True)
       if vm not in _GUEST_STOPPED.vm_states},
}
REQUIRED_INTERLEAVINGS = tuple(i for i in INTERLEAVINGS if i not in UNREACHED_INTERLEAVINGS)


@dataclass
class Coverage:
    vm_states: set[VmState] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    findings: set[str] = field(default_factory=set)  # upstream findings reproduced
    #: "operation: shape" of every request accepted (``arguments.shapes_of``)
    arguments: set[str] = field(default_factory=set)
    #: (operation, step, outcome) of every step delivered
    outcomes: set[tuple[str, str, str]] = field(default_factory=set)
    #: the interleavings reached (``targets.INTERLEAVINGS``)
    interleavings: set[str] = field(default_factory=set)
    #: the shapes the search must send (``arguments.shapes`` of the configuration
    #: searched; none required when not given)
    required_arguments: tuple[str, ...] = ()
    #: the events the search must reach (``REQUIRED_EVENTS``, and the multi-create
    #: ones in a search that draws multi-creates)
    required_events: tuple[str, ...] = ()
    steps: int = 0

    @classmethod
    def of(cls, config, multi_create: bool = True) -> "Coverage":
        """The coverage a search of ``config`` must reach (``multi_create``: a search
        that draws multi-creates)."""
        return cls(required_arguments=arguments.shapes(config),
                   required_events=cls.REQUIRED_EVENTS
                   + (cls.MULTI_CREATE_EVENTS if multi_create else ()))

    def found(self, finding: str) -> None:
        self.findings.add(finding)

    def accepted(self, operation: str, shapes: tuple[str, ...] = ()) -> None:
        self.operations.add(operation)
        for shape in shapes:
            self.arguments.add(f"{operation}: {shape}")

    def delivered(self, operation: str, step: str, outcome: str) -> None:
        self.outcomes.add((operation, step, outcome))

    # -- interleavings: each recorded from the cluster as it is just before the event -----

    def host_event(self, cluster, event: str, host: str) -> None:
        """``event`` (service_down, service_up, restart ...) is about to happen on ``host``."""
        seen = self.interleavings.add
        was_up = cluster.hosts[host].up
        for m in cluster.migrations.values():
            if m.migration_type is not _EVACUATION:
                continue
            inst = cluster.instances.get(m.instance_uuid)
            if inst is None:
                continue
            busy, done = inst.task_state is not None, m.status is _DONE
            if event == "service_down" and was_up:
                if m.in_progress and not done and host != m.source:
                    seen(EVAC_DOWN_DURING)
                elif m.status in _EVACUATED and inst.host == host == m.dest:
                    seen(EVAC_DOWN_AFTER)
            elif event in ("service_up", "restart") and not was_up and m.source == host:
                # (done is still in progress for the source: its clean-up completes it)
                if done:
                    seen(BACK_AFTER_BUSY if busy else BACK_AFTER_IDLE)
                elif m.in_progress:
                    seen(BACK_DURING_BUSY if busy else BACK_DURING_IDLE)
        if event == "restart" and any(
                host in (w.target, cluster.instances[w.instance].host)
                and cluster.instances[w.instance].task_state is not None
                for w in cluster.work.values()):
            seen(RESTART_MID_CHAIN)

    def periodic(self, cluster, event: str, host: str | None) -> None:
        """A periodic task or an operator's change is about to run (on ``host``)."""
        for m in cluster.migrations.values():
            if not m.in_progress:
                continue
            inst = cluster.instances.get(m.instance_uuid)
            if inst is None or inst.task_state is None or not any(
                    w.instance == inst.uuid for w in cluster.work.values()):
                continue  # not between two of its steps
            if event == "poll_unconfirmed_resizes":
                self.interleavings.add(POLLER_MID_MOVE)
            elif host in (m.source, m.dest):
                if event == "update_available_resource":
                    self.interleavings.add(AUDIT_MID_MOVE)
                elif event == "set_allocation_ratio":
                    self.interleavings.add(OPERATOR_MID_MOVE)

    def request(self, cluster, op: str, instance: str | None) -> tuple[str, ...]:
        """A request of ``op`` on ``instance`` is about to be made: the interleavings it
        makes if it is accepted."""
        if instance is None:
            return ()
        inst = cluster.instances[instance]
        if (inst.task_state is not None and inst.host is not None
                and not cluster.hosts[inst.host].up):
            self.interleavings.add(REQUEST_HOST_DOWN_BUSY)
        out = []
        if (op in TAKE_A_REVERT and inst.task_state is REVERTING
                and any(w.instance == instance and w.operation == _REVERT
                        for w in cluster.work.values())):
            out.append(REVERT_TAKEN)
        if op == "evacuate" and sum(1 for h in cluster.hosts.values() if not h.up) > 1:
            out.append(EVAC_DOWN_BEFORE)
        kind = _GROUP_MOVE_KINDS.get(op)
        group = cluster.info[instance].group if kind is not None else None
        if group is not None:
            # another member whose move of the same kind is under way: its migration
            # in progress, or its request's chain still queued (a live migration's
            # record is made by the conductor)
            moving = {m.instance_uuid for m in cluster.migrations.values()
                      if m.in_progress and m.migration_type in kind}
            moving.update(w.instance for w in cluster.work.values() if w.operation == op)
            if any(u != instance and cluster.info[u].group == group for u in moving):
                out.append(f"two members of a server group {op} at once")
        return tuple(out)

    def observe(self, cluster, fullest: float | None = None,
                history: dict[str, tuple[str | None, bool]] | None = None) -> None:
        """Record what ``cluster`` has reached; ``fullest`` is its fullest host in
        percent of capacity (computed here if not given). ``history`` is the run's own
        record, per instance, of the host it last ran on and whether it was offloaded
        since (the run keeps it, so that a run resumed from a saved state has it too);
        without one, only what this one cluster shows is seen."""
        if history is None:
            history = {}
        seen = self.vm_states.add  # (runs after every step: read once)
        for uuid, inst in cluster.instances.items():
            state = inst.state
            if state == "new":
                continue
            vm = STATE_PAIRS[state][0]  # inst.vm_state
            seen(vm)
            if vm is _OFFLOADED:
                last_host, offloaded = history.get(uuid, _NEVER)
                if not offloaded:
                    history[uuid] = (last_host, True)
            elif vm is _ACTIVE and inst.host is not None:
                last_host, offloaded = history.get(uuid, _NEVER)
                if offloaded and last_host not in (None, inst.host):
                    self.events.add("unshelve onto another host")
                if offloaded or last_host != inst.host:
                    history[uuid] = (inst.host, False)
        events = self.events
        for m in cluster.migrations.values():
            kind, status = m.migration_type, m.status
            if kind in _MOVES:
                if status is _CONFIRMED:
                    events.add("resize confirmed")
                elif status is _REVERTED:
                    events.add("resize reverted")
                if kind is _RESIZE and m.dest is not None and m.dest == m.source:
                    events.add("resize onto the same host")
            elif kind is _EVACUATION:
                if status in _EVACUATED:
                    events.add("evacuation")
            elif kind is _LIVE and status is _COMPLETED:
                events.add("live migration completed")
        if fullest is None:
            fullest = self.utilisation(cluster)
        if fullest >= NEAR_CAPACITY * 100:
            events.add("a host at or near capacity")

    @staticmethod
    def utilisation(cluster) -> float:
        """The fullest resource of the fullest host, in percent of its capacity."""
        return cluster.ledger.max_utilisation(_CLASSES)

    # -- the requirements ------------------------------------------------------------------

    REQUIRED_EVENTS = ("a host at or near capacity", "resize confirmed", "resize reverted",
                       "evacuation", "unshelve onto another host", "resize onto the same host")
    #: what a search that draws multi-creates (``ClusterMachine.multi_create``, the
    #: default) must reach too
    MULTI_CREATE_EVENTS = (MULTI_CREATE_ACCEPTED, MULTI_CREATE_PLACED, MULTI_CREATE_FAILED)

    def missing(self) -> list[str]:
        out = [f"vm_state {vm.value}" for vm in VmState if vm not in self.vm_states]
        out += [f"operation {op.name} accepted" for op in API_OPERATIONS
                if op.name not in self.operations and not op.name.startswith("reset_state")]
        out += [event for event in self.required_events or self.REQUIRED_EVENTS
                if event not in self.events]
        out += [f"arguments {shape}" for shape in self.required_arguments
                if shape not in self.arguments]
        out += [f"outcome {'.'.join(o)}" for o in REQUIRED_OUTCOMES if o not in self.outcomes]
        out += [f"interleaving {i}" for i in REQUIRED_INTERLEAVINGS
                if i not in self.interleavings]
        return out

    def summary(self) -> dict:
        return {
            "steps observed": self.steps,
            "vm_states reached": sorted(vm.value for vm in self.vm_states),
            "operations accepted": sorted(self.operations),
            "events": sorted(self.events),
            "arguments reached": sorted(self.arguments),
            "outcomes delivered": sorted(".".join(o) for o in self.outcomes),
            "outcomes declared": len(DECLARED_OUTCOMES),
            "outcomes not required": {".".join(o): why
                                      for o, why in UNREACHED_OUTCOMES.items()},
            "interleavings reached": sorted(self.interleavings),
            "interleavings not required": dict(UNREACHED_INTERLEAVINGS),
            "upstream findings reproduced": sorted(self.findings),
            "missing": self.missing(),
        }
