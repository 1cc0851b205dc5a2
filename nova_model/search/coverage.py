"""What the search reached: the "sometimes" partners of the invariants.

A green run proves little if it never got anywhere. ``Coverage`` watches every
cluster the search builds and records the states and events a meaningful run
must contain; ``missing()`` names the ones that were never reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.catalogue import API_OPERATIONS
from model.lifecycle import STATE_PAIRS
from model.placement import ResourceClass
from model.states import MigrationStatus, MigrationType, VmState

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
_COMPLETED = MigrationStatus.COMPLETED
_NEVER = (None, False)  # an instance's history before it ever ran


@dataclass
class Coverage:
    vm_states: set[VmState] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    findings: set[str] = field(default_factory=set)  # upstream findings reproduced
    steps: int = 0

    def found(self, finding: str) -> None:
        self.findings.add(finding)

    def accepted(self, operation: str) -> None:
        self.operations.add(operation)

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
                       "evacuation", "unshelve onto another host")
    #: what a search that draws multi-creates (``ClusterMachine.multi_create``) must reach
    MULTI_CREATE_EVENTS = (MULTI_CREATE_ACCEPTED, MULTI_CREATE_PLACED, MULTI_CREATE_FAILED)

    def missing(self) -> list[str]:
        out = [f"vm_state {vm.value}" for vm in VmState if vm not in self.vm_states]
        out += [f"operation {op.name} accepted" for op in API_OPERATIONS
                if op.name not in self.operations and not op.name.startswith("reset_state")]
        out += [event for event in self.REQUIRED_EVENTS if event not in self.events]
        return out

    def summary(self) -> dict:
        return {
            "steps observed": self.steps,
            "vm_states reached": sorted(vm.value for vm in self.vm_states),
            "operations accepted": sorted(self.operations),
            "events": sorted(self.events),
            "upstream findings reproduced": sorted(self.findings),
            "missing": self.missing(),
        }
