"""A Placement-style allocation ledger.

This models the part of the OpenStack Placement service that Nova relies on
for the standard resource classes: resource providers (one per compute node,
named like its host) with an inventory per resource class, and allocations
held by consumers (an instance uuid, or a migration uuid holding the source
side of a move).

The rules are Placement's (see `nova_scheduler_facts.md` section 5):

* capacity of an inventory = ``(total - reserved) * allocation_ratio``;
* writing allocations fails (InvalidAllocationCapacityExceeded) for a
  provider/resource class when ``capacity < used + requested``, where *used*
  no longer counts the old allocations of the consumers being written
  (Placement deletes those first, inside the same transaction), unless the
  write leaves that provider/class no fuller than it was before it: Placement
  (16.0.0, ``_check_capacity_exceeded`` with the usage summary taken before the
  delete) accepts a write that does not raise an existing overage;
* it fails (InvalidAllocationConstraintsViolated) when an amount is below
  ``min_unit``, above ``max_unit`` or not a multiple of ``step_size``;
* it fails (InvalidInventory) when the provider has no inventory of the
  class;
* zero amounts are not checked and not stored;
* a failed write changes nothing.

A write names one consumer (PUT /allocations/{consumer}) or several
(POST /allocations, `post_allocations`: Placement's ``set_allocations`` handler,
one ``allocation.replace_all`` transaction). ``_set_allocations`` deletes the
existing allocations of every consumer named in the batch first, then
``_check_capacity_exceeded`` checks each provider/class on the batch's
cumulative effect (a running sum over the batch's items), and writes all or
nothing; a consumer given empty allocations is left with none (its consumer
record is deleted). So moving an allocation from consumer A to consumer B on a
full provider succeeds as one batch, where two separate writes (B first) would
not. Single and batched writes share one check (`_refusal`). Consumer
generations are not modelled: every Placement call of the model runs inside
one step, so no other writer can come between Nova's read of a consumer and
its write (a generation conflict is an injected failure outcome instead).

Every amount in the request is checked against the constraints, including
amounts the consumer already held. On a provider an operator has pushed over
capacity, re-writing an unchanged allocation, or moving one between consumers,
is accepted (usage does not grow), and anything that adds usage there is refused.

`Ledger` is mutable (the operations are Placement's HTTP calls), but its
state is a value: `snapshot()` is a canonical hashable tuple, `restore()`
rebuilds an equal ledger, and two ledgers compare equal iff their snapshots
do.  Iteration orders are sorted everywhere.

Usage per provider/resource class is kept as a running counter updated by
every write, so that `usage_mismatches()` can recompute it from the
allocations and detect a bug in an update path.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, NoReturn

__all__ = [
    "Allocations",
    "Inventory",
    "Ledger",
    "OverCapacity",
    "PlacementError",
    "ResourceClass",
]


class ResourceClass(StrEnum):
    """The standard resource classes the model allocates."""

    VCPU = "VCPU"
    MEMORY_MB = "MEMORY_MB"
    DISK_GB = "DISK_GB"


# consumer allocation: provider -> resource class -> amount
Allocations = dict[str, dict[str, int]]


class PlacementError(ValueError):
    """A malformed inventory or request (a bug in the caller, not a refusal).

    A refused claim is not an error: the claim methods return False.
    """


def _is_int(value: Any) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


@dataclass(frozen=True, slots=True)
class Inventory:
    """One inventory record of a resource provider.

    `max_unit=None` means "equal to total" (what the libvirt driver reports).
    Validated on construction: a bad field raises PlacementError naming it.
    """

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int | None = None
    step_size: int = 1
    allocation_ratio: float = 1.0

    def __post_init__(self) -> None:
        if self.max_unit is None and _is_int(self.total):
            object.__setattr__(self, "max_unit", self.total)
        if _is_int(self.allocation_ratio):
            object.__setattr__(self, "allocation_ratio", float(self.allocation_ratio))
        _validate_inventory(self)

    @property
    def capacity(self) -> float:
        """(total - reserved) * allocation_ratio, as Placement computes it."""
        return (self.total - self.reserved) * self.allocation_ratio

    def as_tuple(self) -> tuple[int, int, int, int, int, float]:
        """(total, reserved, min_unit, max_unit, step_size, allocation_ratio)."""
        assert self.max_unit is not None
        return (
            self.total,
            self.reserved,
            self.min_unit,
            self.max_unit,
            self.step_size,
            self.allocation_ratio,
        )

    def replace(self, **changes: Any) -> Inventory:
        """A copy with `changes`.  When `total` changes and `max_unit` is not
        given, a `max_unit` that equalled the old total follows the new one."""
        if "total" in changes and "max_unit" not in changes and self.max_unit == self.total:
            changes["max_unit"] = changes["total"]
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:  # unknown field name
            raise PlacementError(f"inventory: {exc}") from None


def _validate_inventory(inv: Inventory) -> None:
    def fail(field_name: str, why: str) -> NoReturn:
        value = getattr(inv, field_name)
        raise PlacementError(f"inventory {field_name}: {why}, got {value!r}")

    for name in ("total", "reserved", "min_unit", "max_unit", "step_size"):
        if not _is_int(getattr(inv, name)):
            fail(name, "must be an integer")
    ratio = inv.allocation_ratio
    if not isinstance(ratio, float) or not math.isfinite(ratio):
        fail("allocation_ratio", "must be a finite number")
    if inv.total < 0:
        fail("total", "must be >= 0")
    if inv.reserved < 0:
        fail("reserved", "must be >= 0")
    if inv.reserved > inv.total:
        fail("reserved", f"must be <= total ({inv.total})")
    if inv.min_unit < 1:
        fail("min_unit", "must be >= 1")
    if inv.step_size < 1:
        fail("step_size", "must be >= 1")
    assert inv.max_unit is not None
    if inv.max_unit < 0:
        fail("max_unit", "must be >= 0")
    if inv.total > 0 and inv.max_unit < inv.min_unit:
        fail("max_unit", f"must be >= min_unit ({inv.min_unit})")
    if ratio <= 0:
        fail("allocation_ratio", "must be > 0")


class OverCapacity(NamedTuple):
    """A provider/resource class whose usage exceeds its capacity.

    `operator_lowered` is True when an inventory change (not a claim) pushed
    capacity below usage and usage has not grown since.
    """

    provider: str
    resource_class: str
    usage: int
    capacity: float
    operator_lowered: bool

    def describe(self) -> str:
        why = (
            "explained: an operator lowered capacity below existing usage"
            if self.operator_lowered
            else "not explained by an operator change: a write went over capacity"
        )
        return (
            f"{self.provider} {self.resource_class}: usage {self.usage} > "
            f"capacity {self.capacity:g} ({why})"
        )


_EMPTY: dict[str, dict[str, int]] = {}


class Ledger:
    """Resource providers, their inventories and the consumers' allocations.

    Internals (plain dicts, sorted only on output):

    * ``_inv[provider][rc] -> Inventory`` (per-provider dicts are replaced,
      never mutated, so `copy()` is shallow);
    * ``_alloc[consumer][provider][rc] -> amount`` (a consumer's value is
      replaced as a whole on every write, never mutated);
    * ``_usage[provider][rc] -> int``: the running total (mutated in place);
    * ``_lowered[(provider, rc)] -> usage``: usage at the moment an inventory
      change pushed capacity below it.  Legitimate writes cannot raise usage
      on an over-capacity inventory, so usage above capacity is explained by
      the operator as long as it stays <= the recorded value.
    """

    __slots__ = ("_inv", "_alloc", "_usage", "_lowered")

    def __init__(self) -> None:
        self._inv: dict[str, dict[str, Inventory]] = {}
        self._alloc: dict[str, dict[str, dict[str, int]]] = {}
        self._usage: dict[str, dict[str, int]] = {}
        self._lowered: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------
    # Providers and inventories
    # ------------------------------------------------------------------

    def add_provider(
        self, provider: str, inventories: Mapping[str, Inventory] | None = None
    ) -> None:
        """Create a resource provider with `inventories` (rc -> Inventory)."""
        if not isinstance(provider, str) or not provider:
            raise PlacementError(f"provider name must be a non-empty string, got {provider!r}")
        if provider in self._inv:
            raise PlacementError(f"provider {provider!r} already exists")
        new: dict[str, Inventory] = {}
        for rc, inv in (inventories or {}).items():
            new[_rc(rc)] = _check_inventory(inv)
        self._inv[provider] = new
        self._usage[provider] = {}

    def remove_provider(self, provider: str) -> bool:
        """DELETE /resource_providers/{rp}: refused (False) while any consumer
        holds allocations against it (ResourceProviderInUse)."""
        self._need_provider(provider)
        if any(provider in a for a in self._alloc.values()):
            return False
        del self._inv[provider]
        del self._usage[provider]
        for key in [k for k in self._lowered if k[0] == provider]:
            del self._lowered[key]
        return True

    def set_inventory(self, provider: str, rc: str, inventory: Inventory) -> None:
        """Create or replace one inventory record.  Allowed even below current
        usage (Placement keeps existing allocations); that is recorded so
        `over_capacity()` can tell it from a write that went over."""
        self._need_provider(provider)
        rc = _rc(rc)
        inventory = _check_inventory(inventory)
        old = self._inv[provider].get(rc)
        self._inv[provider] = {**self._inv[provider], rc: inventory}
        self._note_capacity_change(provider, rc, old)

    def update_inventory(self, provider: str, rc: str, **changes: Any) -> Inventory:
        """Change fields of an existing inventory (e.g. ``allocation_ratio``,
        ``reserved``); returns the new record."""
        self._need_provider(provider)
        rc = _rc(rc)
        old = self._inv[provider].get(rc)
        if old is None:
            raise PlacementError(f"provider {provider!r} has no {rc} inventory")
        new = old.replace(**changes)
        self.set_inventory(provider, rc, new)
        return new

    def delete_inventory(self, provider: str, rc: str) -> bool:
        """Remove an inventory record; refused (False) while allocations of
        that class exist on the provider (InventoryInUse)."""
        self._need_provider(provider)
        rc = _rc(rc)
        if rc not in self._inv[provider]:
            return True
        if self._usage[provider].get(rc, 0) or any(
            rc in a.get(provider, _EMPTY) for a in self._alloc.values()
        ):
            return False
        self._inv[provider] = {k: v for k, v in self._inv[provider].items() if k != rc}
        self._usage[provider].pop(rc, None)
        self._lowered.pop((provider, rc), None)
        return True

    def inventory(self, provider: str, rc: str) -> Inventory | None:
        self._need_provider(provider)
        return self._inv[provider].get(rc)

    def inventories(self, provider: str) -> dict[str, Inventory]:
        self._need_provider(provider)
        return {rc: self._inv[provider][rc] for rc in sorted(self._inv[provider])}

    def _note_capacity_change(self, provider: str, rc: str, old: Inventory | None) -> None:
        used = self._usage[provider].get(rc, 0)
        key = (provider, rc)
        new_cap = self._inv[provider][rc].capacity
        if new_cap >= used:
            self._lowered.pop(key, None)
            return
        if key in self._lowered:
            return  # still over; the earlier explanation stands
        old_cap = old.capacity if old is not None else math.inf
        if old_cap >= used:
            self._lowered[key] = used
        # else: it was already over capacity without an operator explanation;
        # a new operator change does not launder that.

    def _need_provider(self, provider: str) -> None:
        if provider not in self._inv:
            raise PlacementError(f"unknown resource provider {provider!r}")

    # ------------------------------------------------------------------
    # Writes
    # ------------------------------------------------------------------

    def claim(self, consumer: str, allocations: Mapping[str, Mapping[str, int]]) -> bool:
        """PUT /allocations/{consumer}: replace the consumer's allocations.

        Zero amounts are dropped; an empty request deletes the consumer's
        allocations.  Returns False and changes nothing when Placement would
        refuse (see `why_not`)."""
        new = _normalise(allocations)
        if self._refusal((consumer,), (new,)) is not None:
            return False
        self._write(consumer, new)
        return True

    def post_allocations(
        self, batch: Mapping[str, Mapping[str, Mapping[str, int]]]
    ) -> bool:
        """POST /allocations: replace the allocations of every consumer in
        `batch` (consumer -> provider -> rc -> amount) in one atomic write.

        Placement's ``set_allocations`` -> ``allocation.replace_all`` ->
        ``_set_allocations``: the old allocations of all the batch's consumers
        are removed first, capacity is checked per provider/resource class on the
        batch's cumulative effect (``_check_capacity_exceeded``), and either every
        consumer is written or none is. An empty allocation leaves its consumer
        with none. Returns False and changes nothing when Placement would refuse
        (see `why_not_post`)."""
        writes = {consumer: _normalise(allocs) for consumer, allocs in batch.items()}
        if self._refusal(tuple(writes), tuple(writes.values())) is not None:
            return False
        for consumer, new in writes.items():
            self._replace(consumer, new)
        if self._lowered:  # (once, on the batch's result: it is one write)
            self._forget_resolved()
        return True

    def why_not_post(
        self, batch: Mapping[str, Mapping[str, Mapping[str, int]]]
    ) -> str | None:
        """Why `post_allocations(batch)` would be refused, named like Placement's
        error, or None if it would succeed.  Changes nothing."""
        writes = {consumer: _normalise(allocs) for consumer, allocs in batch.items()}
        return self._refusal(tuple(writes), tuple(writes.values()))

    def claim_resources(self, consumer: str, allocations: Mapping[str, Mapping[str, int]]) -> bool:
        """The scheduler's claim (Nova's ``SchedulerReportClient.claim_resources``).

        A consumer that holds nothing gets exactly ``allocations``. One that still
        holds allocations keeps them, and of the request only the providers it does
        not use yet are added (``_move_operation_alloc_request``): a move whose
        source allocation was not moved away first ends up holding both hosts.
        Written with PUT semantics, so the whole result is checked."""
        old = self._alloc.get(consumer)
        if not old:
            return self.claim(consumer, allocations)
        merged = {p: dict(rcs) for p, rcs in old.items()}
        for provider, rcs in allocations.items():
            if provider not in merged:
                merged[provider] = dict(rcs)
        return self.claim(consumer, merged)

    def why_not(
        self, consumer: str, allocations: Mapping[str, Mapping[str, int]]
    ) -> str | None:
        """Why `claim(consumer, allocations)` would be refused, named like
        Placement's error, or None if it would succeed.  Changes nothing."""
        return self._refusal((consumer,), (_normalise(allocations),))

    def add_to_consumer(
        self, consumer: str, provider: str, resources: Mapping[str, int]
    ) -> bool:
        """Keep what the consumer holds and add `resources` on `provider`
        (Nova's doubled move allocation, e.g. evacuate's source + dest).

        Written with PUT semantics, so every provider of the result is
        checked.  Amounts on a provider the consumer already uses are summed.
        """
        old = self._alloc.get(consumer, _EMPTY)
        merged = {p: dict(rcs) for p, rcs in old.items()}
        target = merged.setdefault(provider, {})
        for rc, amount in resources.items():
            _check_amount(amount)
            target[rc] = target.get(rc, 0) + amount
        return self.claim(consumer, merged)

    def remove_provider_from_consumer(
        self, consumer: str, provider: str, *, force: bool = False
    ) -> bool:
        """Drop `provider` from the consumer's allocations (Nova's
        `remove_provider_tree_from_instance_allocation`).

        Nova writes the remainder with PUT, so Placement re-checks the
        remaining providers: on one an operator pushed over capacity this is
        refused (False).  `force=True` skips that check.  Removing a provider
        the consumer does not use is a successful no-op."""
        old = self._alloc.get(consumer)
        if old is None or provider not in old:
            return True
        remainder = {p: rcs for p, rcs in old.items() if p != provider}
        if not force and self._refusal((consumer,), (remainder,)) is not None:
            return False
        self._write(consumer, remainder)
        return True

    def move_allocations(self, source_consumer: str, target_consumer: str) -> bool:
        """Nova's ``SchedulerReportClient.move_allocations``: one POST /allocations
        (`post_allocations`) that gives the target what the source holds and
        empties the source.

        Capacity is checked with both consumers' old allocations removed, so a
        move never adds usage to a provider the source consumer already held: it
        is accepted on a full provider, and even where an operator lowered
        capacity below usage. A source that holds nothing while the target holds
        something is taken as already moved (Nova returns True without a write);
        when neither holds anything the write changes nothing."""
        if source_consumer == target_consumer:
            return True
        moved = self._alloc.get(source_consumer, _EMPTY)
        if not moved and self._alloc.get(target_consumer):
            return True
        return self.post_allocations({source_consumer: _EMPTY, target_consumer: moved})

    def delete_allocations(self, consumer: str) -> Allocations:
        """DELETE /allocations/{consumer}; idempotent.  Returns what was
        removed (empty if nothing)."""
        old = self._alloc.get(consumer)
        if old is None:
            return {}
        self._write(consumer, _EMPTY)
        return _sorted_copy(old)

    def _refusal(
        self, consumers: tuple[str, ...], writes: tuple[Mapping[str, Mapping[str, int]], ...]
    ) -> str | None:
        """The one capacity and constraint check of every write, single or batched
        (Placement's ``_check_capacity_exceeded``): `writes` are the new (normalised)
        allocations of the batch's items, `consumers` every consumer whose old
        allocations the write removes first. Each amount is checked against the
        inventory's constraints on its own; capacity on the running sum of the
        batch's amounts per provider/class, with the usage left once the old
        allocations of all `consumers` are gone, and a sum that leaves the
        provider/class no fuller than before the write is accepted even above
        capacity. A new consumer's check (`candidates`) passes no consumer."""
        inv_all = self._inv
        usage_all = self._usage
        alloc = self._alloc
        olds = [alloc[c] for c in consumers if c in alloc]
        # running sums per (provider, rc); only a batch of several writes needs them
        summed: dict[tuple[str, str], int] | None = {} if len(writes) > 1 else None
        for new in writes:
            for provider, rcs in new.items():
                invs = inv_all.get(provider)
                if invs is None:
                    return f"ResourceProviderNotFound: {provider}"
                usage = usage_all[provider]
                for rc, amount in rcs.items():
                    inv = invs.get(rc)
                    if inv is None:
                        return f"InvalidInventory: {provider} has no {rc} inventory"
                    if (
                        amount < inv.min_unit
                        or amount > inv.max_unit  # type: ignore[operator]
                        or amount % inv.step_size
                    ):
                        return (
                            f"InvalidAllocationConstraintsViolated: {rc} on {provider}: "
                            f"requested {amount}, min_unit {inv.min_unit}, "
                            f"max_unit {inv.max_unit}, step_size {inv.step_size}"
                        )
                    if summed is not None:
                        key = (provider, rc)
                        summed[key] = needed = summed.get(key, 0) + amount
                    else:
                        needed = amount
                    before = used = usage.get(rc, 0)
                    for old in olds:
                        used -= old.get(provider, _EMPTY).get(rc, 0)
                    capacity = (inv.total - inv.reserved) * inv.allocation_ratio
                    if capacity < used + needed and used + needed > before:
                        return (
                            f"InvalidAllocationCapacityExceeded: {rc} on {provider}: "
                            f"needed {needed}, used {used}, capacity {capacity:g}"
                        )
        return None

    def _write(self, consumer: str, new: Mapping[str, Mapping[str, int]]) -> None:
        """Replace the consumer's allocations, maintaining the usage counter.
        `new` must already be normalised (no zero amounts, no empty
        providers); it is copied."""
        self._replace(consumer, new)
        if self._lowered:
            self._forget_resolved()

    def _replace(self, consumer: str, new: Mapping[str, Mapping[str, int]]) -> None:
        """`_write` without settling the operator's over-capacity records."""
        usage_all = self._usage
        old = self._alloc.pop(consumer, None)
        if old:
            for provider, rcs in old.items():
                usage = usage_all[provider]
                for rc, amount in rcs.items():
                    usage[rc] -= amount
        if new:
            stored = {p: dict(rcs) for p, rcs in new.items()}
            self._alloc[consumer] = stored
            for provider, rcs in stored.items():
                usage = usage_all[provider]
                for rc, amount in rcs.items():
                    usage[rc] = usage.get(rc, 0) + amount

    def _forget_resolved(self) -> None:
        for key in list(self._lowered):
            provider, rc = key
            inv = self._inv[provider].get(rc)
            if inv is None or self._usage[provider].get(rc, 0) <= inv.capacity:
                del self._lowered[key]

    # ------------------------------------------------------------------
    # Queries
    # ------------------------------------------------------------------

    def usage(self, provider: str, rc: str) -> int:
        """The maintained usage counter of provider/rc."""
        if provider not in self._inv:
            self._need_provider(provider)  # raises
        return self._usage[provider].get(rc, 0)

    def capacity(self, provider: str, rc: str) -> float:
        """(total - reserved) * ratio; 0.0 when there is no such inventory."""
        invs = self._inv.get(provider)
        if invs is None:
            self._need_provider(provider)  # raises
        inv = invs.get(rc)
        return (inv.total - inv.reserved) * inv.allocation_ratio if inv is not None else 0.0

    def max_utilisation(self, resource_classes=tuple(ResourceClass)) -> float:
        """The fullest provider/resource class: max of 100 * usage / capacity over
        every provider and each of `resource_classes` with capacity > 0 (0.0 if
        none).  One pass, for callers that ask on every step (the search's
        coverage)."""
        best = 0.0
        usage_all = self._usage
        for provider, invs in self._inv.items():
            usage = usage_all[provider]
            for rc in resource_classes:
                inv = invs.get(rc)
                if inv is None:
                    continue
                capacity = (inv.total - inv.reserved) * inv.allocation_ratio
                if capacity > 0:
                    share = 100.0 * usage.get(rc, 0) / capacity
                    if share > best:
                        best = share
        return best

    def free(self, provider: str, rc: str) -> float:
        """capacity - usage (negative when over capacity)."""
        return self.capacity(provider, rc) - self.usage(provider, rc)

    def allocations_of(self, consumer: str) -> Allocations:
        """A copy of the consumer's allocations, sorted; {} if none."""
        return _sorted_copy(self._alloc.get(consumer, _EMPTY))

    def allocations_view(self, consumer: str) -> Mapping[str, Mapping[str, int]]:
        """The consumer's allocations as stored (unsorted, not a copy: read, never
        change it; the ledger replaces a consumer's value on every write)."""
        return self._alloc.get(consumer, _EMPTY)

    def consumers_on(self, provider: str) -> list[str]:
        """Consumers holding allocations against `provider`, sorted."""
        return sorted(c for c, a in self._alloc.items() if provider in a)

    def consumers(self) -> list[str]:
        """Consumers holding any allocation, sorted."""
        return sorted(self._alloc)

    def providers(self) -> list[str]:
        return sorted(self._inv)

    def has_provider(self, provider: str) -> bool:
        return provider in self._inv

    def candidates(self, resources: Mapping[str, int]) -> list[str]:
        """GET /allocation_candidates for one unnumbered request group: the
        providers where `resources` would fit (same rules as a claim by a
        new consumer), sorted by name."""
        request = {rc: amount for rc, amount in resources.items() if _check_amount(amount)}
        result = []
        for provider in sorted(self._inv):
            if self._refusal((), ({provider: request},)) is None:
                result.append(provider)
        return result

    # ------------------------------------------------------------------
    # Invariant helpers (pure)
    # ------------------------------------------------------------------

    def recomputed_usage(self) -> dict[str, dict[str, int]]:
        """Usage summed from the allocations, provider -> rc -> amount."""
        totals: dict[str, dict[str, int]] = {}
        for alloc in self._alloc.values():
            for provider, rcs in alloc.items():
                t = totals.setdefault(provider, {})
                for rc, amount in rcs.items():
                    t[rc] = t.get(rc, 0) + amount
        return totals

    def usage_mismatches(self) -> list[str]:
        """Differences between the maintained usage counters and the usage
        recomputed from the allocations, plus allocations that reference a
        missing provider or inventory, or hold a non-positive amount."""
        if self._usage_consistent():
            return []  # the common case, checked without sorting or formatting
        problems: list[str] = []
        recomputed = self.recomputed_usage()
        for provider in sorted(set(recomputed) | set(self._usage)):
            kept = self._usage.get(provider, {})
            real = recomputed.get(provider, {})
            for rc in sorted(set(kept) | set(real)):
                k, r = kept.get(rc, 0), real.get(rc, 0)
                if k != r:
                    problems.append(
                        f"{provider} {rc}: maintained usage {k} != {r} "
                        "recomputed from allocations"
                    )
        for consumer in sorted(self._alloc):
            alloc = self._alloc[consumer]
            if not alloc:
                problems.append(f"consumer {consumer}: stored with no allocations")
            for provider in sorted(alloc):
                invs = self._inv.get(provider)
                if invs is None:
                    problems.append(
                        f"consumer {consumer}: allocation on unknown provider {provider}"
                    )
                    continue
                if not alloc[provider]:
                    problems.append(f"consumer {consumer}: empty allocation on {provider}")
                for rc in sorted(alloc[provider]):
                    amount = alloc[provider][rc]
                    if rc not in invs:
                        problems.append(
                            f"consumer {consumer}: {rc} on {provider}, "
                            f"which has no {rc} inventory"
                        )
                    if amount <= 0:
                        problems.append(
                            f"consumer {consumer}: non-positive {rc} amount {amount} on {provider}"
                        )
        return problems

    def _usage_consistent(self) -> bool:
        """True only if `usage_mismatches()` has nothing to report (one pass, no
        sorting); False means "look closer", and the full check runs."""
        inv_all = self._inv
        totals: dict[str, dict[str, int]] = {}
        for alloc in self._alloc.values():
            if not alloc:
                return False
            for provider, rcs in alloc.items():
                invs = inv_all.get(provider)
                if invs is None or not rcs:
                    return False
                t = totals.get(provider)
                if t is None:
                    t = totals[provider] = {}
                for rc, amount in rcs.items():
                    if amount <= 0 or rc not in invs:
                        return False
                    t[rc] = t.get(rc, 0) + amount
        usage_all = self._usage
        for provider, real in totals.items():
            kept = usage_all.get(provider)
            if kept is None:
                return False
            for rc, r in real.items():
                if kept.get(rc, 0) != r:
                    return False
        for provider, kept in usage_all.items():
            real = totals.get(provider, _EMPTY)
            for rc, k in kept.items():
                if k != real.get(rc, 0):
                    return False
        return True

    def _any_over_capacity(self) -> bool:
        usage_all = self._usage
        for provider, invs in self._inv.items():
            usage = usage_all[provider]
            for rc, inv in invs.items():
                if (inv.total - inv.reserved) * inv.allocation_ratio < usage.get(rc, 0):
                    return True
        return False

    def over_capacity_details(self) -> list[OverCapacity]:
        """Every provider/rc whose maintained usage exceeds its capacity."""
        if not self._any_over_capacity():
            return []  # the common case, checked without sorting
        found: list[OverCapacity] = []
        for provider in sorted(self._inv):
            usage = self._usage[provider]
            invs = self._inv[provider]
            for rc in sorted(invs):
                used = usage.get(rc, 0)
                cap = invs[rc].capacity
                if cap < used:
                    explained_up_to = self._lowered.get((provider, rc))
                    found.append(
                        OverCapacity(
                            provider,
                            rc,
                            used,
                            cap,
                            explained_up_to is not None and used <= explained_up_to,
                        )
                    )
        return found

    def over_capacity(self, *, include_explained: bool = True) -> list[str]:
        """Human-readable `over_capacity_details()`; each string says whether
        an operator change explains it.  `include_explained=False` keeps only
        the unexplained ones (real violations)."""
        return [
            o.describe()
            for o in self.over_capacity_details()
            if include_explained or not o.operator_lowered
        ]

    def lowered_below_usage(self, provider: str, rc: str) -> bool:
        """Whether an operator inventory change left provider/rc below usage."""
        return (provider, rc) in self._lowered

    # ------------------------------------------------------------------
    # Values
    # ------------------------------------------------------------------

    def snapshot(self) -> tuple[Any, ...]:
        """A canonical, hashable value of the whole ledger (sorted tuples,
        zero usage counters left out)."""
        # (keys are unique, so sorting items() sorts by key alone; list
        # comprehensions are faster than generators here, and this runs on
        # every delivery and around every API request of the search. Resource
        # classes stay ResourceClass members: a StrEnum equals, hashes and sorts
        # as its name, and converting each costs more than the rest.)
        providers = tuple([
            (p, tuple([(rc, *inv.as_tuple()) for rc, inv in sorted(invs.items())]))
            for p, invs in sorted(self._inv.items())
        ])
        allocations = tuple([
            (c, tuple([(p, tuple(sorted(rcs.items()))) for p, rcs in sorted(a.items())]))
            for c, a in sorted(self._alloc.items())
        ])
        usage = tuple([
            (p, tuple([(rc, n) for rc, n in sorted(u.items()) if n != 0]))
            for p, u in sorted(self._usage.items())
        ])
        lowered = tuple(
            (p, str(rc), n) for (p, rc), n in sorted(self._lowered.items())
        )
        return (providers, allocations, usage, lowered)

    @classmethod
    def restore(cls, snapshot: tuple[Any, ...]) -> Ledger:
        """Rebuild a ledger from `snapshot()`; ``restore(s).snapshot() == s``."""
        providers, allocations, usage, lowered = snapshot
        ledger = cls()
        for provider, invs in providers:
            ledger._inv[provider] = {
                _rc(rc): Inventory(
                    total=t, reserved=r, min_unit=mn, max_unit=mx, step_size=st,
                    allocation_ratio=ratio,
                )
                for rc, t, r, mn, mx, st, ratio in invs
            }
            ledger._usage[provider] = {}
        for consumer, alloc in allocations:
            ledger._alloc[consumer] = {
                p: {_rc(rc): amount for rc, amount in rcs} for p, rcs in alloc
            }
        for provider, counters in usage:
            ledger._usage.setdefault(provider, {}).update(
                {_rc(rc): n for rc, n in counters}
            )
        for provider, rc, n in lowered:
            ledger._lowered[(provider, _rc(rc))] = n
        return ledger

    def copy(self) -> Ledger:
        cls = type(self)  # (a variant's ledger stays that variant)
        new = cls.__new__(cls)
        new._inv = dict(self._inv)
        new._alloc = dict(self._alloc)
        new._usage = {p: dict(u) for p, u in self._usage.items()}
        new._lowered = dict(self._lowered)
        return new

    __copy__ = copy

    def same(self, other: Ledger) -> bool:
        """Exactly the same state, zero counters included (``==`` ignores those): a
        copy of one serves as a copy of the other."""
        return (self._alloc == other._alloc and self._usage == other._usage
                and self._inv == other._inv and self._lowered == other._lowered)

    def __deepcopy__(self, memo: dict[int, Any]) -> Ledger:
        return self.copy()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ledger):
            return NotImplemented
        # What snapshot() compares, compared as the dicts themselves (a tenth of
        # the cost): zero usage counters do not count.
        return (self._alloc == other._alloc and self._inv == other._inv
                and self._lowered == other._lowered
                and _nonzero(self._usage) == _nonzero(other._usage))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ledger(providers={len(self._inv)}, consumers={len(self._alloc)})"

    def summary(self) -> str:
        """One line per provider: usage/capacity of each resource class."""
        lines = []
        for p in sorted(self._inv):
            parts = [
                f"{rc} {self._usage[p].get(rc, 0)}/{self._inv[p][rc].capacity:g}"
                for rc in sorted(self._inv[p])
            ]
            lines.append(f"{p}: " + ", ".join(parts))
        return "\n".join(lines)


def _nonzero(usage: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {p: {rc: n for rc, n in u.items() if n} for p, u in usage.items()}


def _rc(rc: str) -> str:
    try:
        return ResourceClass(rc)
    except ValueError:
        raise PlacementError(
            f"unknown resource class {rc!r} (known: {', '.join(ResourceClass)})"
        ) from None


def _check_inventory(inv: Any) -> Inventory:
    if not isinstance(inv, Inventory):
        raise PlacementError(f"expected an Inventory, got {type(inv).__name__}")
    return inv


def _check_amount(amount: Any) -> bool:
    """Validate one requested amount; True if it is non-zero."""
    if type(amount) is not int:
        if not _is_int(amount):
            raise PlacementError(f"allocation amount must be an integer, got {amount!r}")
    if amount < 0:
        raise PlacementError(f"allocation amount must be >= 0, got {amount}")
    return amount != 0


def _normalise(allocations: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Drop zero amounts and providers left empty; reject malformed amounts."""
    out: dict[str, dict[str, int]] = {}
    for provider, rcs in allocations.items():
        kept = {rc: amount for rc, amount in rcs.items() if _check_amount(amount)}
        if kept:
            out[provider] = kept
    return out


def _sorted_copy(alloc: Mapping[str, Mapping[str, int]]) -> Allocations:
    return {p: {rc: alloc[p][rc] for rc in sorted(alloc[p])} for p in sorted(alloc)}


