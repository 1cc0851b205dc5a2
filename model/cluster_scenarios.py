"""Small, explicit cluster configurations for tests and examples."""

from __future__ import annotations

from typing import Any

from model.config import AllocationRatios, ClusterConfig, HostConfig, ImageConfig, Options, \
    ServerGroupConfig
from model.operation import the_operation
from model.scheduler.request import Flavor

SMALL = Flavor("small", vcpus=1, memory_mb=2048, root_gb=20)
LARGE = Flavor("large", vcpus=4, memory_mb=8192, root_gb=80)
HUGE = Flavor("huge", vcpus=16, memory_mb=32768, root_gb=400)  # fits on no host


def small_config(hosts: int = 3, vcpus: int = 8, memory_mb: int = 16384, local_gb: int = 200,
                 **options: Any) -> ClusterConfig:
    """``hosts`` identical hosts ``host1..N``, no overcommit, nothing reserved."""
    return ClusterConfig(
        hosts=tuple(HostConfig(f"host{i}", vcpus=vcpus, memory_mb=memory_mb, local_gb=local_gb)
                    for i in range(1, hosts + 1)),
        flavors=(SMALL, LARGE, HUGE),
        images=(ImageConfig("cirros"), ImageConfig("ubuntu")),
        server_groups=(ServerGroupConfig("anti", "anti-affinity"),
                       ServerGroupConfig("aff", "affinity")),
        allocation_ratios=AllocationRatios(
            profile="nova", cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0,
            disk_allocation_ratio=1.0, reserved_host_memory_mb=0, reserved_host_disk_mb=0,
            reserved_host_cpus=0),
        options=Options(**options),
    )


# --- helpers for tests and examples ----------------------------------------------------

def res(flavor: Flavor) -> dict[str, int]:
    """The placement resources of a flavor (no swap, no ephemeral)."""
    return {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.memory_mb, "DISK_GB": flavor.root_gb}


def allocs(cluster, consumer: str) -> dict[str, dict[str, int]]:
    """A consumer's allocations with plain string keys."""
    return {p: {str(rc): n for rc, n in r.items()}
            for p, r in cluster.ledger.allocations_of(consumer).items()}


def assert_usage_consistent(cluster) -> None:
    """Every provider's usage equals the sum of the allocations against it."""
    from model.cluster import RESOURCE_CLASSES
    for host in cluster.hosts:
        for rc in RESOURCE_CLASSES:
            total = sum(cluster.ledger.allocations_of(x).get(host, {}).get(rc, 0)
                        for x in cluster.ledger.consumers())
            assert cluster.ledger.usage(host, rc) == total, (host, rc)
    assert cluster.ledger.usage_mismatches() == []


def boot(cluster, flavor: Flavor = SMALL, **kw: Any) -> str:
    """Create an instance and deliver everything until it is active; its uuid."""
    create = the_operation(cluster.lc.operations, lambda op: op.creates_instance,
                           "create an instance").name
    r = cluster.request(create, flavor=flavor.name, **kw)
    assert r.accepted, r
    cluster.settle()
    inst = cluster.instances[r.instance]
    assert (inst.vm_state.value, inst.task_state) == ("active", None), inst
    return r.instance
