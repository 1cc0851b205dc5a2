"""Faults for live migration (and its abort / force-complete) and evacuate.

Every entry was replayed on Nova 34 (functional environment, ``fake.MediumFakeDriver``,
three computes, admin at the latest microversion). Each note says what Nova ended with
where that differs from the catalogue. ``CM`` = ``nova.compute.manager.ComputeManager``,
``COND`` = ``nova.conductor.manager.ComputeTaskManager``, ``RT`` = the resource tracker.

The fake driver's ``live_migration`` calls ``post_method`` at once and never calls
``recover_method``, so the libvirt-style rollback (the driver gives up and Nova rolls
back with migration ``failed``) cannot be produced by making something raise.
"""

from __future__ import annotations

from nova_model.conformance.fault_kinds import MOVE_CLAIM_TEST, Fault, NotInjectable

_FAKE = "nova.virt.fake.FakeDriver."
_NOVA_EXC = "nova.exception.NovaException"
_INJECTED = {"message": "fault injected"}

_RECOVER_ONLY = NotInjectable(
    "only the driver reaches this rollback, by calling recover_method "
    "(CM._rollback_live_migration, migration failed, allocation back, vm unchanged: "
    "replayed by a driver that calls it, it matches the catalogue); the fake driver never "
    "does, and making FakeDriver.live_migration raise takes CM._do_live_migration's except "
    "instead (post_live_migration driver_error)")

FAULTS: dict[tuple[str, str, str], Fault | NotInjectable] = {
    # --- live_migrate ----------------------------------------------------------------------
    ("live_migrate", "schedule", "no_valid_host"): NotInjectable(
        "the scheduler's answer (COND._live_migrate: NoValidHost -> migration error, task "
        "None, vm kept, allocation back on the source; replayed). It can also be forced by "
        "FakeDriver.check_can_live_migrate_destination raising MigrationPreCheckError on "
        "every candidate (LiveMigrationTask._find_destination skips each host), and it is "
        "what a down source host gives (LiveMigrationTask._check_host_is_up -> "
        "ComputeServiceUnavailable, after the API accepted the request)"),
    ("live_migrate", "pre_live_migration", "pre_check_failed"): Fault(
        target=_FAKE + "pre_live_migration",
        raises="nova.exception.MigrationError", kwargs={"reason": "fault injected"},
        nova="CM._do_pre_live_migration_from_source -> CM._cleanup_pre_live_migration "
             "-> CM._rollback_live_migration(pre_live_migration=True)",
        note="DIFFERS: migration ends 'failed', not 'error' (_cleanup_pre_live_migration "
             "sets error, then _rollback_live_migration writes its default "
             "migration_status='failed' last). vm kept, task None, host source, allocation "
             "moved back to the instance on the source: as declared. No retry on another "
             "host. check_can_live_migrate_destination is the conductor's schedule step."),
    ("live_migrate", "live_migration", "rollback"): _RECOVER_ONLY,
    ("live_migrate", "post_live_migration", "rollback"): _RECOVER_ONLY,
    ("live_migrate", "post_live_migration", "driver_error"): Fault(
        target=_FAKE + "live_migration",
        raises="nova.exception.MigrationError", kwargs={"reason": "fault injected"},
        nova="CM._do_live_migration: except -> migration error, "
             "CM._set_instance_obj_error_state(clean_task_state=True)",
        note="DIFFERS: allocations are NOT moved back: the migration consumer keeps the "
             "source, the instance keeps the destination (both leak until an operator acts). "
             "vm error, task None, host source, migration error: as declared. (A failure "
             "inside post_method, e.g. FakeDriver.post_live_migration, also leaves host=dest: "
             "CM._post_live_migration_update_host.)"),
    # --- evacuate -----------------------------------------------------------------------------
    ("evacuate", "schedule", "no_valid_host"): NotInjectable(
        "the scheduler's answer (COND.rebuild_instance: NoValidHost -> vm error, task None, "
        "migration error, allocation unchanged on the source; replayed with the other hosts "
        "disabled: matches the catalogue)"),
    ("evacuate", "rebuilding", "claim_failed"): Fault(
        target=MOVE_CLAIM_TEST,
        raises="nova.exception.ComputeResourcesUnavailable",
        kwargs={"reason": "fault injected"},
        nova="CM.rebuild_instance: ComputeResourcesUnavailable -> migration failed, "
             "RT.delete_allocation_for_evacuated_instance(destination), InstanceFaultRollback",
        note="Raised by the claim's own test, after RT._claim_existing_migration has "
             "written the destination and pre-migrating. Matches: vm kept, task None, host "
             "source, migration failed with its destination, only the source allocation "
             "left. The source's restart ignores it (_destroy_evacuated_instances filters "
             "accepted/pre-migrating/done)."),
    ("evacuate", "rebuilding", "group_policy_violation"): Fault(
        target="nova.compute.manager.ComputeManager._validate_instance_group_policy",
        raises="nova.exception.GroupAffinityViolation",
        kwargs={"policy": "anti-affinity"},
        nova="CM._do_rebuild_instance -> CM._validate_instance_group_policy: "
             "GroupAffinityViolation; CM.rebuild_instance: except Exception -> migration "
             "failed, RT.delete_allocation_for_evacuated_instance(destination); "
             "_error_out_instance_on_exception",
        note="Patching the late check stands for the race of two hard-group members "
             "(scenarios/group_member_arriving_during_evacuation.json shows the race "
             "itself); it runs after the claim, which has written the destination and "
             "pre-migrating. Nova: vm error, task None, host source, migration failed "
             "with its destination, only the source allocation left."),
    ("evacuate", "spawned", "driver_error"): Fault(
        target=_FAKE + "spawn", raises=_NOVA_EXC, kwargs=_INJECTED,
        nova="CM.rebuild_instance: except Exception -> migration failed, "
             "RT.delete_allocation_for_evacuated_instance; _error_out_instance_on_exception",
        note="Matches: vm error, task None, host source, migration failed, destination "
             "allocation removed. Nova also leaves power_state nostate (0). FakeDriver has no "
             "rebuild, so CM._rebuild_default_impl calls spawn on the destination."),
    ("evacuate", "power_off", "driver_error"): Fault(
        target=_FAKE + "power_off", raises=_NOVA_EXC, kwargs=_INJECTED,
        nova="CM._do_rebuild_instance calls CM.stop_instance inline, before "
             "RT.finish_evacuation; the error reaches CM.rebuild_instance's except Exception "
             "and _error_out_instance_on_exception",
        note="DIFFERS: not reverts_task_state alone: vm error, task None, migration failed, "
             "destination allocation removed and host left on the SOURCE (the guest is on "
             "the destination). The catalogue's ok branch before it already set host dest "
             "and migration done; Nova does both only after the power-off."),
}
