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

#: How full a host must get to count as "at or near capacity".
NEAR_CAPACITY = 0.9

_MOVES = (MigrationType.RESIZE, MigrationType.MIGRATION)
_CLASSES = (ResourceClass.VCPU, ResourceClass.MEMORY_MB, ResourceClass.DISK_GB)
_EVACUATED = (MigrationStatus.DONE, MigrationStatus.COMPLETED)
_OFFLOADED, _ACTIVE = VmState.SHELVED_OFFLOADED, VmState.ACTIVE
_EVACUATION, _LIVE = MigrationType.EVACUATION, MigrationType.LIVE_MIGRATION
_CONFIRMED, _REVERTED = MigrationStatus.CONFIRMED, MigrationStatus.REVERTED
_COMPLETED = MigrationStatus.COMPLETED


@dataclass
class Coverage:
    vm_states: set[VmState] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    findings: set[str] = field(default_factory=set)  # upstream findings reproduced
    steps: int = 0
    # per (cluster, instance): the host it last ran on, and whether it was offloaded since
    _last_host: dict[tuple[int, str], str] = field(default_factory=dict)
    _offloaded: set[tuple[int, str]] = field(default_factory=set)

    def found(self, finding: str) -> None:
        self.findings.add(finding)

    def accepted(self, operation: str) -> None:
        self.operations.add(operation)

    def observe(self, cluster, fullest: float | None = None) -> None:
        """Record what ``cluster`` has reached; ``fullest`` is its fullest host in
        percent of capacity (computed here if not given)."""
        key = id(cluster)
        # (runs after every step: bound methods and enum members are read once)
        seen, offloaded, last_host = self.vm_states.add, self._offloaded, self._last_host
        for uuid, inst in cluster.instances.items():
            state = inst.state
            if state == "new":
                continue
            vm = STATE_PAIRS[state][0]  # inst.vm_state
            seen(vm)
            if vm is _OFFLOADED:
                offloaded.add((key, uuid))
            elif vm is _ACTIVE and inst.host is not None:
                ident = (key, uuid)
                if ident in offloaded and last_host.get(ident) not in (None, inst.host):
                    self.events.add("unshelve onto another host")
                offloaded.discard(ident)
                last_host[ident] = inst.host
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
