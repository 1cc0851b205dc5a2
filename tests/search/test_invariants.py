"""Each invariant holds on a healthy cluster and reports a deliberately broken one."""

from __future__ import annotations

import re

import pytest

import invariants
from model.cluster import Cluster
from model.cluster_scenarios import LARGE, SMALL, boot, small_config
from model.lifecycle import ADMIN, state_name
from model.placement import Ledger
from model.states import MigrationStatus, PowerState, TaskState, VmState


@pytest.fixture
def cluster():
    c = Cluster(small_config(hosts=2), seed=3)
    yield c
    c.close()


def _active(cluster, flavor=SMALL, **kw) -> str:
    uuid = boot(cluster, flavor, **kw)
    assert cluster.instances[uuid].vm_state is VmState.ACTIVE
    return uuid


def _resized(cluster) -> str:
    uuid = _active(cluster)
    assert cluster.request("migrate", uuid, ADMIN).accepted
    cluster.settle()
    assert cluster.instances[uuid].vm_state is VmState.RESIZED
    return uuid


def test_a_healthy_cluster_has_no_violations(cluster):
    _active(cluster)
    _resized(cluster)
    assert invariants.violations(cluster) == {}


def test_registry_names_and_documents_every_invariant():
    assert len(invariants.ALL) == len(invariants.BY_NAME) >= 9
    for inv in invariants.ALL:
        assert inv.promise, inv.name
        # each one says which Nova (or Placement) behaviour it reflects
        assert re.search(r"Nova|Placement|``(CM|COND|API|RT)\.|ResourceTracker|Migration\.",
                         inv.doc), inv.name


def test_claims_within_capacity_catches_a_claim_placement_would_refuse(cluster, monkeypatch):
    uuid = _active(cluster, LARGE)
    host = cluster.instances[uuid].host
    assert invariants.BY_NAME["claims_within_capacity"](cluster) == []
    # seeded fault: a ledger that forgets Placement's capacity check
    monkeypatch.setattr(Ledger, "_refusal", lambda self, consumers, allocations: None)
    assert cluster.ledger.claim(uuid, {host: {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 400}})
    (message,) = invariants.BY_NAME["claims_within_capacity"](cluster)
    assert host in message and "DISK_GB" in message


def test_an_operator_lowering_capacity_is_not_a_violation(cluster):
    uuid = _active(cluster, LARGE)
    host = cluster.instances[uuid].host
    cluster.set_allocation_ratio(host, "DISK_GB", 0.1)
    assert cluster.ledger.over_capacity()  # it is over, and it is reported as explained
    assert invariants.BY_NAME["claims_within_capacity"](cluster) == []


def test_usage_equals_allocations_catches_a_forgotten_counter(cluster):
    uuid = _active(cluster)
    host = cluster.instances[uuid].host
    cluster.ledger._usage[host]["VCPU"] += 1
    assert invariants.BY_NAME["usage_equals_allocations"](cluster)


def test_live_consumers_catches_a_leaked_allocation(cluster):
    uuid = _active(cluster)
    held = cluster.ledger.allocations_of(uuid)
    assert cluster.request("delete", uuid).accepted
    cluster.settle()
    assert cluster.ledger.claim(uuid, held)
    (message,) = invariants.BY_NAME["allocations_have_live_consumers"](cluster)
    assert uuid in message and "deleted" in message


def test_state_implies_holdings_catches_a_missing_allocation(cluster):
    uuid = _active(cluster)
    cluster.ledger.delete_allocations(uuid)
    (message,) = invariants.BY_NAME["instances_hold_what_their_state_implies"](cluster)
    assert uuid in message and "holds nothing" in message


def test_state_implies_holdings_checks_both_sides_of_a_resize(cluster):
    uuid = _resized(cluster)
    migration = next(m for m in cluster.migrations.values() if m.instance_uuid == uuid)
    cluster.ledger.delete_allocations(migration.uuid)
    assert invariants.BY_NAME["instances_hold_what_their_state_implies"](cluster)


def test_legal_state_combinations_catches_an_impossible_power_state(cluster):
    uuid = _active(cluster)
    cluster.instances[uuid].power_state = PowerState.SUSPENDED
    (message,) = invariants.BY_NAME["legal_state_combinations"](cluster)
    assert "no operation produces" in message


def test_host_set_catches_an_active_instance_without_host(cluster):
    uuid = _active(cluster)
    cluster.instances[uuid].host = None
    assert invariants.BY_NAME["host_set_exactly_when_required"](cluster)


def test_migrations_agree_catches_a_resized_instance_without_its_migration(cluster):
    uuid = _resized(cluster)
    for m in cluster.migrations.values():
        if m.instance_uuid == uuid:
            m.status = MigrationStatus.CONFIRMED
    assert invariants.BY_NAME["migrations_agree_with_instances"](cluster)


def test_server_groups_catch_two_anti_affinity_members_on_one_host(cluster):
    first = _active(cluster, group="anti")
    second = _active(cluster, group="anti")
    assert cluster.instances[first].host != cluster.instances[second].host
    assert invariants.BY_NAME["server_group_policies"](cluster) == []
    cluster.instances[second].host = cluster.instances[first].host
    (message,) = invariants.BY_NAME["server_group_policies"](cluster)
    assert "anti" in message


def test_server_groups_catch_a_split_affinity_group(cluster):
    first = _active(cluster, group="aff")
    second = _active(cluster, group="aff")
    assert cluster.instances[first].host == cluster.instances[second].host
    cluster.instances[second].host = next(h for h in cluster.hosts
                                          if h != cluster.instances[first].host)
    assert invariants.BY_NAME["server_group_policies"](cluster)


def test_nothing_stuck_catches_a_task_with_no_work(cluster):
    uuid = _active(cluster)
    cluster.instances[uuid].state = state_name(VmState.ACTIVE, TaskState.POWERING_OFF)
    (message,) = invariants.BY_NAME["nothing_stuck"](cluster)
    assert "stuck" in message
