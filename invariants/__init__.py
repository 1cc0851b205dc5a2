"""The cloud's promises, as plain predicates over a ``model.cluster.Cluster``.

Each invariant returns its violations as readable strings (an empty list when the
promise holds), never just ``False``, so a counterexample says what broke.
``ALL`` is the registry the search and the review document read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from invariants import accounting, capacity, groups, progress, scheduler, states, tracker


@dataclass(frozen=True)
class Invariant:
    name: str
    check: Callable[..., list[str]]

    @property
    def promise(self) -> str:
        return (self.check.__doc__ or "").strip().splitlines()[0]

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip()

    def __call__(self, cluster) -> list[str]:
        return self.check(cluster)


ALL: tuple[Invariant, ...] = (
    Invariant("claims_within_capacity", capacity.claims_within_capacity),
    Invariant("usage_equals_allocations", accounting.usage_equals_allocations),
    Invariant("allocations_have_live_consumers", accounting.allocations_have_live_consumers),
    Invariant("instances_hold_what_their_state_implies",
              accounting.instances_hold_what_their_state_implies),
    Invariant("legal_state_combinations", states.legal_state_combinations),
    Invariant("host_set_exactly_when_required", states.host_set_exactly_when_required),
    Invariant("migrations_agree_with_instances", states.migrations_agree_with_instances),
    Invariant("server_group_policies", groups.server_group_policies),
    Invariant("nothing_stuck", progress.nothing_stuck),
    Invariant("scheduler_decisions_sound", scheduler.scheduler_decisions_sound),
    Invariant("error_only_from_failures", progress.error_only_from_failures),
    Invariant("tracker_usage_never_negative", tracker.tracker_usage_never_negative),
    Invariant("tracker_audit_agrees_with_placement",
              tracker.tracker_audit_agrees_with_placement),
)

BY_NAME = {inv.name: inv for inv in ALL}


def violations(cluster, names=None) -> dict[str, list[str]]:
    """Every violated invariant with its messages (only the violated ones)."""
    found: dict[str, list[str]] = {}
    for inv in ALL:
        if names is not None and inv.name not in names:
            continue
        messages = inv.check(cluster)  # (what ``inv(cluster)`` does, one call fewer)
        if messages:
            found[inv.name] = messages
    return found
