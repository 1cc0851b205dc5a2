"""check_instance_lock: admins pass, owners are refused, and who may lift a lock.

Nova: ``nova/compute/api.py: check_instance_lock`` raises InstanceIsLocked
``if instance.locked and not context.is_admin``; ``API.lock`` records
``locked_by`` = owner/admin and is a no-op for an owner re-locking;
``LockServerController._unlock`` needs policy ``unlock:unlock_override`` (ADMIN)
when the lock is not the caller's (``API.is_expected_locked_by``).
"""

from __future__ import annotations

import pytest

from lifecycle_support import A, snapshot
from model import errors
from model.lifecycle import ADMIN, USER, SimpleWorld
from nova_expected import ACCEPTING, LOCK_CHECKED, NOVA

NOT_LOCK_CHECKED = sorted(set(NOVA) - LOCK_CHECKED)


def _world(op):
    return SimpleWorld(down={A}) if op == "evacuate" else SimpleWorld()


def test_lock_checked_set_is_what_nova_says():
    # the ops Nova deliberately leaves unlocked (API NOTE(melwitt), API.evacuate)
    assert {"snapshot", "backup", "evacuate"} <= set(NOT_LOCK_CHECKED)
    assert {"start", "stop", "delete", "force_delete", "soft_delete", "resize",
            "reboot_soft", "reboot_hard"} <= LOCK_CHECKED


@pytest.mark.parametrize("locked_by", ["owner", "admin"])
@pytest.mark.parametrize("op", sorted(LOCK_CHECKED))
def test_admin_passes_lock_owner_is_refused(lc, make, op, locked_by):
    vm, task = ACCEPTING[op]
    refused = make(vm, task, locked=True, locked_by=locked_by, world=_world(op))
    before = snapshot(refused)
    with pytest.raises(errors.PolicyNotAuthorized if NOVA[op].admin_only
                       else errors.InstanceIsLocked):
        lc.request(op, refused, USER)
    assert snapshot(refused) == before
    passed = make(vm, task, locked=True, locked_by=locked_by, world=_world(op))
    lc.request(op, passed, ADMIN)
    assert passed.locked  # a lock survives every lock-checked operation


@pytest.mark.parametrize("op", ["snapshot", "backup"])
def test_snapshot_and_backup_ignore_the_lock(lc, make, op):
    inst = make("active", None, locked=True, locked_by="admin")
    lc.request(op, inst, USER)
    assert inst.task_state is not None


def test_evacuate_ignores_the_lock(lc, make):
    inst = make("active", None, locked=True, locked_by="owner", world=SimpleWorld(down={A}))
    lc.request("evacuate", inst, ADMIN)
    assert inst.task_state.value == "rebuilding"
    assert not lc.catalogue["evacuate"].guard.check_instance_lock


def test_owner_lock_lifted_by_owner(lc, make):
    inst = make("active")
    lc.request("lock", inst, USER)
    assert (inst.locked, inst.locked_by) == (True, "owner")
    lc.request("unlock", inst, USER)
    assert (inst.locked, inst.locked_by) == (False, None)


def test_admin_lock_cannot_be_lifted_by_owner_but_by_admin(lc, make):
    inst = make("active")
    lc.request("lock", inst, ADMIN)
    assert (inst.locked, inst.locked_by) == (True, "admin")
    before = snapshot(inst)
    with pytest.raises(errors.PolicyNotAuthorized):
        lc.request("unlock", inst, USER)
    assert snapshot(inst) == before
    lc.request("unlock", inst, ADMIN)
    assert (inst.locked, inst.locked_by) == (False, None)


def test_admin_overrides_owner_lock(lc, make):
    inst = make("active")
    lc.request("lock", inst, USER)
    lc.request("unlock", inst, ADMIN)
    assert not inst.locked


def test_owner_relock_of_admin_lock_is_a_noop(lc, make):
    """API.lock: ``if instance.locked and is_owner: return``.

    Otherwise an owner could turn an admin's lock into its own and then lift it.
    """
    inst = make("active")
    lc.request("lock", inst, ADMIN)
    lc.request("lock", inst, USER)
    assert (inst.locked, inst.locked_by) == (True, "admin")
    with pytest.raises(errors.PolicyNotAuthorized):
        lc.request("unlock", inst, USER)


def test_admin_relock_of_owner_lock_takes_it_over(lc, make):
    inst = make("active")
    lc.request("lock", inst, USER)
    lc.request("lock", inst, ADMIN)
    assert (inst.locked, inst.locked_by) == (True, "admin")


def test_lock_and_unlock_touch_nothing_else(lc, make):
    inst = make("stopped", "powering-on")
    before = snapshot(inst)
    lc.request("lock", inst, USER)
    lc.request("unlock", inst, USER)
    assert snapshot(inst) == before
