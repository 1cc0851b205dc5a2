"""Conditional outcomes, each driven through the real steps (``lc.deliver``).

Expected results come from Nova (``CM`` = ``nova/compute/manager.py``, facts file
section 2), not from the catalogue.
"""

from __future__ import annotations

import pytest

from lifecycle_support import A, B, combo, drive, snapshot
from model import errors
from model.lifecycle import ADMIN, USER, SimpleWorld
from model.operation import Alloc
from model.states import MigrationStatus, PowerState, VmState


def _vt(inst):
    return inst.vm_state.value, None if inst.task_state is None else inst.task_state.value


def _walk(lc, inst, op, ctx=ADMIN, **kw):
    """(vm, task) after every asynchronous step of ``op``."""
    return [visit.pair for visit in drive(lc, inst, op, ctx, **kw)[1:]]


# --- suspend / resume: CM.resume_instance pops old_vm_state (default active) ----------

def test_resume_returns_to_saved_vm_state(lc, make):
    inst = make("active")
    drive(lc, inst, "suspend", USER)
    assert _vt(inst) == ("suspended", None)
    assert inst.old_vm_state is VmState.ACTIVE
    drive(lc, inst, "resume", USER)
    assert _vt(inst) == ("active", None)
    assert inst.power_state is PowerState.RUNNING


@pytest.mark.parametrize("saved", [None, VmState.ACTIVE])
def test_resume_without_saved_state_is_active(lc, make, saved):
    inst = make("suspended", old_vm_state=saved)
    drive(lc, inst, "resume", USER)
    assert _vt(inst) == ("active", None)


def test_suspend_is_shut_off_by_libvirt_managed_save(lc, make):
    inst = make("active")
    drive(lc, inst, "suspend", USER)
    assert inst.power_state is PowerState.SHUTDOWN


# --- resize, confirm, revert ----------------------------------------------------------

@pytest.mark.parametrize("start,power", [("active", PowerState.RUNNING),
                                         ("stopped", PowerState.SHUTDOWN)])
def test_resize_ends_resized_on_dest_powered_as_before(lc, make, start, power):
    inst = make(start)
    seen = _walk(lc, inst, "resize", USER)
    # CM._resize_instance / CM._finish_resize task progression
    assert [t for _, t in seen] == ["resize_prep", "resize_prep", "resize_migrating",
                                    "resize_migrated", "resize_finish", None]
    assert _vt(inst) == ("resized", None)
    assert inst.power_state is power  # finish_migration(power_on = old_vm_state != stopped)
    assert inst.host == B
    assert inst.migration.status is MigrationStatus.FINISHED
    assert (inst.migration.source, inst.migration.dest) == (A, B)


@pytest.mark.parametrize("start,end", [("active", "active"), ("stopped", "stopped")])
def test_confirm_resize_follows_power_state(lc, make, start, end):
    inst = make(start)
    drive(lc, inst, "resize", USER)
    drive(lc, inst, "confirm_resize", USER)
    assert _vt(inst) == (end, None)
    assert inst.migration.status is MigrationStatus.CONFIRMED
    assert inst.host == B


@pytest.mark.parametrize("power,end", [(PowerState.SHUTDOWN, "stopped"),
                                       (PowerState.RUNNING, "active"),
                                       (PowerState.PAUSED, "active")])
def test_confirm_resize_reads_power_state_not_history(lc, make, power, end):
    """CM._confirm_resize: vm = stopped iff power_state == shutdown."""
    inst = make("resized", power=power)
    drive(lc, inst, "confirm_resize", USER)
    assert _vt(inst) == (end, None)


def test_revert_resize_of_stopped_resize_ends_stopped_via_powering_off(lc, make):
    inst = make("stopped")
    drive(lc, inst, "resize", USER)
    seen = _walk(lc, inst, "revert_resize", USER)
    assert ("resized", "powering-off") in seen
    assert _vt(inst) == ("stopped", None)
    assert inst.power_state is PowerState.SHUTDOWN
    assert inst.host == A  # back on the source
    assert inst.migration.status is MigrationStatus.REVERTED


def test_revert_resize_of_active_resize_ends_active(lc, make):
    inst = make("active")
    drive(lc, inst, "resize", USER)
    seen = _walk(lc, inst, "revert_resize", USER)
    assert ("resized", "powering-off") not in seen
    assert _vt(inst) == ("active", None)
    assert inst.power_state is PowerState.RUNNING
    assert inst.host == A


# --- rescue / unrescue: CM.unrescue_instance always sets active -----------------------

@pytest.mark.parametrize("start", ["active", "stopped", "error"])
def test_unrescue_always_ends_active(lc, make, start):
    inst = make(start)
    drive(lc, inst, "rescue", USER)
    assert _vt(inst) == ("rescued", None)
    drive(lc, inst, "unrescue", USER)
    assert _vt(inst) == ("active", None)
    assert inst.power_state is PowerState.RUNNING


def test_rescue_sets_launched_at(lc, make):
    inst = make("stopped", launched=False)
    inst.launched = True  # the guard needs it; rescue sets it again (launched_at = now)
    drive(lc, inst, "rescue", USER)
    assert inst.launched


# --- evacuate: error -> active, stopped -> stopped --------------------------------------

@pytest.mark.parametrize("start,end", [("error", "active"), ("active", "active"),
                                       ("stopped", "stopped")])
def test_evacuate_outcome(lc, make, start, end):
    inst = make(start, world=SimpleWorld(down={A}))
    seen = _walk(lc, inst, "evacuate", ADMIN, dest=B)
    assert _vt(inst) == (end, None)
    assert inst.host == B
    assert (("active", "powering-off") in seen) == (start == "stopped")
    assert inst.migration.status is MigrationStatus.DONE  # RT.finish_evacuation


# --- rebuild / stop / hard reboot ------------------------------------------------------

def test_rebuild_of_stopped_ends_stopped_through_powering_off(lc, make):
    inst = make("stopped")
    seen = _walk(lc, inst, "rebuild", USER)
    assert ("active", "powering-off") in seen
    assert _vt(inst) == ("stopped", None)
    assert inst.power_state is PowerState.SHUTDOWN


@pytest.mark.parametrize("start", ["active", "error"])
def test_rebuild_of_active_or_error_ends_active(lc, make, start):
    inst = make(start)
    seen = _walk(lc, inst, "rebuild", USER)
    assert ("active", "powering-off") not in seen
    assert _vt(inst) == ("active", None)


def test_stop_of_error_ends_stopped(lc, make):
    inst = make("error")
    drive(lc, inst, "stop", USER)
    assert _vt(inst) == ("stopped", None)
    assert inst.power_state is PowerState.SHUTDOWN


@pytest.mark.parametrize("start", ["active", "stopped", "paused", "suspended", "error"])
def test_hard_reboot_ends_active(lc, make, start):
    inst = make(start)
    seen = _walk(lc, inst, "reboot_hard", USER)
    assert [t for _, t in seen] == ["reboot_pending_hard", "reboot_started_hard", None]
    assert _vt(inst) == ("active", None)
    assert inst.power_state is PowerState.RUNNING


def test_hard_reboot_preempts_inflight_pause(lc, make):
    inst = make("active")
    lc.request("pause", inst, USER)
    assert _vt(inst) == ("active", "pausing")
    lc.request("reboot_hard", inst, USER)
    assert _vt(inst) == ("active", "rebooting_hard")
    before = snapshot(inst)
    for outcome in ("ok", "driver_error"):
        with pytest.raises(errors.UnexpectedTaskStateError):
            lc.deliver("pause", "pause", outcome, inst, dest=B, source=A)
        assert snapshot(inst) == before  # reverts_task_state leaves a preemption alone
    for step in ("reboot_pending_hard", "reboot_started_hard", "rebooted"):
        lc.deliver("reboot_hard", step, "ok", inst)
    assert _vt(inst) == ("active", None)
    assert inst.power_state is PowerState.RUNNING


def test_soft_reboot_is_refused_while_hard_reboot_pending(lc, make):
    inst = make("active")
    lc.request("reboot_hard", inst, USER)
    with pytest.raises(errors.InstanceInvalidState):
        lc.request("reboot_soft", inst, USER)


# --- shelve: shelved_offload_time -------------------------------------------------------

def test_shelve_with_offload_time_zero_offloads(lc, make):
    inst = make("active", world=SimpleWorld(shelved_offload_time=0))
    seen = _walk(lc, inst, "shelve", USER)
    assert ("shelved", "shelving_offloading") in seen
    assert _vt(inst) == ("shelved_offloaded", None)
    assert inst.host is None


def test_shelve_with_offload_time_negative_stays_shelved(lc, make):
    inst = make("paused", world=SimpleWorld(shelved_offload_time=-1))
    drive(lc, inst, "shelve", USER)
    assert _vt(inst) == ("shelved", None)
    assert inst.host == A
    assert inst.power_state is PowerState.SHUTDOWN


def test_unshelve_from_offloaded_spawns_on_dest(lc, make):
    inst = make("shelved_offloaded")
    assert inst.host is None
    drive(lc, inst, "unshelve", USER, dest=B)
    assert _vt(inst) == ("active", None)
    assert inst.host == B


def test_unshelve_from_shelved_powers_on_in_place(lc, make):
    inst = make("shelved", world=SimpleWorld(shelved_offload_time=-1))
    seen = _walk(lc, inst, "unshelve", USER, dest=B)
    assert ("shelved", "powering-on") in seen
    assert _vt(inst) == ("active", None)
    assert inst.host == A


# --- delete family ----------------------------------------------------------------------

def test_delete_with_host_down_is_local(lc, make):
    inst = make("active", world=SimpleWorld(down={A}))
    trace = drive(lc, inst, "delete", USER)
    assert len(trace) == 1  # no compute RPC: API._local_delete
    assert _vt(inst) == ("deleted", None)
    assert inst.host is None


def test_delete_with_host_up_goes_through_compute(lc, make):
    inst = make("stopped")
    seen = _walk(lc, inst, "delete", USER)
    assert seen == [("deleted", None)]
    assert inst.power_state is PowerState.PENDING


@pytest.mark.parametrize("down", [set(), {A}])
def test_delete_of_resized_confirms_first(lc, make, down):
    inst = make("resized", world=SimpleWorld(down=down))
    trace = drive(lc, inst, "delete", USER)
    api = trace[0].branch
    assert Alloc.DELETE_MIGRATION in api.alloc  # API._confirm_resize_on_deleting
    assert api.migration is not None and api.migration.status is MigrationStatus.CONFIRMED
    assert inst.migration.status is MigrationStatus.CONFIRMED
    assert _vt(inst) == ("deleted", None)


def test_delete_of_never_launched_building_instance(lc, make):
    inst = make("building", "scheduling", host=None, launched=False)
    trace = drive(lc, inst, "delete", USER)
    assert len(trace) == 1  # API._delete_while_booting
    assert _vt(inst) == ("deleted", None)


def test_delete_while_already_deleting_is_ignored(lc, make):
    """API._delete saves task=deleting, then ignores the request (no second RPC)."""
    inst = make("active")
    lc.request("soft_delete", inst, USER)
    assert _vt(inst) == ("active", "soft-deleting")
    branch = lc.request("delete", inst, USER)
    assert branch.then is None
    assert _vt(inst) == ("active", "deleting")
    # CM.soft_delete_instance: save(expected_task_state=[SOFT_DELETING]) now fails
    with pytest.raises(errors.UnexpectedTaskStateError):
        lc.deliver("soft_delete", "soft_delete", "ok", inst)


def test_soft_delete_while_deleting_is_ignored(lc, make):
    inst = make("active")
    lc.request("delete", inst, USER)
    branch = lc.request("soft_delete", inst, USER)
    assert branch.then is None
    assert _vt(inst) == ("active", "soft-deleting")
    lc.deliver("delete", "terminate", "ok", inst)  # the first delete still completes
    assert _vt(inst) == ("deleted", None)


def test_soft_delete_then_restore(lc, make):
    inst = make("active")
    drive(lc, inst, "soft_delete", USER)
    assert _vt(inst) == ("soft-delete", None)
    assert inst.host == A  # still on its host, resources held
    seen = _walk(lc, inst, "restore", USER)
    assert seen == [("active", None)]
    assert inst.power_state is PowerState.RUNNING


def test_restore_without_host_is_immediate(lc, make):
    inst = make("soft-delete", host=None)
    trace = drive(lc, inst, "restore", USER)
    assert len(trace) == 1
    assert _vt(inst) == ("active", None)


def test_soft_delete_with_host_down_really_deletes(lc, make):
    inst = make("active", world=SimpleWorld(down={A}))
    trace = drive(lc, inst, "soft_delete", USER)
    assert len(trace) == 1
    assert _vt(inst) == ("deleted", None)
    assert inst.host is None


def test_deleted_is_final(lc, make):
    inst = make("active", world=SimpleWorld(down={A}))
    drive(lc, inst, "delete", USER)
    with pytest.raises(errors.InstanceNotFound):
        lc.request("reset_state_active", inst, ADMIN)


# --- create ------------------------------------------------------------------------------

def test_boot_ends_active_running_launched(lc):
    inst = lc.new_instance("boot", SimpleWorld())
    try:
        seen = _walk(lc, inst, "create", USER, dest=A)
        assert [t for _, t in seen] == ["scheduling", None, "networking",
                                        "block_device_mapping", "spawning", None]
        assert _vt(inst) == ("active", None)
        assert inst.launched and inst.host == A
        assert inst.power_state is PowerState.RUNNING
    finally:
        lc.forget(inst)


def test_boot_no_valid_host_is_error_without_host(lc):
    inst = lc.new_instance("buried", SimpleWorld())
    try:
        drive(lc, inst, "create", USER, outcomes={"schedule": "no_valid_host"})
        assert _vt(inst) == ("error", None)  # COND._bury_in_cell0
        assert inst.host is None and not inst.launched
        drive(lc, inst, "delete", USER)  # no host: local delete
        assert _vt(inst) == ("deleted", None)
    finally:
        lc.forget(inst)


# --- live migration ------------------------------------------------------------------------

@pytest.mark.parametrize("start", ["active", "paused"])
def test_live_migrate_keeps_vm_state_and_moves(lc, make, start):
    inst = make(start)
    drive(lc, inst, "live_migrate", ADMIN, dest=B)
    assert _vt(inst) == (start, None)
    assert inst.host == B
    assert inst.migration.status is MigrationStatus.COMPLETED


def test_trigger_crash_dump_touches_nothing(lc, make):
    inst = make("resized")
    before = combo(inst)
    trace = drive(lc, inst, "trigger_crash_dump", USER)
    assert len(trace) == 1 and combo(inst) == before


def test_set_admin_password_keeps_vm_and_power(lc, make):
    inst = make("active")
    seen = _walk(lc, inst, "set_admin_password", USER)
    assert seen == [("active", None)]
    assert inst.power_state is PowerState.RUNNING


# --- power sync: CM._sync_instance_power_state -------------------------------------------

def test_guest_shutdown_of_active_instance_is_synced_to_stopped(lc, make):
    inst = make("active")
    lc.deliver("guest_stopped", "api", "ok", inst)  # the hypervisor reports shutdown
    assert combo(inst) == (VmState.ACTIVE, None, PowerState.SHUTDOWN)
    assert lc.guard_failure_for("sync_power_state", inst) is None
    branch = lc.deliver("sync_power_state", "api", "ok", inst)
    assert _vt(inst) == ("active", "powering-off")  # API.force_stop
    lc.deliver("sync_power_state", branch.then, "ok", inst)
    assert _vt(inst) == ("stopped", None)


def test_power_sync_leaves_a_running_active_instance_alone(lc, make):
    inst = make("active")
    before = snapshot(inst)
    lc.deliver("sync_power_state", "api", "ok", inst)
    assert snapshot(inst) == before


@pytest.mark.parametrize("vm", ["suspended", "stopped", "shelved", "soft-delete", "error",
                                "resized", "rescued", "building"])
def test_power_sync_stops_no_shut_off_instance_in_other_states(lc, make, vm):
    """Nova stops no building, rescued, resized, suspended or error instance, and has
    nothing to do for a shut-off stopped, soft-deleted or shelved one: the record only
    takes the guest's power state, here the one it has."""
    inst = make(vm, power=PowerState.SHUTDOWN)
    before = snapshot(inst)
    assert lc.guard_failure_for("sync_power_state", inst) is None
    lc.deliver("sync_power_state", "api", "ok", inst)
    assert snapshot(inst) == before


@pytest.mark.parametrize("vm", ["error", "stopped", "resized", "suspended"])
def test_power_sync_saves_the_guests_power_state_in_any_vm_state(lc, make, vm):
    """CM._sync_instance_power_state saves the driver's power state whatever the
    vm_state: a guest gone (the driver raises InstanceNotFound) is NOSTATE."""
    inst = make(vm, power=PowerState.SHUTDOWN, guest=PowerState.PENDING)
    lc.deliver("sync_power_state", "api", "ok", inst)
    assert (_vt(inst), inst.power_state) == ((vm, None), PowerState.PENDING)


def test_power_sync_stops_a_stopped_instance_whose_guest_runs(lc, make):
    """A stopped instance found running or paused is force-stopped (API.force_stop)."""
    inst = make("stopped", guest=PowerState.RUNNING)
    lc.deliver("sync_power_state", "api", "ok", inst)
    assert (_vt(inst), inst.power_state) == (("stopped", "powering-off"), PowerState.RUNNING)
    lc.deliver("sync_power_state", "power_off", "ok", inst)
    assert (_vt(inst), inst.power_state, inst.guest) == (
        ("stopped", None), PowerState.SHUTDOWN, PowerState.SHUTDOWN)


def test_power_sync_skips_an_instance_with_no_host(lc, make):
    inst = make("shelved_offloaded", power=PowerState.SHUTDOWN)
    assert isinstance(lc.guard_failure_for("sync_power_state", inst),
                      errors.InstanceInvalidState)


def test_power_sync_waits_for_the_task(lc, make):
    inst = make("active", "pausing", power=PowerState.SHUTDOWN)
    assert lc.guard_failure_for("sync_power_state", inst) is not None
