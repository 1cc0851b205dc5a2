"""Faults for the move family: resize, migrate, confirm/revert, rebuild, shelve, unshelve.

Each entry was checked in Nova 34's functional environment (fake driver, 2 and 3
computes): the note says what Nova ended with where it is not what the catalogue
declares. ``CM`` = ``nova.compute.manager.ComputeManager``.
"""

from __future__ import annotations

from nova_model.conformance.fault_kinds import MOVE_CLAIM_TEST, Fault, NotInjectable

_FD = "nova.virt.fake.FakeDriver."
_CM = "nova.compute.manager.ComputeManager."
_NET = "nova.network.neutron.API."
_ERR = "nova.exception.NovaException"
_SCHEDULER = NotInjectable(
    "the scheduler's answer (NoValidHost from select_destinations / Placement), "
    "not a callable on the step; reproduce by exhausting capacity, not by a patch")


_NO_ALTERNATE = NotInjectable(
    "the conductor's own answer when no alternate is left (MaxRetriesExceeded in "
    "MigrationTask._reschedule); it follows from the number of hosts and the failed "
    "attempts before it, e.g. the claim failing on every host")


def _resize_faults(op: str) -> dict[tuple[str, str, str], Fault | NotInjectable]:
    return {
        (op, "schedule", "no_valid_host"): _SCHEDULER,
        (op, "prep_resize", "claim_failed"): Fault(
            target=MOVE_CLAIM_TEST, raises="nova.exception.ComputeResourcesUnavailable",
            kwargs={"reason": "injected"},
            nova="RT.resize_claim -> MoveClaim: ComputeResourcesUnavailable; "
                 "CM._do_prep_resize -> CM._revert_allocation, "
                 "CM._reschedule_resize_or_reraise",
            note="Raised by the claim's own test, after RT._claim_existing_migration has "
                 "written the destination to the migration. Each failed attempt is one "
                 "delivery: the conductor (MigrationTask._reschedule, a synchronous call) "
                 "claims the next alternate on the same pre-migrating record; with none "
                 "left (MaxRetriesExceeded) the compute re-raises: vm error, task None, "
                 "host source, migration error with the last destination tried, the "
                 "allocation back on the instance at the source. Matches."),
        (op, "prep_resize", "group_policy_violation"): Fault(
            target="nova.compute.manager.ComputeManager._validate_instance_group_policy",
            raises="nova.exception.RescheduledException",
            kwargs={"instance_uuid": "fault-injected", "reason": "injected"},
            nova="CM._do_prep_resize: RescheduledException -> InstanceFaultRollback; "
                 "CM._revert_allocation, CM._reschedule_resize_or_reraise",
            note="Patching the late check stands for the race of two hard-group members "
                 "(the scheduler's filters keep a sequential run from reaching it); it "
                 "runs before the claim, so the destination is not written."),
        (op, "reschedule", "no_valid_host"): _NO_ALTERNATE,
        (op, "reschedule_after_group_check", "no_valid_host"): _NO_ALTERNATE,
        (op, "resize_migrating", "driver_error"): Fault(
            target=_NET + "get_instance_nw_info", raises=_ERR,
            nova="CM._resize_instance (before task resize_migrating); "
                 "CM.resize_instance -> CM._revert_allocation",
            note="First call in the chain is CM._resize_instance on the source, before "
                 "the migrating/resize_migrating writes. Nova: vm error, task None, "
                 "host source, migration error, allocation back on the instance "
                 "(source). Matches."),
        (op, "resize_migrated", "driver_error"): Fault(
            target=_FD + "migrate_disk_and_power_off", raises=_ERR,
            nova="CM._resize_instance -> driver.migrate_disk_and_power_off; "
                 "CM.resize_instance -> CM._revert_allocation",
            note="Nova: vm error (also from stopped), task None, host source, migration "
                 "error, allocation back on the instance (source), migration consumer "
                 "empty. Matches. (InstanceFaultRollback here keeps vm active.)"),
        (op, "resize_finish", "driver_error"): Fault(
            target=_NET + "migrate_instance_finish", raises=_ERR,
            nova="CM._finish_resize (before task resize_finish); "
                 "CM.finish_resize -> CM._delete_allocation_after_move",
            note="Nova: vm error, task None, host dest, migration error, instance "
                 "allocation kept on dest, migration (source) allocation deleted. "
                 "Matches. The new flavor stays on the instance (it is reset only when "
                 "finish_migration fails)."),
        (op, "finished", "driver_error"): Fault(
            target=_FD + "finish_migration", raises=_ERR,
            nova="CM._finish_resize -> driver.finish_migration; "
                 "CM.finish_resize -> CM._delete_allocation_after_move",
            note="Nova: vm error, task None, host dest, migration error, dest allocation "
                 "kept (new flavor), source allocation deleted. Matches. "
                 "CM._finish_resize puts the old flavor back on the instance, so its "
                 "flavor and its dest allocation disagree after a resize."),
    }


FAULTS: dict[tuple[str, str, str], Fault | NotInjectable] = {
    **_resize_faults("resize"),
    **_resize_faults("migrate"),
    ("confirm_resize", "confirm", "driver_error"): Fault(
        target=_FD + "confirm_migration", raises=_ERR,
        nova="CM.confirm_resize: _error_out_instance_on_exception; "
             "finally CM._delete_allocation_after_move; errors_out_migration",
        note="Nova: vm error, task None, host dest, migration error, migration "
             "allocation deleted. Matches."),
    ("revert_resize", "revert_resize", "driver_error"): Fault(
        target=_FD + "destroy", raises=_ERR,
        nova="CM.revert_resize (dest) -> driver.destroy; _error_out_instance_on_exception; "
             "errors_out_migration",
        note="First destroy of the chain is on the dest. Nova: vm error, task None, "
             "host dest, new flavor, migration error, allocations unchanged (instance "
             "on dest, migration on source). Matches."),
    ("revert_resize", "finish_revert_resize", "driver_error"): Fault(
        target=_FD + "finish_revert_migration", raises=_ERR,
        nova="CM._finish_revert_resize -> driver.finish_revert_migration; "
             "_error_out_instance_on_exception; errors_out_migration",
        note="Nova: vm error, task None, host source, old flavor, migration error "
             "(was reverted), allocation back on the instance at the source. Matches."),
    ("revert_resize", "finish_revert_resize", "allocation_move_failed"): Fault(
        target="nova.scheduler.client.report.SchedulerReportClient.move_allocations",
        raises="nova.exception.AllocationMoveFailed",
        kwargs={"source_consumer": "injected", "target_consumer": "injected",
                "error": "injected"},
        nova="CM._finish_revert_resize -> CM._revert_allocation: AllocationMoveFailed; "
             "_error_out_instance_on_exception; errors_out_migration",
        note="The report client raises this when Placement refuses the move; its first "
             "call in the revert chain is CM._revert_allocation. Nova: vm error, task "
             "None, host source, migration error, allocations unchanged (instance on "
             "dest, migration on source: leaked). Matches."),
    ("revert_resize", "power_off", "driver_error"): Fault(
        target=_FD + "power_off", raises=_ERR,
        nova="CM._finish_revert_resize -> CM.stop_instance (direct call) -> "
             "CM._power_off_instance; _error_out_instance_on_exception; "
             "errors_out_migration",
        note="Revert of a stopped server; power_off is first called here. DIFFERS: "
             "stop_instance is called inside _finish_revert_resize, so Nova ends vm "
             "error (not resized), task None, power shutdown, host source, migration "
             "error (not reverted); allocation already back on the instance."),
    ("rebuild", "check_image", "no_valid_host"): _SCHEDULER,
    ("rebuild", "spawned", "rollback"): Fault(
        target=_FD + "spawn", raises="nova.exception.InstanceFaultRollback",
        wraps=_ERR,
        nova="CM._rebuild_default_impl -> driver.spawn; CM.rebuild_instance: "
             "_error_out_instance_on_exception(instance_state=orig vm)",
        note="Nova: vm kept (active), task None. DIFFERS on resources: CM.rebuild_instance "
             "calls RT.delete_allocation_for_evacuated_instance(scheduled_node="
             "instance.node) on any failure, so the instance's allocation is deleted."),
    ("rebuild", "spawned", "driver_error"): Fault(
        target=_FD + "spawn", raises=_ERR,
        nova="CM._rebuild_default_impl -> driver.spawn; CM.rebuild_instance: "
             "_error_out_instance_on_exception",
        note="Nova: vm error, task None, host kept (same, new image or stopped). "
             "DIFFERS on resources: the instance's allocation is deleted "
             "(CM.rebuild_instance -> RT.delete_allocation_for_evacuated_instance)."),
    ("rebuild", "power_off", "driver_error"): Fault(
        target=_CM + "stop_instance", raises=_ERR,
        nova="CM._do_rebuild_instance -> CM.stop_instance (direct call); "
             "CM.rebuild_instance: _error_out_instance_on_exception",
        note="FakeDriver.power_off cannot be used: its first call is the power-off in "
             "CM._rebuild_default_impl, before destroy/spawn. DIFFERS: vm error (not "
             "active), task None, power running, and the allocation is deleted "
             "(RT.delete_allocation_for_evacuated_instance)."),
    ("shelve", "shelved", "driver_error"): Fault(
        target=_FD + "snapshot", raises=_ERR,
        nova="CM._shelve_instance -> driver.snapshot; reverts_task_state",
        note="The fake snapshot fails while task is still shelving (the guest is "
             "already powered off). Nova: vm active, task None, DB power running, "
             "allocation kept. Matches."),
    ("shelve", "offload", "driver_error"): Fault(
        target=_FD + "destroy", raises=_ERR,
        nova="CM._shelve_instance -> CM._shelve_offload_instance -> driver.destroy; "
             "reverts_task_state",
        note="shelved_offload_time=0 (power_off is called twice in this chain, destroy "
             "once). Nova: vm shelved, task None, power shutdown, host kept, allocation "
             "kept. Matches."),
    ("shelve_offload", "offload", "driver_error"): Fault(
        target=_FD + "destroy", raises=_ERR,
        nova="CM._shelve_offload_instance -> driver.destroy; reverts_task_state",
        note="Nova: vm shelved, task None, host kept, allocation kept. Matches."),
    ("unshelve", "unshelve", "no_valid_host"): _SCHEDULER,
    ("unshelve", "power_on", "driver_error"): Fault(
        target=_FD + "power_on", raises=_ERR,
        nova="CM.start_instance -> CM._power_on -> driver.power_on; reverts_task_state",
        note="From shelved. Nova: vm shelved, task None, power shutdown, allocation "
             "kept. Matches."),
    ("unshelve", "spawned", "driver_error"): Fault(
        target=_FD + "spawn", raises=_ERR,
        nova="CM._unshelve_instance: delete_allocation_for_instance, "
             "_nil_out_instance_obj_host_and_node; reverts_task_state",
        note="From shelved_offloaded. Nova: vm shelved_offloaded, task None, host None, "
             "allocation deleted. Matches."),
}
