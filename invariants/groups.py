"""Server groups: hard policies hold, counting instances still arriving."""

from __future__ import annotations

from collections import Counter

from model.cluster_compat import group_policy
from model.lifecycle import STATE_PAIRS
from model.operation import HostChange
from model.states import MigrationStatus, VmState
from invariants.subjects import Violation, of_instances

_DELETED = VmState.DELETED
_ACCEPTED = MigrationStatus.ACCEPTED
_DONE = MigrationStatus.DONE


def _arriving(cluster) -> dict[str, list[str]]:
    """Each instance's in-progress moves' destinations, in the order of
    ``cluster.migrations`` (one pass over the migrations for all the members)."""
    out: dict[str, list[str]] = {}
    for m in cluster.migrations.values():
        # (before the destination's claim writes ``dest``, the move is on its way to
        # the host the conductor sent it to; a host only requested (API.evacuate writes
        # it as dest_compute) is not a destination until the conductor sends the move
        # there: the scheduler's filters, or for a forced host the compute's late
        # check, may still refuse it)
        if m.sent_to is None and m.status is _ACCEPTED:
            continue
        # (an evacuation 'done' has landed: the instance's host was set to its
        # destination, and only the source's clean-up is pending; the instance may
        # since have moved again, by a shelve and unshelve that writes no record)
        if m.status is _DONE:
            continue
        dest = m.dest or m.sent_to
        if m.in_progress and dest:
            out.setdefault(m.instance_uuid, []).append(dest)
    return out


def _destination(inst, arriving: list[str]) -> str | None:
    """Where an instance will be: the destination of the move it is in (its current
    migration, in progress and on its way), else its host. An older record another move
    left in progress (an evacuation whose destination's compute stopped mid-rebuild
    keeps it pre-migrating, and a second evacuation then moved the instance) is not
    where the instance goes."""
    move = inst.migration
    if move is not None and move.in_progress:
        dest = move.dest or move.sent_to
        if dest in arriving:
            return dest
    return inst.host


def _hosts_of(inst, arriving: list[str]) -> set[str]:
    """Where an instance is or is arriving: its host and any in-progress move's destination."""
    hosts = {inst.host} if inst.host else set()
    hosts.update(arriving)
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
    for uuid in members:  # (an unshelve creates no migration record)
        how = cluster.arrivals.get(uuid)
        if (cluster.instances[uuid].host == host and how is not None
                and cluster.lc.operation(how).host_change is HostChange.ARRIVES):
            return f", {uuid} arrived by {how}"
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
    instances = cluster.instances
    arriving = None  # instance -> destinations of its in-progress moves, when needed
    for name, uuids in sorted(cluster.groups.items()):
        members = []
        for u in uuids:
            inst = instances.get(u)
            if inst is None:
                continue
            state = inst.state
            if state != "new" and STATE_PAIRS[state][0] is not _DELETED:  # inst.vm_state
                members.append(u)
        if len(members) < 2:
            continue  # one member can neither share a host nor be split
        policy, rules = group_policy(cluster.config, name)
        if policy not in ("anti-affinity", "affinity"):
            continue  # soft policies promise nothing
        if arriving is None:
            arriving = _arriving(cluster)
        if policy == "anti-affinity":
            limit = int(rules.get("max_server_per_host", 1))
            count: dict[str, int] = {}
            for u in members:
                for h in _hosts_of(instances[u], arriving.get(u, ())):
                    count[h] = count.get(h, 0) + 1
            # usually no host is over the limit, and nothing more need be looked at
            # (the members placed on a host are among those counted there)
            if all(n <= limit for n in count.values()):
                continue
            placed = Counter(instances[u].host for u in members if instances[u].host)
            for host, n in sorted(count.items()):
                there = of_instances(cluster, (
                    u for u in members if host in _hosts_of(instances[u], arriving.get(u, ()))))
                if placed[host] > limit:
                    out.append(Violation(
                        f"anti-affinity group {name}: {placed[host]} members on {host} "
                        f"(limit {limit})" + _how_they_met(cluster, members, host), there))
                elif n > limit:
                    out.append(Violation(
                        f"anti-affinity group {name}: {n} members on {host} "
                        f"(limit {limit}), counting {n - placed[host]} arriving", there))
        else:
            # A member's own move is not a split (Nova's filter excludes the moving
            # instance from the group's hosts); members ending up apart are.
            destinations = {h for u in members
                            if (h := _destination(instances[u], arriving.get(u, ())))}
            if len(destinations) > 1:
                hosts = sorted(destinations)
                placed = {instances[u].host for u in members if instances[u].host}
                how = ", counting arriving members" if len(placed) <= 1 else ""
                if not how:  # a member that came by a move, back by a revert first
                    met = [_how_they_met(cluster, members, h) for h in sorted(placed)]
                    how = next((m for m in met if "reverted" in m), "") or next(
                        (m for m in met if m), "")
                out.append(Violation(
                    f"affinity group {name} is split across {', '.join(hosts)}{how}",
                    of_instances(cluster, members)))
    return out
