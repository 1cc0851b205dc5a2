"""The guard table, derived from the catalogue: what ``nova-model guards`` prints.

The JSON form is a stable interface: ``{"operations": {NAME: {"api_method": str,
"vm_states": [..] | null, "task_states": [..] | "any", "must_have_launched": bool,
"check_instance_lock": bool, "check_instance_host": null | {"check_is_up": bool}}}}``
where ``null`` inside ``task_states`` means "no task in progress".
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from model.catalogue import API_OPERATIONS
from model.operation import Guard, Operation
from model.states import TaskState, VmState


def _vm_list(guard: Guard | None) -> list[str] | None:
    if guard is None or guard.vm_states is None:
        return None
    return [vm.value for vm in VmState if vm in guard.vm_states]


def _task_list(guard: Guard | None) -> list[str | None] | str:
    if guard is None or guard.task_states is None:
        return "any"
    ordered: list[str | None] = [None] if None in guard.task_states else []
    return ordered + [t.value for t in TaskState if t in guard.task_states]


def guard_record(op: Operation) -> dict[str, Any]:
    g = op.guard
    return {
        "api_method": op.api_method,
        "vm_states": _vm_list(g),
        "task_states": _task_list(g),
        "must_have_launched": bool(g and g.must_have_launched),
        "check_instance_lock": bool(g and g.check_instance_lock),
        "check_instance_host": ({"check_is_up": g.check_is_up}
                                if g is not None and g.check_instance_host else None),
    }


def guard_table(operations: Iterable[Operation] = API_OPERATIONS) -> dict[str, Any]:
    return {"operations": {op.name: guard_record(op) for op in operations}}


def guard_json(operations: Iterable[Operation] = API_OPERATIONS) -> str:
    return json.dumps(guard_table(operations), indent=2) + "\n"


def _cell(values) -> str:
    if values is None:
        return "any"
    if values == "any":
        return "any"
    return ", ".join("None" if v is None else f"`{v}`" for v in values)


def guard_markdown(operations: Iterable[Operation] = API_OPERATIONS) -> str:
    rows = ["| operation | Nova method | vm_states | task_states | launched | lock | host |",
            "|---|---|---|---|---|---|---|"]
    for name, rec in guard_table(operations)["operations"].items():
        host = rec["check_instance_host"]
        rows.append(
            f"| {name} | `{rec['api_method']}` | {_cell(rec['vm_states'])} | "
            f"{_cell(rec['task_states'])} | {'yes' if rec['must_have_launched'] else 'no'} | "
            f"{'yes' if rec['check_instance_lock'] else 'no'} | "
            f"{'-' if host is None else ('set and up' if host['check_is_up'] else 'set')} |")
    return "\n".join(rows) + "\n"
