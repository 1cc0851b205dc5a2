"""Field by field: what the model shows against what running Nova shows.

Both sides are reduced to the same shape (``plan.model_view`` and the Nova side's
observation): instances by name (vm_state, task_state, power_state, host, flavor,
image, locked; a deleted instance only as deleted), migrations by creation order
(instance, type, status, source, dest; one of a deleted instance only as deleted:
Nova's instance_destroy soft-deletes them with it), Placement's allocations per consumer and
host, and each host's usage and capacity per resource class; after a host's resource
audit, that host's ComputeNode count and Placement usage. Nothing is left out
of the comparison to make a difference vanish; every field compared is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.states import PowerState

_INSTANCE_FIELDS = ("vm_state", "task_state", "power_state", "host", "flavor", "image",
                    "locked")
_MIGRATION_FIELDS = ("instance", "type", "status", "source", "dest")


@dataclass(frozen=True)
class Difference:
    where: str       # e.g. "instances.vm1.vm_state"
    model: Any
    nova: Any

    def line(self) -> str:
        return f"{self.where}: model {_show(self.model)}, Nova {_show(self.nova)}"


def _show(value: Any) -> str:
    return "absent" if value is _ABSENT else repr(value)


_ABSENT = object()


def _power_label(code: Any) -> Any:
    if isinstance(code, int):
        try:
            return PowerState(code).label
        except ValueError:
            return code
    return code


def nova_view(observed: dict[str, Any]) -> dict[str, Any]:
    """Nova's observation with power states as the model names them."""
    instances = {}
    for name, i in observed["instances"].items():
        i = dict(i)
        if "power_state" in i:
            i["power_state"] = _power_label(i["power_state"])
        instances[name] = i
    hosts = {host: {rc: {"used": u["used"], "capacity": _number(u["capacity"])}
                    for rc, u in by_rc.items()}
             for host, by_rc in observed["hosts"].items()}
    return {"instances": instances, "migrations": observed["migrations"],
            "allocations": observed["allocations"], "hosts": hosts}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def compare(model: dict[str, Any], nova: dict[str, Any]) -> tuple[int, list[Difference]]:
    """(fields compared, differences) between two views of the same moment."""
    count = 0
    diffs: list[Difference] = []

    def check(where: str, a: Any, b: Any) -> None:
        nonlocal count
        count += 1
        if a != b:
            diffs.append(Difference(where, a, b))

    for name in sorted(set(model["instances"]) | set(nova["instances"]), key=_order):
        m = model["instances"].get(name)
        n = nova["instances"].get(name)
        if m is None or n is None:
            check(f"instances.{name}", m if m is not None else _ABSENT,
                  n if n is not None else _ABSENT)
            continue
        check(f"instances.{name}.vm_state", m["vm_state"], n["vm_state"])
        if m["vm_state"] == "deleted" or n["vm_state"] == "deleted":
            continue
        for key in _INSTANCE_FIELDS[1:]:
            if key == "image" and m.get("image") is None:
                continue
            check(f"instances.{name}.{key}", m.get(key), n.get(key))
    for name in sorted(set(model["migrations"]) | set(nova["migrations"]), key=_order):
        m, n = model["migrations"].get(name), nova["migrations"].get(name)
        if m is None or n is None:
            check(f"migrations.{name}", m if m is not None else _ABSENT,
                  n if n is not None else _ABSENT)
            continue
        check(f"migrations.{name}.deleted", m.get("deleted", False),
              n.get("deleted", False))
        if m.get("deleted") or n.get("deleted"):
            check(f"migrations.{name}.instance", m["instance"], n["instance"])
            continue
        for key in _MIGRATION_FIELDS:
            check(f"migrations.{name}.{key}", m[key], n[key])
    for consumer in sorted(set(model["allocations"]) | set(nova["allocations"]), key=_order):
        m = model["allocations"].get(consumer, {})
        n = nova["allocations"].get(consumer, {})
        for host in sorted(set(m) | set(n)):
            check(f"allocations.{consumer}.{host}", m.get(host, _ABSENT),
                  n.get(host, _ABSENT))
    for host in sorted(set(model["hosts"]) | set(nova["hosts"])):
        m, n = model["hosts"].get(host, {}), nova["hosts"].get(host, {})
        for rc in sorted(set(m) | set(n)):
            for key in ("used", "capacity"):
                check(f"hosts.{host}.{rc}.{key}", m.get(rc, {}).get(key, _ABSENT),
                      n.get(rc, {}).get(key, _ABSENT))
    return count, diffs


def compare_audit(model: dict[str, Any], nova: dict[str, Any] | None
                  ) -> tuple[int, list[Difference]]:
    """(fields compared, differences) after one host's resource audit: the host's
    ComputeNode count (``vcpus_used``, ``memory_mb_used``, ``local_gb_used``, what its
    resource tracker saved) and Placement's usage of its provider (``plan.audit_view``)."""
    nova = nova or {}
    host = model["host"]
    count = 0
    diffs: list[Difference] = []
    for part in ("compute_node", "placement"):
        m, n = model[part], nova.get(part, {})
        for key in sorted(set(m) | set(n)):
            count += 1
            a, b = m.get(key, _ABSENT), n.get(key, _ABSENT)
            if a != b:
                diffs.append(Difference(f"audit.{host}.{part}.{key}", a, b))
    return count, diffs


def _order(name: str) -> tuple[str, int, str]:
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return (head, int(tail) if tail.isascii() and tail.isdigit() else -1, name)
