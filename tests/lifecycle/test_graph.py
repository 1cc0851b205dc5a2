"""The exhaustive single-instance state graph (explored once per session, ~20 s).

The counts are pinned: a change to the catalogue that changes them makes this
file fail, so that the change in the reachable state space gets reviewed. If the
change is intended, update the numbers (``nova-model check`` prints them).
"""

from __future__ import annotations

import pytest

from model import actions
from model.cluster import Cluster
from model.cluster_scenarios import small_config
from model.graph import check_graph
from model.lifecycle import Lifecycle, preempted_label, preempted_step_of, state_name
from model.operation import Rule
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
#: Then 281 -> 293 states, 3883 -> 4699 transitions, 384229 -> 295173 configurations:
#: the explorer delivers a step that lost its compare-and-swap as the cluster does
#: (lifecycle.preempted_clean_up and preempted_state, one rule for both) instead of
#: dropping it at once: Step.preempted's errors with a task (error/resize_migrating,
#: resize_migrated, resize_finish) are states of the graph, and a dropped move step's
#: clean-up ends its migration record, so the configurations that kept a record in
#: progress after its step was lost are gone.
#: Then 4699 -> 4707 transitions, 295173 -> 315516 configurations: an evacuation is
#: also requested at a microversion that asks for target_state stopped (2.95), as the
#: cluster runs it (lifecycle.rebuild_as_stopped for both; found by
#: tests/lifecycle/test_explorer_agrees_with_cluster.py on evacuate_target_stopped).
#: Then 4707 -> 4873 transitions, 315516 -> 369911 configurations: a plain rebuild's
#: CM._do_rebuild_instance errors on a lost check too (Step.preempted, with the power
#: state its handler read: Preempted.power).
#: And, measured alone on 281 states: 281 -> 301 states, 3883 -> 4727 transitions and
#: 384229 -> 459102 configurations, from conformance with Nova 34 (scenarios/evacuate_during_migration.json):
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
#: All together: 301 states, 5628 transitions, 547040 configurations.
#: Then 5628 -> 5632 transitions, 547040 -> 547049 configurations: a revert's
#: finish_revert_resize puts the instance back on its source in the explorer too (the
#: destination's revert_resize marks the record reverted, a final status the explorer
#: forgets, and the source was then read from it: the instance was left with no host).
#: Then 5632 -> 5678 transitions, 547049 -> 554969 configurations, from conformance
#: with Nova 34 (scenarios/revert_preempted_by_reset_state.json): a revert's
#: finish_revert_resize that finds its task taken (a reset-state, a delete, an
#: evacuation, the source's CM._init_instance) errors the instance on the source
#: with the task it finds (Step.preempted with Preempted.task KEEP: its handler set
#: none in memory) and fails the migration, where it was dropped and its driver_error
#: clean-up moved the allocation back.
#: Then 5678 -> 5741 transitions, 554969 -> 567533 configurations, from conformance
#: with Nova 34 (scenarios/revert_runs_after_reset_state.json): CM.revert_resize checks
#: no task_state (the save in RT.drop_move_claim_at_dest has only extra fields to write
#: and skips its compare-and-swap), so a queued revert_resize runs whatever task it
#: finds, keeps it, and casts finish_revert_resize, which then loses its check: the
#: new transitions are revert_resize's outcomes from every task a queued revert can
#: meet, and the preempted finish_revert_resize after them.
#: Then 567533 -> 630572 configurations (states and transitions unchanged; 547040 ->
#: 610079 measured alone), from
#: conformance with Nova 34 (scenarios/rebuild_finds_an_evacuations_accepted_record.json):
#: a plain rebuild's COND.rebuild_instance looks up the instance's 'accepted' record as
#: an evacuation's does (Step.record) and CM.rebuild_instance writes done or failed to
#: what it found. In the explorer a rebuild chain holds the instance's record only when
#: it was accepted at the lookup (an evacuation requested while the rebuild was queued
#: for the conductor: Pending.unheld tells the two apart), and its ends then change that
#: record's status.
#: Measured alone on 301 states, 5628 transitions, 547040 configurations: 301 -> 307
#: states, 5896 transitions, 624014 configurations, from conformance with Nova 34 (scenarios/unshelve_*.json): an offloaded instance's
#: unshelve checks no task_state on its way (COND.unshelve_instance saves nothing
#: before it schedules, and takes its path from the vm_state of the instance the API
#: sent it; CM._unshelve_instance saves spawning with no expected_task_state), so a
#: reset-state, or what follows one, while its casts wait does not stop it: the
#: instance is scheduled, claimed and spawned active whatever its task_state became
#: (active, error, stopped and soft-delete with spawning are the new states).
#: Then (alone) 307 -> 330 states, 5896 -> 6369 transitions, 624014 -> 722818
#: configurations:
#: CM.start_instance (start's and unshelve's power_on) powers the guest on before its
#: save(expected_task_state=POWERING_ON), so a power-on that lost its check leaves the
#: record as it is with the guest running (Step.guest_before_check, delivered by both
#: explorers through lifecycle.preempted_guest): a stopped instance whose start was
#: overtaken (by a soft delete that failed) keeps a running guest, and a step that
#: reads the guest (a snapshot's) saves power_state running while it is still
#: stopped: stopped with running, and from there every task a stopped instance admits.
#: All of them together: 330 states, 6482 transitions, 814525 configurations.
#: Then 330 -> 341 states, 6482 -> 6621 transitions, 814525 -> 816865 configurations,
#: from conformance with Nova 34 (scenarios/start_preempted_by_reset_state.json, once
#: the harness's periodic sync ran in Nova): CM._sync_instance_power_state saves the
#: guest's power state in the record for any vm_state with no task, and stops a stopped
#: instance whose guest runs, where the model synced only an active instance found
#: shut off: an instance in error, rescued, resized, suspended or shelved whose guest
#: is gone takes NOSTATE, and a stopped one whose start lost its check is stopped again.
#: Then 6621 -> 6644 transitions, 816865 -> 866784 configurations (states unchanged),
#: from conformance with Nova 34 (scenarios/stop_preempted_by_reset_state.json,
#: scenarios/stop_admits_no_task_when_guest_already_off.json): CM.stop_instance (stop's
#: and the power sync's power_off) powers the guest off before its save, so a stop that
#: lost its check leaves the guest shut off under the record (Step.guest_before_check;
#: alone: 6628 transitions, 866784 configurations), and it admits no task as well when
#: the guest it read first was already down (Step.expects_if_guest_down,
#: lifecycle.check_admits): a stop overtaken by a reset-state over a guest already off
#: stops the instance all the same (16 more transitions).
#: Then 6644 -> 6642 transitions (states and configurations unchanged), from
#: conformance with Nova 34 (scenarios/start_without_guest.json, the harness's driver
#: following LibvirtDriver.power_on): a start with no guest makes one and ends active
#: (LibvirtDriver._hard_reboot defines the domain again), where the model kept the
#: instance stopped as FakeDriver.power_on's InstanceNotFound did.
#: Then 6642 -> 6688 transitions, 866784 -> 870396 configurations (states unchanged),
#: from conformance with Nova 34 (scenarios/confirm_preempted_by_reset_state.json,
#: scenarios/confirm_after_soft_delete_*.json): CM._confirm_resize's save with
#: expected_task_state=[None, DELETING, SOFT_DELETING] errors the instance with no task
#: when another request took the task (Step.preempted, with the migration errored and
#: its allocation deleted), where it was dropped with its driver_error clean-up; and
#: when its record is no longer the instance's confirming one (a later move's, as after
#: an evacuation), it fails first on the migration context that went with it, keeping
#: the task it finds (Preempted.record_in, record_gone: lifecycle.preempted_reaches for
#: both explorers). The 46 new transitions are confirm_resize.confirm preempted from
#: active, stopped and error with the tasks a queued confirm can meet (36), and the
#: confirm's outcomes from error and active with no task or deleting/soft-deleting
#: that those lead to (10).
#: Then 341 -> 358 states, 6688 -> 6885 transitions, 870396 -> 877654 configurations:
#: a shelve whose snapshot fails has already powered the guest off
#: (CM._shelve_instance: _power_off_instance before driver.snapshot), so a paused
#: instance keeps its record over a guest shut off, the power sync saves shutdown under
#: paused, and every request a paused instance admits meets that state (17 new states,
#: all paused/shutdown with no task or a task a paused instance's requests write).
#: Then 877654 -> 941921 configurations (states and transitions unchanged): a live
#: migration's source step after pre_live_migration is entered inside
#: CM._do_live_migration (Entry.inline_after), so a source that stops takes it with its
#: process: the configurations where it is gone and the migration stays preparing are
#: new, and the transitions are those the step's drop on its task_state check made.
#: (The reschedule of an offloaded instance, set_admin_password's own check and the
#: admin-only shelve_offload change no count.)
#: Then 941921 -> 932951 configurations, from conformance with Nova 34 (walk 100,
#: scenarios/failed_hard_reboot_without_guest_makes_none.json): a hard reboot whose
#: driver fails leaves a guest it had shut off, and makes none where there was none
#: (Rule.SHUT_OFF), where the model made a shut-off guest out of nothing.
#: Then 6885 -> 6884 transitions: the explorer applies Branch.answers as the cluster
#: does (lifecycle.fault_reached): over a paused guest CM.set_admin_password answers
#: 409 before the driver, so the edge active/updating_password/paused -> active/None/
#: paused labelled set_admin_password's driver_error is gone (its ok edge stays).
#: Then 358 -> 363 states, 6884 -> 6965 transitions, 932951 -> 936401 configurations:
#: a power-off with no guest follows LibvirtDriver.power_off, which takes a missing
#: domain as off, where the model (and the harness) followed FakeDriver.power_off's
#: InstanceNotFound: a stop with no guest ends stopped, a shelve offload ends
#: shelved_offloaded with power state NOSTATE (the 5 new states: that with no task and
#: the tasks it admits), a rescue creates the rescue domain and ends rescued, and a
#: rebuild's power-off and destroy pass so its spawn makes the guest again (its
#: rebuilding step no longer stays in rebuilding).
PROJECTED_STATES = 363        # distinct (vm_state, task_state, power_state)
PROJECTED_TRANSITIONS = 6965  # distinct labelled edges between them
CONFIGURATIONS = 936401       # full-graph nodes (state + pending work + world)

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


def test_power_sync_stops_only_what_nova_stops(exploration):
    """CM._sync_instance_power_state stops (API.force_stop) an active or paused instance
    found shut off and a stopped one found running; in any other vm_state, or with the
    guest as the record says, it only saves the guest's power state. (Its stop,
    sync_power_state.power_off, is CM.stop_instance, which also runs from no task when
    the guest is down: test_a_stop_admits_no_task_only_over_a_guest_down.)"""
    requests = [(src, dst) for src, dst, label in exploration.projected.edges(keys=True)
                if label.startswith("sync_power_state.api.") and src[1] is None]
    stops = {src[0] for src, dst in requests if dst[1] is TaskState.POWERING_OFF}
    # (a paused instance's guest is found shut off after a shelve whose snapshot failed)
    assert stops == {VmState.ACTIVE, VmState.PAUSED, VmState.STOPPED}
    refreshed = {src[0] for src, dst in requests if dst[1] is not TaskState.POWERING_OFF}
    assert {VmState.ERROR, VmState.STOPPED, VmState.ACTIVE} <= refreshed
    assert all(dst[:2] == src[:2] for src, dst in requests
               if dst[1] is not TaskState.POWERING_OFF)
    for vm in (VmState.SUSPENDED, VmState.SHELVED, VmState.SHELVED_OFFLOADED,
               VmState.SOFT_DELETED):
        assert not any(c[0] is vm and c[1] is TaskState.POWERING_OFF
                       for c in exploration.combos), vm


def test_a_stop_admits_no_task_only_over_a_guest_down(exploration):
    """CM.stop_instance's save admits no task when the guest it read first was down
    (NOSTATE, SHUTDOWN, CRASHED): from no task it stops the instance; over a guest that
    was running it loses its check and leaves that guest shut off under the record."""
    idle = state_name(VmState.ACTIVE, None)
    for op in ("stop", "sync_power_state"):
        from_no_task = {(src, dst) for src, dst, label in exploration.projected.edges(keys=True)
                        if label == f"{op}.power_off.ok" and src[1] is None}
        assert from_no_task, op
        assert {dst[:2] for _, dst in from_no_task} == {(VmState.STOPPED, None)}
    seen = {True: set(), False: set()}
    for (_, src), (_, dst), label in exploration.full.edges(data="label"):
        if label in ("stop.power_off.ok", "stop.power_off preempted") and src.state == idle:
            seen[label.endswith("ok")].add((src.guest, dst.state, dst.guest))
    # (with no guest at all the power-off passes, LibvirtDriver.power_off, and the
    # instance is stopped with none)
    stopped = state_name(VmState.STOPPED, None)
    assert seen[True] == {(PowerState.SHUTDOWN, stopped, PowerState.SHUTDOWN),
                          (PowerState.PENDING, stopped, PowerState.PENDING)}
    assert (PowerState.RUNNING, idle, PowerState.SHUTDOWN) in seen[False]
    assert all(g is PowerState.RUNNING or g is PowerState.PAUSED
               for g, _, _ in seen[False])


def test_unrescue_always_lands_active(exploration):
    ends = {dst[:2] for src, dst, label in exploration.projected.edges(keys=True)
            if label == "unrescue.unrescue.ok"}
    assert ends == {(VmState.ACTIVE, None)}


def test_boot_reaches_active_running(exploration):
    assert (VmState.ACTIVE, None, PowerState.RUNNING) in exploration.combos
    assert (VmState.BUILDING, TaskState.SCHEDULING, PowerState.PENDING) in exploration.combos


def _preempted_step(label: str, lc: Lifecycle):
    """The step a "<operation>.<step> preempted" label names (None: another label)."""
    found = preempted_step_of(label)
    return None if found is None else lc.operation(found[0]).step(found[1])


def test_every_edge_label_is_a_trigger_or_a_world_move(exploration, graph_lc):
    for _, _, label in exploration.full.edges(data="label"):
        assert (label in graph_lc.triggers or label == "start"
                or label.split()[0] in ("service_up", "service_down")
                or _preempted_step(label, graph_lc) is not None), label


def test_a_step_that_loses_its_check_errors_the_instance_in_the_explorer_too(
        exploration, graph_lc):
    """Every ``Step.preempted`` is explored: a racing request (a reset-state, an
    evacuation) takes the task, and the step delivered afterwards leaves vm_state error
    with its handler's task_state, as the cluster does it (``lifecycle.preempted_state``
    for both). Its edges are labelled "<operation>.<step> preempted" and end nowhere
    but in error (or where they started, for a step whose only effect is the clean-up
    of its migration record)."""
    into: dict[str, set] = {}
    for src, dst, label in exploration.projected.edges(keys=True):
        step = _preempted_step(label, graph_lc)
        if step is None:
            continue
        assert dst[0] is VmState.ERROR or dst == src, (label, src, dst)
        into.setdefault(label, set()).add(dst[1])
    declared = {preempted_label(op.name, step.name): step.preempted
                for op in graph_lc.operations for step in op.all_steps.values()
                if step.preempted is not None}
    assert declared, "the catalogue declares Step.preempted on some steps"
    for label, preempted in declared.items():
        if preempted.task is Rule.KEEP:  # the task the preempting request left
            assert None in into.get(label, set()), (label, into.get(label))
        else:
            assert preempted.task in into.get(label, set()), (label, into.get(label))
        if preempted.exists_check is not None:  # the guest already on the destination
            assert None in into[label], label
    # (error, resize_migrating), which Nova 34 shows in
    # scenarios/second_resize_while_first_queued.json, is a state of the graph
    assert any(c[:2] == (VmState.ERROR, TaskState.RESIZE_MIGRATING)
               for c in exploration.combos)


def test_the_explorer_has_the_clusters_moves_around_a_lost_check(exploration):
    """The same race on a cluster (``model.actions``): a resize's resize_instance cast
    waits while an admin resets the instance to active, then runs and loses its check.
    Every move the cluster makes is an edge of the explored graph between the same
    (vm_state, task_state, power_state), labelled with the same trigger."""
    cluster = Cluster(small_config())
    a = actions
    assert a.apply(cluster, a.Request.of("create", None, False, {"flavor": "small"})).accepted
    a.apply(cluster, a.Settle())
    edges = set(exploration.projected.edges(keys=True))
    steps = [
        (a.Request.of("resize", "vm1", False, {"flavor": "large"}), "resize.api.ok"),
        (a.Deliver("resize", "schedule", "vm1"), "resize.schedule.ok"),
        (a.Deliver("resize", "prep_resize", "vm1"), "resize.prep_resize.ok"),
        (a.Request.of("reset_state_active", "vm1", True), "reset_state_active.api.ok"),
        (a.Deliver("resize", "resize_migrating", "vm1"),
         preempted_label("resize", "resize_migrating")),
    ]
    for action, label in steps:
        inst = cluster.instances["vm1"]
        before = (inst.vm_state, inst.task_state, inst.power_state)
        assert a.apply(cluster, action).accepted or preempted_step_of(label), label
        after = (inst.vm_state, inst.task_state, inst.power_state)
        if before != after:
            assert (before, after, label) in edges, (label, before, after)
    inst = cluster.instances["vm1"]
    assert (inst.vm_state, inst.task_state) == (VmState.ERROR, TaskState.RESIZE_MIGRATING)
    assert inst.migration.status.value == "error"  # errors_out_migration


def test_a_fault_the_handlers_own_check_comes_before_is_never_delivered(exploration):
    """CM.set_admin_password answers 409 over a guest that is not running before it calls
    the driver (Branch.answers): the explorer, as the cluster, delivers no driver fault
    there, and still does over a running guest."""
    def labels(power: PowerState) -> set[str]:
        state = (VmState.ACTIVE, TaskState.UPDATING_PASSWORD, power)
        return {k for u, _, k in exploration.projected.edges(keys=True) if u == state}

    step = "set_admin_password.set_admin_password"
    assert {f"{step}.ok", f"{step}.driver_error"} <= labels(PowerState.RUNNING)
    assert f"{step}.ok" in labels(PowerState.PAUSED)
    assert f"{step}.driver_error" not in labels(PowerState.PAUSED)
