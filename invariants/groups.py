"""Server groups: hard policies hold, counting instances still arriving."""

from __future__ import annotations

from collections import Counter

from model.cluster_compat import group_policy
from model.states import MigrationStatus, VmState


def _destination(cluster, uuid: str) -> str | None:
    """Where an instance will be: an in-progress move's destination, else its host."""
    for m in cluster.migrations.values():
        if m.instance_uuid == uuid and m.in_progress and m.dest:
            return m.dest
    return cluster.instances[uuid].host


def _hosts_of(cluster, uuid: str) -> set[str]:
    """Where an instance is or is arriving: its host and any in-progress move's destination."""
    inst = cluster.instances[uuid]
    hosts = {inst.host} if inst.host else set()
    for m in cluster.migrations.values():
        if m.instance_uuid == uuid and m.in_progress and m.dest:
            hosts.add(m.dest)
    return hosts


def _how_they_met(cluster, members: list[str], host: str) -> str:
    """Name a member that came to ``host`` by a move: back by a reverted resize, or as
    the destination of a move whose checks ran before the other member was placed."""
    for uuid in members:
        if cluster.instances[uuid].host != host:
            continue
        for m in sorted(cluster.migrations.values(), key=lambda m: m.uuid):
            if m.instance_uuid != uuid or m.source == m.dest:
                continue
            if m.source == host and m.status is MigrationStatus.REVERTED:
                return f", {uuid} returned by a reverted resize"
            if m.dest == host and m.status is not MigrationStatus.REVERTED:
                return f", {uuid} arrived by {m.migration_type.value} {m.uuid}"
    return ""


def server_group_policies(cluster) -> list[str]:
    """Hard anti-affinity never puts more than max_server_per_host members on a host; hard affinity never splits a group.

    ``ServerGroupAntiAffinityFilter`` / ``ServerGroupAffinityFilter`` at scheduling
    time and ``CM._validate_instance_group_policy`` on the compute. For
    anti-affinity an instance arriving by migration or evacuation counts on its
    destination as well as its source; for affinity each member counts where it
    is going.
    """
    out = []
    for name, uuids in sorted(cluster.groups.items()):
        members = [u for u in uuids
                   if u in cluster.instances and cluster.instances[u].state != "new"
                   and cluster.instances[u].vm_state is not VmState.DELETED]
        if len(members) < 2:
            continue  # one member can neither share a host nor be split
        policy, rules = group_policy(cluster.config, name)
        if policy == "anti-affinity":
            limit = int(rules.get("max_server_per_host", 1))
            placed = Counter(cluster.instances[u].host for u in members
                             if cluster.instances[u].host)
            count = Counter(h for u in members for h in _hosts_of(cluster, u))
            for host, n in sorted(count.items()):
                if placed[host] > limit:
                    out.append(f"anti-affinity group {name}: {placed[host]} members on "
                               f"{host} (limit {limit})" + _how_they_met(cluster, members, host))
                elif n > limit:
                    out.append(f"anti-affinity group {name}: {n} members on {host} "
                               f"(limit {limit}), counting {n - placed[host]} arriving")
        elif policy == "affinity":
            # A member's own move is not a split (Nova's filter excludes the moving
            # instance from the group's hosts); members ending up apart are.
            hosts = sorted({h for u in members if (h := _destination(cluster, u))})
            placed = {cluster.instances[u].host for u in members if cluster.instances[u].host}
            if len(hosts) > 1:
                how = ", counting arriving members" if len(placed) <= 1 else ""
                if not how:  # a member that came by a move, back by a revert first
                    met = [_how_they_met(cluster, members, h) for h in sorted(placed)]
                    how = next((m for m in met if "reverted" in m), "") or next(
                        (m for m in met if m), "")
                out.append(f"affinity group {name} is split across {', '.join(hosts)}{how}")
    return out
