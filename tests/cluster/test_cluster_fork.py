"""``Cluster.freeze`` / ``Cluster.thaw``: a frozen cluster resumes exactly where it was.

The search saves states this way (``nova_model.search.memo``): a thawed cluster must
hold the same state, in the same order, and go on exactly as the original would.
"""

from __future__ import annotations

import gc

import pytest

from model.cluster import Cluster
from model.cluster_scenarios import LARGE, boot, small_config
from model.lifecycle import ADMIN


def _busy_cluster() -> Cluster:
    """Instances in several states, a move in flight, a move failed, queued work, a host
    down and an operator's change of a ratio: every state variable holds something."""
    c = Cluster(small_config(hosts=4), seed=7)
    first, second, third, failed = boot(c), boot(c), boot(c), boot(c)
    c.request("migrate", failed, ADMIN)
    c.deliver(c.pending()[0].id)  # schedule
    c.deliver(c.pending()[0].id)  # prep_resize
    c.deliver(c.pending()[0].id, "driver_error")  # resize_migrating fails
    c.request("stop", second, ADMIN)
    c.settle()
    c.set_allocation_ratio("host3", "VCPU", 4.0)
    c.service_down(c.instances[second].host)
    c.request("pause", third, ADMIN)  # queued, not delivered
    c.request("resize", first, ADMIN, flavor=LARGE.name)
    # the conductor schedules (a decision is recorded); the move is still in flight
    c.deliver(next(w for w in c.pending() if w.instance == first).id)
    return c


def _order(c: Cluster) -> tuple:
    return (list(c.instances), list(c.work), list(c.migrations), list(c.hosts),
            [list(h.queue) for h in c.hosts.values()], list(c.conductor),
            list(c.ledger.consumers()))


def test_a_thawed_cluster_holds_the_same_state_in_the_same_order():
    c = _busy_cluster()
    # the scenario did its job
    assert c.work and c.migrations and c.inventory_changes and c.decisions
    assert c.migration_errors and c.error_causes and c.arrivals and c.groups is not None
    thawed = Cluster.thaw(c.freeze())
    assert thawed.snapshot() == c.snapshot()
    assert _order(thawed) == _order(c)
    # the scheduler's decisions are a record for the invariants, not state (like
    # ``snapshot``): a thawed cluster starts a new record
    assert c.decisions and thawed.decisions == []


def test_a_thawed_cluster_goes_on_as_the_original_would():
    c = _busy_cluster()
    thawed = Cluster.thaw(c.freeze())
    for cluster in (c, thawed):
        for host, record in cluster.hosts.items():
            if not record.up:
                cluster.service_up(host)
        cluster.settle()
        uuid = boot(cluster)  # the scheduler draws from the cluster's own random state
        cluster.request("migrate", uuid, ADMIN)
        cluster.settle()
    assert thawed.snapshot() == c.snapshot()
    assert _order(thawed) == _order(c)


def test_a_frozen_cluster_does_not_change_with_its_original():
    c = _busy_cluster()
    before = c.snapshot()
    frozen = c.freeze()
    c.settle()
    boot(c)
    assert c.snapshot() != before
    assert Cluster.thaw(frozen).snapshot() == before
    # and two clusters thawed from it are independent of each other
    a, b = Cluster.thaw(frozen), Cluster.thaw(frozen)
    a.settle()
    assert b.snapshot() == before


def test_a_subclass_keeps_its_own_attributes_through_a_freeze():
    class Counting(Cluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen: list[str] = []

    c = Counting(small_config())
    c.seen.append("one")
    frozen = c.freeze()
    c.seen.append("two")
    thawed = Cluster.thaw(frozen)
    assert type(thawed) is Counting and thawed.seen == ["one"]


def test_the_plain_values_are_out_of_the_garbage_collectors_way():
    # a search keeps hundreds of frozen clusters: the collector must not walk them
    frozen = _busy_cluster().freeze()
    assert isinstance(frozen.plain, bytes) and not gc.is_tracked(frozen.plain)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_random_state_resumes_where_it_was(seed):
    c = Cluster(small_config(), seed=seed)
    c.rng.random()
    thawed = Cluster.thaw(c.freeze())
    assert [thawed.rng.random() for _ in range(3)] == [c.rng.random() for _ in range(3)]


def test_a_freeze_borrows_the_ledger_of_an_earlier_one_only_while_it_is_the_same():
    c = _busy_cluster()
    c.settle()
    first = c.freeze()
    c.request("stop", next(iter(c.instances)), ADMIN)  # frees nothing, claims nothing
    second = c.freeze(like=first)
    assert second.ledger is first.ledger
    boot(c)
    third = c.freeze(like=second)
    assert third.ledger is not second.ledger
    assert Cluster.thaw(third).snapshot() == c.snapshot()
    assert Cluster.thaw(second).ledger.same(first.ledger)
