"""Progress: nothing waits forever for work that will never come; nothing fails without a failure."""

from __future__ import annotations

from operator import itemgetter

from model.catalogue import CATALOGUE
from model.cluster import MISSING_GUEST, PREEMPTED
from model.lifecycle import STATE_PAIRS
from model.operation import Kind, OutcomeKind
from model.states import VmState, task_label
from invariants.subjects import Violation, of_instance

_UUID = itemgetter(0)


def busy_instances(cluster) -> set[str]:
    """The instances some pending work is for (the invariants only ask "is any work
    queued for this instance", so the pending items are not listed in order)."""
    return {u for w in cluster.queued_work() for u in w.instances}


def created_instances(cluster) -> list[tuple]:
    """``(uuid, instance, vm_state, task_state)`` for each instance the API has
    created (not one still ``new``), the state pair read once. (A list, not a
    generator: six invariants walk it after every step, and resuming a generator
    per instance cost them a sixth of their time.)"""
    pairs = STATE_PAIRS
    return [(uuid, inst, *pairs[inst.state]) for uuid, inst in cluster.instances.items()
            if inst.state != "new"]


def in_uuid_order(found: list[tuple[str, str]]) -> list[str]:
    """The messages of ``(uuid, message)`` pairs in the order a loop over
    ``sorted(cluster.instances.items())`` reports them.

    The invariants walk the instances unsorted and sort only what they found
    (almost always nothing); the sort is stable, so one instance's messages keep
    their order.
    """
    if not found:
        return []
    found.sort(key=_UUID)
    return [message for _, message in found]


def nothing_stuck(cluster) -> list[str]:
    """No instance stays in a task_state when no work for it is pending and its host is up.

    With nothing queued for it, nothing in Nova will ever clear the task except a
    compute restart (``CM._init_instance``) or an admin's reset-state: the user
    sees a server stuck in a task forever.
    """
    busy = None  # only looked up once an instance is in a task (often none is)
    found = []
    for uuid, inst, vm, task in created_instances(cluster):
        if task is None:
            continue
        if busy is None:
            busy = busy_instances(cluster)
        if uuid in busy:
            continue
        host = inst.host
        if host is None or cluster.service_is_up(host):
            found.append((uuid, Violation(f"{uuid} is stuck in {vm.value}/"
                                          f"{task_label(task)} on {host} with no work pending",
                                          of_instance(cluster, uuid))))
    return in_uuid_order(found)


#: Operations whose purpose is to set error: requests whose API step itself writes
#: vm_state error, an operator's ``os-resetState`` (``AdminActionsController._reset_state``).
OPERATOR_SETS_ERROR = frozenset(
    op.name for op in CATALOGUE.values() if op.kind is Kind.API
    and any(b.vm is VmState.ERROR for o in op.api.outcomes for b in o.branches))

#: What fires a transition without a delivery choosing its outcome: the world, not
#: the step. ``event``: a hypervisor event; ``late_group_check``: the compute's
#: re-check of a hard server-group policy (``CM._validate_instance_group_policy``)
#: found another member already there; ``missing_guest``: the hypervisor had no guest
#: (an earlier failure destroyed it: ``Instance.guest``); ``preempted``: a step lost its
#: compare-and-swap to another request inside ``_error_out_instance_on_exception``
#: (``Step.preempted``), or found its migration confirmed by another request first
#: (``When.MIGRATION_CONFIRMED``: ``CM._confirm_resize`` then fails on the dropped
#: migration context). (``recovery`` counts too, for an instance caught in the middle
#: of a task: see ``error_only_from_failures``.)
WORLD_TRIGGERS = frozenset({"event", "late_group_check", MISSING_GUEST, PREEMPTED})


def error_only_from_failures(cluster) -> list[str]:
    """An instance only reaches vm_state error through a failure: an injected fault or an environment outcome such as no_valid_host, never an ok outcome; a run without injected faults only errors from the environment.

    Nova sets error from ``_error_out_instance_on_exception`` /
    ``_set_instance_obj_error_state`` on a compute failure (the catalogue's FAULT
    outcomes), from ``COND._bury_in_cell0`` and ``COND.rebuild_instance`` when the
    scheduler answers NoValidHost, and from ``CM._init_instance`` for a build or
    rebuild a compute restart interrupted (environment: an idle instance that is not
    building is never errored by a restart). An operator's
    ``AdminActionsController._reset_state`` to error is no failure and is allowed.
    The cluster records, per instance, the step outcome that last brought it into
    error (``Cluster.error_causes``) and how many FAULT outcomes deliveries injected
    (``Cluster.injected_faults``): a FAULT cause with no fault injected means an
    outcome is misdeclared or a fault fired that nobody asked for.
    """
    out = []
    causes = cluster.error_causes
    faults = cluster.injected_faults
    error = VmState.ERROR
    for uuid, _, vm, _ in created_instances(cluster):
        if vm is not error:
            continue
        cause = causes.get(uuid)
        if cause is None:
            out.append(f"{uuid} is in error but no step outcome put it there")
            continue
        if cause.operation in OPERATOR_SETS_ERROR and cause.trigger == "api":
            continue
        if cause.trigger in WORLD_TRIGGERS or cause.kind is OutcomeKind.ENV:
            continue
        if cause.trigger == "recovery":
            if cause.task_before is not None or cause.vm_before == VmState.BUILDING.value:
                continue  # the restart interrupted its build or task
            out.append(f"{uuid} went into error when its compute service started "
                       f"({cause.name}) although it was idle in {cause.vm_before}")
            continue
        if cause.kind is OutcomeKind.OK:
            out.append(f"{uuid} went into error through {cause.name}, an ok outcome "
                       f"({cause.trigger})")
        elif faults == 0:
            out.append(f"{uuid} went into error through the fault {cause.name} "
                       f"({cause.trigger}), yet no fault was injected in this run")
    return sorted(out)  # the order of instance uuids, like the other invariants
