"""Every vm_state and task_state has a meaning, and every task_state one operation."""

from __future__ import annotations

from model.states import (
    HARD_REBOOT_STATES, REBUILD_STATES, RESIZING_STATES, SOFT_REBOOT_STATES,
    TASK_STATE_MEANINGS, TASK_STATES_BY_OPERATION, VM_STATE_MEANINGS, TaskState, VmState,
)


def test_every_vm_state_has_a_one_line_meaning():
    assert list(VM_STATE_MEANINGS) == list(VmState)
    assert all(text and "\n" not in text for text in VM_STATE_MEANINGS.values())


def test_every_task_state_has_a_one_line_meaning():
    assert list(TASK_STATE_MEANINGS) == list(TaskState)
    assert all(text and "\n" not in text for text in TASK_STATE_MEANINGS.values())


def test_every_task_state_is_in_exactly_one_operation_group():
    grouped = [t for group in TASK_STATES_BY_OPERATION.values() for t in group]
    assert sorted(grouped) == sorted(TaskState)
    assert len(grouped) == len(set(grouped))


def test_the_groups_follow_the_declaration_order():
    """TaskState is declared in Nova's order, so the groups read it front to back."""
    grouped = [t for group in TASK_STATES_BY_OPERATION.values() for t in group]
    assert grouped == list(TaskState)


def test_the_named_groups_agree_with_the_operation_groups():

    assert set(TASK_STATES_BY_OPERATION["rebuild"]) == REBUILD_STATES
    assert set(TASK_STATES_BY_OPERATION["resize"]) == RESIZING_STATES
    assert set(TASK_STATES_BY_OPERATION["reboot"]) == SOFT_REBOOT_STATES | HARD_REBOOT_STATES
