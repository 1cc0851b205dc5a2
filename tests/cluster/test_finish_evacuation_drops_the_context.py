"""``CM.rebuild_instance`` ends every rebuild that succeeds, a plain one too, with
``RT.finish_evacuation``, which drops the instance's migration context whichever move
left it: the resource audit (``RT._update_usage_from_migrations``) then errors no later
move's record for not being the one the context names."""

from __future__ import annotations

from model.cluster_scenarios import LARGE, SMALL, boot
from model.lifecycle import ADMIN
from model.states import MigrationStatus as MS, VmState as V


def _failed_resize(c, step, uuid):
    """A resize whose resize_migrating fails: its claim's context stays, naming a record
    in error."""
    assert c.request("resize", uuid, ADMIN, flavor=LARGE.name).accepted
    assert step(uuid, "resize", "schedule").accepted
    assert step(uuid, "resize", "prep_resize").accepted
    failed = c.instances[uuid].migration
    assert step(uuid, "resize", "resize_migrating", "driver_error").accepted
    assert failed.status is MS.ERROR
    assert c.migration_context(c.instances[uuid]) is failed
    return failed


def _live_migration_scheduled_then_audited(c, step, uuid):
    """A live migration scheduled, then evacuation's task over it and its source's audit
    (the compute comes back: its start runs one)."""
    source = c.instances[uuid].host
    assert c.request("live_migrate", uuid, ADMIN).accepted
    assert step(uuid, "live_migrate", "schedule").accepted
    live = c.instances[uuid].migration
    c.service_down(source)
    assert c.request("evacuate", uuid, ADMIN).accepted
    c.service_up(source)
    return live


def test_a_plain_rebuild_drops_the_failed_moves_context(c, step):
    uuid = boot(c, SMALL)
    _failed_resize(c, step, uuid)
    assert c.request("rebuild", uuid, ADMIN).accepted
    c.settle()
    assert c.instances[uuid].vm_state is V.ACTIVE
    assert c.migration_context(c.instances[uuid]) is None
    live = _live_migration_scheduled_then_audited(c, step, uuid)
    assert live.status is not MS.ERROR


def test_without_the_rebuild_the_audit_errors_the_later_record(c, step):
    """The rule the drop matters for: a context naming another record makes the audit
    put the instance's latest record at the host in error."""
    uuid = boot(c, SMALL)
    _failed_resize(c, step, uuid)
    assert c.request("reset_state_active", uuid, ADMIN).accepted
    live = _live_migration_scheduled_then_audited(c, step, uuid)
    assert live.status is MS.ERROR
