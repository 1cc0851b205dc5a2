"""Which check fails first when several would: Nova's decorator order.

The decorator listed first on ``API.<method>`` runs first; checks in the body
run after all decorators; the REST layer's policy check runs before any of them.
Line numbers: ``nova/compute/api.py`` at 00a0304.
"""

from __future__ import annotations

import pytest

from lifecycle_support import A, B, snapshot
from model import errors
from model.lifecycle import ADMIN, USER, MigrationRecord, SimpleWorld
from model.states import MigrationStatus, MigrationType


def _refused(lc, inst, op, ctx, exc, attr=None):
    before = snapshot(inst)
    with pytest.raises(exc) as info:
        lc.request(op, inst, ctx, dest=B)
    if attr is not None:
        assert info.value.attr == attr
    assert snapshot(inst) == before
    return info.value


# --- start / stop / trigger_crash_dump: lock, host, state (api.py:2866-2889) ---------

def test_start_locked_without_host_by_user_is_locked(lc, make):
    inst = make("stopped", host=None, locked=True)
    _refused(lc, inst, "start", USER, errors.InstanceIsLocked)


def test_start_locked_without_host_by_admin_is_not_ready(lc, make):
    inst = make("stopped", host=None, locked=True)
    _refused(lc, inst, "start", ADMIN, errors.InstanceNotReady)


@pytest.mark.parametrize("op,vm", [("start", "active"), ("stop", "stopped"),
                                   ("trigger_crash_dump", "stopped")])
def test_host_is_checked_before_state(lc, make, op, vm):
    inst = make(vm, host=None)
    _refused(lc, inst, op, USER, errors.InstanceNotReady)


def test_stop_host_down_is_not_checked(lc, make):
    """check_instance_host() without check_is_up: a down host does not stop the API."""
    inst = make("active", world=SimpleWorld(down={A}))
    lc.request("stop", inst, USER)
    assert inst.task_state.value == "powering-off"


# --- resize: lock, state, host(check_is_up=True) (api.py:4289-4291) ------------------

def test_resize_locked_wrong_state_is_locked(lc, make):
    inst = make("paused", locked=True)
    _refused(lc, inst, "resize", USER, errors.InstanceIsLocked)


def test_resize_wrong_state_without_host_is_invalid_state(lc, make):
    inst = make("paused", host=None)
    _refused(lc, inst, "resize", USER, errors.InstanceInvalidState, "vm_state")


def test_resize_wrong_task_with_host_down_is_invalid_state(lc, make):
    inst = make("active", "pausing", world=SimpleWorld(down={A}))
    _refused(lc, inst, "resize", USER, errors.InstanceInvalidState, "task_state")


def test_resize_host_down_is_service_unavailable(lc, make):
    inst = make("active", world=SimpleWorld(down={A}))
    _refused(lc, inst, "resize", USER, errors.ServiceUnavailable)


def test_resize_without_host_is_not_ready(lc, make):
    inst = make("stopped", host=None)
    _refused(lc, inst, "resize", USER, errors.InstanceNotReady)


def test_resize_never_launched_with_host_down_is_launched_at(lc, make):
    inst = make("active", launched=False, world=SimpleWorld(down={A}))
    _refused(lc, inst, "resize", USER, errors.InstanceInvalidState, "launched_at")


def test_migrate_policy_before_lock(lc, make):
    inst = make("paused", locked=True)
    _refused(lc, inst, "migrate", USER, errors.PolicyNotAuthorized)


# --- check_instance_state: vm_state, then task_state, then launched_at ----------------

def test_vm_state_is_checked_before_task_state(lc, make):
    inst = make("stopped", "pausing", launched=False)
    _refused(lc, inst, "pause", USER, errors.InstanceInvalidState, "vm_state")


def test_task_state_is_checked_before_launched_at(lc, make):
    inst = make("active", "rebooting", launched=False)
    _refused(lc, inst, "pause", USER, errors.InstanceInvalidState, "task_state")


# --- evacuate: policy, state, then the body's service check (api.py:5707-5730) --------

def test_evacuate_with_host_up_is_service_in_use(lc, make):
    inst = make("active")
    _refused(lc, inst, "evacuate", ADMIN, errors.ComputeServiceInUse)


def test_evacuate_wrong_state_with_host_up_is_invalid_state(lc, make):
    inst = make("paused")
    _refused(lc, inst, "evacuate", ADMIN, errors.InstanceInvalidState, "vm_state")


def test_evacuate_by_user_is_policy(lc, make):
    inst = make("paused", world=SimpleWorld(down={A}))
    _refused(lc, inst, "evacuate", USER, errors.PolicyNotAuthorized)


def test_evacuate_accepts_any_task(lc, make):
    """task_state=None since bug 1978983: a stuck task does not block evacuation."""
    inst = make("active", "resize_prep", world=SimpleWorld(down={A}))
    lc.request("evacuate", inst, ADMIN, dest=B)
    assert inst.task_state.value == "rebuilding"


# --- confirm_resize: lock, state, then the source service (api.py:4111-4140) ----------

def _resized(make, status=MigrationStatus.FINISHED, **kw):
    inst = make("resized", **kw)
    inst.migration = MigrationRecord("mig", inst.uuid, MigrationType.RESIZE, status,
                                     source=B, dest=A)
    return inst


def test_confirm_resize_source_down_is_service_unavailable(lc, make):
    inst = _resized(make, world=SimpleWorld(down={B}))
    _refused(lc, inst, "confirm_resize", USER, errors.ServiceUnavailable)


def test_confirm_resize_dest_down_is_accepted(lc, make):
    """Only the *source* service is checked; the API writes no task_state."""
    inst = _resized(make, world=SimpleWorld(down={A}))
    lc.request("confirm_resize", inst, USER)
    assert (inst.vm_state.value, inst.task_state) == ("resized", None)


def test_confirm_resize_locked_source_down_is_locked(lc, make):
    inst = _resized(make, locked=True, world=SimpleWorld(down={B}))
    _refused(lc, inst, "confirm_resize", USER, errors.InstanceIsLocked)


def test_confirm_resize_wrong_state_source_down_is_invalid_state(lc, make):
    inst = make("active", world=SimpleWorld(down={B}))
    _refused(lc, inst, "confirm_resize", USER, errors.InstanceInvalidState, "vm_state")


# --- live migration helpers (api.py:5628-5700) ---------------------------------------

def _migrating(make, vm, status):
    inst = make(vm, "migrating")
    inst.migration.status = status
    return inst


@pytest.mark.parametrize("status", [MigrationStatus.QUEUED, MigrationStatus.PREPARING,
                                    MigrationStatus.COMPLETED])
def test_force_complete_needs_a_running_migration(lc, make, status):
    inst = _migrating(make, "active", status)
    _refused(lc, inst, "live_migrate_force_complete", ADMIN, errors.InvalidMigrationState)


def test_force_complete_of_paused_is_invalid_state(lc, make):
    inst = _migrating(make, "paused", MigrationStatus.RUNNING)
    _refused(lc, inst, "live_migrate_force_complete", ADMIN, errors.InstanceInvalidState,
             "vm_state")


@pytest.mark.parametrize("status", [MigrationStatus.QUEUED, MigrationStatus.PREPARING,
                                    MigrationStatus.RUNNING])
def test_abort_of_queued_preparing_or_running(lc, make, status):
    inst = _migrating(make, "paused", status)
    lc.request("live_migrate_abort", inst, ADMIN)


def test_abort_of_finished_migration_is_invalid(lc, make):
    inst = _migrating(make, "active", MigrationStatus.COMPLETED)
    _refused(lc, inst, "live_migrate_abort", ADMIN, errors.InvalidMigrationState)


def test_abort_state_before_migration(lc, make):
    inst = make("active")
    _refused(lc, inst, "live_migrate_abort", ADMIN, errors.InstanceInvalidState,
             "task_state")


# --- reboot: the lock is on API.reboot, the state on the helpers (api.py:3639-3662) ---

def test_locked_hard_reboot_refused_before_state(lc, make):
    inst = make("rescued", locked=True)
    _refused(lc, inst, "reboot_hard", USER, errors.InstanceIsLocked)


@pytest.mark.parametrize("task", ["reboot_pending_hard", "reboot_started_hard",
                                  "powering-off"])
def test_hard_reboot_refused_once_compute_acknowledged(lc, make, task):
    inst = make("active", task)
    _refused(lc, inst, "reboot_hard", USER, errors.InstanceInvalidState, "task_state")


@pytest.mark.parametrize("vm,task", [
    ("active", None), ("active", "rebooting"), ("active", "reboot_pending"),
    ("active", "reboot_started"), ("suspended", "resuming"), ("active", "rebooting_hard"),
    ("paused", "unpausing"), ("active", "pausing"), ("active", "suspending"),
    ("stopped", "rebooting_hard"), ("error", "rebooting_hard")])
def test_hard_reboot_preempts_allowed_tasks(lc, make, vm, task):
    inst = make(vm, task)
    assert inst.state in lc.machine.states
    lc.request("reboot_hard", inst, USER)
    assert (inst.vm_state.value, inst.task_state.value) == (vm, "rebooting_hard")
