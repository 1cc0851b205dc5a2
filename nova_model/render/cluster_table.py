"""A plain-text summary of a cluster: its instances, hosts, allocations and pending work
(the trace of a failure ends with it; ``nova-model simulate`` prints it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.cluster_records import RESOURCE_CLASSES, name_order
from model.states import task_label

if TYPE_CHECKING:
    from model.cluster import Cluster


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:.1f}"


def table(cluster: "Cluster") -> str:
    lines = ["INSTANCES", f"  {'uuid':<6} {'vm_state':<18} {'task_state':<28} {'power':<9} "
             f"{'host':<8} {'flavor':<10} migration"]
    for uuid in sorted(cluster.instances, key=name_order):
        i = cluster.instances[uuid]
        m = i.migration
        mig = "" if m is None else f"{m.uuid} {m.migration_type.value} {m.status.value} " \
                                   f"{m.source}->{m.dest}"
        lines.append(f"  {uuid:<6} {i.vm_state.value:<18} {task_label(i.task_state):<28} "
                     f"{i.power_state.label:<9} {str(i.host):<8} {str(i.flavor):<10} {mig}")
    lines.append("HOSTS")
    for name in sorted(cluster.hosts):
        h = cluster.hosts[name]
        flags = ("up" if h.up else "DOWN") + ("" if h.enabled else ",disabled")
        usage = "  ".join(
            f"{rc}={_fmt(cluster.ledger.usage(name, rc))}/{_fmt(cluster.ledger.capacity(name, rc))}"
            for rc in RESOURCE_CLASSES)
        lines.append(f"  {name:<8} {flags:<12} {usage}")
    lines.append("ALLOCATIONS")
    for consumer, allocs in sorted(cluster.allocations().items()):
        parts = "; ".join(f"{p}: " + ", ".join(f"{rc}={n}" for rc, n in sorted(res.items()))
                          for p, res in sorted(allocs.items()))
        lines.append(f"  {consumer:<6} {parts}")
    lines.append("PENDING")
    for w in cluster.pending():
        where = w.target or "conductor"
        lines.append(f"  {w.id:<5} {w.instance:<6} {w.operation}.{w.step} @ {where}"
                     + ("" if w.target is None or cluster.service_is_up(w.target)
                        else " (host down)"))
    return "\n".join(lines)
