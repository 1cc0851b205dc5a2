"""Capacity: Placement never lets a claim take a provider past its capacity."""

from __future__ import annotations


def claims_within_capacity(cluster) -> list[str]:
    """No provider's usage exceeds (total - reserved) * allocation_ratio, unless an operator lowered the capacity afterwards.

    Placement's ``_check_capacity_exceeded`` refuses any allocation that would
    exceed capacity, so usage above capacity can only come from an operator
    lowering a ratio or raising ``reserved`` under existing allocations (Placement
    allows that); those cases are reported by ``Ledger.over_capacity`` as
    operator-caused and are not violations.
    """
    return cluster.ledger.over_capacity(include_explained=False)
