"""Faults for create, the one-step instance actions, images, the delete family and sync.

Every entry was replayed on Nova 34 (functional environment, ``fake.MediumFakeDriver``,
two computes): the fault below, applied while the chain ran, gave the outcome's path.
``CM`` = ``nova.compute.manager.ComputeManager``.
"""

from __future__ import annotations

from nova_model.conformance.fault_kinds import Fault, NotInjectable

_FAKE = "nova.virt.fake.FakeDriver."
_CM = "nova.compute.manager.ComputeManager."
_NOVA_EXC = "nova.exception.NovaException"


def _driver(method: str, nova: str, note: str = "", raises: str = _NOVA_EXC,
            **extra) -> Fault:
    """The fake driver's ``method`` fails with a plain NovaException (or ``raises``)."""
    return Fault(target=_FAKE + method, raises=raises, nova=nova, note=note, **extra)


def _build_resources_fails(method: str, what: str, note: str) -> Fault:
    """``CM.<method>`` fails inside CM._build_resources, which aborts the build."""
    return Fault(target=_CM + method, raises=_NOVA_EXC, kwargs={"message": "fault injected"},
                 nova=f"CM._build_resources: {what} becomes BuildAbortException "
                      "(not rescheduled)", note=note)


_REBOOT_NOTE = ("CM._reboot_instance asks the driver for the power state after the failure: "
                "running gives guest_running (vm active, fault recorded), anything else gives "
                "driver_error (vm error). The fake driver's failed reboot leaves the guest as it "
                "was, so driver_error also shuts the guest off (guest_off) and guest_running "
                "starts it (guest_on: a guest left suspended under a reset-state would "
                "otherwise give driver_error).")

FAULTS: dict[tuple[str, str, str], Fault | NotInjectable] = {
    # --- create ------------------------------------------------------------------------
    ("create", "schedule", "no_valid_host"): NotInjectable(
        "the scheduler's own answer (NoValidHost when no host fits); "
        "COND.schedule_and_build_instances -> COND._bury_in_cell0"),
    ("create", "build", "group_policy_violation"): Fault(
        target=_CM + "_validate_instance_group_policy",
        raises="nova.exception.GroupAffinityViolation",
        kwargs={"instance_uuid": "fault-injected", "policy": "Anti-affinity"},
        nova="CM._build_and_run_instance turns GroupAffinityViolation into "
             "RescheduledByPolicyException; CM._do_build_and_run_instance reschedules",
        note="the late check runs inside RT.instance_claim; patching it stands for the race "
             "of two hard-group members; the reschedule needs an alternate host"),
    ("create", "spawned", "reschedule"): _driver(
        "spawn", "CM._build_and_run_instance turns any unlisted exception into "
                 "RescheduledException; CM._do_build_and_run_instance reschedules",
        note="times=1: the alternate's spawn succeeds; needs an alternate host "
             "(scheduler.max_attempts > 1)"),
    ("create", "networking", "build_abort"): _build_resources_fails(
        "_build_networks_for_instance", "a failure to allocate the network",
        note="CM._do_build_and_run_instance then errors the instance with no host, and "
             "CM.build_and_run_instance deletes the allocation"),
    ("create", "block_device_mapping", "build_abort"): _build_resources_fails(
        "_prep_block_device", "a failure prepping the block devices",
        note="as a failed network allocation"),
    ("create", "spawned", "build_abort"): _driver(
        "spawn", "CM._do_build_and_run_instance (BuildAbortException): "
                 "_nil_out_instance_obj_host_and_node, _set_instance_obj_error_state",
        raises="nova.exception.BuildAbortException",
        kwargs={"instance_uuid": "fault-injected", "reason": "injected"},
        note="CM.build_and_run_instance then deletes the allocation (build_results.FAILED)"),
    ("create", "reschedule", "no_valid_host"): NotInjectable(
        "the conductor's own answer when no alternate is left (MaxRetriesExceeded in "
        "COND.build_instances -> COND._cleanup_when_reschedule_fails); it follows from the "
        "number of hosts and earlier failures, e.g. spawn failing on every host"),
    # --- power -------------------------------------------------------------------------
    ("start", "power_on", "driver_error"): _driver(
        "power_on", "CM.start_instance (reverts_task_state)"),
    ("stop", "power_off", "driver_error"): _driver(
        "power_off", "CM.stop_instance (reverts_task_state)"),
    ("sync_power_state", "power_off", "driver_error"): _driver(
        "power_off", "CM.stop_instance (reverts_task_state), cast by "
                     "CM._sync_instance_power_state -> API.force_stop",
        note="the sync first writes the hypervisor's power state (shutdown) to the DB"),
    ("reboot_soft", "rebooted", "guest_running"): _driver(
        "reboot", "CM._reboot_instance: reboot failed but the instance is running",
        note=_REBOOT_NOTE, guest_on=True),
    ("reboot_soft", "rebooted", "driver_error"): _driver(
        "reboot", "CM._reboot_instance -> CM._set_instance_obj_error_state; "
                  "CM.reboot_instance (reverts_task_state)", note=_REBOOT_NOTE, guest_off=True),
    ("reboot_hard", "rebooted", "guest_running"): _driver(
        "reboot", "CM._reboot_instance: reboot failed but the instance is running",
        note=_REBOOT_NOTE, guest_on=True),
    ("reboot_hard", "rebooted", "driver_error"): _driver(
        "reboot", "CM._reboot_instance -> CM._set_instance_obj_error_state; "
                  "CM.reboot_instance (reverts_task_state)", note=_REBOOT_NOTE, guest_off=True),
    ("pause", "pause", "driver_error"): _driver(
        "pause", "CM.pause_instance (reverts_task_state)"),
    ("unpause", "unpause", "driver_error"): _driver(
        "unpause", "CM.unpause_instance (reverts_task_state)"),
    ("suspend", "suspend", "rollback"): _driver(
        "suspend", "CM.suspend_instance -> CM._error_out_instance_on_exception "
                   "(InstanceFaultRollback: vm back to the vm_state before suspend)",
        raises="nova.exception.InstanceFaultRollback", wraps=_NOVA_EXC),
    ("suspend", "suspend", "driver_error"): _driver(
        "suspend", "CM.suspend_instance -> CM._error_out_instance_on_exception; "
                   "reverts_task_state"),
    ("resume", "resume", "driver_error"): _driver(
        "resume", "CM.resume_instance -> CM._error_out_instance_on_exception; "
                  "reverts_task_state"),
    ("rescue", "rescue", "driver_error"): _driver(
        "rescue", "CM.rescue_instance -> CM._set_instance_obj_error_state, raises "
                  "InstanceNotRescuable; reverts_task_state",
        note="CM._power_off_instance ran first: the guest is off but the DB power_state is "
             "not refreshed (stays running until a power sync)"),
    ("unrescue", "unrescue", "driver_error"): _driver(
        "unrescue", "CM.unrescue_instance -> CM._error_out_instance_on_exception; "
                    "reverts_task_state"),
    ("set_admin_password", "set_admin_password", "driver_error"): _driver(
        "set_admin_password", "CM.set_admin_password raises InstancePasswordSetFailed; "
                              "reverts_task_state",
        note="the API call is synchronous (RPC call): the request itself answers 409"),
    # --- images --------------------------------------------------------------------------
    ("snapshot", "uploaded", "driver_error"): _driver(
        "snapshot", "CM._snapshot_instance (reverts_task_state, delete_image_on_error)",
        note="the fake driver has no separate upload: failing driver.snapshot fails before "
             "image_pending_upload/image_uploading; the end state is the same. In the "
             "functional env CM.snapshot_instance's LONG_TASK spawn must run synchronously"),
    ("backup", "uploaded", "driver_error"): _driver(
        "snapshot", "CM._snapshot_instance and CM.backup_instance (reverts_task_state, "
                    "delete_image_on_error)",
        note="as for snapshot"),
    # --- delete family -------------------------------------------------------------------
    # The harness's driver is libvirt's in this: no soft_delete/restore of its own
    # (NotImplementedError), so Nova powers the guest off / on instead, and that fails.
    ("soft_delete", "soft_delete", "driver_error"): _driver(
        "power_off", "CM.soft_delete_instance -> CM._power_off_instance "
                     "(reverts_task_state)"),
    ("restore", "restore", "driver_error"): _driver(
        "power_on", "CM.restore_instance -> CM._power_on (reverts_task_state)"),
    ("delete", "terminate", "driver_error"): _driver(
        "destroy", "CM.terminate_instance -> CM._set_instance_obj_error_state; "
                   "reverts_task_state",
        note="CM._shutdown_instance re-raises driver.destroy's error; allocation kept"),
    ("force_delete", "terminate", "driver_error"): _driver(
        "destroy", "CM.terminate_instance -> CM._set_instance_obj_error_state; "
                   "reverts_task_state",
        note="as for delete"),
}
