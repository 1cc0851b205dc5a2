"""Helpers shared by the diagram builders: ordering, labels, and the "from any state" hub."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Hashable, Iterable, Mapping, TypeVar

from model.operation import Branch, HostEffect, Operation, Rule
from model.states import PowerState, Task, VmState, task_label
from nova_model.render.derive import op_key
from nova_model.render.ir import join_wrapped, wrap

S = TypeVar("S", bound=Hashable)
G = TypeVar("G", bound=Hashable)

#: A hub edge collapses the edges of one operation into one target when they come
#: from every state of a group but at most this many (the exceptions are named).
HUB_MAX_EXCEPTIONS = 2
HUB_MIN_SOURCES = 3


def ordered_ops(names: Iterable[str]) -> list[str]:
    """Operation names in catalogue order."""
    return sorted(set(names), key=op_key)


def ops_label(names: Iterable[str], width: int = 28) -> str:
    return join_wrapped(ordered_ops(names), width)


def hub_collapse(
    edges: Mapping[tuple[S, S], Iterable[str]],
    groups: Mapping[G, Iterable[S]],
    group_of: Callable[[S], G],
    max_exceptions: int = HUB_MAX_EXCEPTIONS,
) -> tuple[dict[tuple[S, S], set[str]], dict[tuple[G, S], dict[str, frozenset[S]]]]:
    """Fold "this operation goes from (nearly) every state of a group to T" into one edge.

    ``edges`` maps (source, target) to operation names. For each group, operation
    and target: when the sources cover the group's states other than the target
    except at most ``max_exceptions`` of them, and are at least
    ``HUB_MIN_SOURCES``, the edges become one hub edge ``(group, target)`` that
    records the exceptions. Returns (remaining edges, hub edges).
    """
    if max_exceptions is None:
        max_exceptions = HUB_MAX_EXCEPTIONS
    members = {g: frozenset(states) for g, states in groups.items()}
    by_op: dict[tuple[G, S, str], set[S]] = defaultdict(set)
    for (src, dst), names in edges.items():
        for name in names:
            by_op[(group_of(src), dst, name)].add(src)
    folded: set[tuple[S, S, str]] = set()
    hubs: dict[tuple[G, S], dict[str, frozenset[S]]] = defaultdict(dict)
    for (group, dst, name), sources in by_op.items():
        others = members.get(group, frozenset()) - {dst}
        missing = others - sources
        if len(sources) >= HUB_MIN_SOURCES and len(missing) <= max_exceptions:
            hubs[(group, dst)][name] = frozenset(missing)
            folded.update((src, dst, name) for src in sources)
    remaining: dict[tuple[S, S], set[str]] = {}
    for (src, dst), names in edges.items():
        kept = {n for n in names if (src, dst, n) not in folded}
        if kept:
            remaining[(src, dst)] = kept
    return remaining, dict(hubs)


def hub_label(ops: Mapping[str, frozenset], describe: Callable[[object], str],
              order: Callable[[object], object], width: int = 28) -> str:
    """The label of a hub edge: operations grouped by their (sorted) exceptions."""
    by_exceptions: dict[tuple, list[str]] = defaultdict(list)
    for name, missing in ops.items():
        by_exceptions[tuple(sorted(missing, key=order))].append(name)
    parts = []
    for missing, names in sorted(by_exceptions.items(),
                                 key=lambda kv: (len(kv[0]), [order(m) for m in kv[0]])):
        items = ordered_ops(names)
        if missing:
            items[-1] += " (not from " + ", ".join(describe(m) for m in missing) + ")"
        parts.append(wrap(join_wrapped(items, width), width + 6))
    return "\n".join(parts)


# --- describing branch targets ----------------------------------------------------------

def vm_text(value: VmState | Rule) -> str:
    return value.value if isinstance(value, VmState) else (
        "unchanged" if value is Rule.KEEP else value.value)


def task_text(value: Task | Rule) -> str:
    return "unchanged" if value is Rule.KEEP else task_label(value)  # type: ignore[arg-type]


def power_text(value: PowerState | Rule) -> str:
    if value is Rule.GUEST:
        return "the guest's"
    return value.label if isinstance(value, PowerState) else "unchanged"


def guest_text(value: PowerState | Rule) -> str:
    """What a branch leaves on the hypervisor: no guest (NOSTATE), a power state, or as
    before."""
    if value is PowerState.PENDING:
        return "none"
    if value is Rule.FOLLOW:
        return "as power_state"
    return value.label if isinstance(value, PowerState) else "unchanged"


def branch_writes(b: Branch) -> list[str]:
    """What a branch writes, one short line each (task_state first)."""
    lines = []
    if b.task is not Rule.KEEP:
        lines.append(f"task_state → {task_text(b.task)}")
    if b.vm is not Rule.KEEP:
        lines.append(f"vm_state → {vm_text(b.vm)}")
    if b.power is not Rule.KEEP:
        lines.append(f"power_state → {power_text(b.power)}")
    if b.guest is not Rule.FOLLOW:
        lines.append(f"guest → {guest_text(b.guest)}")
    if b.host is not HostEffect.KEEP:
        lines.append(b.host.value)
    if b.migration is not None:
        made = f"new {b.migration.create.value} " if b.migration.create else ""
        lines.append(f"{made}migration → {b.migration.status.value}")
    if b.lock is not None:
        lines.append("locked" if b.lock else "unlocked")
    return lines


def writes_task(op: Operation) -> bool:
    return bool(op.task_states_written)
