"""Promises about our cloud, written as the search checks them: a function of the
cluster returning what it sees broken (nothing when the promise holds)."""

from pathlib import Path

from nova_model.testing import ClusterConfig, promise

MY_CLOUD = ClusterConfig.load(Path(__file__).with_name("my_cloud.toml"))


@promise
def never_beyond_my_ratios(cluster):
    """No host is ever allocated more than our allocation ratios allow."""
    broken = []
    for host in sorted(cluster.hosts):
        for rc, inventory in MY_CLOUD.inventories_for(host).items():
            used = cluster.ledger.usage(host, rc)
            if used > inventory.capacity:
                broken.append(f"{host} uses {used} {rc}; our ratios allow {inventory.capacity:g}")
    return broken


@promise
def xlarge_never_on_the_edge(cluster):
    """An xlarge server never runs on, or holds resources of, the edge host."""
    xlarge = MY_CLOUD.flavor("xlarge")
    broken = [f"{uuid} (xlarge) runs on edge1" for uuid, inst in sorted(cluster.instances.items())
              if inst.flavor == "xlarge" and inst.host == "edge1"]
    for consumer, held in sorted(cluster.allocations().items()):
        if held.get("edge1", {}).get("MEMORY_MB", 0) >= xlarge.memory_mb:
            broken.append(f"{consumer} holds an xlarge's memory on edge1")
    return broken
