"""The exhaustive single-instance state graph (explored once per session, ~20 s).

The counts are pinned: a change to the catalogue that changes them makes this
file fail, so that the change in the reachable state space gets reviewed. If the
change is intended, update the numbers (``nova-model check`` prints them).
"""

from __future__ import annotations

import pytest

from model.graph import check_graph
from model.lifecycle import Lifecycle
from model.states import PowerState, TaskState, VmState

#: Pinned from ``nova-model check`` (shelved_offload_time 0 and -1, concurrency 1).
#: Re-pinned 2816 -> 2939 transitions and 120547 -> 120781 configurations (224 states
#: unchanged) for three catalogue changes: compute-start recovery became the
#: ``init_instance`` record (+109 transitions, no new configuration: every state it
#: leads to was reachable already); confirm_resize/revert_resize require a migration
#: in status finished (-42 configurations: no confirm or revert while confirming);
#: and the create/move steps' late group check (build at the destination, which sets
#: instance.host; made alongside, not by the recovery work), the rest.
#: Then 224 -> 220 states, 2939 -> 2888 transitions, 120781 -> 120697 configurations:
#: deleting or soft-deleting a resized instance confirms it first and
#: CM._confirm_resize sets vm_state active/stopped, so resized/deleting and
#: resized/soft-deleting are gone.
#: Then 2888 -> 2890 transitions: finish_revert_resize's allocation_move_failed
#: (Placement refuses the move back: error, from running and from shut-off; since
#: injected as a Placement failure, a fault, with the same counts).
#: Then 120697 -> 120703 configurations, from conformance with Nova 34: a failed
#: resize claim errors the instance, a failed rebuild removes its allocation (the
#: exploration tracks none, so only the vm_state shows), the inline power-offs of
#: revert and evacuate fail into error, an evacuation's host moves at the power-off.
#: Then 220 -> 257 states, 2890 -> 3456 transitions, 120703 -> 125725 configurations:
#: an evacuation whose spawn fails leaves power_state NOSTATE (CM._do_rebuild_instance
#: read it on the destination, where the guest never ran), and a reset-state or a
#: hard reboot takes that on to active with no power state and from there to every
#: task an active instance can start.
#: Then 3456 -> 3466 transitions, 125725 -> 125953 configurations, from conformance
#: with Nova 34: a cold move whose claim or late group check fails on the destination
#: goes back to the conductor for the next alternate (the reschedule steps, from
#: running and from shut-off), and a failed group check with none left keeps the
#: vm_state (InstanceFaultRollback) instead of erroring it.
#: Then 257 -> 260 states, 125953 -> 126349 configurations: a local delete (compute
#: down, or no host) leaves the power state as the API found it (API._do_delete), so
#: deleted is reached with running, shutdown and paused as well as no state.
#: Then 3466 -> 3471 transitions: a build whose network allocation or block device
#: preparation fails aborts (CM._build_resources: BuildAbortException).
#: Then 3471 -> 3476 transitions and 126349 -> 126877 configurations: an abort of a
#: running live migration only signals the driver, whose rollback is a step of its own
#: (CM.live_migration_abort), and a restart clears an interrupted move's task without
#: touching its migration (CM._init_instance).
#: Then 3476 -> 3490 transitions and 126877 -> 186222 configurations: a volume-backed
#: instance is explored too (a third world), whose shelve goes straight to the offload
#: (API.shelve casts shelve_offload_instance): shelving to shelved_offloaded from
#: active, stopped, paused and suspended, and its failure back.
#: Then 3490 -> 3494 transitions and 186222 -> 206373 configurations: a host whose
#: compute service goes down loses the steps its handlers were to go on with
#: (``Step.entry``: the model kept them queued; only RPC messages wait), so fewer
#: pieces of work are pending there and the concurrency bound admits more requests:
#: a delete's terminate then also runs (ok or failed) while a power-off of an active
#: instance the guest left shut off is in progress.
#: With the guest below as well: 260 -> 277 states, 3494 -> 3788 transitions and
#: 206373 -> 477748 configurations.
#: The guest alone took 260 -> 277 states, 3490 -> 3784 transitions and 186222 -> 434952
#: configurations, from conformance with Nova 34 (seeded walks 62, 94, 96, 120, 126):
#: the guest (``Instance.guest``, what the hypervisor has) is a variable of its own. A
#: rebuild whose spawn fails, or a cold move that fails on its destination, leaves no
#: guest; a failed reboot or rescue leaves it shut off under a record that says
#: otherwise. Every configuration reached with the guest apart from the record is a new
#: one, until a step saves the record again; and the steps that ask the hypervisor
#: take new branches: a stop, start or shelve with no guest reverts its task, a rescue
#: errors, a rebuild or snapshot saves NOSTATE and stays in rebuilding or
#: image_snapshot (an upstream finding), a rebuild saves the guest's power state.
#: Then 3788 -> 3821 transitions and 477748 -> 418630 configurations, from conformance
#: with Nova 34 (seeded walk 180): with no guest a pause reverts its task and a suspend
#: errors (the driver's Host.get_guest raises InstanceNotFound), a reboot saves the
#: guest's power state first and a soft reboot then errors: fewer configurations with
#: the guest apart from the record, new edges out of the reboot tasks.
#: Then 418630 -> 384085 configurations (seeded walk 134): a rebuild of an instance
#: with no host is scheduled as a plain request whose scheduler claims and then fails
#: (SchedulerManager._schedule): it stays in rebuilding without going on.
#: And, measured alone on 277 states, 3788 transitions and 477748 configurations, then
#: 277 -> 281 states, 3788 -> 3850 transitions and 477748 -> 477892 configurations:
#: a delete or soft delete of a resized instance confirms its migration first only when
#: it is still finished (API._confirm_resize_on_deleting), so one whose revert has
#: passed its destination (migration reverted) is deleted resized (resized/deleting,
#: resized/soft-deleting, running or shut off); and an evacuation's failed late group
#: check (GroupAffinityViolation) errors the instance.
#: Both together: 281 states, 3883 transitions, 384229 configurations.
#: Then 281 -> 301 states, 3883 -> 4727 transitions and 384229 -> 459102 configurations,
#: from conformance with Nova 34 (scenarios/evacuate_during_migration.json):
#: CM.prep_resize checks no task_state, so a move's queued prep_resize runs whatever
#: the instance's task_state became meanwhile (an evacuation, a reset-state, a delete or
#: soft delete, the source's CM._init_instance). Its claim goes ahead and
#: resize_instance, cast to the instance's host, errors the instance with
#: resize_migrating (Step.preempted) unless the task is resize_prep again; a failed claim
#: or late group check writes resize_prep over whatever task it finds
#: (CM._reschedule_resize_or_reraise) and the move goes on to the next alternate, with
#: old_vm_state the vm_state as it is then (the next CM._prep_resize stashes it). The 20
#: new states are an instance in error or soft-deleted going through a cold move
#: (error or soft-delete with resize_prep, resize_migrating, resize_migrated,
#: resize_finish); the new transitions are prep_resize's outcomes from every task a
#: queued prep_resize can meet, and the requests and steps those states admit.
PROJECTED_STATES = 301        # distinct (vm_state, task_state, power_state)
PROJECTED_TRANSITIONS = 4727  # distinct labelled edges between them
CONFIGURATIONS = 459102       # full-graph nodes (state + pending work + world)

CHECK_NAMES = [
    "every reachable state can reach a state with no task in progress",
    "no state is a dead end except deleted",
    "every declared operation is enabled somewhere",
    "every declared step outcome happens somewhere",
    "every reached combination is in the declared legal set",
]


@pytest.fixture(scope="session")
def graph_lc() -> Lifecycle:
    return Lifecycle()


@pytest.fixture(scope="session")
def exploration(catalogue_exploration):
    return catalogue_exploration


@pytest.fixture(scope="session")
def checks(exploration, graph_lc):
    return {c.name: c for c in check_graph(exploration, graph_lc)}


def test_the_checks_are_the_expected_ones(checks):
    assert list(checks) == CHECK_NAMES


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_check_passes(checks, name):
    assert checks[name].ok, checks[name].detail


def test_pinned_counts(exploration):
    assert (exploration.projected.number_of_nodes(),
            exploration.projected.number_of_edges(),
            exploration.full.number_of_nodes()) == (
        PROJECTED_STATES, PROJECTED_TRANSITIONS, CONFIGURATIONS)


def test_reached_combinations_are_legal(exploration, graph_lc):
    assert exploration.combos <= graph_lc.legal


def test_a_volume_backed_shelve_goes_straight_to_the_offload(exploration):
    """Only the volume-backed world's shelve moves from shelving to shelved_offloaded in
    one step (API.shelve casts shelve_offload_instance); an image-backed one snapshots
    first."""
    edges = {(u[0], u[1], v[0], v[1]) for u, v, label in
             exploration.projected.edges(keys=True) if label == "shelve.offload.ok"}
    assert (VmState.ACTIVE, TaskState.SHELVING, VmState.SHELVED_OFFLOADED, None) in edges
    assert (VmState.STOPPED, TaskState.SHELVING, VmState.SHELVED_OFFLOADED, None) in edges


def test_reverting_a_stopped_resize_passes_resized_powering_off(exploration):
    assert (VmState.RESIZED, TaskState.POWERING_OFF, PowerState.SHUTDOWN) in exploration.combos


def test_error_is_reachable_idle(exploration):
    assert any(vm is VmState.ERROR and task is None for vm, task, _ in exploration.combos)


def test_deleted_has_no_outgoing_edges(exploration):
    deleted = [c for c in exploration.combos if c[0] is VmState.DELETED]
    # the compute's delete leaves no power state; a local delete (API._do_delete) keeps
    # the one it found
    assert sorted(c[2] for c in deleted) == sorted([
        PowerState.PENDING, PowerState.RUNNING, PowerState.PAUSED, PowerState.SHUTDOWN])
    assert {c[1] for c in deleted} == {None}
    assert all(exploration.projected.out_degree(c) == 0 for c in deleted)


def test_only_the_delete_family_reaches_deleted(exploration):
    """And compute-start recovery, which restarts a delete in progress (CM._init_instance)."""
    into = {label.split(".")[0] for src, dst, label in exploration.projected.edges(keys=True)
            if dst[0] is VmState.DELETED}
    assert into == {"delete", "force_delete", "soft_delete", "init_instance"}
    assert {src[1] for src, dst, label in exploration.projected.edges(keys=True)
            if dst[0] is VmState.DELETED and label.startswith("init_instance.")} == {
        TaskState.DELETING}


def test_compute_start_recovery_always_ends_the_task(exploration):
    """Every init_instance edge lands with no task: recovered, retried or failed."""
    ends = {dst[1] for src, dst, label in exploration.projected.edges(keys=True)
            if label.startswith("init_instance.")}
    assert ends == {None}


def test_power_sync_stops_only_active_instances(exploration):
    """CM._sync_instance_power_state ignores suspended, resized, error, shelved..."""
    sources = {src[0] for src, dst, label in exploration.projected.edges(keys=True)
               if label.startswith("sync_power_state.")}
    assert sources == {VmState.ACTIVE}
    for vm in (VmState.SUSPENDED, VmState.SHELVED, VmState.SHELVED_OFFLOADED,
               VmState.SOFT_DELETED, VmState.STOPPED):
        assert not any(c[0] is vm and c[1] is TaskState.POWERING_OFF
                       for c in exploration.combos), vm


def test_unrescue_always_lands_active(exploration):
    ends = {dst[:2] for src, dst, label in exploration.projected.edges(keys=True)
            if label == "unrescue.unrescue.ok"}
    assert ends == {(VmState.ACTIVE, None)}


def test_boot_reaches_active_running(exploration):
    assert (VmState.ACTIVE, None, PowerState.RUNNING) in exploration.combos
    assert (VmState.BUILDING, TaskState.SCHEDULING, PowerState.PENDING) in exploration.combos


def test_every_edge_label_is_a_trigger_or_a_world_move(exploration, graph_lc):
    for _, _, label in exploration.full.edges(data="label"):
        assert (label in graph_lc.triggers or label == "start"
                or label.split()[0] in ("service_up", "service_down")), label
