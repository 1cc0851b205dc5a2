"""The operation catalogue: every way an instance's state can change, declared once.

Read it top to bottom like a specification. Each record says which states the
API accepts (Nova's decorators on ``nova/compute/api.py: API.<method>``), what
task_state the API writes with its compare-and-swap, which asynchronous steps
follow (``nova/conductor/manager.py``, ``nova/compute/manager.py``), how each
step can end, and what it does to the Placement ledger. Citations name Nova's
functions: ``API`` = ``nova.compute.api.API``, ``CM`` =
``nova.compute.manager.ComputeManager``, ``COND`` =
``nova.conductor.manager.ComputeTaskManager``.

The model follows the libvirt driver where a result is "whatever the driver
reports" (for example, a suspended guest is shut off by managedSave, so its
power_state is ``shutdown``).
"""

from __future__ import annotations

import dataclasses

from types import MappingProxyType

from model.operation import (
    Alloc, Branch, Check, Entered, Entry, Guard, HostChange, HostEffect, IgnoreHosts, KEEP,
    Kind, Migration, Operation, Outcome, OutcomeKind, PeriodicTask, Preempted, RecordLookup,
    Rule, SchedulerUse, SpecFlavor, Step, Track, When, Where,
)
from model.states import (
    ALLOW_HARD_REBOOT, ALLOW_REBOOT, ALLOW_SOFT_REBOOT, ALLOW_TRIGGER_CRASH_DUMP,
    HARD_REBOOT_STATES, NO_TASK, SOFT_REBOOT_STATES, MigrationStatus as MS,
    MigrationType, PowerState as P, Task, TaskState as T, VmState as V,
)

OK, ENV, FAULT = OutcomeKind.OK, OutcomeKind.ENV, OutcomeKind.FAULT
ANY = None  # a guard or CAS that accepts any value


def _states(*values) -> frozenset:
    return frozenset(values)


# --- outcome building blocks --------------------------------------------------------

def ok(*branches: Branch, nova: str = "") -> Outcome:
    return Outcome("ok", OK, branches, nova)


def done(**kw) -> Outcome:
    """A single unconditional success branch."""
    nova = kw.pop("nova", "")
    return ok(Branch(**kw), nova=nova)


#: ``reverts_task_state`` alone: the task is cleared and the vm_state kept.
REVERT_TASK = Outcome("driver_error", FAULT, (Branch(task=None, tracker=(Track.UPDATE_USAGE,)),),
                      "reverts_task_state -> CM._instance_update")
#: ``_error_out_instance_on_exception``: any unexpected error puts the instance in error.
#: Every compute method it guards here is also ``reverts_task_state``, whose
#: ``CM._instance_update`` updates the host's resource tracker (``_update_resource_tracker``).
ERROR_OUT = Outcome("driver_error", FAULT,
                    (Branch(vm=V.ERROR, task=None, tracker=(Track.UPDATE_USAGE,)),),
                    "_error_out_instance_on_exception; reverts_task_state -> "
                    "CM._instance_update")
#: ``reverts_task_state`` after the driver found no guest (the guest a failed rebuild or
#: move destroyed): its call raises InstanceNotFound or InstanceNotRunning before the
#: step saves anything. A power-off is not such a call: ``LibvirtDriver.power_off``
#: passes with no domain (``_clean_shutdown`` and ``_destroy`` take InstanceNotFound as
#: done), and a power-on makes the guest (START).
NO_GUEST_REVERTS = Branch(when=(When.NO_GUEST,), task=None, tracker=(Track.UPDATE_USAGE,),
                          note="the driver has no guest: InstanceNotFound; "
                               "reverts_task_state -> CM._instance_update")


def _no_guest_powered_off(**effects) -> Branch:
    """A power-off with no guest (``CM._power_off_instance``): ``LibvirtDriver.power_off``
    finds no domain and takes it as off, so the step goes on and saves the power state
    ``CM._get_power_state`` reads, NOSTATE; the hypervisor still has no guest."""
    return Branch(when=(When.NO_GUEST,), power=P.PENDING,
                  note="LibvirtDriver.power_off: no domain is taken as off; "
                       "CM._get_power_state reads NOSTATE", **effects)

#: ``_error_out_instance_on_exception`` with InstanceFaultRollback/NotImplementedError.
ROLLBACK = Outcome("rollback", FAULT, (Branch(task=None, tracker=(Track.UPDATE_USAGE,)),),
                   "_error_out_instance_on_exception (InstanceFaultRollback) "
                   "-> CM._instance_update")


# --- how a step is entered ----------------------------------------------------------

def rpc(handler: str, *inline_after: tuple[str, str]) -> Entry:
    """Entered by an RPC cast or call to ``handler`` (from the API, the conductor or
    another compute): the message waits while its service is down."""
    return Entry(Entered.RPC, handler, inline_after)


def within(handler: str) -> Entry:
    """Entered by ``handler`` going on from the step before, in the same compute
    process: it dies with the process (``service_down``, ``restart``)."""
    return Entry(Entered.HANDLER, handler)


def api_step(task: Task | Rule, *, expects=NO_TASK, nova: str, **branch) -> Step:
    """The API's own write: one compare-and-swap of task_state, then the first step."""
    return Step("api", Where.API, expects, (done(task=task, **branch),), nova,
                entry=Entry(Entered.START, nova))


def api_branches(*branches: Branch, expects=NO_TASK, nova: str) -> Step:
    return Step("api", Where.API, expects, (ok(*branches),), nova,
                entry=Entry(Entered.START, nova))


def task_step(name: str, where: Where, expects: Task | frozenset, sets: Task,
              then: str | None, nova: str, *, entry: Entry) -> Step:
    """A compute-side step that only advances task_state."""
    expected = expects if isinstance(expects, frozenset) else _states(expects)
    return Step(name, where, expected, (done(task=sets, then=then),), nova, entry=entry)


def guard(vm_states, task_states=NO_TASK, *, lock=True, host=False, is_up=False,
          launched=True, checks=None) -> Guard:
    if checks is None:
        checks = (Check.LOCK, Check.HOST, Check.STATE) if host else (Check.LOCK, Check.STATE)
        if not lock:
            checks = tuple(c for c in checks if c is not Check.LOCK)
    return Guard(vm_states=None if vm_states is ANY else frozenset(vm_states),
                 task_states=None if task_states is ANY else frozenset(task_states),
                 must_have_launched=launched, check_instance_lock=lock,
                 check_instance_host=host, check_is_up=is_up, checks=checks)


# --- create (boot) --------------------------------------------------------------------

#: a failure inside RT.instance_claim's context: the claim is aborted, and
#: CM.build_and_run_instance counts a failed build (CM._build_failed)
_BUILD_FAILED = (Track.ABORT_INSTANCE_CLAIM, Track.BUILD_FAILED)

#: CM._do_build_and_run_instance's BuildAbortException: no reschedule, the instance in
#: error with no host, and CM.build_and_run_instance deletes the allocation
_BUILD_ABORT = Outcome("build_abort", FAULT, (Branch(
    vm=V.ERROR, task=None, host=HostEffect.CLEAR, alloc=(Alloc.DELETE_INSTANCE,),
    tracker=_BUILD_FAILED),),
    "CM._do_build_and_run_instance (BuildAbortException)")

_BUILD_STEPS = (
    Step("schedule", Where.CONDUCTOR, _states(T.SCHEDULING), (
        done(task=T.SCHEDULING, alloc=(Alloc.CLAIM_DEST,),
             then="build", nova="COND.schedule_and_build_instances"),
        Outcome("no_valid_host", ENV, (Branch(vm=V.ERROR, task=None),),
                "COND._bury_in_cell0"),
    ), "COND.schedule_and_build_instances", schedules=True,
        entry=rpc("COND.schedule_and_build_instances (cast by "
                  "ComputeTaskAPI.schedule_and_build_instances)"),
        schedules_batch="multi-create (min_count / max_count): one select_destinations for "
                        "all the instances, placed one after another, each chosen host "
                        "consumed and added to the group's hosts before the next "
                        "(SchedulerManager._consume_selected_host); a claim per instance; "
                        "fewer hosts than instances: NoValidHost for all and the claims "
                        "removed (_ensure_sufficient_hosts); then each instance builds "
                        "on its own host"),
    # The compute puts the instance on its host (RT.instance_claim), after the late
    # group check; until then the claimed host is only the scheduler's choice.
    Step("build", Where.DEST, _states(T.SCHEDULING, None), (
        done(task=None, host=HostEffect.SET_DEST, tracker=(Track.INSTANCE_CLAIM,),
             then="networking"),
        # The alternates were chosen when the first host was; by the time one is used
        # another member of a hard group may have landed there. A reschedule by policy
        # is not a failed build: CM._do_build_and_run_instance answers
        # RESCHEDULED_BY_POLICY and CM.build_and_run_instance calls neither
        # CM._build_failed nor CM._build_succeeded for it.
        Outcome("group_policy_violation", ENV, (Branch(
            task=T.SCHEDULING, host=HostEffect.CLEAR, alloc=(Alloc.DELETE_INSTANCE,),
            tracker=(Track.INSTANCE_CLAIM, Track.ABORT_INSTANCE_CLAIM), then="reschedule"),),
            "CM._validate_instance_group_policy (inside RT.instance_claim) raises "
            "GroupAffinityViolation -> RescheduledByPolicyException"),
    ), "CM._do_build_and_run_instance", late_group_check="group_policy_violation",
        entry=rpc("CM.build_and_run_instance (cast by the conductor)")),
    # CM._build_resources turns a failure to allocate the network or to prepare the
    # block devices into BuildAbortException: no reschedule.
    Step("networking", Where.HOST, _states(None), (
        done(task=T.NETWORKING, then="block_device_mapping"),
        _BUILD_ABORT,
    ), "CM._build_resources -> CM._build_networks_for_instance",
        entry=within("CM._do_build_and_run_instance")),
    Step("block_device_mapping", Where.HOST, _states(T.NETWORKING), (
        done(task=T.BLOCK_DEVICE_MAPPING, then="spawning"),
        _BUILD_ABORT,
    ), "CM._build_resources -> CM._prep_block_device",
        entry=within("CM._do_build_and_run_instance")),
    task_step("spawning", Where.HOST, T.BLOCK_DEVICE_MAPPING, T.SPAWNING, "spawned",
              "CM._build_and_run_instance", entry=within("CM._do_build_and_run_instance")),
    Step("spawned", Where.HOST, _states(T.SPAWNING), (
        done(vm=V.ACTIVE, task=None, power=P.RUNNING, launched=True,
             tracker=(Track.BUILD_SUCCEEDED,), nova="CM._update_instance_after_spawn"),
        Outcome("reschedule", FAULT, (Branch(task=T.SCHEDULING, host=HostEffect.CLEAR,
                                             alloc=(Alloc.DELETE_INSTANCE,),
                                             tracker=_BUILD_FAILED, then="reschedule"),),
                "CM._do_build_and_run_instance (RescheduledException)"),
        _BUILD_ABORT,
    ), "driver.spawn", entry=within("CM._do_build_and_run_instance")),
    Step("reschedule", Where.CONDUCTOR, _states(T.SCHEDULING), (
        done(task=T.SCHEDULING, alloc=(Alloc.CLAIM_DEST,),
             then="build", nova="COND.build_instances claims an alternate"),
        Outcome("no_valid_host", ENV, (Branch(vm=V.ERROR, task=None),),
                "COND._cleanup_when_reschedule_fails (MaxRetriesExceeded)"),
    ), "COND.build_instances", schedules=True, claims_alternate=True,
        entry=rpc("COND.build_instances (cast by CM._reschedule_or_error's "
                  "ComputeTaskAPI.build_instances)")),
)

CREATE = Operation(
    name="create", kind=Kind.API, api_method="API.create",
    summary="Boot a new instance: schedule, claim, build and spawn it.",
    guard=None, creates_instance=True,
    # ServersController.create: flavorRef, imageRef, availability_zone, min_count and
    # max_count (a multi-create: Cluster._create, create_counts), os:scheduler_hints
    # (group and the filters' hints)
    request_args=frozenset({"flavor", "image", "group", "availability_zone", "hints",
                            "min_count", "max_count"}),
    api=api_step(T.SCHEDULING, expects=ANY, vm=V.BUILDING, power=P.PENDING,
                 then="schedule", nova="API._provision_instances"),
    steps=_BUILD_STEPS, scheduler=SchedulerUse.ALWAYS,
    resources="the scheduler claims the flavor for the instance on the chosen host; "
              "a reschedule deletes it and claims an alternate; a failed build deletes it",
    notes=("A reschedule goes to the next alternate (max_attempts); with none left the "
           "instance ends in error with no host.",),
)

# --- power -------------------------------------------------------------------------

START = Operation(
    name="start", kind=Kind.API, api_method="API.start",
    summary="Power on a stopped instance.",
    guard=guard([V.STOPPED], host=True),
    api=api_step(T.POWERING_ON, then="power_on", nova="API.start"),
    # With no guest the power-on makes one: LibvirtDriver.power_on is
    # LibvirtDriver._hard_reboot, which defines the domain again from the instance's
    # own data (a hard reboot is how a guest the hypervisor lost is recreated).
    steps=(Step("power_on", Where.HOST, _states(T.POWERING_ON), (
        done(vm=V.ACTIVE, task=None, power=P.RUNNING), REVERT_TASK,
    ), "CM.start_instance -> CM._power_on", entry=rpc("CM.start_instance"),
        guest_before_check=P.RUNNING),),
)

STOP = Operation(
    name="stop", kind=Kind.API, api_method="API.stop",
    summary="Power off an active (or errored) instance.",
    guard=guard([V.ACTIVE, V.ERROR], host=True),
    api=api_step(T.POWERING_OFF, then="power_off", nova="API.force_stop"),
    # CM.stop_instance powers the guest off (CM._power_off_instance) before its
    # save(expected_task_state=POWERING_OFF), and admits None as well when the guest
    # it read first was already down (NOSTATE, SHUTDOWN, CRASHED): a reset-state while
    # the cast waited fails the save over a guest it shut off, unless that guest was off
    # already, when the instance is stopped all the same. With no guest the power-off
    # passes (LibvirtDriver.power_off) and the record takes NOSTATE (CM._get_power_state).
    steps=(Step("power_off", Where.HOST, _states(T.POWERING_OFF), (
        ok(_no_guest_powered_off(vm=V.STOPPED, task=None),
           Branch(vm=V.STOPPED, task=None, power=P.SHUTDOWN)), REVERT_TASK,
    ), "CM.stop_instance -> CM._power_off_instance", entry=rpc("CM.stop_instance"),
        guest_before_check=P.SHUTDOWN, expects_if_guest_down=NO_TASK),),
    notes=("An instance in error that is stopped ends stopped.",),
)


def _reboot(name: str, vm_states, task_states, api_task: T, pending: T, started: T,
            expects_pending: frozenset, summary: str) -> Operation:
    return Operation(
        name=name, kind=Kind.API,
        api_method=f"API.reboot (reboot_type={'SOFT' if api_task is T.REBOOTING else 'HARD'}) "
                   f"-> API.{'_soft_reboot' if api_task is T.REBOOTING else '_hard_reboot'}",
        summary=summary,
        guard=guard(vm_states, task_states),
        api=api_step(api_task, expects=task_states, then=pending.value, nova="API.reboot"),
        steps=(
            # CM.reboot_instance checks against the whole soft or hard group, and saves
            # the guest's power state with it (CM._get_power_state).
            Step(pending.value, Where.HOST, expects_pending, (
                done(task=pending, power=Rule.GUEST, then=started.value,
                     nova="CM._reboot_instance: instance.power_state = "
                          "CM._get_power_state"),), "CM.reboot_instance",
                entry=rpc("CM.reboot_instance")),
            task_step(started.value, Where.HOST, pending, started, "rebooted",
                      "CM._reboot_instance", entry=within("CM.reboot_instance")),
            Step("rebooted", Where.HOST, _states(started), (
                # With no guest a soft reboot fails (LibvirtDriver._soft_reboot:
                # Host.get_guest raises InstanceNotFound; the fake driver's power_on
                # too) and the guest is not running: CM._reboot_instance errors the
                # instance, its power state NOSTATE as saved; a hard reboot creates the
                # guest again (LibvirtDriver._hard_reboot, FakeDriver.reboot spawns it).
                ok(*((Branch(when=(When.NO_GUEST,), vm=V.ERROR, task=None,
                             tracker=(Track.UPDATE_USAGE,),
                             note="the guest is not running after the failure: "
                                  "CM._set_instance_obj_error_state; reverts_task_state "
                                  "-> CM._instance_update"),)
                     if api_task is T.REBOOTING else ()),
                   Branch(vm=V.ACTIVE, task=None, power=P.RUNNING)),
                # (with no guest, the failed driver.reboot leaves none running: the
                # instance errors as for driver_error; walk 127)
                Outcome("guest_running", FAULT, (
                    Branch(when=(When.HAS_GUEST,), vm=V.ACTIVE, task=None,
                           power=P.RUNNING),
                    Branch(vm=V.ERROR, task=None, guest=Rule.SHUT_OFF,
                           tracker=(Track.UPDATE_USAGE,),
                           note="no guest: none runs after the failure: "
                                "CM._set_instance_obj_error_state; reverts_task_state")),
                        "CM.reboot_instance: driver failed but the guest runs"),
                # CM._reboot_instance re-raises before it saves the power state: the
                # record keeps what it had, the guest is not running (shut off); the
                # re-raise goes through reverts_task_state, whose CM._instance_update
                # updates the tracker (the instance no longer counts as a build's I/O:
                # Nova 34, seen by conformance, walk 93)
                # (with no guest, the failed driver.reboot has made none: walk 100)
                Outcome("driver_error", FAULT, (Branch(vm=V.ERROR, task=None,
                                                       guest=Rule.SHUT_OFF,
                                                       tracker=(Track.UPDATE_USAGE,)),),
                        "CM._reboot_instance: the guest not running after the failure "
                        "-> CM._set_instance_obj_error_state; reverts_task_state -> "
                        "CM._instance_update"),
            ), "driver.reboot", entry=within("CM.reboot_instance")),
        ),
    )


REBOOT_SOFT = _reboot("reboot_soft", ALLOW_SOFT_REBOOT, NO_TASK, T.REBOOTING,
                      T.REBOOT_PENDING, T.REBOOT_STARTED, SOFT_REBOOT_STATES,
                      "Ask the guest OS to restart.")
REBOOT_HARD = _reboot("reboot_hard", ALLOW_HARD_REBOOT, ALLOW_REBOOT, T.REBOOTING_HARD,
                      T.REBOOT_PENDING_HARD, T.REBOOT_STARTED_HARD, HARD_REBOOT_STATES,
                      "Power-cycle the guest; may preempt a soft reboot, pause, "
                      "unpause, suspend or resume still in flight.")


def _simple(name: str, method: str, vm_states, api_task: T, result: V | Rule,
            power: P, compute: str, summary: str,
            faults: tuple[Outcome, ...] = (REVERT_TASK,),
            remembers: bool = False, launched: bool = False,
            first: tuple[Branch, ...] = (), **extra) -> Operation:
    """An operation with one compute step that ends it (``first``: branches of its
    ``ok`` tried before the success)."""
    return Operation(
        name=name, kind=Kind.API, api_method=method, summary=summary,
        guard=guard(vm_states), remembers_vm_state=remembers,
        api=api_step(api_task, then=name, nova=method),
        steps=(Step(name, Where.HOST, _states(api_task), (
            ok(*first, Branch(vm=result, task=None, power=power, launched=launched)),
        ) + faults, compute, entry=rpc(compute)),),
        **extra,
    )


# With no guest the libvirt driver's pause and suspend fail in Host.get_guest
# (InstanceNotFound): CM.pause_instance has only reverts_task_state around it, and
# CM.suspend_instance's driver call is inside _error_out_instance_on_exception.
PAUSE = _simple("pause", "API.pause", [V.ACTIVE], T.PAUSING, V.PAUSED, P.PAUSED,
                "CM.pause_instance", "Freeze the guest in memory.",
                first=(dataclasses.replace(
                    NO_GUEST_REVERTS, note="LibvirtDriver.pause: Host.get_guest raises "
                                           "InstanceNotFound; reverts_task_state -> "
                                           "CM._instance_update"),))
UNPAUSE = _simple("unpause", "API.unpause", [V.PAUSED], T.UNPAUSING, V.ACTIVE, P.RUNNING,
                  "CM.unpause_instance", "Thaw a paused guest.")
SUSPEND = _simple("suspend", "API.suspend", [V.ACTIVE], T.SUSPENDING, V.SUSPENDED,
                  P.SHUTDOWN, "CM.suspend_instance",
                  "Save the guest's memory to disk and stop it (libvirt managedSave).",
                  faults=(ROLLBACK, ERROR_OUT), remembers=True,
                  first=(Branch(when=(When.NO_GUEST,), vm=V.ERROR, task=None,
                                tracker=(Track.UPDATE_USAGE,),
                                note="LibvirtDriver.suspend: Host.get_guest raises "
                                     "InstanceNotFound: _error_out_instance_on_exception; "
                                     "reverts_task_state -> CM._instance_update"),))
RESUME = _simple("resume", "API.resume", [V.SUSPENDED], T.RESUMING, Rule.SAVED_VM_STATE,
                 P.RUNNING, "CM.resume_instance",
                 "Restore a suspended guest to the vm_state it had before suspend.",
                 faults=(ERROR_OUT,))
# CM.rescue_instance powers the guest off (CM._power_off_instance) inside the try whose
# except errors the instance out: a driver that then fails leaves the guest off and the
# record as it was. With no guest the power-off passes (LibvirtDriver.power_off) and so
# does the rescue: LibvirtDriver.rescue builds the domain's XML afresh when there is
# none (_get_existing_domain_xml, _get_existing_guest_config) and creates the rescue
# domain, running.
RESCUE = _simple("rescue", "API.rescue", [V.ACTIVE, V.STOPPED, V.ERROR], T.RESCUING,
                 V.RESCUED, P.RUNNING, "CM.rescue_instance",
                 "Boot the instance from a rescue image.",
                 faults=(dataclasses.replace(ERROR_OUT, branches=(
                     Branch(when=(When.HAS_GUEST,), vm=V.ERROR, task=None, guest=P.SHUTDOWN,
                            tracker=(Track.UPDATE_USAGE,)),
                     Branch(vm=V.ERROR, task=None, tracker=(Track.UPDATE_USAGE,))),
                     nova="CM.rescue_instance: CM._power_off_instance, then the driver "
                          "fails -> _set_instance_obj_error_state"),),
                 launched=True)
UNRESCUE = _simple("unrescue", "API.unrescue", [V.RESCUED], T.UNRESCUING, V.ACTIVE,
                   P.RUNNING, "CM.unrescue_instance",
                   "Leave rescue mode; always ends active, whatever the state before rescue.",
                   faults=(ERROR_OUT,))
SET_ADMIN_PASSWORD = _simple(
    "set_admin_password", "API.set_admin_password", [V.ACTIVE], T.UPDATING_PASSWORD, KEEP,
    KEEP, "CM.set_admin_password", "Set the guest's admin password through the driver.",
    # CM.set_admin_password reads the guest's power state first: anything but running
    # clears the task (expected_task_state updating_password) and raises
    # InstancePasswordSetFailed before the driver is called
    first=(Branch(when=(When.GUEST_NOT_RUNNING,), task=None,
                  answers="InstancePasswordSetFailed: the guest is not running (409)",
                  note="CM.set_admin_password: CM._get_power_state is not RUNNING: the "
                       "task is cleared and InstancePasswordSetFailed raised"),),
    # compute_rpcapi.set_admin_password is a call: API.set_admin_password returns the
    # compute's InstancePasswordSetFailed as the request's 409 (Nova 34, conformance)
    api_waits=True,
    notes=("Fails (task cleared) when the guest is not running: InstancePasswordSetFailed.",
           "The API waits for the compute: a failure is the request's error response."))

# --- images ------------------------------------------------------------------------

_IMAGE_VM_STATES = [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED]
_UPLOAD = (
    task_step("image_pending_upload", Where.HOST, None, T.IMAGE_PENDING_UPLOAD,
              "image_uploading", "driver.snapshot update_task_state",
              entry=within("CM._snapshot_instance")),
    task_step("image_uploading", Where.HOST, T.IMAGE_PENDING_UPLOAD, T.IMAGE_UPLOADING,
              "uploaded", "driver.snapshot update_task_state",
              entry=within("CM._snapshot_instance")),
    Step("uploaded", Where.HOST, _states(T.IMAGE_UPLOADING),
         (done(task=None), REVERT_TASK), "CM._snapshot_instance",
         entry=within("CM._snapshot_instance")),
)


def _snapshot_step(name: str, expects: T, sets: T, nova: str, *, entry: Entry) -> Step:
    """CM._snapshot_instance's start: the record reads the guest's power state; with no
    guest driver.snapshot raises InstanceNotRunning, which CM._snapshot_instance takes
    for an instance that disappeared: it returns, the task left set (Nova 34, seen by
    conformance)."""
    return Step(name, Where.HOST, _states(expects), (ok(
        Branch(task=sets, power=Rule.GUEST, when=(When.HAS_GUEST,),
               then="image_pending_upload"),
        Branch(task=sets, power=Rule.GUEST, when=(When.NO_GUEST,),
               note="InstanceNotRunning: 'Instance disappeared during snapshot'; "
                    "the task is not cleared"),
        nova="CM._snapshot_instance: instance.power_state = CM._get_power_state"),), nova,
        entry=entry)


def _image_op(name: str, method: str, api_task: T, first: Step, summary: str) -> Operation:
    # The first upload step expects whatever task the operation's first step wrote.
    upload = (Step(_UPLOAD[0].name, Where.HOST, _states(first.outcomes[0].branches[0].task),
                   _UPLOAD[0].outcomes, _UPLOAD[0].nova, entry=_UPLOAD[0].entry),) + _UPLOAD[1:]
    return Operation(
        name=name, kind=Kind.API, api_method=method, summary=summary,
        guard=guard(_IMAGE_VM_STATES, lock=False),
        api=api_step(api_task, then=first.name, nova=method),
        steps=(first,) + upload,
        notes=("Not lock-checked: Nova deliberately lets a locked server be snapshotted.",),
    )


SNAPSHOT = _image_op(
    "snapshot", "API.snapshot", T.IMAGE_SNAPSHOT_PENDING,
    _snapshot_step("image_snapshot", T.IMAGE_SNAPSHOT_PENDING, T.IMAGE_SNAPSHOT,
                   "CM.snapshot_instance",
                   entry=rpc("CM.snapshot_instance")),
    "Create an image of the instance's disk.")
BACKUP = _image_op(
    "backup", "API.backup", T.IMAGE_BACKUP,
    _snapshot_step("image_backup", T.IMAGE_BACKUP, T.IMAGE_BACKUP, "CM.backup_instance",
                   entry=rpc("CM.backup_instance")),
    "Create a rotated backup image of the instance's disk.")

# --- rebuild, and the power-off tail shared with revert/evacuate ---------------------

_POWER_OFF_TAIL = Step("power_off", Where.HOST, _states(T.POWERING_OFF), (
    done(vm=V.STOPPED, task=None, power=P.SHUTDOWN), REVERT_TASK,
), "CM.stop_instance", entry=rpc("CM.stop_instance (cast by API.force_stop)"),
    guest_before_check=P.SHUTDOWN, expects_if_guest_down=NO_TASK)  # as STOP's


#: COND.rebuild_instance looks the move's record up whatever the request, a plain
#: rebuild as well as an evacuation (it is not passed the API's record), and passes what
#: it finds to CM.rebuild_instance, whose ends write to it (_set_migration_status,
#: RT.finish_evacuation); finding none, it goes on with none
_ACCEPTED_RECORD = RecordLookup(
    "COND.rebuild_instance: Migration.get_by_instance_and_status(instance, 'accepted')",
    status=MS.ACCEPTED)

#: CM.rebuild_instance's except handlers mark the record it was passed failed
#: (_set_migration_status(migration, 'failed')); RT.finish_evacuation marks it done
_REBUILD_RECORD_FAILED = Migration(MS.FAILED)
_REBUILD_RECORD_DONE = Migration(MS.DONE)
#: CM.rebuild_instance ends a rebuild that succeeded, plain or evacuation, with
#: RT.finish_evacuation, which drops the instance's migration context (a failed cold
#: move's left behind included: the next resource audit then errors no other record)
_FINISH_EVACUATION = (Track.FINISH_EVACUATION,)


def _rebuild_failed(outcome: Outcome, **guest) -> Outcome:
    """A failure inside CM.rebuild_instance: its ``except Exception`` sets scheduled_node
    to the instance's own node for a plain rebuild and so removes that node from the
    instance's allocation (RT.delete_allocation_for_evacuated_instance) before
    _error_out_instance_on_exception decides the vm_state, and marks the record the
    conductor passed it, if any, failed. Nova 34, seen by conformance.
    ``guest``: what the failure leaves on the hypervisor, if not what the record says."""
    return dataclasses.replace(outcome, branches=tuple(
        dataclasses.replace(b, alloc=(*b.alloc, Alloc.REMOVE_HOST_FROM_INSTANCE),
                            migration=_REBUILD_RECORD_FAILED, **guest)
        for b in outcome.branches),
        nova=f"{outcome.nova}; CM.rebuild_instance -> _set_migration_status('failed'), "
             "RT.delete_allocation_for_evacuated_instance(instance.node)")


REBUILD = Operation(
    name="rebuild", kind=Kind.API, api_method="API.rebuild",
    summary="Re-create the instance's disk from an image, on the same host.",
    guard=guard([V.ACTIVE, V.STOPPED, V.ERROR]), remembers_vm_state=True,
    # ServersController._action_rebuild: imageRef
    request_args=frozenset({"image"}), replaces_image=True,
    api=api_step(T.REBUILDING, then="check_image", nova="API.rebuild"),
    steps=(
        # API.rebuild passes instance.host to the conductor; an instance with no host
        # (shelved_offloaded, then reset to error) is scheduled as a plain request:
        # the scheduler claims a host, then fails on the request spec's
        # requested_resources, which only the move paths fill (Nova 34, seen by
        # conformance, walk 134).
        Step("check_image", Where.CONDUCTOR, _states(T.REBUILDING), (
            ok(Branch(when=(When.NO_HOST,), vm=KEEP, task=KEEP, alloc=(Alloc.CLAIM_DEST,),
                      note="COND.rebuild_instance schedules (host=None): the claim is "
                           "made and select_destinations raises; the instance stays in "
                           "rebuilding with no host"),
               Branch(task=T.REBUILDING, then="rebuilding"),
               nova="COND.rebuild_instance"),
            Outcome("no_valid_host", ENV, (Branch(vm=V.ERROR, task=None,
                                                  migration=Migration(MS.ERROR)),),
                    "COND.rebuild_instance: the scheduler check of a new image failed "
                    "(the record it found, if any, goes to error)"),
        ), "COND.rebuild_instance", schedules=True,
            claim_then_fails=(
                "SchedulerManager._schedule: utils.claim_resources, then "
                "'for request_group in spec_obj.requested_resources' raises TypeError "
                "(None: COND.rebuild_instance fills it only for an evacuation) before "
                "_consume_selected_host; COND.rebuild_instance handles no TypeError"),
            entry=rpc("COND.rebuild_instance (cast by ComputeTaskAPI.rebuild_instance)"),
            # (an evacuation's record left accepted, a second evacuation's whose
            # conductor took the first one's, is found by a later plain rebuild, whose
            # end marks it done or failed: Nova 34, seen by conformance,
            # scenarios/rebuild_finds_an_evacuations_accepted_record.json)
            record=_ACCEPTED_RECORD),
        # CM._do_rebuild_instance saves the guest's power state; CM._rebuild_default_impl
        # then powers the guest off and destroys it, and with no guest both pass
        # (LibvirtDriver.power_off and .destroy take a missing domain as gone), so the
        # spawn makes the guest again. (The fake driver's power_off raises
        # InstanceNotFound instead, which CM.rebuild_instance takes for an instance
        # deleted while rebuilding; the harness's driver follows libvirt.)
        Step("rebuilding", Where.HOST, _states(T.REBUILDING), (ok(
            Branch(task=T.REBUILDING, power=Rule.GUEST, then="rebuild_block_device_mapping"),
            nova="CM._do_rebuild_instance: instance.power_state = CM._get_power_state"),),
            "CM._do_rebuild_instance", entry=rpc("CM.rebuild_instance (cast by the conductor)"),
            preempted=Preempted(
                T.REBUILDING,
                "CM._do_rebuild_instance: instance.save(expected_task_state=[REBUILDING]) "
                "inside CM.rebuild_instance's _error_out_instance_on_exception, after it "
                "read the guest's power state; its except Exception removes "
                "scheduled_node = instance.node from the instance's allocation "
                "(RT.delete_allocation_for_evacuated_instance)",
                power=Rule.GUEST, cleanup=Branch(alloc=(Alloc.REMOVE_HOST_FROM_INSTANCE,),
                                                 migration=_REBUILD_RECORD_FAILED))),
        task_step("rebuild_block_device_mapping", Where.HOST, T.REBUILDING,
                  T.REBUILD_BLOCK_DEVICE_MAPPING, "rebuild_spawning",
                  "CM._rebuild_default_impl", entry=within("CM.rebuild_instance")),
        task_step("rebuild_spawning", Where.HOST, T.REBUILD_BLOCK_DEVICE_MAPPING,
                  T.REBUILD_SPAWNING, "spawned", "CM._rebuild_default_impl",
                  entry=within("CM.rebuild_instance")),
        Step("spawned", Where.HOST, _states(T.REBUILD_SPAWNING), (
            ok(Branch(when=(When.WAS_STOPPED,), vm=V.ACTIVE, task=T.POWERING_OFF,
                      power=P.RUNNING, then="power_off", launched=True),
               Branch(vm=V.ACTIVE, task=None, power=P.RUNNING, launched=True,
                      migration=_REBUILD_RECORD_DONE, tracker=_FINISH_EVACUATION),
               nova="CM._update_instance_after_spawn; RT.finish_evacuation"),
            # CM._rebuild_default_impl destroyed the guest before driver.spawn failed
            _rebuild_failed(ROLLBACK, guest=P.PENDING),
            _rebuild_failed(ERROR_OUT, guest=P.PENDING),
        ), "driver.spawn", entry=within("CM.rebuild_instance")),
        # CM._do_rebuild_instance powers a stopped instance off inline (CM.stop_instance):
        # its failure reaches CM.rebuild_instance's handlers like a failed spawn.
        Step("power_off", Where.HOST, _states(T.POWERING_OFF), (
            dataclasses.replace(_POWER_OFF_TAIL.outcomes[0], branches=tuple(
                dataclasses.replace(b, migration=_REBUILD_RECORD_DONE,
                                    tracker=_FINISH_EVACUATION)
                for b in _POWER_OFF_TAIL.outcomes[0].branches),
                nova="CM.stop_instance; RT.finish_evacuation"),
            _rebuild_failed(ERROR_OUT),
        ), "CM.stop_instance, called by CM._do_rebuild_instance",
            entry=within("CM.rebuild_instance")),
    ),
    scheduler=SchedulerUse.CHECK_IF_NEW_IMAGE,
    resources="unchanged: a rebuild claims nothing (SU.claim_resources skips rebuilds)",
    notes=("A rebuild of a stopped instance ends stopped, through powering-off.",
           "A rebuild from error ends active."),
)

# --- resize and cold migrate (one code path: API.resize) -----------------------------



#: CM.resize_instance: any failure on the source gives the allocation back.
#: CM.resize_instance's reverts_task_state clears the task through
#: CM._instance_update, whose RT.update_usage shows the source's stats the instance in
#: error with no task (the stats last saw it building, an I/O task for the
#: IoOpsWeigher) (Nova 34, seen by conformance).
_RESIZE_SOURCE_FAILED = Outcome("driver_error", FAULT, (Branch(
    vm=V.ERROR, task=None, alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
    migration=Migration(MS.ERROR), tracker=(Track.UPDATE_USAGE,)),),
    "CM.resize_instance failed: CM._revert_allocation; reverts_task_state -> "
    "CM._instance_update -> RT.update_usage")
#: CM.finish_resize: a failure on the destination keeps it and frees the source.
#: The instance is already on the destination, whose hypervisor has no guest for it yet
#: (driver.finish_migration makes it).
_RESIZE_DEST_FAILED = Outcome("driver_error", FAULT, (Branch(
    vm=V.ERROR, task=None, alloc=(Alloc.DELETE_MIGRATION,),
    migration=Migration(MS.ERROR), guest=P.PENDING),),
    "CM.finish_resize failed: CM._delete_allocation_after_move keeps the dest")
#: driver.finish_migration failing: CM._finish_resize's except puts the old flavor back
#: on the instance (it keeps the destination's new-flavor allocation) (Nova 34,
#: seen by conformance).
_RESIZE_FINISH_MIGRATION_FAILED = Outcome("driver_error", FAULT, (dataclasses.replace(
    _RESIZE_DEST_FAILED.branches[0], old_flavor=True),),
    "CM._finish_resize: except -> _set_instance_info(old_flavor); "
    "CM._delete_allocation_after_move keeps the dest")


#: CM._resize_instance's compare-and-swaps (resize_migrating, then resize_migrated) run
#: inside its _error_out_instance_on_exception and CM.resize_instance's
#: errors_out_migration, whose except also gives the source back (CM._revert_allocation)
_RESIZE_PREEMPTED_AT_SOURCE = (
    "CM._resize_instance: instance.save(expected_task_state=...) inside "
    "_error_out_instance_on_exception; CM.resize_instance: errors_out_migration, "
    "CM._revert_allocation")


def _move_reschedule(name: str, exhausted_vm, exhausted_nova: str) -> Step:
    """The conductor's reschedule of a cold move onto the next alternate."""
    return Step(name, Where.CONDUCTOR, _states(T.RESIZE_PREP), (
        done(task=T.RESIZE_PREP, alloc=(Alloc.MOVE_SOURCE_TO_MIGRATION, Alloc.CLAIM_DEST),
             then="prep_resize",
             nova="tasks/migrate.py: MigrationTask._preallocate_migration (the same "
                  "pre-migrating record), MigrationTask._reschedule"),
        Outcome("no_valid_host", ENV, (Branch(
            vm=exhausted_vm, task=None, migration=Migration(MS.ERROR)),),
            "MigrationTask._reschedule: MaxRetriesExceeded; MigrationTask.rollback; "
            "CM._reschedule_resize_or_reraise re-raises; " + exhausted_nova),
    ), "COND.migrate_server (host_list)", schedules=True, claims_alternate=True,
        entry=rpc("COND.migrate_server (called by CM._reschedule_resize_or_reraise's "
                  "ComputeTaskAPI.resize_instance)"))


#: CM._do_prep_resize's failure after RT.resize_claim wrote the destination on the
#: migration: CM._revert_allocation, then CM._reschedule_resize_or_reraise (task_state
#: resize_prep again, with no expected_task_state; the conductor tries the next
#: alternate with the instance as the compute now has it, reloaded by its saves, so the
#: next CM._prep_resize stashes its vm_state as it is now as old_vm_state).
_PREP_RESIZE_FAILED = MappingProxyType(dict(
    task=T.RESIZE_PREP, alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
    migration=Migration(MS.PRE_MIGRATING, records_dest=True), then="reschedule",
    stashes_vm_state=True))


def _resize_steps(migration_type: MigrationType) -> tuple[Step, ...]:
    return (
        # The conductor creates the migration without a destination; the
        # destination's move claim writes it (RT._claim_existing_migration). It takes
        # the instance's 'pre-migrating' record of the same type instead, if there is
        # one (MigrationTask._preallocate_migration: a second move accepted while the
        # first one's record is still pre-migrating shares it, and so do their
        # clean-ups); a live migration's and an evacuation's records are the API's own.
        Step("schedule", Where.CONDUCTOR, _states(T.RESIZE_PREP), (
            done(task=T.RESIZE_PREP, alloc=(Alloc.MOVE_SOURCE_TO_MIGRATION, Alloc.CLAIM_DEST),
                 migration=Migration(MS.PRE_MIGRATING, create=migration_type,
                                     reuses=MS.PRE_MIGRATING),
                 then="prep_resize",
                 nova="tasks/migrate.py: MigrationTask._execute, "
                      "MigrationTask._preallocate_migration"),
            Outcome("no_valid_host", ENV, (Branch(task=None, migration=Migration(
                MS.ERROR, create=migration_type, reuses=MS.PRE_MIGRATING)),),
                "COND._cold_migrate; MigrationTask.rollback"),
        ), "COND.migrate_server -> COND._cold_migrate", schedules=True,
            entry=rpc("COND.migrate_server (called by API.resize)")),
        # Either failure gives the destination back (CM._revert_allocation) and goes to
        # the conductor for the next alternate (CM._reschedule_resize_or_reraise, which
        # writes task_state resize_prep with no expected_task_state); the group check
        # runs before the claim, so only a failed claim has written the destination.
        # CM.prep_resize checks no task_state (CM._prep_resize saves the instance with
        # no expected_task_state, and reads host and vm_state from the instance the
        # conductor sent, as they were when the move was scheduled): an instance whose
        # task_state was cleared or replaced while the cast waited (an evacuation, a
        # reset-state, the source's CM._init_instance) is claimed for all that, and
        # CM.resize_instance, cast to the instance's host as it is now, finds it.
        Step("prep_resize", Where.DEST, ANY, (
            ok(Branch(when=(When.NO_HOST,), **_PREP_RESIZE_FAILED,
                      note="the instance has no host by now: the cast of resize_instance "
                           "raises NovaException (rpcapi _compute_host: 'Unable to find "
                           "host') inside RT.resize_claim, whose claim aborts, and "
                           "CM._do_prep_resize fails as a failed claim does"),
               Branch(task=KEEP, then="resize_migrating", tracker=(Track.MOVE_CLAIM,),
                      migration=Migration(MS.PRE_MIGRATING, records_dest=True)),
               nova="CM._prep_resize -> RT.resize_claim; ComputeAPI.resize_instance"),
            Outcome("claim_failed", FAULT, (Branch(**_PREP_RESIZE_FAILED),),
                    "RT.resize_claim: ComputeResourcesUnavailable; "
                    "CM._do_prep_resize -> CM._revert_allocation, "
                    "CM._reschedule_resize_or_reraise"),
            Outcome("group_policy_violation", ENV, (Branch(
                task=T.RESIZE_PREP, alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
                then="reschedule_after_group_check", stashes_vm_state=True),),
                    "CM._validate_instance_group_policy: InstanceFaultRollback; "
                    "CM._do_prep_resize -> CM._revert_allocation, "
                    "CM._reschedule_resize_or_reraise"),
        ), "CM.prep_resize", late_group_check="group_policy_violation",
            entry=rpc("CM.prep_resize (cast by MigrationTask._execute)")),
        # With no alternate left the conductor's MaxRetriesExceeded comes back to the
        # compute, which re-raises the original failure: a failed claim errors the
        # instance, a failed group check (InstanceFaultRollback) keeps its vm_state
        # (Nova 34, seen by conformance).
        _move_reschedule("reschedule", V.ERROR, "_error_out_instance_on_exception"),
        _move_reschedule("reschedule_after_group_check", KEEP,
                         "_error_out_instance_on_exception (InstanceFaultRollback)"),
        # ComputeAPI.resize_instance casts to the instance's host (_compute_host(None,
        # instance), read after CM._prep_resize saved and so reloaded the instance):
        # the migration's source, unless the instance was moved while prep_resize
        # waited (an evacuation).
        Step("resize_migrating", Where.HOST, _states(T.RESIZE_PREP), (
            done(task=T.RESIZE_MIGRATING, then="resize_migrated",
                 migration=Migration(MS.MIGRATING)),
            _RESIZE_SOURCE_FAILED,
        ), "CM.resize_instance -> CM._resize_instance",
            entry=rpc("CM.resize_instance (cast by CM._prep_resize, also to its own host)"),
            preempted=Preempted(T.RESIZE_MIGRATING, _RESIZE_PREEMPTED_AT_SOURCE)),
        Step("resize_migrated", Where.HOST, _states(T.RESIZE_MIGRATING), (
            done(task=T.RESIZE_MIGRATED, host=HostEffect.SET_DEST, then="resize_finish",
                 migration=Migration(MS.POST_MIGRATING)),
            _RESIZE_SOURCE_FAILED,
        ), "driver.migrate_disk_and_power_off", entry=within("CM._resize_instance"),
            preempted=Preempted(T.RESIZE_MIGRATED, _RESIZE_PREEMPTED_AT_SOURCE)),
        Step("resize_finish", Where.DEST, _states(T.RESIZE_MIGRATED), (
            done(task=T.RESIZE_FINISH, then="finished"),
            _RESIZE_DEST_FAILED,
        ), "CM.finish_resize -> CM._finish_resize",
            entry=rpc("CM.finish_resize (cast by CM._resize_instance)"),
            preempted=Preempted(
                T.RESIZE_FINISH,
                "CM._finish_resize: instance.save(expected_task_state=RESIZE_MIGRATED) "
                "inside CM._finish_resize_helper's _error_out_instance_on_exception; "
                "CM.finish_resize: errors_out_migration, CM._delete_allocation_after_move")),
        Step("finished", Where.DEST, _states(T.RESIZE_FINISH), (
            ok(Branch(when=(When.WAS_STOPPED,), vm=V.RESIZED, task=None, power=P.SHUTDOWN,
                      launched=True, migration=Migration(MS.FINISHED)),
               Branch(vm=V.RESIZED, task=None, power=P.RUNNING, launched=True,
                      migration=Migration(MS.FINISHED)),
               nova="CM._finish_resize: power_on = old_vm_state != stopped"),
            _RESIZE_FINISH_MIGRATION_FAILED,
        ), "driver.finish_migration", entry=within("CM.finish_resize")),
    )


_RESIZE_NOTES = ("The source allocation moves to the migration consumer and the destination "
                 "is claimed for the instance; both are held while the instance is resized.",)

RESIZE = Operation(
    name="resize", kind=Kind.API, api_method="API.resize (flavor_id=new flavor)",
    summary="Move the instance to a new flavor, on a host chosen by the scheduler.",
    guard=guard([V.ACTIVE, V.STOPPED], host=True, is_up=True,
                checks=(Check.LOCK, Check.STATE, Check.HOST)),
    remembers_vm_state=True,
    # ServersController._action_resize: flavorRef
    request_args=frozenset({"flavor"}), changes_flavor=True, spec_flavor=SpecFlavor.SETS,
    ignore_hosts=IgnoreHosts.SOURCE_UNLESS_RESIZE_TO_SAME_HOST, host_change=HostChange.LEAVES,
    api=api_step(T.RESIZE_PREP, then="schedule", nova="API.resize"),
    steps=_resize_steps(MigrationType.RESIZE), scheduler=SchedulerUse.ALWAYS,
    resources="source -> migration consumer; destination claimed for the instance "
              "with the new flavor",
    notes=_RESIZE_NOTES + ("Same-host resize only with allow_resize_to_same_host.",),
)

MIGRATE = Operation(
    name="migrate", kind=Kind.API, api_method="API.resize (flavor_id=None)",
    summary="Cold-migrate the instance to another host, same flavor.",
    guard=RESIZE.guard, remembers_vm_state=True, admin_only=True,
    # MigrateServerController._migrate: host (2.56)
    request_args=frozenset({"host"}), spec_flavor=SpecFlavor.SETS,
    ignore_hosts=IgnoreHosts.SOURCE, host_change=HostChange.LEAVES,
    api=api_step(T.RESIZE_PREP, then="schedule", nova="API.resize"),
    steps=_resize_steps(MigrationType.MIGRATION), scheduler=SchedulerUse.ALWAYS,
    resources=RESIZE.resources.replace(" with the new flavor", ""),
    notes=_RESIZE_NOTES,
)

# API.confirm_resize saves the migration confirming before it casts, so the migration
# CM.confirm_resize receives is never already confirmed and do_confirm_resize's early
# returns do not fire; but when another request has confirmed it meanwhile (a soft delete:
# API._confirm_resize_on_deleting calls CM.confirm_resize synchronously), that confirm has
# dropped the instance's migration context, and CM._confirm_resize reads it
# (get_pci_mapping_for_migration on None) before its save: AttributeError, whatever the
# task_state, inside _error_out_instance_on_exception (vm_state error; no
# reverts_task_state, so the task found stays), and errors_out_migration marks the
# migration error; the finally deletes the migration's allocation, already gone (Nova 34,
# seen by conformance: scenarios/confirm_after_soft_delete_errors.json,
# scenarios/confirm_after_soft_delete_preempted.json).
_CONFIRM_CONTEXT_GONE = Branch(
    vm=V.ERROR, task=KEEP, alloc=(Alloc.DELETE_MIGRATION,), migration=Migration(MS.ERROR),
    note="CM._confirm_resize: the migration context another confirm dropped is None")

CONFIRM_RESIZE = Operation(
    name="confirm_resize", kind=Kind.API, api_method="API.confirm_resize",
    summary="Accept a finished resize or migration and free the source host.",
    guard=guard([V.RESIZED], checks=(Check.LOCK, Check.STATE, Check.MIGRATION_FINISHED,
                                     Check.SOURCE_COMPUTE_UP)),
    requested_by=PeriodicTask.POLL_UNCONFIRMED_RESIZES,
    api=api_step(None, then="confirm", nova="API.confirm_resize",
                 migration=Migration(MS.CONFIRMING)),
    steps=(Step("confirm", Where.SOURCE, _states(None, T.DELETING, T.SOFT_DELETING), (
        # A delete confirms a resized instance itself (API._confirm_resize_on_deleting):
        # a confirm still queued then finds its migration confirmed (_CONFIRM_CONTEXT_GONE).
        ok(dataclasses.replace(_CONFIRM_CONTEXT_GONE, when=(When.MIGRATION_CONFIRMED,)),
           Branch(when=(When.POWERED_OFF,), vm=V.STOPPED, task=None,
                  alloc=(Alloc.DELETE_MIGRATION,), migration=Migration(MS.CONFIRMED),
                  tracker=(Track.DROP_MOVE_CLAIM_AT_SOURCE,)),
           Branch(vm=V.ACTIVE, task=None, alloc=(Alloc.DELETE_MIGRATION,),
                  migration=Migration(MS.CONFIRMED),
                  tracker=(Track.DROP_MOVE_CLAIM_AT_SOURCE,)),
           nova="CM._confirm_resize; CM._delete_allocation_after_move"),
        Outcome("driver_error", FAULT, (Branch(vm=V.ERROR, task=None,
                                               alloc=(Alloc.DELETE_MIGRATION,),
                                               migration=Migration(MS.ERROR)),),
                "_error_out_instance_on_exception; allocation deleted in finally"),
    ), "CM.confirm_resize", entry=rpc("CM.confirm_resize (cast by API.confirm_resize)"),
        # CM._confirm_resize saves vm_state active/stopped with task_state None and
        # expected_task_state=[None, DELETING, SOFT_DELETING] after the driver's
        # confirm_migration and after RT.drop_move_claim_at_source has saved the
        # migration confirmed: when another request took the task meanwhile (a
        # reset-state and a stop), the finally of do_confirm_resize still deletes the
        # migration's allocation (CM._delete_allocation_after_move) and its
        # _delete_stashed_flavor_info saves the instance with the fields set in memory
        # (task None), then _error_out_instance_on_exception saves vm_state error and
        # errors_out_migration marks the migration error. Nova 34, seen by conformance
        # (scenarios/confirm_preempted_by_reset_state.json). Its record confirmed by
        # another request, it fails before the check (_CONFIRM_CONTEXT_GONE).
        preempted=Preempted(
            None,
            "CM.confirm_resize -> CM._confirm_resize: instance.save(expected_task_state="
            "[None, DELETING, SOFT_DELETING]) inside do_confirm_resize's "
            "_error_out_instance_on_exception, after RT.drop_move_claim_at_source; its "
            "finally: CM._delete_allocation_after_move; errors_out_migration",
            cleanup=Branch(alloc=(Alloc.DELETE_MIGRATION,), migration=Migration(MS.ERROR),
                           tracker=(Track.DROP_MOVE_CLAIM_AT_SOURCE,)),
            record_in=frozenset({MS.FINISHED, MS.CONFIRMING}),
            record_gone=_CONFIRM_CONTEXT_GONE)),),
    resources="the migration's (source) allocation is deleted",
    notes=("The API writes no task_state; the source compute service must be up.",
           "Only a migration in status finished can be confirmed (MigrationNotFoundByStatus "
           "otherwise): a second confirm, or one racing a revert, is refused.",),
)

REVERT_RESIZE = Operation(
    name="revert_resize", kind=Kind.API, api_method="API.revert_resize",
    summary="Undo a finished resize or migration: back to the source host and old flavor.",
    guard=guard([V.RESIZED], checks=(Check.LOCK, Check.STATE, Check.MIGRATION_FINISHED)),
    spec_flavor=SpecFlavor.RESTORES,
    api=api_step(T.RESIZE_REVERTING, then="revert_resize", nova="API.revert_resize",
                 migration=Migration(MS.REVERTING)),
    steps=(
        # CM.revert_resize checks no task_state: RT.drop_move_claim_at_dest saves with
        # expected_task_state=[RESIZE_REVERTING], but only the instance's extra fields
        # (revert_migration_context) have changed, which Instance.save writes without
        # the compare-and-swap (no column to update: it returns before it). So a
        # revert whose cast waits while another request takes the task (a reset-state)
        # still destroys the guest on the destination, drops its claim, marks the
        # migration reverted and casts finish_revert_resize, whose check is the one
        # that fails (Nova 34, seen by conformance:
        # scenarios/revert_runs_after_reset_state.json).
        Step("revert_resize", Where.DEST, ANY, (
            done(task=KEEP, then="finish_revert_resize",
                 migration=Migration(MS.REVERTED), tracker=(Track.DROP_MOVE_CLAIM_AT_DEST,),
                 nova="RT.drop_move_claim_at_dest"),
            Outcome("driver_error", FAULT, (Branch(vm=V.ERROR, task=None,
                                                   migration=Migration(MS.ERROR)),),
                    "_error_out_instance_on_exception; errors_out_migration"),
        ), "CM.revert_resize", entry=rpc("CM.revert_resize (cast by API.revert_resize)")),
        # CM._revert_instance_flavor_host_node puts the old flavor and the source host
        # in memory and saves with expected_task_state=[RESIZE_REVERTING] inside
        # _finish_revert_resize's _error_out_instance_on_exception, before
        # _revert_allocation and before any driver call: when another request took the
        # task meanwhile, _set_instance_obj_error_state saves vm_state error with those
        # fields (no power_state was read; the task_state was not changed in memory, so
        # the one found stays) and errors_out_migration fails the migration. Nothing
        # moves the allocations: the migration keeps the source's, the instance the
        # destination's (an upstream finding). Nova 34, seen by conformance
        # (scenarios/revert_preempted_by_reset_state.json).
        Step("finish_revert_resize", Where.SOURCE, _states(T.RESIZE_REVERTING), (
            ok(Branch(when=(When.WAS_STOPPED,), task=T.POWERING_OFF, power=P.SHUTDOWN,
                      host=HostEffect.SET_SOURCE, alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
                      launched=True, then="power_off"),
               Branch(vm=V.ACTIVE, task=None, power=P.RUNNING, host=HostEffect.SET_SOURCE,
                      alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,), launched=True),
               nova="CM._finish_revert_resize: power_on = old_vm_state != stopped"),
            # CM._finish_revert_resize gives the allocation back and puts the instance
            # on the source before it calls driver.finish_revert_migration.
            Outcome("driver_error", FAULT, (Branch(
                vm=V.ERROR, task=None, host=HostEffect.SET_SOURCE,
                alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,), migration=Migration(MS.ERROR)),),
                "_error_out_instance_on_exception; errors_out_migration"),
            # The instance is already saved on the source when Placement fails the
            # move back (the report client raises AllocationMoveFailed for any refused
            # POST /allocations, e.g. a consumer generation conflict it gave up on; a
            # lowered capacity never refuses it, as a move adds no usage): Nova logs
            # that the migration's allocation is leaked.
            Outcome("allocation_move_failed", FAULT, (Branch(
                vm=V.ERROR, task=None, host=HostEffect.SET_SOURCE,
                migration=Migration(MS.ERROR)),),
                "CM._revert_allocation: AllocationMoveFailed; "
                "_error_out_instance_on_exception; errors_out_migration"),
        ), "CM.finish_revert_resize", move_refused="allocation_move_failed",
            entry=rpc("CM.finish_revert_resize (cast by CM.revert_resize)"),
            preempted=Preempted(
                KEEP,
                "CM._finish_revert_resize -> CM._revert_instance_flavor_host_node: "
                "instance.save(expected_task_state=[RESIZE_REVERTING]) inside "
                "_error_out_instance_on_exception, before CM._revert_allocation; "
                "CM.finish_revert_resize: errors_out_migration",
                cleanup=Branch(host=HostEffect.SET_SOURCE, migration=Migration(MS.ERROR)))),
        # CM._finish_revert_resize calls CM.stop_instance itself: a failed power-off
        # reaches its _error_out_instance_on_exception and errors_out_migration
        # (Nova 34, seen by conformance).
        Step("power_off", Where.HOST, _states(T.POWERING_OFF), (
            _POWER_OFF_TAIL.outcomes[0],
            Outcome("driver_error", FAULT, (Branch(vm=V.ERROR, task=None,
                                                   migration=Migration(MS.ERROR)),),
                    "_error_out_instance_on_exception; errors_out_migration"),
        ), "CM.stop_instance, called by CM._finish_revert_resize",
            entry=within("CM.finish_revert_resize")),
    ),
    resources="the migration's allocation is moved back to the instance; the destination is freed",
    notes=("A resize of a stopped instance reverts to stopped (resized/powering-off first).",
           "Only a migration in status finished can be reverted (MigrationNotFoundByStatus "
           "otherwise): a revert racing a confirm is refused."),
)

# --- live migration ------------------------------------------------------------------

_LIVE_MIGRATION_ROLLBACK = Outcome("rollback", FAULT, (Branch(
    task=None, alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
    migration=Migration(MS.FAILED)),), "CM._rollback_live_migration")

LIVE_MIGRATE = Operation(
    name="live_migrate", kind=Kind.API, api_method="API.live_migrate",
    summary="Move a running (or paused) instance to another host without stopping it.",
    guard=guard([V.ACTIVE, V.PAUSED]), admin_only=True,
    # MigrateServerController._migrate_live: host, force (2.30 to 2.67)
    request_args=frozenset({"host", "force"}),
    ignore_hosts=IgnoreHosts.SOURCE, host_change=HostChange.LEAVES,
    api=api_step(T.MIGRATING, then="schedule", nova="API.live_migrate"),
    steps=(
        Step("schedule", Where.CONDUCTOR, _states(T.MIGRATING), (
            done(task=T.MIGRATING, alloc=(Alloc.MOVE_SOURCE_TO_MIGRATION, Alloc.CLAIM_DEST),
                 migration=Migration(MS.QUEUED, create=MigrationType.LIVE_MIGRATION,
                                     records_dest=True),
                 then="pre_live_migration",
                 nova="tasks/live_migrate.py: LiveMigrationTask._execute"),
            Outcome("no_valid_host", ENV, (Branch(task=None, migration=Migration(
                MS.ERROR, create=MigrationType.LIVE_MIGRATION)),),
                "COND._live_migrate: MigrationPreCheckError/NoValidHost"),
        ), "COND.live_migrate_instance", schedules=True,
            # LiveMigrationTask._execute -> _check_host_is_up(source):
            # ComputeServiceUnavailable after the API accepted (Nova 34, conformance)
            # LiveMigrationTask._execute -> _check_instance_is_active first: a power
            # state but running or paused fails the move (InstanceInvalidState; the
            # migration errors, the vm_state stays: Nova 34, seen by conformance)
            guest_must_run=True, source_must_be_up=True, same_or_newer_hypervisor=True,
            entry=rpc("COND.live_migrate_instance (called by API.live_migrate)")),
        Step("pre_live_migration", Where.DEST, _states(T.MIGRATING), (
            done(task=T.MIGRATING, migration=Migration(MS.PREPARING),
                 then="live_migration"),
            # CM._cleanup_pre_live_migration writes error, then CM._rollback_live_migration
            # writes its default migration_status, failed, last (seen in Nova 34).
            Outcome("pre_check_failed", FAULT, (Branch(
                task=None, alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
                migration=Migration(MS.FAILED)),), "CM._rollback_live_migration"),
        ), "CM.pre_live_migration -> CM._do_pre_live_migration",
            late_group_check="pre_check_failed",
            entry=rpc("CM.pre_live_migration (called from the source's "
                      "CM._do_live_migration)")),
        Step("live_migration", Where.SOURCE, _states(T.MIGRATING), (
            done(task=T.MIGRATING, migration=Migration(MS.RUNNING),
                 then="post_live_migration"),
            _LIVE_MIGRATION_ROLLBACK,
        ), "CM._do_live_migration",
            # (Nova's source handler receives the conductor's cast before it calls the
            # destination's pre_live_migration; the model delivers the destination's
            # step first and the source's handler after it: by then that handler has
            # called the destination, so the step dies with the source's process)
            entry=rpc("CM.live_migration (cast by LiveMigrationTask._execute)",
                      ("pre_live_migration", "CM._do_live_migration"))),
        # The source's tracker counts again once the destination has the instance
        # (CM._post_live_migration calls CM.update_available_resource); the
        # destination's counts it only at its next audit.
        Step("post_live_migration", Where.SOURCE, _states(T.MIGRATING), (
            done(task=None, host=HostEffect.SET_DEST, alloc=(Alloc.DELETE_MIGRATION,),
                 migration=Migration(MS.COMPLETED), tracker=(Track.AUDIT,),
                 nova="CM._post_live_migration; CM._delete_allocation_after_move"),
            _LIVE_MIGRATION_ROLLBACK,
            # CM._do_live_migration's except only errors the migration and the instance:
            # nothing is given back (Nova 34, seen by conformance).
            Outcome("driver_error", FAULT, (Branch(
                vm=V.ERROR, task=None, migration=Migration(MS.ERROR)),),
                "driver.live_migration raised: CM._do_live_migration -> "
                "_set_instance_obj_error_state"),
        ), "driver.live_migration", entry=within("CM._do_live_migration")),
    ),
    scheduler=SchedulerUse.UNLESS_FORCED,
    resources="source -> migration consumer, destination claimed for the instance; "
              "the migration's allocation is deleted at the end, or moved back on rollback",
)

LIVE_MIGRATE_FORCE_COMPLETE = Operation(
    name="live_migrate_force_complete", kind=Kind.API,
    api_method="API.live_migrate_force_complete",
    summary="Ask the driver to finish a running live migration (pause or post-copy).",
    guard=guard([V.ACTIVE], [T.MIGRATING],
                checks=(Check.POLICY, Check.LOCK, Check.STATE, Check.MIGRATION_RUNNING)),
    admin_only=True,
    api=api_step(KEEP, expects=ANY, nova="API.live_migrate_force_complete"),
    notes=("No Nova state changes: the libvirt migration monitor acts on the guest.",),
)

LIVE_MIGRATE_ABORT = Operation(
    name="live_migrate_abort", kind=Kind.API, api_method="API.live_migrate_abort",
    summary="Cancel a live migration in progress.",
    guard=guard(ANY, [T.MIGRATING],
                checks=(Check.POLICY, Check.LOCK, Check.STATE, Check.MIGRATION_ABORTABLE)),
    admin_only=True,
    api=api_step(KEEP, expects=ANY, then="abort", nova="API.live_migrate_abort"),
    steps=(
        # A queued or preparing migration is taken off the compute's queue and undone
        # here; a running one is only signalled to the driver (driver.live_migration_abort)
        # and CM.live_migration_abort returns: the rollback comes later, from the driver's
        # live_migration as its recover_method (Nova 34, seen by conformance).
        Step("abort", Where.SOURCE, _states(T.MIGRATING), (
            ok(Branch(when=(When.MIGRATION_RUNNING,), task=KEEP, then="rollback"),
               Branch(when=(When.NOT_MIGRATION_RUNNING,), task=None,
                      alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
                      migration=Migration(MS.CANCELLED)),
               nova="CM.live_migration_abort"),
        ), "CM.live_migration_abort",
            entry=rpc("CM.live_migration_abort (cast by API.live_migrate_abort)")),
        # What the driver's live_migration does once aborted; it races the migration's
        # own end (live_migrate.post_live_migration): whichever runs first wins, and the
        # other fails its task_state check.
        Step("rollback", Where.SOURCE, _states(T.MIGRATING), (
            done(task=None, alloc=(Alloc.REVERT_MIGRATION_TO_INSTANCE,),
                 migration=Migration(MS.CANCELLED),
                 nova="CM._rollback_live_migration(migration_status='cancelled')"),
        ), "driver.live_migration -> recover_method",
            # (the running live migration's handler, signalled by the abort)
            entry=within("CM._do_live_migration")),
    ),
    resources="the migration's allocation goes back to the instance on the source",
)

# --- evacuate -------------------------------------------------------------------------

_EVACUATE_FAILED = Migration(MS.FAILED)

EVACUATE = Operation(
    name="evacuate", kind=Kind.API, api_method="API.evacuate",
    summary="Rebuild the instance on another host because its host is down.",
    guard=guard([V.ACTIVE, V.STOPPED, V.ERROR], ANY, lock=False,
                checks=(Check.POLICY, Check.STATE, Check.SOURCE_HOST_DOWN)),
    admin_only=True, remembers_vm_state=True,
    # EvacuateController._evacuate: host, force (2.29 to 2.67), and the request's
    # microversion, which decides target_state: from 2.95 the evacuated instance ends
    # stopped (CM._do_rebuild_instance replaces orig_vm_state with it unless the
    # instance is in error)
    request_args=frozenset({"host", "force", "microversion"}),
    stopped_from_microversion=(2, 95),
    ignore_hosts=IgnoreHosts.SOURCE, host_change=HostChange.LEAVES,
    api=api_step(T.REBUILDING, expects=ANY, then="schedule", nova="API.evacuate",
                 migration=Migration(MS.ACCEPTED, create=MigrationType.EVACUATION,
                                     records_dest=True)),
    steps=(
        Step("schedule", Where.CONDUCTOR, _states(T.REBUILDING), (
            done(task=T.REBUILDING, alloc=(Alloc.CLAIM_DEST_DOUBLED,), then="rebuilding",
                 nova="COND.rebuild_instance(recreate=True)"),
            Outcome("no_valid_host", ENV, (Branch(vm=V.ERROR, task=None,
                                                  migration=Migration(MS.ERROR)),),
                    "COND.rebuild_instance: NoValidHost"),
        ), "COND.rebuild_instance", schedules=True,
            entry=rpc("COND.rebuild_instance (cast by API.evacuate)"),
            # (not passed the API's record: it takes the instance's first 'accepted'
            # one, or goes on with none)
            record=_ACCEPTED_RECORD),
        # The destination's claim writes itself and pre-migrating to the migration
        # (RT._claim_existing_migration) before it tests, and before the group check.
        Step("rebuilding", Where.DEST, _states(T.REBUILDING), (
            done(task=T.REBUILDING, then="rebuild_block_device_mapping",
                 migration=Migration(MS.PRE_MIGRATING, records_dest=True),
                 tracker=(Track.MOVE_CLAIM,),
                 nova="RT.rebuild_claim -> CM._do_rebuild_instance"),
            Outcome("claim_failed", FAULT, (Branch(
                task=None, alloc=(Alloc.REMOVE_DEST_FROM_INSTANCE,),
                migration=Migration(MS.FAILED, records_dest=True), guest=KEEP),),
                "RT.rebuild_claim: ComputeResourcesUnavailable -> InstanceFaultRollback"),
            # Nova 34's late check raises GroupAffinityViolation, which CM.rebuild_instance
            # takes in its except Exception (not as the claim's InstanceFaultRollback):
            # the migration fails, the destination leaves the instance's allocation,
            # _error_out_instance_on_exception errors the instance and reverts_task_state
            # clears the task (seen by conformance).
            Outcome("group_policy_violation", ENV, (Branch(
                vm=V.ERROR, task=None, alloc=(Alloc.REMOVE_DEST_FROM_INSTANCE,),
                migration=Migration(MS.FAILED, records_dest=True), guest=KEEP),),
                "CM._do_rebuild_instance -> CM._validate_instance_group_policy: "
                "GroupAffinityViolation; CM.rebuild_instance: except Exception -> "
                "RT.delete_allocation_for_evacuated_instance(destination); "
                "_error_out_instance_on_exception"),
        ), "CM.rebuild_instance", late_group_check="group_policy_violation",
            entry=rpc("CM.rebuild_instance (cast by the conductor to the destination)"),
            # (given none, the claim makes a record CM.rebuild_instance never holds: its
            # failure paths' _set_migration_status and RT.finish_evacuation get None, so
            # it stays pre-migrating, until a resource audit of its source finds it
            # stale: model.resource_tracker.STALE_RECORD)
            record=RecordLookup(
                "RT.rebuild_claim -> RT._move_claim: _claim_existing_migration, or "
                "_create_migration when the conductor passed none",
                create=MigrationType.EVACUATION, claimed=MS.PRE_MIGRATING),
            preempted=Preempted(
                T.REBUILDING,
                "CM._do_rebuild_instance: instance.save(expected_task_state=[REBUILDING]) "
                "inside CM.rebuild_instance's _error_out_instance_on_exception (its except "
                "Exception fails the migration and removes the destination first)",
                exists_check="CM._do_rebuild_instance -> CM._check_instance_exists: "
                             "InstanceExists",
                # (the destination's hypervisor has no guest: NOSTATE, saved with the error)
                power=P.PENDING)),
        task_step("rebuild_block_device_mapping", Where.DEST, T.REBUILDING,
                  T.REBUILD_BLOCK_DEVICE_MAPPING, "rebuild_spawning",
                  "CM._rebuild_default_impl", entry=within("CM.rebuild_instance")),
        task_step("rebuild_spawning", Where.DEST, T.REBUILD_BLOCK_DEVICE_MAPPING,
                  T.REBUILD_SPAWNING, "spawned", "CM._rebuild_default_impl",
                  entry=within("CM.rebuild_instance")),
        # A stopped instance is powered off by CM._do_rebuild_instance (an inline
        # CM.stop_instance) before CM.rebuild_instance's RT.finish_evacuation moves
        # instance.host and marks the migration done (Nova 34, seen by conformance).
        Step("spawned", Where.DEST, _states(T.REBUILD_SPAWNING), (
            ok(Branch(when=(When.WAS_STOPPED,), vm=V.ACTIVE, task=T.POWERING_OFF,
                      power=P.RUNNING, then="power_off", launched=True),
               Branch(vm=V.ACTIVE, task=None, power=P.RUNNING, host=HostEffect.SET_DEST,
                      launched=True, migration=Migration(MS.DONE), tracker=_FINISH_EVACUATION),
               nova="CM._do_rebuild_instance; RT.finish_evacuation"),
            # (the guest never ran on the destination: Nova then reads NOSTATE there;
            # the source's guest, where the instance stays, is untouched)
            Outcome("driver_error", FAULT, (Branch(
                vm=V.ERROR, task=None, power=P.PENDING, guest=KEEP,
                alloc=(Alloc.REMOVE_DEST_FROM_INSTANCE,), tracker=(Track.DROP_MOVE_CLAIM,),
                migration=_EVACUATE_FAILED),),
                "_error_out_instance_on_exception; the move claim's abort"),
        ), "driver.spawn", entry=within("CM.rebuild_instance")),
        Step("power_off", Where.DEST, _states(T.POWERING_OFF), (
            done(vm=V.STOPPED, task=None, power=P.SHUTDOWN, host=HostEffect.SET_DEST,
                 migration=Migration(MS.DONE), tracker=_FINISH_EVACUATION,
                 nova="CM.stop_instance; RT.finish_evacuation"),
            # The failure reaches CM.rebuild_instance's except Exception: the migration
            # fails, the destination leaves the instance's allocation, and
            # _error_out_instance_on_exception puts it in error on the source.
            Outcome("driver_error", FAULT, (Branch(
                vm=V.ERROR, task=None, alloc=(Alloc.REMOVE_DEST_FROM_INSTANCE,),
                tracker=(Track.DROP_MOVE_CLAIM,), migration=_EVACUATE_FAILED, guest=KEEP),),
                "CM.rebuild_instance: except Exception (the move claim's abort); "
                "_error_out_instance_on_exception"),
        ), "CM.stop_instance, called by CM._do_rebuild_instance",
            entry=within("CM.rebuild_instance")),
    ),
    scheduler=SchedulerUse.UNLESS_FORCED,
    resources="the instance holds source and destination at once; the source part is "
              "removed when the source compute comes back (CM._destroy_evacuated_instances)",
    notes=("Any task_state is accepted (since bug 1978983) and there is no lock check.",
           "An instance in error is evacuated to active; a stopped one to stopped.",
           "From microversion 2.95 the API asks for target_state stopped: "
           "CM._do_rebuild_instance then takes any instance not in error for a stopped "
           "one (the spawn is followed by the inline power-off, whose failure errors "
           "the instance and fails the migration)."),
)

# --- shelve ---------------------------------------------------------------------------

# CM._shelve_offload_instance powers the guest off first, then destroys it (the record
# keeps the power state it read in between: NOSTATE when there was no guest to power
# off, LibvirtDriver.power_off and LibvirtDriver.destroy passing with no domain).
_OFFLOADED = dict(vm=V.SHELVED_OFFLOADED, task=None, guest=P.PENDING,
                  host=HostEffect.CLEAR, alloc=(Alloc.DELETE_INSTANCE,),
                  tracker=(Track.UPDATE_USAGE,))
_OFFLOAD = Step("offload", Where.HOST, _states(T.SHELVING, T.SHELVING_OFFLOADING), (
    ok(_no_guest_powered_off(**_OFFLOADED),
       Branch(power=P.SHUTDOWN, **_OFFLOADED),
       nova="CM._shelve_offload_instance; RT.delete_allocation_for_shelve_offloaded_instance"),
    REVERT_TASK,
), "CM.shelve_offload_instance",
    entry=rpc("CM.shelve_offload_instance (cast by API.shelve for a volume-backed "
              "instance, and by API.shelve_offload)",
              ("shelved", "CM.shelve_instance (CM._shelve_instance calls "
                          "CM._shelve_offload_instance itself)")))

SHELVE = Operation(
    name="shelve", kind=Kind.API, api_method="API.shelve",
    summary="Snapshot and power off the instance; offload it from its host when configured "
            "(a volume-backed instance: offload at once, no snapshot).",
    guard=guard([V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED]),
    # API.shelve casts shelve_instance (snapshot first) for an image-backed instance and
    # shelve_offload_instance for a volume-backed one, whatever shelved_offload_time says
    # (compute_utils.is_volume_backed_instance).
    api=api_branches(
        Branch(when=(When.VOLUME_BACKED,), task=T.SHELVING, then="offload"),
        Branch(when=(When.NOT_VOLUME_BACKED,), task=T.SHELVING,
               then="shelving_image_pending_upload"),
        nova="API.shelve"),
    steps=(
        # CM._shelve_instance powers the guest off before its snapshot. With no guest
        # the power-off passes (LibvirtDriver.power_off) but the snapshot does not:
        # LibvirtDriver.snapshot raises InstanceNotRunning before it sets any task.
        Step("shelving_image_pending_upload", Where.HOST, _states(T.SHELVING), (ok(
            dataclasses.replace(
                NO_GUEST_REVERTS, note="LibvirtDriver.snapshot: Host.get_guest raises "
                                       "InstanceNotFound, taken as InstanceNotRunning; "
                                       "reverts_task_state -> CM._instance_update"),
            Branch(task=T.SHELVING_IMAGE_PENDING_UPLOAD, then="shelving_image_uploading")),),
            "CM._shelve_instance -> CM._power_off_instance, driver.snapshot",
            entry=rpc("CM.shelve_instance (cast by API.shelve)")),
        task_step("shelving_image_uploading", Where.HOST, T.SHELVING_IMAGE_PENDING_UPLOAD,
                  T.SHELVING_IMAGE_UPLOADING, "shelved", "driver.snapshot",
                  entry=within("CM.shelve_instance")),
        # (the record takes the power state CM._get_power_state read after the
        # power-off: shutdown, or NOSTATE for a guest that was not there, which only a
        # variant that skips the snapshot lets through)
        Step("shelved", Where.HOST, _states(T.SHELVING_IMAGE_UPLOADING), (
            ok(Branch(when=(When.OFFLOAD_NOW,), vm=V.SHELVED, task=T.SHELVING_OFFLOADING,
                      power=Rule.GUEST, guest=Rule.SHUT_OFF, then="offload"),
               Branch(vm=V.SHELVED, task=None, power=Rule.GUEST, guest=Rule.SHUT_OFF),
               nova="CM._shelve_instance: instance.power_state = "
                    "CM._get_power_state after CM._power_off_instance"),
            # CM._shelve_instance powers the guest off before driver.snapshot: a failed
            # snapshot leaves it off under a record reverts_task_state does not touch
            # (Nova 34, seen by conformance: a later power sync stops the instance)
            Outcome("driver_error", FAULT, (dataclasses.replace(
                REVERT_TASK.branches[0], guest=P.SHUTDOWN),),
                "CM._shelve_instance: _power_off_instance, then driver.snapshot fails; "
                "reverts_task_state -> CM._instance_update"),
        ), "CM._shelve_instance", entry=within("CM.shelve_instance")),
        _OFFLOAD,
    ),
    resources="kept while shelved; deleted when offloaded (shelved_offload_time 0 offloads at once)",
)

SHELVE_OFFLOAD = Operation(
    name="shelve_offload", kind=Kind.API, api_method="API.shelve_offload",
    summary="Remove a shelved instance from its host, freeing its resources.",
    guard=guard([V.SHELVED]),
    # nova/policies/shelve.py: os_compute_api:os-shelve:shelve_offload is base.ADMIN
    # (Nova 34 answers the owner 403; seen by conformance, walks 57 and 157)
    admin_only=True,
    api=api_step(T.SHELVING_OFFLOADING, then="offload", nova="API.shelve_offload"),
    requested_by=PeriodicTask.POLL_SHELVED_INSTANCES,
    steps=(_OFFLOAD,),
    resources="the instance's allocation is deleted and its host cleared",
)

UNSHELVE = Operation(
    name="unshelve", kind=Kind.API, api_method="API.unshelve",
    summary="Bring a shelved instance back: power on, or schedule and spawn if offloaded.",
    guard=guard([V.SHELVED, V.SHELVED_OFFLOADED]),
    host_change=HostChange.ARRIVES,
    # COND.unshelve_instance takes its path from the vm_state of the instance the API
    # cast to it (the message's copy, not the database's), so the path is decided here,
    # by the vm_state the API's guard admitted: a reset-state while the cast waits
    # changes neither path.
    api=api_branches(
        Branch(when=(When.VM_SHELVED,), task=T.UNSHELVING, then="powering_on"),
        Branch(when=(When.VM_SHELVED_OFFLOADED,), task=T.UNSHELVING, then="unshelve"),
        nova="API.unshelve"),
    steps=(
        task_step("powering_on", Where.CONDUCTOR, T.UNSHELVING, T.POWERING_ON, "power_on",
                  "COND.unshelve_instance: instance.save(expected_task_state=UNSHELVING); "
                  "an UnexpectedTaskStateError is raised out of the cast, nothing saved",
                  entry=rpc("COND.unshelve_instance (cast by API.unshelve)")),
        # The offloaded path saves nothing before it schedules: no task_state check, and
        # the instance is scheduled and cast to its compute whatever its task_state is
        # now. Only NoValidHost saves, task_state None, with no expected_task_state.
        Step("unshelve", Where.CONDUCTOR, ANY, (
            ok(Branch(task=KEEP, alloc=(Alloc.CLAIM_DEST,), then="spawning"),
               nova="COND.unshelve_instance -> COND._schedule_instances; "
                    "ComputeAPI.unshelve_instance"),
            Outcome("no_valid_host", ENV, (Branch(task=None),),
                    "COND.unshelve_instance: NoValidHost leaves it offloaded "
                    "(instance.task_state = None; instance.save())"),
        ), "COND.unshelve_instance", schedules=True,
            entry=rpc("COND.unshelve_instance (cast by API.unshelve)")),
        # CM.start_instance powers the guest on (CM._power_on) before its
        # save(expected_task_state=POWERING_ON): a reset-state while the cast waited
        # keeps the record, with the guest running under it.
        Step("power_on", Where.HOST, _states(T.POWERING_ON), (
            done(vm=V.ACTIVE, task=None, power=P.RUNNING), REVERT_TASK,
        ), "CM.start_instance", entry=rpc("CM.start_instance (cast by the conductor)"),
            guest_before_check=P.RUNNING),
        # The compute, not the conductor, puts the instance on its host
        # (RT.instance_claim inside CM._unshelve_instance). CM._unshelve_instance saves
        # spawning with no expected_task_state: whatever the task_state is now (a
        # reset-state while the cast waited), the instance is claimed and spawned, and
        # CM._update_instance_after_spawn makes it active.
        Step("spawning", Where.DEST, ANY, (
            done(task=T.SPAWNING, host=HostEffect.SET_DEST, tracker=(Track.INSTANCE_CLAIM,),
                 then="spawned"),
        ), "CM._unshelve_instance: instance.save() -> RT.instance_claim",
            entry=rpc("CM.unshelve_instance (cast by the conductor)")),
        Step("spawned", Where.DEST, _states(T.SPAWNING), (
            done(vm=V.ACTIVE, task=None, power=P.RUNNING, launched=True,
                 nova="CM._unshelve_instance -> CM._update_instance_after_spawn"),
            Outcome("driver_error", FAULT, (Branch(task=None, host=HostEffect.CLEAR,
                                                   alloc=(Alloc.DELETE_INSTANCE,),
                                                   tracker=(Track.ABORT_INSTANCE_CLAIM,)),),
                    "CM._unshelve_instance: spawn failed, allocation deleted"),
        ), "driver.spawn", entry=within("CM.unshelve_instance")),
    ),
    scheduler=SchedulerUse.IF_OFFLOADED,
    resources="from shelved_offloaded: a new claim for the instance; from shelved: unchanged",
)

# --- delete family --------------------------------------------------------------------

#: API._do_delete(local=True): vm_state deleted and no task; the power state is left as
#: the API found it (the compute, down or never chosen, is not asked)
_LOCAL_DELETE = dict(vm=V.DELETED, task=None, power=KEEP, host=HostEffect.CLEAR)


def _delete_api(method: str) -> Step:
    """API._delete: the branches in the order Nova tries them."""
    confirm_first = (Alloc.DELETE_MIGRATION,)
    return api_branches(
        Branch(when=(When.NO_HOST, When.NOT_VM_ERROR_OR_OFFLOADED),
               alloc=(Alloc.DELETE_INSTANCE,), note="API._delete_while_booting",
               **_LOCAL_DELETE),
        Branch(when=(When.NO_HOST,), alloc=(Alloc.DELETE_INSTANCE,),
               note="API._local_delete (no host)", **_LOCAL_DELETE),
        # API._confirm_resize_on_deleting confirms only a migration it finds in status
        # finished (or confirming): a revert already past its destination has made it
        # reverted, and the instance is deleted as any other.
        Branch(when=(When.VM_RESIZED, When.MIGRATION_FINISHED, When.HOST_DOWN),
               alloc=confirm_first + (Alloc.DELETE_INSTANCE,),
               migration=Migration(MS.CONFIRMED),
               note="API._confirm_resize_on_deleting, then API._local_delete",
               **_LOCAL_DELETE),
        Branch(when=(When.HOST_DOWN,), alloc=(Alloc.DELETE_INSTANCE,),
               note="API._local_delete (compute service down)", **_LOCAL_DELETE),
        # API._delete saves the new task (no expected_task_state) *before* it
        # notices the original task was deleting/soft-deleting and ignores the
        # request: the task is overwritten and no RPC is sent.
        Branch(when=(When.ALREADY_DELETING,), task=T.DELETING,
               note="a delete is already in flight: task saved, request ignored"),
        # CM._confirm_resize runs synchronously (cast=False) and sets vm_state from
        # the power state before terminate_instance is cast.
        Branch(when=(When.VM_RESIZED, When.MIGRATION_FINISHED, When.POWERED_OFF),
               vm=V.STOPPED, task=T.DELETING,
               then="terminate", alloc=confirm_first, migration=Migration(MS.CONFIRMED),
               tracker=(Track.DROP_MOVE_CLAIM_AT_SOURCE,),
               note="API._confirm_resize_on_deleting, then terminate_instance"),
        Branch(when=(When.VM_RESIZED, When.MIGRATION_FINISHED), vm=V.ACTIVE,
               task=T.DELETING, then="terminate",
               alloc=confirm_first, migration=Migration(MS.CONFIRMED),
               tracker=(Track.DROP_MOVE_CLAIM_AT_SOURCE,),
               note="API._confirm_resize_on_deleting, then terminate_instance"),
        Branch(task=T.DELETING, then="terminate", note="RPC terminate_instance"),
        expects=ANY, nova=f"{method} -> API._delete",
    )


_TERMINATE = Step("terminate", Where.HOST, ANY, (
    done(vm=V.DELETED, task=None, power=P.PENDING, alloc=(Alloc.DELETE_INSTANCE,),
         tracker=(Track.UPDATE_USAGE,), nova="CM._delete_instance; CM._complete_deletion"),
    Outcome("driver_error", FAULT,
            (Branch(vm=V.ERROR, task=None, tracker=(Track.UPDATE_USAGE,)),),
            "CM.terminate_instance: any failure puts the instance in error "
            "(CM._set_instance_obj_error_state); reverts_task_state -> "
            "CM._instance_update -> CM._update_resource_tracker"),
), "CM.terminate_instance -> CM._delete_instance",
    entry=rpc("CM.terminate_instance (cast by API._delete)"))

_DELETE_NOTES = (
    "With the compute service down (or no host) the API deletes locally.",
    "A resized instance is confirmed synchronously first, freeing the source.",
)

DELETE = Operation(
    name="delete", kind=Kind.API, api_method="API.delete",
    summary="Delete the instance and free everything it holds.",
    guard=guard(ANY, ANY, launched=False),
    api=_delete_api("API.delete"), steps=(_TERMINATE,),
    # (Nova's reclaim runs CM._delete_instance in the compute: here a delete as admin)
    requested_by=PeriodicTask.RECLAIM_QUEUED_DELETES,
    resources="the instance's allocation is deleted",
    notes=_DELETE_NOTES,
)

FORCE_DELETE = Operation(
    name="force_delete", kind=Kind.API, api_method="API.force_delete",
    summary="Delete now, also a soft-deleted instance before its reclaim time.",
    guard=guard(ANY, ANY, launched=False),
    api=_delete_api("API.force_delete"), steps=(_TERMINATE,),
    resources=DELETE.resources, notes=_DELETE_NOTES,
)

SOFT_DELETE = Operation(
    name="soft_delete", kind=Kind.API, api_method="API.soft_delete",
    summary="Delete with a grace period (reclaim_instance_interval > 0): resources stay held.",
    guard=guard(ANY, ANY),
    api=api_branches(
        Branch(when=(When.NO_HOST,), alloc=(Alloc.DELETE_INSTANCE,),
               note="API._local_delete: the server is really deleted", **_LOCAL_DELETE),
        Branch(when=(When.VM_RESIZED, When.HOST_DOWN),
               alloc=(Alloc.DELETE_MIGRATION, Alloc.DELETE_INSTANCE),
               migration=Migration(MS.CONFIRMED),
               note="API._confirm_resize_on_deleting, then API._local_delete", **_LOCAL_DELETE),
        Branch(when=(When.HOST_DOWN,), alloc=(Alloc.DELETE_INSTANCE,),
               note="API._local_delete: the server is really deleted", **_LOCAL_DELETE),
        Branch(when=(When.ALREADY_DELETING,), task=T.SOFT_DELETING,
               note="a delete is already in flight: task saved, request ignored"),
        # CM._confirm_resize (called synchronously) sets vm_state from the power
        # state before the soft delete is cast, so a failed soft delete leaves the
        # instance stopped or active, not resized.
        Branch(when=(When.VM_RESIZED, When.POWERED_OFF), vm=V.STOPPED, task=T.SOFT_DELETING,
               then="soft_delete", alloc=(Alloc.DELETE_MIGRATION,),
               migration=Migration(MS.CONFIRMED),
               note="API._confirm_resize_on_deleting, then soft_delete_instance"),
        Branch(when=(When.VM_RESIZED,), vm=V.ACTIVE, task=T.SOFT_DELETING, then="soft_delete",
               alloc=(Alloc.DELETE_MIGRATION,), migration=Migration(MS.CONFIRMED),
               note="API._confirm_resize_on_deleting, then soft_delete_instance"),
        Branch(task=T.SOFT_DELETING, then="soft_delete"),
        expects=ANY, nova="API.soft_delete -> API._delete"),
    steps=(Step("soft_delete", Where.HOST, _states(T.SOFT_DELETING), (
        done(vm=V.SOFT_DELETED, task=None, power=P.SHUTDOWN), REVERT_TASK,
    ), "CM.soft_delete_instance", entry=rpc("CM.soft_delete_instance (cast by API._delete)")),),
    resources="kept: a soft-deleted server still consumes its host",
    notes=("With the compute service down, the server is really deleted (local delete).",),
)

RESTORE = Operation(
    name="restore", kind=Kind.API, api_method="API.restore",
    summary="Undo a soft delete before it is reclaimed.",
    guard=guard([V.SOFT_DELETED]),
    api=api_branches(
        Branch(when=(When.HAS_HOST,), task=T.RESTORING, then="restore"),
        Branch(vm=V.ACTIVE, task=None),
        nova="API.restore"),
    steps=(Step("restore", Where.HOST, _states(T.RESTORING), (
        done(vm=V.ACTIVE, task=None, power=P.RUNNING), REVERT_TASK,
    ), "CM.restore_instance", entry=rpc("CM.restore_instance (cast by API.restore)")),),
)

# --- no-task operations ---------------------------------------------------------------

LOCK = Operation(
    name="lock", kind=Kind.API, api_method="API.lock",
    summary="Forbid non-admin state changes.", guard=None,
    api=api_step(KEEP, expects=ANY, lock=True, nova="API.lock"),
    notes=("Records who locked it (owner or admin).",),
)
UNLOCK = Operation(
    name="unlock", kind=Kind.API, api_method="API.unlock",
    summary="Lift a lock.",
    guard=Guard(vm_states=None, task_states=None, must_have_launched=False,
                check_instance_lock=False, checks=(Check.UNLOCK_OWNER,)),
    api=api_step(KEEP, expects=ANY, lock=False, nova="API.unlock"),
    notes=("A lock set by an admin can only be lifted by an admin (REST policy).",),
)
TRIGGER_CRASH_DUMP = Operation(
    name="trigger_crash_dump", kind=Kind.API, api_method="API.trigger_crash_dump",
    summary="Send an NMI to the guest; Nova's state is untouched.",
    guard=guard(ALLOW_TRIGGER_CRASH_DUMP, host=True),
    api=api_step(KEEP, nova="API.trigger_crash_dump"),
    notes=("Never touches task_state or power_state.",),
)


def _reset_state(target: V) -> Operation:
    return Operation(
        name=f"reset_state_{target.value}", kind=Kind.API,
        api_method="AdminActionsController._reset_state",
        summary=f"Admin os-resetState to {target.value}: the way out of a stuck task.",
        guard=Guard(vm_states=None, task_states=None, must_have_launched=False,
                    check_instance_lock=False, checks=(Check.POLICY,)),
        admin_only=True,
        api=api_step(None, expects=ANY, vm=target, nova="AdminActionsController._reset_state"),
        notes=("No guard: any state, any task; pending work then fails its task_state check.",),
    )


RESET_STATE_ERROR = _reset_state(V.ERROR)
RESET_STATE_ACTIVE = _reset_state(V.ACTIVE)

# --- periodic tasks and hypervisor events (no API guard; the cluster decides when) ----

SYNC_POWER_STATE = Operation(
    name="sync_power_state", kind=Kind.PERIODIC,
    requested_by=PeriodicTask.SYNC_POWER_STATES,
    api_method="CM._sync_instance_power_state",
    summary="Reconcile the record with the power state the hypervisor reports.",
    # CM._sync_power_states visits every instance whose host is this compute and skips
    # one with a task. CM._sync_instance_power_state first saves the guest's power state
    # in the record whatever the vm_state; then it stops an active or paused instance
    # found shut off (_stop_unexpected_shutdown_instance, API.force_stop) and a stopped
    # one found running or paused (API.force_stop); building, rescued, resized,
    # suspended, error, soft-deleted and shelved instances only take the power state. It
    # does not look at launched_at or the lock.
    guard=Guard(vm_states=frozenset(V) - {V.DELETED, V.SHELVED_OFFLOADED},
                task_states=NO_TASK, must_have_launched=False, check_instance_lock=False,
                checks=(Check.STATE,)),
    api=api_branches(
        Branch(when=(When.VM_ACTIVE_OR_PAUSED, When.GUEST_OFF), task=T.POWERING_OFF,
               power=Rule.GUEST, then="power_off",
               note="active or paused, the guest shut off: the record takes the guest's "
                    "power state, then API.force_stop"),
        Branch(when=(When.VM_STOPPED, When.GUEST_ON), task=T.POWERING_OFF,
               power=Rule.GUEST, then="power_off",
               note="stopped, the guest running or paused: the record takes the guest's "
                    "power state, then API.force_stop"),
        Branch(power=Rule.GUEST,
               note="otherwise the record only takes the guest's power state"),
        expects=NO_TASK, nova="CM._sync_instance_power_state"),
    steps=(_POWER_OFF_TAIL,),
    notes=("Skipped while a task is in progress, and for an instance whose compute is "
           "down (its periodic task does not run).",),
)

GUEST_STOPPED = Operation(
    name="guest_stopped", kind=Kind.EVENT, api_method="hypervisor lifecycle event",
    summary="The guest shuts itself off or crashes; the lifecycle event's power state "
            "(shutdown) is saved (CM.handle_lifecycle_event -> "
            "CM._sync_instance_power_state).",
    guard=Guard(vm_states=frozenset({V.ACTIVE}), task_states=None, must_have_launched=True,
                check_instance_lock=False, checks=(Check.STATE,)),
    api=api_step(KEEP, expects=ANY, guest=P.SHUTDOWN, power=Rule.GUEST,
                 nova="driver power state"),
)

# --- compute-start recovery ----------------------------------------------------------

#: The compute-start recovery record (fired by the cluster when nova-compute starts).
INIT_INSTANCE = "init_instance"

_INIT = (When.INIT_PROCEEDS,)

INIT_INSTANCE_OP = Operation(
    name=INIT_INSTANCE, kind=Kind.EVENT, api_method="CM.init_host -> CM._init_instance",
    summary="nova-compute starts: each instance of the host caught in the middle of a "
            "task is recovered, retried or left to its queued step (or to its task, when "
            "the stopped process took the step with it).",
    # CM.init_host only looks at the instances whose host is this compute service.
    guard=Guard(vm_states=None, task_states=None, must_have_launched=False,
                check_instance_lock=False, check_instance_host=True, checks=(Check.HOST,)),
    api=Step("api", Where.HOST, ANY, (ok(
        Branch(when=_INIT + (When.BUILDING_OR_BUILD_TASK,), vm=V.ERROR, task=None,
               note="interrupted build: error (_set_instance_obj_error_state)"),
        Branch(when=_INIT + (When.REBUILD_TASK,), vm=V.ERROR, task=None,
               note="interrupted rebuild: error (_set_instance_obj_error_state)"),
        Branch(when=_INIT + (When.IMAGE_TASK,), task=None,
               note="interrupted snapshot: task cleared"),
        # (the migration and the allocations of a move stay as they are)
        Branch(when=_INIT + (When.TASK_RESIZE_PREP,), task=None,
               note="resize_prep cleared; the move's migration and allocations are left"),
        Branch(when=_INIT + (When.TASK_DELETING,), vm=V.DELETED, task=None, power=P.PENDING,
               alloc=(Alloc.DELETE_INSTANCE,),
               note="the delete is restarted and finishes (CM._delete_instance)"),
        Branch(when=_INIT + (When.REBOOT_TASK,), vm=V.ACTIVE, task=None, power=P.RUNNING,
               note="reboot retried (CM.reboot_instance), or cleared when the guest runs"),
        Branch(when=_INIT + (When.TASK_PAUSING, When.POWER_RUNNING), vm=V.ACTIVE, task=None,
               note="pausing with the guest running: task cleared, vm active"),
        Branch(when=_INIT + (When.TASK_UNPAUSING, When.POWER_RUNNING), vm=V.ACTIVE, task=None,
               note="unpausing with the guest running: task cleared, vm active"),
        Branch(when=_INIT + (When.TASK_UNPAUSING, When.POWER_PAUSED), vm=V.ACTIVE, task=None,
               power=P.RUNNING, note="unpausing with the guest paused: CM.unpause_instance"),
        Branch(when=_INIT + (When.TASK_POWERING_OFF,), vm=V.STOPPED, task=None,
               power=P.SHUTDOWN, note="the stop is retried (CM.stop_instance)"),
        Branch(when=_INIT + (When.TASK_POWERING_ON,), vm=V.ACTIVE, task=None,
               power=P.RUNNING, note="the start is retried (CM.start_instance)"),
        Branch(when=_INIT + (When.TASK_RESIZE_MIGRATING, When.WAS_STOPPED), task=None,
               power=P.SHUTDOWN,
               note="crashed resize reverted on the source (driver.finish_revert_migration, "
                    "power_on=False); its migration and allocations are left"),
        Branch(when=_INIT + (When.TASK_RESIZE_MIGRATING,), task=None, power=P.RUNNING,
               note="crashed resize reverted on the source (driver.finish_revert_migration); "
                    "its migration and allocations are left"),
        # CM._reset_live_migration looks up the migration by status 'running' only
        Branch(when=_INIT + (When.TASK_MIGRATING, When.MIGRATION_RUNNING), task=None,
               migration=Migration(MS.ERROR),
               note="live migration reset (CM._reset_live_migration): the running "
                    "migration errors; its allocations are left"),
        Branch(when=_INIT + (When.TASK_MIGRATING,), task=None,
               note="live migration reset (CM._reset_live_migration): task cleared; a "
                    "migration not yet running and the allocations are left"),
    ),), "CM._init_instance", entry=Entry(Entered.START, "CM.init_host")),
    resources="a restarted delete frees the instance's allocation; an interrupted move "
              "(resize_prep, resize_migrating, migrating) gives nothing back: its migration "
              "keeps the source's allocation and the instance its destination claim",
    notes=(
        "Fired by the cluster for every instance of a compute service that starts "
        "(service_up, restart), after CM._destroy_evacuated_instances has cleaned up the "
        "instances evacuated away from it. The first branch whose conditions hold is "
        "taken; with none, the instance is left alone.",
        "Nova leaves alone (returns early): a soft-deleted instance, whatever its task, "
        "and an instance in error unless resize_migrating or deleting.",
        "Nova has no case for, and so leaves alone with its queued step carrying on: "
        "resize_migrated and resize_finish (the instance is already on the destination), "
        "resize_reverting, shelving, shelving_image_pending_upload, "
        "shelving_image_uploading, shelving_offloading, unshelving (its spawning is a "
        "build task: error), soft-deleting, restoring, image_backup (not among the image "
        "tasks it clears), suspending, resuming, rescuing, unrescuing, updating_password, "
        "and pausing when the guest is not running.",
        "A step queued as an RPC message (Step.entry) waits for the service and carries "
        "on; a step the stopped process's handler was to go on with went with it (the "
        "cluster's discarded_steps), so resize_finish, shelving_image_pending_upload, "
        "shelving_image_uploading, a shelve's shelving_offloading and image_backup are "
        "left in their task, and an evacuation stopped mid-rebuild is not on its "
        "destination's list (its instance.host is still the source).",
        "Nova leaves the migration record and the Placement allocations of an interrupted "
        "resize_prep/resize_migrating as they are, and sets an interrupted live "
        "migration's record to error (only a running one) without moving its allocation "
        "back.",
    ),
)

OPERATIONS: tuple[Operation, ...] = (
    CREATE, START, STOP, REBOOT_SOFT, REBOOT_HARD, PAUSE, UNPAUSE, SUSPEND, RESUME,
    RESCUE, UNRESCUE, SNAPSHOT, BACKUP, REBUILD, RESIZE, MIGRATE, CONFIRM_RESIZE,
    REVERT_RESIZE, LIVE_MIGRATE, LIVE_MIGRATE_FORCE_COMPLETE, LIVE_MIGRATE_ABORT, EVACUATE,
    SHELVE, SHELVE_OFFLOAD, UNSHELVE, SOFT_DELETE, RESTORE, DELETE, FORCE_DELETE, LOCK,
    UNLOCK, SET_ADMIN_PASSWORD, TRIGGER_CRASH_DUMP, RESET_STATE_ERROR, RESET_STATE_ACTIVE,
    SYNC_POWER_STATE, GUEST_STOPPED, INIT_INSTANCE_OP,
)

CATALOGUE: MappingProxyType[str, Operation] = MappingProxyType({op.name: op for op in OPERATIONS})

#: The arguments each request takes, read off the records (the operations that take none
#: are left out).
REQUEST_ARGS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {op.name: op.request_args for op in OPERATIONS if op.request_args})

#: The operations a user or admin can request (the guard table's rows).
API_OPERATIONS = tuple(op for op in OPERATIONS if op.kind is Kind.API)
