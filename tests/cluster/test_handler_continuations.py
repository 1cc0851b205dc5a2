"""A stopped compute process takes its handlers' next steps with it; its messages wait.

Several catalogue steps in a row run inside one RPC handler of a compute (Nova's
``ComputeManager._resize_instance`` goes from ``resize_migrating`` to
``resize_migrated``; ``_do_build_and_run_instance`` from ``build`` to ``spawned``).
The cluster queues each as a work item so that other requests can interleave; when the
compute process stops (``service_down``, ``restart``) the items a handler was to go on
with are discarded and written down, while the RPC casts and calls sent to the host
stay queued. ``CM.init_host`` then recovers the instance from its states.
"""

from __future__ import annotations

import dataclasses

import pytest

import invariants
from invariants import findings
from model.catalogue import CATALOGUE, OPERATIONS
from model.cluster import Cluster
from model.cluster_scenarios import LARGE, SMALL, boot, small_config
from model.lifecycle import ADMIN
from model.operation import Entered, Operation, Where
from model.states import MigrationStatus, PowerState, TaskState, VmState


def _deliver_until(cluster, uuid, operation, step):
    """Deliver the instance's work, oldest first, up to and including ``step``."""
    for _ in range(20):
        work = cluster.next_deliverable(uuid)
        assert work is not None, f"{operation}.{step} never came"
        result = cluster.deliver(work.id)
        assert result.accepted, result.detail
        if (work.operation, work.step) == (operation, step):
            return
    raise AssertionError(f"{operation}.{step} not reached")


def _queued(cluster, uuid):
    return [(w.operation, w.step) for w in cluster.pending() if w.instance == uuid]


@pytest.fixture
def cluster():
    made = Cluster(small_config(hosts=2), seed=1)
    yield made
    made.close()


def test_a_restart_between_resize_migrating_and_resize_migrated_leaves_no_step(cluster):
    uuid = boot(cluster, SMALL)
    source = cluster.instances[uuid].host
    assert cluster.request("resize", uuid, flavor=LARGE.name).accepted
    _deliver_until(cluster, uuid, "resize", "resize_migrating")
    inst = cluster.instances[uuid]
    assert inst.task_state is TaskState.RESIZE_MIGRATING
    assert _queued(cluster, uuid) == [("resize", "resize_migrated")]
    mig = inst.migration
    dest = mig.dest

    result = cluster.restart(source)

    assert "resize.resize_migrated" in result.detail
    assert _queued(cluster, uuid) == []
    # CM._init_instance, RESIZE_MIGRATING: driver.finish_revert_migration, task cleared
    assert (inst.vm_state, inst.task_state, inst.power_state, inst.host) == (
        VmState.ACTIVE, None, PowerState.RUNNING, source)
    assert inst.flavor == SMALL.name
    # ... and nothing gives the allocations back (Nova leaves them)
    assert mig.status is MigrationStatus.MIGRATING
    assert cluster.ledger.allocations_view(mig.uuid) == {source: cluster.resources(SMALL)}
    assert cluster.ledger.allocations_view(uuid) == {dest: cluster.resources(LARGE)}
    (discarded,) = cluster.discarded_steps[uuid]
    assert (discarded.operation, discarded.step, discarded.host, discarded.task,
            discarded.handler) == ("resize", "resize_migrated", source, "resize_migrating",
                                   "CM._resize_instance")
    # later deliveries have nothing to run for it
    assert cluster.settle() == []
    # the leak is Nova's, and the finding explains it by the discarded step
    found = invariants.violations(cluster)
    assert found
    unexplained, explained = findings.split(found, cluster)
    assert unexplained == {}
    assert {f.name for f, _ in explained} == {
        "a compute restart during a resize's migration leaks both allocations"}


def test_a_restart_in_the_middle_of_a_build_leaves_no_step(cluster):
    uuid = cluster.request("create", None, flavor=SMALL.name).instance
    _deliver_until(cluster, uuid, "create", "networking")
    inst = cluster.instances[uuid]
    host = inst.host
    assert (inst.vm_state, inst.task_state) == (VmState.BUILDING, TaskState.NETWORKING)
    assert _queued(cluster, uuid) == [("create", "block_device_mapping")]

    cluster.restart(host)

    assert _queued(cluster, uuid) == []
    # CM._init_instance: an interrupted build goes to error
    assert (inst.vm_state, inst.task_state, inst.host) == (VmState.ERROR, None, host)
    assert cluster.error_causes[uuid].trigger == "recovery"
    assert [d.step for d in cluster.discarded_steps[uuid]] == ["block_device_mapping"]
    assert cluster.discarded_steps[uuid][0].handler == "CM._do_build_and_run_instance"
    assert invariants.violations(cluster) == {}


def test_a_stopped_service_takes_the_step_with_it_even_before_it_starts(cluster):
    uuid = cluster.request("create", None, flavor=SMALL.name).instance
    _deliver_until(cluster, uuid, "create", "spawning")
    host = cluster.instances[uuid].host
    assert _queued(cluster, uuid) == [("create", "spawned")]
    result = cluster.service_down(host)
    assert "create.spawned" in result.detail
    assert _queued(cluster, uuid) == []
    assert cluster.service_up(host).accepted
    assert cluster.instances[uuid].vm_state is VmState.ERROR


def test_a_cast_queued_to_a_down_destination_survives_its_restart(cluster):
    uuid = boot(cluster, SMALL)
    assert cluster.request("migrate", uuid, ADMIN).accepted
    _deliver_until(cluster, uuid, "migrate", "schedule")
    (work,) = [w for w in cluster.pending() if w.instance == uuid]
    assert work.step == "prep_resize"
    dest = work.target
    cluster.service_down(dest)
    cluster.restart(dest)
    assert [w.id for w in cluster.pending() if w.instance == uuid] == [work.id]
    assert cluster.handler_lost == {} and cluster.discarded_steps == {}
    cluster.settle()
    inst = cluster.instances[uuid]
    assert (inst.vm_state, inst.task_state, inst.host) == (VmState.RESIZED, None, dest)


def test_a_same_host_resize_cast_survives_a_restart_of_its_one_host():
    """allow_resize_to_same_host: ``prep_resize`` casts ``resize_instance`` to the same
    host; it is a message all the same (derived from the catalogue, not from hosts)."""
    cluster = Cluster(small_config(hosts=1, allow_resize_to_same_host=True), seed=1)
    try:
        uuid = boot(cluster, SMALL)
        host = cluster.instances[uuid].host
        assert cluster.request("resize", uuid, flavor=LARGE.name).accepted
        _deliver_until(cluster, uuid, "resize", "prep_resize")
        assert _queued(cluster, uuid) == [("resize", "resize_migrating")]
        cluster.restart(host)  # CM._init_instance: resize_prep only cleared
        assert _queued(cluster, uuid) == [("resize", "resize_migrating")]
        assert cluster.discarded_steps == {}
    finally:
        cluster.close()


def test_a_new_request_forgets_the_lost_handler_but_not_the_history(cluster):
    uuid = boot(cluster, SMALL)
    assert cluster.request("shelve", uuid).accepted
    _deliver_until(cluster, uuid, "shelve", "shelving_image_pending_upload")
    host = cluster.instances[uuid].host
    cluster.restart(host)
    inst = cluster.instances[uuid]
    # CM._init_instance has no case for shelving: stuck, which Nova does too
    assert inst.task_state is TaskState.SHELVING_IMAGE_PENDING_UPLOAD
    found = invariants.violations(cluster)
    assert list(found) == ["nothing_stuck"]
    unexplained, explained = findings.split(found, cluster)
    assert unexplained == {}
    assert [f.name for f, _ in explained] == [
        "a compute restart in the middle of a handler leaves the instance in its task"]
    assert cluster.request("lock", uuid).accepted  # (no task: still the lost one)
    assert uuid in cluster.handler_lost
    assert cluster.request("reset_state_active", uuid, ADMIN).accepted
    assert uuid not in cluster.handler_lost
    assert [d.step for d in cluster.discarded_steps[uuid]] == ["shelving_image_uploading"]


def test_the_records_survive_a_snapshot_and_a_fork(cluster):
    uuid = boot(cluster, SMALL)
    assert cluster.request("shelve", uuid).accepted
    _deliver_until(cluster, uuid, "shelve", "shelving_image_pending_upload")
    cluster.restart(cluster.instances[uuid].host)
    again = Cluster.restore(cluster.snapshot(), cluster.config, cluster.lc)
    thawed = Cluster.thaw(cluster.freeze())
    try:
        for other in (again, thawed):
            assert other.discarded_steps == cluster.discarded_steps
            assert other.handler_lost == cluster.handler_lost
    finally:
        again.close()
        thawed.close()


# --- the declaration ---------------------------------------------------------------------

def _predecessors(op: Operation) -> dict[str, set[str]]:
    before: dict[str, set[str]] = {}
    for step in op.all_steps.values():
        for outcome in step.outcomes:
            for branch in outcome.branches:
                if branch.then is not None:
                    before.setdefault(branch.then, set()).add(step.name)
    return before


def test_every_step_of_every_operation_declares_how_it_is_entered():
    for op in OPERATIONS:
        for step in op.all_steps.values():
            assert step.entry is not None, (op.name, step.name)
            assert step.entry.handler, (op.name, step.name)
            if step.name == "api":
                assert step.entry.kind is Entered.START, op.name
            else:
                assert step.entry.kind in (Entered.RPC, Entered.HANDLER), (op.name, step.name)


def test_an_operation_refuses_a_step_that_does_not_declare_its_entry():
    op = CATALOGUE["stop"]
    bare = dataclasses.replace(op.steps[0], entry=None)
    with pytest.raises(ValueError, match="do not declare how they are entered"):
        dataclasses.replace(op, steps=(bare,))


_COMPUTE = {Where.HOST, Where.SOURCE, Where.DEST}
_OTHER_SIDE = {Where.SOURCE: Where.DEST, Where.DEST: Where.SOURCE}


def _callers_after_their_call() -> set[tuple[str, str, str]]:
    """Steps the model delivers after the other side's step although Nova runs them the
    other way round, as the catalogue declares them (``Entry.inline_after`` naming a
    step on the other side of the move): the source's CM._do_live_migration receives
    the conductor's cast and then calls the destination's pre_live_migration, so by the
    time the model delivers the source's step its handler is running, and dies with the
    source's process."""
    return {(op.name, previous, step.name) for op in OPERATIONS for step in op.steps
            for previous, _ in step.entry.inline_after if previous in op.all_steps
            and _OTHER_SIDE.get(op.step(previous).where) is step.where}


def test_the_first_step_on_a_compute_after_another_service_is_a_message():
    """After the API, the conductor, or the other side of a move, a compute's step can
    only be entered by an RPC message (but where the model delivers a caller after the
    step it called); a step that goes on in a handler follows a step on a compute."""
    checked = 0
    callers = _callers_after_their_call()
    assert ("live_migrate", "pre_live_migration", "live_migration") in callers
    for op in OPERATIONS:
        before = _predecessors(op)
        for step in op.steps:
            for previous in sorted(before.get(step.name, ())):
                entry = step.entry.after(previous)
                prior = op.step(previous).where
                if step.where not in _COMPUTE:
                    assert entry.kind is Entered.RPC, (op.name, previous, step.name)
                    continue
                if (op.name, previous, step.name) in callers:
                    assert entry.kind is Entered.HANDLER, (op.name, previous, step.name)
                    assert step.entry.kind is Entered.RPC  # (the holds' gate: its cast)
                elif prior not in _COMPUTE or _OTHER_SIDE.get(prior) is step.where:
                    assert entry.kind is Entered.RPC, (op.name, previous, step.name)
                    checked += 1
                if entry.kind is Entered.HANDLER:
                    assert prior in _COMPUTE, (op.name, previous, step.name)
    assert checked > 30


def test_the_in_handler_steps_are_the_ones_nova_runs_in_one_handler():
    inline = {(op.name, previous, step.name)
              for op in OPERATIONS for step in op.steps
              for previous in sorted(_predecessors(op).get(step.name, ()))
              if step.entry.after(previous).kind is Entered.HANDLER}
    assert ("resize", "resize_migrating", "resize_migrated") in inline
    assert ("resize", "resize_finish", "finished") in inline
    assert ("create", "build", "networking") in inline
    assert ("create", "spawning", "spawned") in inline
    assert ("shelve", "shelved", "offload") in inline
    assert ("shelve", "api", "offload") not in inline  # API.shelve casts it
    assert ("resize", "prep_resize", "resize_migrating") not in inline
    assert ("revert_resize", "finish_revert_resize", "power_off") in inline
    assert ("live_migrate", "live_migration", "post_live_migration") in inline
