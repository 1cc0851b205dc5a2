"""Progress: nothing waits forever for work that will never come."""

from __future__ import annotations

from model.states import task_label


def nothing_stuck(cluster) -> list[str]:
    """No instance stays in a task_state when no work for it is pending and its host is up.

    With nothing queued for it, nothing in Nova will ever clear the task except a
    compute restart (``CM._init_instance``) or an admin's reset-state: the user
    sees a server stuck in a task forever.
    """
    busy = {w.instance for w in cluster.pending()}
    out = []
    for uuid, inst in sorted(cluster.instances.items()):
        if inst.state == "new" or inst.task_state is None or uuid in busy:
            continue
        if inst.host is None or cluster.service_is_up(inst.host):
            out.append(f"{uuid} is stuck in {inst.vm_state.value}/"
                       f"{task_label(inst.task_state)} on {inst.host} with no work pending")
    return out
