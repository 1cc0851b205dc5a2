"""How a declared step outcome is produced in running Nova.

The conformance runner replays a scenario on Nova 34 with the fake virt driver. A
delivery whose outcome is not ``ok`` is produced by making the Nova callable that
runs at that step raise the exception Nova's code handles for that outcome. Each
entry says which callable (a dotted attribute path, patched only while the request's
chain runs), which exception, and which Nova function turns it into the outcome.

An outcome that cannot be injected (Placement's or the scheduler's own answer, or a
state the fake driver cannot reach) is a ``NotInjectable`` with its reason: the
runner reports a scenario that needs it as not reproducible in Nova, never as
agreement.
"""

from __future__ import annotations

import functools

from nova_model.conformance import faults_basic, faults_live_evacuate, faults_moves
from nova_model.conformance.fault_kinds import (  # noqa: F401  (what callers import here)
    MOVE_CLAIM_TEST, Fault, FaultMap, NotInjectable,
)


@functools.cache
def fault_map() -> FaultMap:
    """Every declared way to produce an outcome, by (operation, step, outcome)."""
    table: dict[tuple[str, str, str], Fault | NotInjectable] = {}
    for part in (faults_basic, faults_moves, faults_live_evacuate):
        overlap = set(table) & set(part.FAULTS)
        if overlap:
            raise ValueError(f"fault declared twice: {sorted(overlap)}")
        table.update(part.FAULTS)
    return table
