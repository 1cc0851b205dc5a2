"""The moves' allocation swaps are one POST /allocations on a Cluster (batched writes).

Nova swaps a move's allocations between the instance and the migration consumer with
``SchedulerReportClient.move_allocations``, one POST /allocations naming both consumers
(``replace_allocation_with_migration`` at the start of a resize, cold or live
migration; ``ComputeManager._revert_allocation`` and ``revert_allocation_for_migration``
when it is undone). Placement removes both consumers' old allocations before it checks
capacity on the batch's cumulative effect, so a swap on a host with no room for a
second copy of the flavor succeeds; two separate writes would not.

Here every host fits exactly one ``large`` instance: the source is full in every
resource class when the swap happens.
"""

from __future__ import annotations

import pytest

from model.cluster import Cluster
from model.cluster_scenarios import LARGE, allocs, assert_usage_consistent, boot, res, small_config
from model.lifecycle import ADMIN
from model.operation import BATCHED_WRITES, Alloc
from model.placement import Ledger
from model.states import MigrationStatus as MS, VmState as V


@pytest.fixture
def c():
    cluster = Cluster(small_config(hosts=2, vcpus=4, memory_mb=8192, local_gb=80))
    yield cluster
    cluster.close()


@pytest.fixture
def posts(monkeypatch):
    """Every batch written (POST /allocations), in order."""
    seen: list[dict] = []
    post = Ledger.post_allocations
    monkeypatch.setattr(Ledger, "post_allocations",
                        lambda self, batch: seen.append(dict(batch)) or post(self, batch))
    return seen


def _full(c: Cluster, host: str) -> bool:
    return all(c.ledger.free(host, rc) == 0 for rc in ("VCPU", "MEMORY_MB", "DISK_GB"))


def test_the_move_starts_with_one_batch_on_a_full_source(c, posts):
    uuid = boot(c, LARGE)
    source = c.instances[uuid].host
    dest = next(h for h in c.hosts if h != source)
    assert _full(c, source)
    # written as a PUT of the migration alone (the instance's allocation still counted)
    # the source allocation would not fit
    assert c.ledger.why_not("a-migration", {source: res(LARGE)}).startswith(
        "InvalidAllocationCapacityExceeded")
    assert c.request("migrate", uuid, ADMIN).accepted
    c.deliver(c.pending()[0].id)  # the conductor: swap, then claim the destination
    mig = c.instances[uuid].migration
    assert mig is not None and mig.status is MS.PRE_MIGRATING
    # one write of both consumers: the instance's source allocation to the migration
    assert posts == [{uuid: {}, mig.uuid: {source: res(LARGE)}}]
    assert allocs(c, mig.uuid) == {source: res(LARGE)}
    assert allocs(c, uuid) == {dest: res(LARGE)}
    assert _full(c, source) and _full(c, dest)
    assert_usage_consistent(c)


def test_a_revert_onto_a_full_source_is_one_batch(c, posts):
    uuid = boot(c, LARGE)
    source = c.instances[uuid].host
    assert c.request("migrate", uuid, ADMIN).accepted
    c.settle()
    mig = c.instances[uuid].migration
    assert c.instances[uuid].vm_state is V.RESIZED and mig.status is MS.FINISHED
    # both hosts full: the migration holds the source, the instance the destination
    assert _full(c, source) and _full(c, mig.dest)
    del posts[:]
    assert c.request("revert_resize", uuid).accepted
    c.settle()
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.host, mig.status) == (V.ACTIVE, source, MS.REVERTED)
    assert posts == [{mig.uuid: {}, uuid: {source: res(LARGE)}}]
    assert c.ledger.consumers() == [uuid] and allocs(c, uuid) == {source: res(LARGE)}
    assert c.ledger.usage(mig.dest, "DISK_GB") == 0
    assert_usage_consistent(c)


@pytest.mark.parametrize("how", ["abort", "rollback"])
def test_a_live_migration_undone_onto_a_full_source_is_one_batch(c, posts, how):
    uuid = boot(c, LARGE)
    source = c.instances[uuid].host
    assert c.request("live_migrate", uuid, ADMIN).accepted
    c.deliver(c.pending()[0].id)
    mig = c.instances[uuid].migration
    assert _full(c, source) and _full(c, next(h for h in c.hosts if h != source))
    if how == "abort":
        assert c.request("live_migrate_abort", uuid, ADMIN).accepted
        c.settle()
    else:
        c.settle(live_migrate__post_live_migration="rollback")
    assert posts == [{uuid: {}, mig.uuid: {source: res(LARGE)}},
                     {mig.uuid: {}, uuid: {source: res(LARGE)}}]
    assert c.ledger.consumers() == [uuid] and allocs(c, uuid) == {source: res(LARGE)}
    assert_usage_consistent(c)


def test_every_batched_effect_is_one_post_and_no_other_effect_posts(c, posts):
    """The effects ``model.operation.BATCHED_WRITES`` declares are the cluster's only
    POST /allocations, one each; claims, removals and deletions write one consumer."""
    fired: list[Alloc] = []
    uuid = boot(c, LARGE)
    for op, caller in (("migrate", ADMIN), ("revert_resize", ADMIN), ("migrate", ADMIN),
                       ("confirm_resize", ADMIN), ("live_migrate", ADMIN)):
        assert c.request(op, uuid, caller).accepted, op
        fired += [a for r in c.settle() if r.branch is not None for a in r.branch.alloc]
    assert c.request("delete", uuid).accepted
    fired += [a for r in c.settle() if r.branch is not None for a in r.branch.alloc]
    batched = [a for a in fired if a in BATCHED_WRITES]
    assert batched and len(posts) == len(batched)
    assert set(fired) - set(BATCHED_WRITES)  # other effects fired, without a POST
