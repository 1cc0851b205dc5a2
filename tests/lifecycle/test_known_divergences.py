"""Where the model is known to disagree with Nova: strict xfails.

Each xfail test states Nova's behaviour. It is expected to fail until the model is
changed; ``strict=True`` turns the fix into a visible XPASS so this file gets
updated, and the fixed test then stays here, unmarked, as a regression test. The
oracle in ``nova_expected.nova_verdict`` follows the model on the open points
(otherwise the property test would report them on every run).

Fixed: API.confirm_resize and API.revert_resize look the migration up with
``Migration.get_by_instance_and_status(..., 'finished')`` (``nova/compute/api.py:
API.confirm_resize``, ``API.revert_resize``) and raise MigrationNotFoundByStatus when
there is none: ``Check.MIGRATION_FINISHED`` in both guards.
"""

from __future__ import annotations

import pytest

from lifecycle_support import apply_migration
from model import errors
from model.lifecycle import USER
from model.states import MigrationStatus


def _confirm_in_flight(lc, make):
    inst = make("resized")
    branch = lc.request("confirm_resize", inst, USER)
    apply_migration(inst, branch, inst.migration.source, inst.migration.dest)
    assert inst.migration.status is MigrationStatus.CONFIRMING
    assert inst.task_state is None  # the API writes no task_state for a confirm
    return inst


def test_second_confirm_while_confirming_is_refused(lc, make):
    inst = _confirm_in_flight(lc, make)
    with pytest.raises(errors.MigrationNotFoundByStatus):
        lc.request("confirm_resize", inst, USER)


def test_revert_while_confirming_is_refused(lc, make):
    inst = _confirm_in_flight(lc, make)
    with pytest.raises(errors.MigrationNotFoundByStatus):
        lc.request("revert_resize", inst, USER)


def test_confirm_after_a_revert_is_refused(lc, make):
    inst = make("resized")
    branch = lc.request("revert_resize", inst, USER)
    apply_migration(inst, branch, inst.migration.source, inst.migration.dest)
    assert inst.migration.status is MigrationStatus.REVERTING
    with pytest.raises(errors.InstanceInvalidState):  # task_state resize_reverting first
        lc.request("confirm_resize", inst, USER)
