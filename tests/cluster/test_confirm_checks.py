"""A queued ``confirm_resize`` meets what happened to the instance meanwhile.

``CM._confirm_resize`` confirms the migration (``RT.drop_move_claim_at_source``) before
its save with ``expected_task_state=[None, DELETING, SOFT_DELETING]``: a lost check
errors the instance with the task it set in memory (None) and errors the migration;
the migration's allocation is deleted whatever happens (do_confirm_resize's finally).
When a soft delete confirmed the migration first, the handler fails before its check
on the migration context that confirm dropped: error with the task found."""

from __future__ import annotations

import pytest

from model.cluster import Cluster
from model.cluster_scenarios import LARGE, allocs, boot, res, small_config
from model.lifecycle import ADMIN, USER
from model.states import MigrationStatus as MS, TaskState as T, VmState as V
from invariants import violations


@pytest.fixture
def c():
    cluster = Cluster(small_config(reclaim_instance_interval=3600), seed=1)
    yield cluster
    cluster.close()


def _deliver(c, uuid, operation, step):
    work = next(w for w in c.pending() if w.instance == uuid
                and (w.operation, w.step) == (operation, step))
    return c.deliver(work.id)


def _resized(c):
    uuid = boot(c)
    assert c.request("resize", uuid, USER, flavor=LARGE.name).accepted
    c.settle()
    inst = c.instances[uuid]
    assert inst.vm_state is V.RESIZED
    assert c.request("confirm_resize", uuid, USER).accepted
    return uuid, inst, inst.migration


def test_a_confirm_that_lost_its_check_errors_the_instance_with_no_task(c):
    uuid, inst, migration = _resized(c)
    source, dest = migration.source, migration.dest
    assert c.request("reset_state_active", uuid, ADMIN).accepted
    assert c.request("stop", uuid, USER).accepted
    assert inst.task_state is T.POWERING_OFF
    assert not _deliver(c, uuid, "confirm_resize", "confirm").accepted
    assert (inst.vm_state, inst.task_state, inst.host) == (V.ERROR, None, dest)
    assert migration.status is MS.ERROR
    assert not allocs(c, migration.uuid) and allocs(c, uuid) == {dest: res(LARGE)}
    assert not c.trackers[source].tracks_move_of(uuid)  # its claim dropped at the source
    assert not any(violations(c).values())


def test_a_confirm_whose_migration_a_soft_delete_confirmed_errors_keeping_the_task(c):
    uuid, inst, migration = _resized(c)
    assert c.request("soft_delete", uuid, USER).accepted
    assert migration.status is MS.CONFIRMED  # API._confirm_resize_on_deleting
    _deliver(c, uuid, "soft_delete", "soft_delete")
    assert (inst.vm_state, inst.task_state) == (V.SOFT_DELETED, None)
    _deliver(c, uuid, "confirm_resize", "confirm")  # the check passes: it fails first
    assert (inst.vm_state, inst.task_state, migration.status) == (V.ERROR, None, MS.ERROR)
    assert not any(violations(c).values())


def test_a_confirm_that_fails_before_its_lost_check_keeps_the_task_it_finds(c):
    uuid, inst, migration = _resized(c)
    assert c.request("soft_delete", uuid, USER).accepted
    _deliver(c, uuid, "soft_delete", "soft_delete")
    assert c.request("restore", uuid, USER).accepted
    assert not _deliver(c, uuid, "confirm_resize", "confirm").accepted
    # Preempted.record_gone: not the lost check's error with task None
    assert (inst.vm_state, inst.task_state, migration.status) == (
        V.ERROR, T.RESTORING, MS.ERROR)
    c.settle()  # CM.restore_instance finds restoring and saves active
    assert (inst.vm_state, inst.task_state) == (V.ACTIVE, None)
    assert not any(violations(c).values())
