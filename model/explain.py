"""One operation in words: guard, steps, outcomes, resource effect (``nova-model explain``)."""

from __future__ import annotations

from model.operation import Branch, HostChange, IgnoreHosts, Operation, Rule, Step
from model.states import task_label


def _target(value) -> str:
    if isinstance(value, Rule):
        return value.value
    if value is None:
        return "None"
    return getattr(value, "label", None) or value.value


def describe_branch(b: Branch) -> str:
    parts = []
    parts.append(f"vm_state {_target(b.vm)}, task_state {_target(b.task)}")
    if b.power is not Rule.KEEP:
        parts.append(f"power_state {_target(b.power)}")
    if b.host.name != "KEEP":
        parts.append(b.host.value)
    if b.migration is not None:
        made = f"create {b.migration.create.value} migration, " if b.migration.create else ""
        parts.append(f"{made}migration {b.migration.status.value}")
    for alloc in b.alloc:
        parts.append(f"placement: {alloc.value}")
    if b.lock is not None:
        parts.append("lock the instance" if b.lock else "unlock the instance")
    if b.then:
        parts.append(f"then {b.then}")
    if b.note:
        parts.append(f"({b.note})")
    text = "; ".join(parts)
    if b.when:
        text = "if " + " and ".join(w.value for w in b.when) + ": " + text
    return text


def _expects(step: Step) -> str:
    if step.expects is None:
        return "any task_state (no compare-and-swap)"
    text = ", ".join(sorted(task_label(t) for t in step.expects))
    if step.expects_if_guest_down:
        text += "; with the guest down also " + ", ".join(
            sorted(task_label(t) for t in step.expects_if_guest_down))
    return text


def explain(op: Operation) -> str:
    g = op.guard
    lines = [f"{op.name}: {op.summary}", f"  Nova: {op.api_method}  ({op.kind.value})"]
    if g is None:
        lines.append("  guard: none")
    else:
        vms = "any" if g.vm_states is None else ", ".join(sorted(v.value for v in g.vm_states))
        tasks = ("any" if g.task_states is None
                 else ", ".join(sorted(task_label(t) for t in g.task_states)))
        lines += [f"  guard: vm_state in [{vms}]; task_state in [{tasks}]",
                  f"         must_have_launched={g.must_have_launched} "
                  f"check_instance_lock={g.check_instance_lock} "
                  f"check_instance_host={g.check_instance_host}"
                  f"{' (service up)' if g.check_is_up else ''}",
                  f"         checks in order: {', '.join(c.value for c in g.checks)}"]
    if op.admin_only:
        lines.append("  policy: admin only by default")
    lines.append(f"  scheduler: {op.scheduler.value}")
    if op.request_args:
        lines.append(f"  request arguments: {', '.join(sorted(op.request_args))}")
    if op.changes_flavor:
        lines.append("  the request names a new flavor")
    if op.replaces_image:
        lines.append("  the request's image becomes the instance's")
    if op.ignore_hosts is not IgnoreHosts.NONE:
        lines.append(f"  scheduling ignores: {op.ignore_hosts.value}")
    if op.host_change is not HostChange.NONE:
        lines.append(f"  host: {op.host_change.value}")
    if op.stopped_from_microversion is not None:
        lines.append("  ends stopped from microversion "
                     + ".".join(map(str, op.stopped_from_microversion)))
    if op.requested_by is not None:
        lines.append(f"  requested by the periodic task {op.requested_by.value}")
    lines.append(f"  resources: {op.resources}")
    for step in op.all_steps.values():
        lines.append(f"  step {step.name} @ {step.where.value}  expects {_expects(step)}"
                     f"  [{step.nova}]")
        for outcome in step.outcomes:
            for b in outcome.branches:
                lines.append(f"    {outcome.name} ({outcome.kind.value}): {describe_branch(b)}")
    for note in op.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines) + "\n"
