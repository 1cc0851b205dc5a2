"""Tests of the Placement-style allocation ledger (model/placement.py)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.placement import (
    Inventory,
    Ledger,
    OverCapacity,
    PlacementError,
    ResourceClass,
)

VCPU = ResourceClass.VCPU
MEM = ResourceClass.MEMORY_MB
DISK = ResourceClass.DISK_GB


def host_inventories(
    vcpus: int = 8, memory_mb: int = 16384, disk_gb: int = 200, *, cpu_ratio: float = 1.0,
    ram_ratio: float = 1.0, reserved_mb: int = 0,
) -> dict[ResourceClass, Inventory]:
    return {
        VCPU: Inventory(total=vcpus, allocation_ratio=cpu_ratio),
        MEM: Inventory(total=memory_mb, reserved=reserved_mb, allocation_ratio=ram_ratio),
        DISK: Inventory(total=disk_gb),
    }


def ledger_with(*names: str, **kw) -> Ledger:
    ledger = Ledger()
    for name in names:
        ledger.add_provider(name, host_inventories(**kw))
    return ledger


# ---------------------------------------------------------------------------
# Inventory
# ---------------------------------------------------------------------------


def test_inventory_defaults_and_capacity() -> None:
    inv = Inventory(total=65536, reserved=512, allocation_ratio=1.5)
    assert inv.max_unit == 65536
    assert (inv.min_unit, inv.step_size) == (1, 1)
    assert inv.capacity == 97536.0
    assert Inventory(total=8, allocation_ratio=16).allocation_ratio == 16.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(total=-1), "inventory total: must be >= 0, got -1"),
        (dict(total=4, reserved=-1), "inventory reserved: must be >= 0, got -1"),
        (dict(total=4, reserved=5), "inventory reserved: must be <= total (4), got 5"),
        (dict(total=4, allocation_ratio=0.0), "inventory allocation_ratio: must be > 0, got 0.0"),
        (dict(total=4, allocation_ratio=-1.5), "inventory allocation_ratio: must be > 0, got -1.5"),
        (dict(total=4, min_unit=0), "inventory min_unit: must be >= 1, got 0"),
        (dict(total=4, step_size=0), "inventory step_size: must be >= 1, got 0"),
        (dict(total=4, min_unit=2, max_unit=1), "inventory max_unit: must be >= min_unit (2), got 1"),
        (dict(total=4.0), "inventory total: must be an integer, got 4.0"),
        (dict(total=4, allocation_ratio=True), "inventory allocation_ratio: must be a finite number, got True"),
        (dict(total=4, allocation_ratio=float("inf")), "inventory allocation_ratio: must be a finite number, got inf"),
    ],
)
def test_inventory_validation_names_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(PlacementError) as err:
        Inventory(**kwargs)
    assert str(err.value) == message


def test_reserved_may_equal_total() -> None:
    assert Inventory(total=4, reserved=4).capacity == 0.0


# ---------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------


def test_claim_boundary_at_exact_capacity() -> None:
    # 64 GiB host, 512 MiB reserved, ratio 1.5 -> capacity 97,536 MiB.
    ledger = Ledger()
    ledger.add_provider("big", {MEM: Inventory(total=65536, reserved=512, allocation_ratio=1.5)})
    assert ledger.capacity("big", MEM) == 97536.0
    assert ledger.claim("a", {"big": {MEM: 65536}})  # max_unit is the physical total
    before = ledger.snapshot()
    assert not ledger.claim("b", {"big": {MEM: 32001}})  # would be 97,537
    assert ledger.snapshot() == before
    assert ledger.claim("b", {"big": {MEM: 32000}})  # exactly 97,536
    assert ledger.usage("big", MEM) == 97536
    assert ledger.free("big", MEM) == 0.0
    assert not ledger.claim("c", {"big": {MEM: 1}})
    assert ledger.why_not("c", {"big": {MEM: 1}}) == (
        "InvalidAllocationCapacityExceeded: MEMORY_MB on big: needed 1, used 97536, capacity 97536"
    )
    assert ledger.over_capacity() == []


def test_failed_multi_provider_claim_changes_nothing() -> None:
    ledger = ledger_with("p1", "p2", vcpus=4)
    assert ledger.claim("x", {"p2": {VCPU: 3}})
    assert ledger.claim("c", {"p1": {VCPU: 1}})
    before = ledger.snapshot()
    # p1 fits, p2 does not (3 used + 2 > 4): nothing may change, not even the
    # consumer's old allocation on p1.
    assert not ledger.claim("c", {"p1": {VCPU: 4, MEM: 100}, "p2": {VCPU: 2}})
    assert ledger.snapshot() == before
    assert ledger.allocations_of("c") == {"p1": {VCPU: 1}}
    assert ledger.usage("p1", VCPU) == 1
    assert ledger.usage("p1", MEM) == 0


def test_claim_replaces_the_whole_allocation() -> None:
    ledger = ledger_with("p1", "p2", vcpus=8)
    assert ledger.claim("c", {"p1": {VCPU: 6, MEM: 1024}})
    # The consumer's own old allocation is not counted: 8 fits although 6 are used.
    assert ledger.claim("c", {"p1": {VCPU: 8}})
    assert ledger.allocations_of("c") == {"p1": {VCPU: 8}}
    assert ledger.usage("p1", VCPU) == 8
    assert ledger.usage("p1", MEM) == 0
    # Replacing with another provider frees the first one.
    assert ledger.claim("c", {"p2": {VCPU: 2}})
    assert ledger.usage("p1", VCPU) == 0
    assert ledger.consumers_on("p1") == []
    assert ledger.consumers_on("p2") == ["c"]
    assert ledger.usage_mismatches() == []


def test_zero_amounts_are_dropped_and_empty_claim_deletes() -> None:
    ledger = ledger_with("p1")
    assert ledger.claim("c", {"p1": {VCPU: 1, DISK: 0}, "nowhere-needed": {}})
    assert ledger.allocations_of("c") == {"p1": {VCPU: 1}}
    assert ledger.claim("c", {"p1": {VCPU: 0}})
    assert ledger.allocations_of("c") == {}
    assert ledger.consumers() == []


def test_unknown_provider_or_resource_class_is_refused() -> None:
    ledger = Ledger()
    ledger.add_provider("p1", {VCPU: Inventory(total=4)})
    assert not ledger.claim("c", {"p9": {VCPU: 1}})
    assert ledger.why_not("c", {"p9": {VCPU: 1}}) == "ResourceProviderNotFound: p9"
    assert not ledger.claim("c", {"p1": {DISK: 1}})
    assert ledger.why_not("c", {"p1": {DISK: 1}}) == "InvalidInventory: p1 has no DISK_GB inventory"
    assert ledger.consumers() == []


def test_malformed_amounts_raise() -> None:
    ledger = ledger_with("p1")
    with pytest.raises(PlacementError, match="must be >= 0, got -1"):
        ledger.claim("c", {"p1": {VCPU: -1}})
    with pytest.raises(PlacementError, match="must be an integer, got 1.5"):
        ledger.claim("c", {"p1": {VCPU: 1.5}})
    assert ledger.consumers() == []


def test_max_unit_min_unit_and_step_size() -> None:
    ledger = Ledger()
    ledger.add_provider(
        "p", {MEM: Inventory(total=4096, min_unit=256, max_unit=2048, step_size=256, allocation_ratio=4.0)}
    )
    assert not ledger.claim("c", {"p": {MEM: 2304}})  # > max_unit although capacity is 16384
    assert ledger.why_not("c", {"p": {MEM: 2304}}) == (
        "InvalidAllocationConstraintsViolated: MEMORY_MB on p: requested 2304, "
        "min_unit 256, max_unit 2048, step_size 256"
    )
    assert not ledger.claim("c", {"p": {MEM: 300}})  # not a multiple of 256
    assert not ledger.claim("c", {"p": {MEM: 128}})  # < min_unit
    assert ledger.consumers() == []
    assert ledger.claim("c", {"p": {MEM: 2048}})
    assert ledger.candidates({MEM: 512}) == ["p"]
    assert ledger.candidates({MEM: 300}) == []


def test_default_max_unit_is_physical_total_even_with_overcommit() -> None:
    ledger = ledger_with("p", vcpus=4, cpu_ratio=16.0)
    assert ledger.capacity("p", VCPU) == 64.0
    assert not ledger.claim("c", {"p": {VCPU: 5}})
    assert ledger.claim("c", {"p": {VCPU: 4}})


# ---------------------------------------------------------------------------
# Moves
# ---------------------------------------------------------------------------


def test_move_allocations_replaces_target_and_empties_source() -> None:
    ledger = ledger_with("src", "dst")
    assert ledger.claim("inst", {"src": {VCPU: 2, MEM: 2048}})
    assert ledger.claim("mig", {"dst": {VCPU: 1}})  # target's old allocation is replaced
    assert ledger.move_allocations("inst", "mig")
    assert ledger.allocations_of("mig") == {"src": {MEM: 2048, VCPU: 2}}
    assert ledger.allocations_of("inst") == {}
    assert ledger.usage("dst", VCPU) == 0
    assert ledger.usage("src", VCPU) == 2
    assert ledger.consumers() == ["mig"]
    # A source without allocations and a target holding some: taken as already moved
    # (SchedulerReportClient.move_allocations returns True and writes nothing).
    assert ledger.move_allocations("nobody", "mig")
    assert ledger.consumers() == ["mig"]
    assert ledger.usage_mismatches() == []


def test_claim_resources_keeps_what_the_consumer_holds_and_adds_new_providers() -> None:
    ledger = ledger_with("src", "dst", "third", vcpus=4)
    assert ledger.claim_resources("inst", {"src": {VCPU: 2}})  # a new consumer: as asked
    assert ledger.allocations_of("inst") == {"src": {VCPU: 2}}
    # a consumer still holding allocations keeps them; a provider it already uses is
    # left as it is (Nova's _move_operation_alloc_request), a new one is added
    assert ledger.claim_resources("inst", {"src": {VCPU: 1}, "dst": {VCPU: 3}})
    assert ledger.allocations_of("inst") == {"dst": {VCPU: 3}, "src": {VCPU: 2}}
    # the whole result is checked: a full provider refuses it and nothing changes
    assert ledger.claim("other", {"third": {VCPU: 4}})
    before = ledger.snapshot()
    assert not ledger.claim_resources("inst", {"third": {VCPU: 1}})
    assert ledger.snapshot() == before
    assert ledger.usage_mismatches() == []


def test_move_allocations_counts_neither_consumer_old_allocation() -> None:
    ledger = ledger_with("p", vcpus=4)
    assert ledger.claim("inst", {"p": {VCPU: 3}})
    assert ledger.claim("mig", {"p": {VCPU: 1}})  # p is full
    assert ledger.move_allocations("inst", "mig")
    assert ledger.usage("p", VCPU) == 3


# ---------------------------------------------------------------------------
# Batched writes: POST /allocations (Placement's set_allocations)
# ---------------------------------------------------------------------------


def test_a_swap_on_a_full_provider_succeeds_as_one_batch() -> None:
    # p is full: the instance holds all of it. Written one consumer after the other
    # (the migration first), the migration's write would not fit; as one POST
    # /allocations both consumers' old allocations go first (_set_allocations) and the
    # batch's cumulative effect on p is what it was (_check_capacity_exceeded).
    ledger = ledger_with("p", vcpus=4, memory_mb=4096, disk_gb=40)
    full = {"p": {VCPU: 4, MEM: 4096, DISK: 40}}
    assert ledger.claim("inst", full)
    assert ledger.why_not("mig", full).startswith("InvalidAllocationCapacityExceeded")
    assert ledger.why_not_post({"inst": {}, "mig": full}) is None
    assert ledger.post_allocations({"inst": {}, "mig": full})
    assert ledger.consumers() == ["mig"]
    assert ledger.allocations_of("mig") == {"p": {DISK: 40, MEM: 4096, VCPU: 4}}
    assert ledger.usage("p", VCPU) == 4
    # and back (the revert's move), the batch's order does not matter
    assert ledger.post_allocations({"inst": full, "mig": {}})
    assert ledger.consumers() == ["inst"]
    assert ledger.usage_mismatches() == []


def test_a_batch_that_would_exceed_capacity_changes_nothing() -> None:
    ledger = ledger_with("p", "q", vcpus=4)
    assert ledger.claim("a", {"p": {VCPU: 2}})
    before = ledger.snapshot()
    # each item fits on its own (2 free on p), together they need 3 more than p has:
    # capacity is checked on the running sum of the batch (3 + 2 > 4 - 0 once a's 2
    # are gone), and the item that did fit (q) is not written either
    batch = {"a": {}, "b": {"p": {VCPU: 2}, "q": {VCPU: 1}}, "c": {"p": {VCPU: 3}}}
    assert ledger.why_not_post(batch) == (
        "InvalidAllocationCapacityExceeded: VCPU on p: needed 5, used 0, capacity 4")
    assert not ledger.post_allocations(batch)
    assert ledger.snapshot() == before
    # a constraint is checked per item, not on the sum: max_unit 4 per allocation
    ledger.update_inventory("q", VCPU, allocation_ratio=4.0)
    assert ledger.post_allocations({"b": {"q": {VCPU: 4}}, "c": {"q": {VCPU: 4}}})
    assert ledger.why_not_post({"d": {"q": {VCPU: 5}}}).startswith(
        "InvalidAllocationConstraintsViolated")


def test_a_batch_deletes_consumers_given_nothing_and_counts_only_its_consumers() -> None:
    ledger = ledger_with("p", vcpus=4)
    assert ledger.claim("a", {"p": {VCPU: 1}})
    assert ledger.claim("b", {"p": {VCPU: 1}})
    assert ledger.claim("other", {"p": {VCPU: 2}})  # p is full
    # a and b's old allocations are gone before the check, other's stays
    assert ledger.post_allocations({"a": {}, "b": {"p": {VCPU: 2}}})
    assert ledger.consumers() == ["b", "other"]
    assert not ledger.post_allocations({"b": {"p": {VCPU: 3}}})
    assert ledger.post_allocations({"b": {}, "nobody": {}})  # empty: deletes b
    assert ledger.consumers() == ["other"]
    assert ledger.usage("p", VCPU) == 2
    assert ledger.usage_mismatches() == []


def test_move_allocations_is_one_batched_write(monkeypatch) -> None:
    ledger = ledger_with("p", vcpus=4)
    assert ledger.claim("inst", {"p": {VCPU: 4}})
    batches = []
    post = Ledger.post_allocations
    monkeypatch.setattr(Ledger, "post_allocations",
                        lambda self, batch: batches.append(batch) or post(self, batch))
    assert ledger.move_allocations("inst", "mig")
    assert batches == [{"inst": {}, "mig": {"p": {VCPU: 4}}}]


def test_doubled_allocation_add_and_remove() -> None:
    ledger = ledger_with("src", "dst", vcpus=4)
    assert ledger.claim("inst", {"src": {VCPU: 2, MEM: 1024}})
    assert ledger.add_to_consumer("inst", "dst", {VCPU: 2, MEM: 1024})
    assert ledger.allocations_of("inst") == {
        "dst": {MEM: 1024, VCPU: 2},
        "src": {MEM: 1024, VCPU: 2},
    }
    assert ledger.usage("src", VCPU) == 2 and ledger.usage("dst", VCPU) == 2
    # A dest that is too full refuses the doubled allocation and keeps the source.
    assert ledger.claim("other", {"dst": {VCPU: 2}})
    before = ledger.snapshot()
    assert not ledger.add_to_consumer("inst", "dst", {VCPU: 1})
    assert ledger.snapshot() == before
    # Evacuate done: drop the source.
    assert ledger.remove_provider_from_consumer("inst", "src")
    assert ledger.allocations_of("inst") == {"dst": {MEM: 1024, VCPU: 2}}
    assert ledger.usage("src", VCPU) == 0
    assert ledger.remove_provider_from_consumer("inst", "src")  # no-op
    assert ledger.usage_mismatches() == []


def test_delete_allocations_is_idempotent() -> None:
    ledger = ledger_with("p")
    assert ledger.claim("c", {"p": {VCPU: 1, MEM: 512}})
    assert ledger.delete_allocations("c") == {"p": {MEM: 512, VCPU: 1}}
    assert ledger.delete_allocations("c") == {}
    assert ledger.usage("p", VCPU) == 0
    assert ledger.consumers() == []


# ---------------------------------------------------------------------------
# Operator changes and invariant helpers
# ---------------------------------------------------------------------------


def test_operator_lowering_ratio_below_usage_is_reported_as_operator_caused() -> None:
    ledger = ledger_with("p", vcpus=4, cpu_ratio=4.0)
    assert ledger.claim("a", {"p": {VCPU: 4}})
    assert ledger.claim("b", {"p": {VCPU: 4}})
    ledger.update_inventory("p", VCPU, allocation_ratio=1.0)  # capacity 4 < usage 8
    assert ledger.lowered_below_usage("p", VCPU)
    details = ledger.over_capacity_details()
    assert details == [OverCapacity("p", "VCPU", 8, 4.0, True)]
    assert ledger.over_capacity() == [
        "p VCPU: usage 8 > capacity 4 (explained: an operator lowered capacity below existing usage)"
    ]
    assert ledger.over_capacity(include_explained=False) == []
    # Placement now refuses any write that adds VCPU on p, and accepts one that does
    # not raise the overage (_check_capacity_exceeded's prev_used): re-writing what
    # "a" holds, shrinking it, or moving it to another consumer.
    assert not ledger.claim("c", {"p": {VCPU: 1}})
    assert ledger.why_not("c", {"p": {VCPU: 1}}).startswith(
        "InvalidAllocationCapacityExceeded: VCPU on p")
    assert ledger.claim("a", {"p": {VCPU: 4}})
    assert ledger.move_allocations("a", "moved")
    assert ledger.claim("moved", {"p": {VCPU: 3}})
    assert ledger.usage("p", VCPU) == 7
    # "no fuller than before this write", not than when the operator lowered it
    assert not ledger.claim("moved", {"p": {VCPU: 4}})
    assert ledger.over_capacity(include_explained=False) == []
    # Deleting brings usage back to capacity and clears the record.
    ledger.delete_allocations("b")
    assert ledger.usage("p", VCPU) == 3
    assert ledger.over_capacity() == []
    assert not ledger.lowered_below_usage("p", VCPU)


def test_write_that_bypasses_the_check_is_reported_as_unexplained() -> None:
    ledger = ledger_with("p", vcpus=4)
    assert ledger.claim("a", {"p": {VCPU: 4}})
    ledger._write("b", {"p": {VCPU: 1}})  # simulate a buggy update path
    assert ledger.over_capacity() == [
        "p VCPU: usage 5 > capacity 4 (not explained by an operator change: a write went over capacity)"
    ]
    # A later operator change does not launder it.
    ledger.update_inventory("p", VCPU, reserved=1)
    assert ledger.over_capacity_details()[0].operator_lowered is False


def test_usage_growing_after_operator_lowering_is_unexplained() -> None:
    ledger = ledger_with("p", vcpus=4)
    assert ledger.claim("a", {"p": {VCPU: 3}})
    ledger.update_inventory("p", VCPU, reserved=2)  # capacity 2 < 3
    assert ledger.over_capacity(include_explained=False) == []
    ledger._write("b", {"p": {VCPU: 1}})  # bug: grows usage while over
    assert len(ledger.over_capacity(include_explained=False)) == 1


def test_usage_mismatches_detects_a_corrupted_counter() -> None:
    ledger = ledger_with("p")
    assert ledger.claim("c", {"p": {VCPU: 2}})
    assert ledger.usage_mismatches() == []
    ledger._usage["p"][VCPU] += 1
    assert ledger.usage_mismatches() == [
        "p VCPU: maintained usage 3 != 2 recomputed from allocations"
    ]


def test_update_inventory_total_moves_default_max_unit() -> None:
    ledger = ledger_with("p", vcpus=4)
    new = ledger.update_inventory("p", VCPU, total=8)
    assert new.max_unit == 8
    with pytest.raises(PlacementError, match="allocation_ratio: must be > 0"):
        ledger.update_inventory("p", VCPU, allocation_ratio=0.0)
    assert ledger.inventory("p", VCPU) == new  # unchanged on error


def test_provider_and_inventory_removal_refused_while_in_use() -> None:
    ledger = ledger_with("p", "q")
    assert ledger.claim("c", {"p": {VCPU: 1}})
    assert not ledger.remove_provider("p")
    assert not ledger.delete_inventory("p", VCPU)
    assert ledger.delete_inventory("p", DISK)
    assert ledger.remove_provider("q")
    assert ledger.providers() == ["p"]
    with pytest.raises(PlacementError, match="already exists"):
        ledger.add_provider("p", {})
    with pytest.raises(PlacementError, match="unknown resource provider 'q'"):
        ledger.usage("q", VCPU)


def test_candidates_sorted_by_name_and_respect_usage() -> None:
    ledger = ledger_with("c3", "c1", "c2", vcpus=4)
    assert ledger.claim("x", {"c2": {VCPU: 4}})
    assert ledger.candidates({VCPU: 1, MEM: 512}) == ["c1", "c3"]
    assert ledger.candidates({VCPU: 5}) == []
    assert ledger.candidates({VCPU: 0, DISK: 200}) == ["c1", "c2", "c3"]


def test_copy_is_independent() -> None:
    ledger = ledger_with("p")
    assert ledger.claim("c", {"p": {VCPU: 1}})
    other = ledger.copy()
    assert other == ledger
    assert other.claim("c", {"p": {VCPU: 2}})
    other.update_inventory("p", VCPU, allocation_ratio=2.0)
    assert ledger.usage("p", VCPU) == 1
    assert ledger.capacity("p", VCPU) == 8.0
    assert copy.deepcopy(ledger) == ledger
    assert other != ledger


# ---------------------------------------------------------------------------
# Property-based: random operation sequences
# ---------------------------------------------------------------------------

PROVIDERS = ("p1", "p2", "p3")
CONSUMERS = ("i1", "i2", "i3", "m1")
RCS = (VCPU, MEM, DISK)

amounts = st.integers(min_value=0, max_value=6)
resources = st.dictionaries(st.sampled_from(RCS), amounts, max_size=3)
requests = st.dictionaries(st.sampled_from(PROVIDERS), resources, max_size=2)

ops = st.one_of(
    st.tuples(st.just("claim"), st.sampled_from(CONSUMERS), requests),
    st.tuples(st.just("add"), st.sampled_from(CONSUMERS), st.sampled_from(PROVIDERS), resources),
    st.tuples(st.just("remove"), st.sampled_from(CONSUMERS), st.sampled_from(PROVIDERS), st.booleans()),
    st.tuples(st.just("move"), st.sampled_from(CONSUMERS), st.sampled_from(CONSUMERS)),
    st.tuples(st.just("post"), st.dictionaries(st.sampled_from(CONSUMERS), requests, max_size=3)),
    st.tuples(st.just("delete"), st.sampled_from(CONSUMERS)),
    st.tuples(
        st.just("ratio"), st.sampled_from(PROVIDERS), st.sampled_from(RCS),
        st.sampled_from((0.5, 1.0, 1.5, 2.0)),
    ),
    st.tuples(st.just("reserve"), st.sampled_from(PROVIDERS), st.sampled_from(RCS), st.integers(0, 4)),
)


def fresh() -> Ledger:
    ledger = Ledger()
    for i, name in enumerate(PROVIDERS):
        ledger.add_provider(
            name,
            {
                VCPU: Inventory(total=4 + i, allocation_ratio=1.5),
                MEM: Inventory(total=6, step_size=1 + i % 2),
                DISK: Inventory(total=8, max_unit=5),
            },
        )
    return ledger


def apply(ledger: Ledger, op: tuple) -> object:
    kind = op[0]
    if kind == "claim":
        return ledger.claim(op[1], op[2])
    if kind == "add":
        return ledger.add_to_consumer(op[1], op[2], op[3])
    if kind == "remove":
        return ledger.remove_provider_from_consumer(op[1], op[2], force=op[3])
    if kind == "move":
        return ledger.move_allocations(op[1], op[2])
    if kind == "post":
        return ledger.post_allocations(op[1])
    if kind == "delete":
        return ledger.delete_allocations(op[1])
    if kind == "ratio":
        return ledger.update_inventory(op[1], op[2], allocation_ratio=op[3])
    if kind == "reserve":
        return ledger.update_inventory(op[1], op[2], reserved=op[3])
    raise AssertionError(op)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(ops, max_size=40))
def test_usage_counter_consistent_and_never_over_capacity_without_operator(seq: list) -> None:
    ledger = fresh()
    for op in seq:
        before = ledger.snapshot()
        result = apply(ledger, op)
        if result is False:
            assert ledger.snapshot() == before, f"failed {op} changed the ledger"
        assert ledger.usage_mismatches() == []
        assert ledger.over_capacity(include_explained=False) == []
        for consumer in ledger.consumers():
            assert ledger.allocations_of(consumer)  # no empty consumers kept
        for provider in ledger.providers():
            for rc in RCS:
                on = sum(ledger.allocations_of(c).get(provider, {}).get(rc, 0) for c in CONSUMERS)
                assert ledger.usage(provider, rc) == on


@PROPERTY
@given(st.lists(ops, max_size=30), st.lists(ops, max_size=10))
def test_snapshot_restore_round_trip(prefix: list, suffix: list) -> None:
    ledger = fresh()
    for op in prefix:
        apply(ledger, op)
    snap = ledger.snapshot()
    hash(snap)
    restored = Ledger.restore(snap)
    assert restored.snapshot() == snap
    assert restored == ledger
    assert Ledger.restore(ledger.copy().snapshot()) == ledger
    # The restored ledger behaves exactly like the original from here on.
    for op in suffix:
        assert apply(restored, op) == apply(ledger, op)
        assert restored.snapshot() == ledger.snapshot()


@PROPERTY
@given(requests, st.lists(ops, max_size=20))
def test_candidates_agree_with_claims(request: dict, seq: list) -> None:
    ledger = fresh()
    for op in seq:
        apply(ledger, op)
    for provider in PROVIDERS:
        want = request.get(provider, {})
        trial = ledger.copy()
        fits = trial.claim("new-consumer", {provider: want})
        assert (provider in ledger.candidates(want)) == fits
