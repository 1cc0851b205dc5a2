"""Every API operation against every vm_state and a task_state from each family.

The expected verdict comes from ``nova_expected.NOVA`` (Nova's decorators,
transcribed by hand), never from the catalogue. An accepted request must write
what Nova's API writes; a rejected one must raise Nova's error and change nothing.
"""

from __future__ import annotations

import pytest

from lifecycle_support import A, B, make_instance, snapshot
from model import errors
from model.catalogue import API_OPERATIONS
from model.lifecycle import ADMIN, USER, SimpleWorld, guard_failure, state_name
from model.states import PowerState, TaskState, VmState
from nova_expected import ACCEPTING, NOVA, nova_api_write, nova_verdict

API_OPS = [op.name for op in API_OPERATIONS]
VMS = [vm.value for vm in VmState]
#: None, and one in-progress task per family (power, reboot, pause, live migration,
#: delete, resize), plus the two that decide hard reboot and "already deleting".
TASKS = [None, "powering-off", "rebooting", "rebooting_hard", "reboot_pending_hard",
         "pausing", "migrating", "deleting", "soft-deleting", "resize_prep"]


def _ctx(op: str):
    return ADMIN if op in NOVA and NOVA[op].admin_only else USER


def _world(op: str) -> SimpleWorld:
    """The world in which only the instance's state decides: evacuate needs its host down."""
    return SimpleWorld(down={A}) if op == "evacuate" else SimpleWorld()


def _describe(exc) -> tuple[type, str | None] | None:
    if exc is None:
        return None
    return type(exc), getattr(exc, "attr", None)


def test_expectation_table_covers_every_api_operation():
    assert set(NOVA) | {"create"} == set(API_OPS)
    assert set(ACCEPTING) == set(NOVA)


@pytest.mark.parametrize("task", TASKS, ids=str)
@pytest.mark.parametrize("vm", VMS)
@pytest.mark.parametrize("op", API_OPS)
def test_request_matches_nova(lc, make, op, vm, task):
    inst = make(vm, task, world=_world(op))
    ctx = _ctx(op)
    expected = nova_verdict(op, inst, ctx.is_admin)
    if inst.state not in lc.machine.states:
        # Not a reachable (vm, task) pair: only the guard itself can be asked.
        assert _describe(guard_failure(lc.catalogue[op], inst, ctx)) == expected
        return
    before = snapshot(inst)
    host, host_up = inst.host, inst.host is not None and inst.world.service_is_up(inst.host)
    try:
        lc.request(op, inst, ctx, dest=B, source=None)
        got = None
    except errors.NovaModelError as exc:
        got = exc
    assert _describe(got) == expected, f"{op} in {vm}/{task}: {got!r}"
    if got is not None:
        assert snapshot(inst) == before, f"rejected {op} changed the instance"
        return
    want_vm, want_task = nova_api_write(op, vm, task, host, host_up,
                                        inst.power_state is PowerState.SHUTDOWN)
    assert (inst.vm_state.value, inst.task_state and inst.task_state.value) == (
        want_vm, want_task), f"{op} from {vm}/{task}"


@pytest.mark.parametrize("op", sorted(NOVA))
def test_guard_failure_matches_nova_for_every_task_state(lc, op):
    """The guard alone, over every (vm_state, task_state) pair Nova can name."""
    ctx = _ctx(op)
    wrong = []
    for vm in VmState:
        for task in (None, *TaskState):
            inst = make_instance(lc, vm, task, world=_world(op))
            try:
                got = _describe(guard_failure(lc.catalogue[op], inst, ctx))
                want = nova_verdict(op, inst, ctx.is_admin)
                if got != want:
                    wrong.append((vm.value, task, got, want))
            finally:
                lc.forget(inst)
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("op", sorted(NOVA))
def test_must_have_launched(lc, make, op):
    """A never-launched instance is refused with attr launched_at where Nova says so."""
    vm, task = ACCEPTING[op]
    inst = make(vm, task, launched=False, world=_world(op))
    ctx = _ctx(op)
    before = snapshot(inst)
    try:
        lc.request(op, inst, ctx, dest=B)
        got = None
    except errors.NovaModelError as exc:
        got = exc
    if NOVA[op].launched and "state" in NOVA[op].checks:
        assert isinstance(got, errors.InstanceInvalidState) and got.attr == "launched_at"
        assert snapshot(inst) == before
    else:
        assert got is None, f"{op} of a never-launched instance: {got!r}"


@pytest.mark.parametrize("op", sorted(NOVA))
def test_accepting_state_is_accepted(lc, make, op):
    vm, task = ACCEPTING[op]
    inst = make(vm, task, world=_world(op))
    assert inst.state in lc.machine.states
    lc.request(op, inst, _ctx(op), dest=B)


def test_deleted_instance_is_not_found_for_every_operation(lc, make):
    for op in NOVA:
        inst = make("deleted", None, host=None)
        before = snapshot(inst)
        with pytest.raises(errors.InstanceNotFound):
            lc.request(op, inst, ADMIN)
        assert snapshot(inst) == before


def test_create_makes_a_building_instance_and_only_once(lc):
    world = SimpleWorld()
    inst = lc.new_instance("fresh", world)
    try:
        branch = lc.request("create", inst, USER)
        # API._provision_instances: vm building, task scheduling, no power yet
        assert (inst.vm_state.value, inst.task_state.value, inst.power_state.label) == (
            "building", "scheduling", "pending")
        assert branch.then is not None
        before = snapshot(inst)
        with pytest.raises(errors.InvalidRequest):
            lc.request("create", inst, USER)
        assert snapshot(inst) == before
    finally:
        lc.forget(inst)


def test_operations_on_a_not_yet_created_instance_are_not_found(lc):
    inst = lc.new_instance("unborn", SimpleWorld())
    try:
        for op in NOVA:
            with pytest.raises(errors.InstanceNotFound):
                lc.request(op, inst, ADMIN)
        assert inst.state == "new"
    finally:
        lc.forget(inst)


def test_state_name_round_trips(lc):
    inst = make_instance(lc, "resized", "powering-off")
    try:
        assert inst.state == state_name(VmState.RESIZED, TaskState.POWERING_OFF)
        assert (inst.vm_state, inst.task_state) == (VmState.RESIZED, TaskState.POWERING_OFF)
    finally:
        lc.forget(inst)
