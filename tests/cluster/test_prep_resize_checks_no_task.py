"""A move's queued ``prep_resize`` meets whatever happened to the instance meanwhile:
``CM.prep_resize`` checks no task_state (``CM._prep_resize`` saves the instance with no
``expected_task_state``), so it claims its destination all the same, and
``ComputeAPI.resize_instance`` casts to the instance's host as it is now."""

from __future__ import annotations

from model.cluster_scenarios import SMALL, allocs, boot, res
from model.lifecycle import ADMIN
from model.states import MigrationStatus as MS, PowerState as P, TaskState as T, VmState as V


def _run(c, uuid, operation):
    """Deliver the operation's steps of the instance until none is left."""
    while True:
        work = next((w for w in c.deliverable() if w.instance == uuid
                     and w.operation == operation), None)
        if work is None:
            return
        c.deliver(work.id)


def _migrate_scheduled(c, step, uuid):
    assert c.request("migrate", uuid, ADMIN).accepted
    assert step(uuid, "migrate", "schedule").accepted
    return c.instances[uuid].migration


def test_a_prep_resize_claims_an_instance_reset_meanwhile_and_resize_instance_errors_it(c, step):
    uuid = boot(c)
    source = c.instances[uuid].host
    migration = _migrate_scheduled(c, step, uuid)
    assert c.request("reset_state_active", uuid, ADMIN).accepted
    assert c.instances[uuid].task_state is None
    assert step(uuid, "migrate", "prep_resize").accepted  # no task_state check
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state) == (V.ACTIVE, None)  # it writes no task
    assert migration.status is MS.PRE_MIGRATING and migration.dest not in (None, source)
    (resize,) = [w for w in c.pending() if w.instance == uuid]
    assert (resize.step, resize.target) == ("resize_migrating", source)
    # CM._resize_instance's check fails inside _error_out_instance_on_exception, and
    # CM.resize_instance gives the source back (CM._revert_allocation)
    assert not c.deliver(resize.id).accepted
    assert (inst.vm_state, inst.task_state, inst.host) == (V.ERROR, T.RESIZE_MIGRATING, source)
    assert migration.status is MS.ERROR
    assert allocs(c, uuid) == {source: res(SMALL)} and not allocs(c, migration.uuid)


def test_resize_instance_goes_to_the_host_an_evacuation_moved_the_instance_to(c, step):
    uuid = boot(c)
    source = c.instances[uuid].host
    migration = _migrate_scheduled(c, step, uuid)
    c.service_down(source)
    assert c.request("evacuate", uuid, ADMIN).accepted  # API.evacuate: any task_state
    _run(c, uuid, "evacuate")
    inst = c.instances[uuid]
    evacuated_to = inst.host
    assert evacuated_to != source and (inst.vm_state, inst.task_state) == (V.ACTIVE, None)
    assert step(uuid, "migrate", "prep_resize").accepted
    (resize,) = [w for w in c.pending() if w.instance == uuid]
    assert (resize.step, resize.target) == ("resize_migrating", evacuated_to)
    assert migration.source == source  # not where the cast goes
    c.settle()
    assert (inst.vm_state, inst.task_state, inst.host) == (
        V.ERROR, T.RESIZE_MIGRATING, evacuated_to)
    # the migration's allocation on the down source replaced the evacuation's claim
    assert allocs(c, uuid) == {source: res(SMALL)}


def test_a_failed_claim_sends_the_move_on_with_the_vm_state_as_it_is_now(c, step):
    """The instance was stopped while prep_resize waited: the failed claim writes
    resize_prep over no task (CM._reschedule_resize_or_reraise), and the next
    alternate's CM._prep_resize stashes old_vm_state stopped, so CM._finish_resize
    leaves the guest off."""
    uuid = boot(c)
    _migrate_scheduled(c, step, uuid)
    assert c.request("reset_state_active", uuid, ADMIN).accepted
    assert c.request("stop", uuid).accepted
    _run(c, uuid, "stop")
    inst = c.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.old_vm_state) == (V.STOPPED, None, V.ACTIVE)
    assert step(uuid, "migrate", "prep_resize", "claim_failed").accepted
    assert (inst.task_state, inst.old_vm_state) == (T.RESIZE_PREP, V.STOPPED)
    c.settle()
    assert (inst.vm_state, inst.task_state, inst.power_state) == (V.RESIZED, None, P.SHUTDOWN)


def test_a_prep_resize_for_an_instance_with_no_host_fails_as_a_failed_claim(c, step):
    """Reset and shelved (offloaded) while prep_resize waited: the claim goes ahead, and
    the cast of resize_instance, to an instance with no host, raises NovaException
    inside it (rpcapi _compute_host): the claim aborts and the move goes on to the next
    alternate as after a failed claim."""
    uuid = boot(c)
    source = c.instances[uuid].host
    migration = _migrate_scheduled(c, step, uuid)
    assert c.request("reset_state_active", uuid, ADMIN).accepted
    assert c.request("shelve", uuid).accepted
    _run(c, uuid, "shelve")
    inst = c.instances[uuid]
    if inst.vm_state is V.SHELVED:
        assert c.request("shelve_offload", uuid).accepted
        _run(c, uuid, "shelve_offload")
    assert (inst.vm_state, inst.task_state, inst.host) == (V.SHELVED_OFFLOADED, None, None)
    result = step(uuid, "migrate", "prep_resize")
    assert result.accepted and result.branch.then == "reschedule"
    assert inst.task_state is T.RESIZE_PREP
    assert migration.dest not in (None, source) and migration.status is MS.PRE_MIGRATING
    assert [w.step for w in c.pending() if w.instance == uuid] == ["reschedule"]
