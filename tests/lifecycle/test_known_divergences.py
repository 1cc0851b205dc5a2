"""Where the model is known to disagree with Nova: strict xfails.

Each test states Nova's behaviour. It is expected to fail until the model is
changed; ``strict=True`` turns the fix into a visible XPASS so this file gets
updated. The oracle in ``nova_expected.nova_verdict`` follows the model on these
points (otherwise the property test would report them on every run).
"""

from __future__ import annotations

import pytest

from lifecycle_support import apply_migration
from model import errors
from model.lifecycle import USER
from model.states import MigrationStatus

FINISHED_ONLY = pytest.mark.xfail(
    strict=True,
    reason="API.confirm_resize and API.revert_resize look the migration up with "
           "Migration.get_by_instance_and_status(..., 'finished') (nova/compute/api.py:"
           "4131, 4007) and raise MigrationNotFoundByStatus when there is none; the "
           "model's guards do not read the migration status (it would need a new "
           "Check in model/operation.py and an error in model/errors.py)")


def _confirm_in_flight(lc, make):
    inst = make("resized")
    branch = lc.request("confirm_resize", inst, USER)
    apply_migration(inst, branch, inst.migration.source, inst.migration.dest)
    assert inst.migration.status is MigrationStatus.CONFIRMING
    assert inst.task_state is None  # the API writes no task_state for a confirm
    return inst


@FINISHED_ONLY
def test_second_confirm_while_confirming_is_refused(lc, make):
    inst = _confirm_in_flight(lc, make)
    with pytest.raises(errors.NovaModelError):
        lc.request("confirm_resize", inst, USER)


@FINISHED_ONLY
def test_revert_while_confirming_is_refused(lc, make):
    inst = _confirm_in_flight(lc, make)
    with pytest.raises(errors.NovaModelError):
        lc.request("revert_resize", inst, USER)
