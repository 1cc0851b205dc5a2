"""The instance state machine, derived from the catalogue with ``transitions``.

One ``Machine`` serves every instance (instances are added as models): a
machine per instance is a known memory and speed trap. Each machine state is a
``(vm_state, task_state)`` pair from the declared legal set; each trigger is
``<operation>.<step>.<outcome>``. Guards become source states plus conditions,
conditional outcomes become ordered transitions with conditions, and the
effects on the instance's other variables run as ``after`` callbacks.

The machine knows nothing of hosts' capacity or queues: a *world* object (the
cluster, or the single-instance explorer's stand-in) answers the questions the
guards ask (is this compute service up? what is shelved_offload_time?) and
applies the resource effects of the branch taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping, Protocol

from transitions import Machine, MachineError, State

from model import errors
from model.catalogue import CATALOGUE
from model.operation import (
    Branch, Check, HostEffect, Migration, Operation, OutcomeKind, Rule, Step, When, Where,
)
from model.states import (
    ALLOW_HARD_REBOOT, ALLOW_SOFT_REBOOT, MIGRATION_FINAL, REBUILD_STATES, MigrationStatus,
    MigrationType,
    PowerState, Task, TaskState, VmState, task_label,
)

NEW = "new"  # the machine state of an instance the API is about to create


def state_name(vm: VmState, task: Task) -> str:
    return f"{vm.value}|{task_label(task)}"


@dataclass
class MigrationRecord:
    """Nova's ``Migration`` object: the record a move is tracked by."""

    uuid: str
    instance_uuid: str
    migration_type: MigrationType
    status: MigrationStatus
    source: str | None
    dest: str | None = None
    old_flavor: str | None = None
    new_flavor: str | None = None
    #: the host the conductor last sent the move to (the scheduler's choice, then each
    #: alternate): a history variable, as ``dest`` is written only by the
    #: destination's claim (RT._claim_existing_migration) and the record's own writers
    sent_to: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.status not in MIGRATION_FINAL


@dataclass(frozen=True)
class Context:
    """The caller of an API request (``nova.context.RequestContext``)."""

    is_admin: bool = False

    @property
    def who(self) -> str:
        return "admin" if self.is_admin else "owner"


USER = Context(is_admin=False)
ADMIN = Context(is_admin=True)


class World(Protocol):
    """What the lifecycle asks of its surroundings. A world may also have
    ``instance_placed(instance)``, told whenever a transition gives an instance a host."""

    def service_is_up(self, host: str) -> bool: ...

    @property
    def shelved_offload_time(self) -> int: ...

    def is_volume_backed(self, image: str | None) -> bool: ...


@dataclass
class SimpleWorld:
    """A world of named hosts whose services are up unless listed as down, whose
    instances all boot from images, or all from volumes."""

    down: set[str] = field(default_factory=set)
    shelved_offload_time: int = 0
    volume_backed: bool = False

    def service_is_up(self, host: str) -> bool:
        return host not in self.down

    def is_volume_backed(self, image: str | None) -> bool:
        return self.volume_backed


class Instance:
    """The state variables of one instance: the ``transitions`` model.

    ``state`` is owned by the machine; ``vm_state`` and ``task_state`` are read from it.
    """

    def __init__(self, uuid: str, world: World, *, flavor: str | None = None,
                 image: str | None = None):
        self.uuid = uuid
        self.world = world
        self.state = NEW
        self.power_state = PowerState.PENDING
        #: the guest: the power state the hypervisor of ``host`` reports for it, Nova's
        #: NOSTATE (``PowerState.PENDING``) when it has none (``CM._get_power_state``
        #: returns NOSTATE when the driver raises InstanceNotFound). The record's
        #: ``power_state`` is what Nova last saved of it; the two part where a failure
        #: leaves the guest other than the record says (``Branch.guest``).
        self.guest = PowerState.PENDING
        self.host: str | None = None
        self.launched = False
        self.locked = False
        self.locked_by: str | None = None
        self.old_vm_state: VmState | None = None
        self.migration: MigrationRecord | None = None
        self.flavor = flavor
        self.image = image
        self.last_branch: Branch | None = None

    @property
    def vm_state(self) -> VmState:
        return STATE_PAIRS[self.state][0]

    @property
    def task_state(self) -> Task:
        return STATE_PAIRS[self.state][1]

    def __repr__(self) -> str:
        return (f"Instance({self.uuid} {self.vm_state.value}/{task_label(self.task_state)}/"
                f"{self.power_state.label} host={self.host})")


STATE_PAIRS: dict[str, tuple[VmState, Task]] = {
    state_name(vm, task): (vm, task) for vm in VmState for task in (None, *TaskState)}


# --- conditions -------------------------------------------------------------------

def _host_up(i: Instance) -> bool:
    return i.host is not None and i.world.service_is_up(i.host)


#: When-conditions decided by the (vm_state, task_state) pair: they select source states.
STATIC_CONDITIONS: dict[When, Callable[[VmState, Task, PowerState | None], bool]] = {
    When.VM_SHELVED: lambda vm, task, p: vm is VmState.SHELVED,
    When.VM_SHELVED_OFFLOADED: lambda vm, task, p: vm is VmState.SHELVED_OFFLOADED,
    When.VM_RESIZED: lambda vm, task, p: vm is VmState.RESIZED,
    When.VM_ACTIVE_OR_PAUSED: lambda vm, task, p: vm in (VmState.ACTIVE, VmState.PAUSED),
    When.VM_STOPPED: lambda vm, task, p: vm is VmState.STOPPED,
    When.NOT_VM_RESIZED: lambda vm, task, p: vm is not VmState.RESIZED,
    When.VM_ERROR_OR_OFFLOADED: lambda vm, task, p: vm in (VmState.ERROR,
                                                            VmState.SHELVED_OFFLOADED),
    When.NOT_VM_ERROR_OR_OFFLOADED: lambda vm, task, p: vm not in (VmState.ERROR,
                                                                    VmState.SHELVED_OFFLOADED),
    When.ALREADY_DELETING: lambda vm, task, p: task in (TaskState.DELETING,
                                                          TaskState.SOFT_DELETING),
    When.NOT_ALREADY_DELETING: lambda vm, task, p: task not in (TaskState.DELETING,
                                                                  TaskState.SOFT_DELETING),
    # CM._init_instance, in the order it tests them
    When.INIT_PROCEEDS: lambda vm, task, p: not (
        vm is VmState.SOFT_DELETED
        or (vm is VmState.ERROR and task not in (TaskState.RESIZE_MIGRATING,
                                                 TaskState.DELETING))),
    When.BUILDING_OR_BUILD_TASK: lambda vm, task, p: vm is VmState.BUILDING or task in (
        TaskState.SCHEDULING, TaskState.BLOCK_DEVICE_MAPPING, TaskState.NETWORKING,
        TaskState.SPAWNING),
    When.REBUILD_TASK: lambda vm, task, p: (vm in (VmState.ACTIVE, VmState.STOPPED)
                                            and task in REBUILD_STATES),
    When.IMAGE_TASK: lambda vm, task, p: task in (
        TaskState.IMAGE_SNAPSHOT_PENDING, TaskState.IMAGE_SNAPSHOT,
        TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_UPLOADING),
    When.TASK_RESIZE_PREP: lambda vm, task, p: task is TaskState.RESIZE_PREP,
    When.TASK_DELETING: lambda vm, task, p: task is TaskState.DELETING,
    When.REBOOT_TASK: lambda vm, task, p: (
        (task is TaskState.REBOOT_PENDING and vm in ALLOW_SOFT_REBOOT)
        or (task is TaskState.REBOOT_PENDING_HARD and vm in ALLOW_HARD_REBOOT)
        or task in (TaskState.REBOOTING, TaskState.REBOOT_STARTED, TaskState.REBOOTING_HARD,
                    TaskState.REBOOT_STARTED_HARD)),
    When.TASK_PAUSING: lambda vm, task, p: task is TaskState.PAUSING,
    When.TASK_UNPAUSING: lambda vm, task, p: task is TaskState.UNPAUSING,
    When.TASK_POWERING_OFF: lambda vm, task, p: task is TaskState.POWERING_OFF,
    When.TASK_POWERING_ON: lambda vm, task, p: task is TaskState.POWERING_ON,
    When.TASK_RESIZE_MIGRATING: lambda vm, task, p: task is TaskState.RESIZE_MIGRATING,
    When.TASK_MIGRATING: lambda vm, task, p: task is TaskState.MIGRATING,
}

#: When-conditions read from the instance's other variables or from the world.
#: what CM._sync_instance_power_state takes for a guest that is not stopped
_GUEST_ON = frozenset({PowerState.RUNNING, PowerState.PAUSED})
#: a guest that is down: none (NOSTATE), shut off or crashed (``When.GUEST_DOWN``: the
#: power states CM.stop_instance takes from CM._sync_instance_power_state)
GUEST_DOWN = frozenset({PowerState.PENDING, PowerState.SHUTDOWN, PowerState.CRASHED})


DYNAMIC_CONDITIONS: dict[When, Callable[[Instance], bool]] = {
    When.WAS_STOPPED: lambda i: i.old_vm_state is VmState.STOPPED,
    When.NOT_WAS_STOPPED: lambda i: i.old_vm_state is not VmState.STOPPED,
    When.WAS_ERROR: lambda i: i.old_vm_state is VmState.ERROR,
    When.NOT_WAS_ERROR: lambda i: i.old_vm_state is not VmState.ERROR,
    When.POWERED_OFF: lambda i: i.power_state is PowerState.SHUTDOWN,
    When.NOT_POWERED_OFF: lambda i: i.power_state is not PowerState.SHUTDOWN,
    When.HAS_HOST: lambda i: i.host is not None,
    When.NO_HOST: lambda i: i.host is None,
    When.HOST_UP: _host_up,
    When.HOST_DOWN: lambda i: i.host is not None and not i.world.service_is_up(i.host),
    When.OFFLOAD_NOW: lambda i: i.world.shelved_offload_time == 0,
    When.NOT_OFFLOAD_NOW: lambda i: i.world.shelved_offload_time != 0,
    When.VOLUME_BACKED: lambda i: i.world.is_volume_backed(i.image),
    When.NOT_VOLUME_BACKED: lambda i: not i.world.is_volume_backed(i.image),
    When.MIGRATION_CONFIRMED: lambda i: (i.migration is not None
                                         and i.migration.status is MigrationStatus.CONFIRMED),
    When.POWER_RUNNING: lambda i: i.power_state is PowerState.RUNNING,
    When.POWER_PAUSED: lambda i: i.power_state is PowerState.PAUSED,
    When.MIGRATION_RUNNING: lambda i: _migration_status(i) is MigrationStatus.RUNNING,
    When.MIGRATION_FINISHED: lambda i: _migration_status(i) is MigrationStatus.FINISHED,
    When.NOT_MIGRATION_RUNNING: lambda i: _migration_status(i) is not MigrationStatus.RUNNING,
    When.NO_GUEST: lambda i: i.guest is PowerState.PENDING,
    When.HAS_GUEST: lambda i: i.guest is not PowerState.PENDING,
    When.GUEST_OFF: lambda i: i.guest is PowerState.SHUTDOWN,
    When.GUEST_ON: lambda i: i.guest in _GUEST_ON,
    When.GUEST_DOWN: lambda i: i.guest in GUEST_DOWN,
    When.GUEST_NOT_RUNNING: lambda i: i.guest is not PowerState.RUNNING,
}
assert set(STATIC_CONDITIONS) | set(DYNAMIC_CONDITIONS) == set(When)

#: Conditions on power_state, used by the static legal-set computation.
POWER_CONDITIONS: dict[When, Callable[[PowerState], bool]] = {
    When.POWERED_OFF: lambda p: p is PowerState.SHUTDOWN,
    When.NOT_POWERED_OFF: lambda p: p is not PowerState.SHUTDOWN,
    When.POWER_RUNNING: lambda p: p is PowerState.RUNNING,
    When.POWER_PAUSED: lambda p: p is PowerState.PAUSED,
}


#: Conditions on the guest, used by the static legal-set computation.
GUEST_CONDITIONS: dict[When, Callable[[PowerState], bool]] = {
    When.NO_GUEST: lambda g: g is PowerState.PENDING,
    When.HAS_GUEST: lambda g: g is not PowerState.PENDING,
    When.GUEST_OFF: lambda g: g is PowerState.SHUTDOWN,
    When.GUEST_ON: lambda g: g in _GUEST_ON,
    When.GUEST_DOWN: lambda g: g in GUEST_DOWN,
    When.GUEST_NOT_RUNNING: lambda g: g is not PowerState.RUNNING,
}


def _migration_status(i: Instance) -> MigrationStatus | None:
    return i.migration.status if i.migration is not None else None


def _check_failure(check: Check, op: Operation, i: Instance, ctx: Context
                   ) -> errors.NovaModelError | None:
    """The error Nova raises for a failed guard check, or None when it passes."""
    g = op.guard
    where = i.uuid
    if check is Check.POLICY:
        if op.admin_only and not ctx.is_admin:
            return errors.PolicyNotAuthorized(f"{op.name} is admin-only by default policy")
    elif check is Check.LOCK:
        if g.check_instance_lock and i.locked and not ctx.is_admin:
            return errors.InstanceIsLocked(f"instance {i.uuid} is locked ({op.name})")
    elif check is Check.HOST:
        if i.host is None:
            return errors.InstanceNotReady(f"instance {i.uuid} has no host ({op.name})")
        if g.check_is_up and not i.world.service_is_up(i.host):
            return errors.ServiceUnavailable(f"compute service of {i.host} is down ({op.name})")
    elif check is Check.STATE:
        vm, task = i.vm_state, i.task_state
        if g.vm_states is not None and vm not in g.vm_states:
            return errors.InstanceInvalidState(
                f"cannot {op.name} {where}: vm_state is {vm.value}", "vm_state")
        if g.task_states is not None and task not in g.task_states:
            return errors.InstanceInvalidState(
                f"cannot {op.name} {where}: task_state is {task_label(task)}", "task_state")
        if g.must_have_launched and not i.launched:
            return errors.InstanceInvalidState(
                f"cannot {op.name} {where}: never launched", "launched_at")
    elif check is Check.SOURCE_HOST_DOWN:
        if i.host is None:
            return errors.ComputeHostNotFound(f"instance {i.uuid} has no host to evacuate from")
        if i.world.service_is_up(i.host):
            return errors.ComputeServiceInUse(f"compute service of {i.host} is still up")
    elif check is Check.SOURCE_COMPUTE_UP:
        source = i.migration.source if i.migration else None
        if source is None or not i.world.service_is_up(source):
            return errors.ServiceUnavailable(f"source compute service {source} is down")
    elif check is Check.MIGRATION_RUNNING:
        if _migration_status(i) is not MigrationStatus.RUNNING:
            return errors.InvalidMigrationState(
                f"migration of {i.uuid} is not running ({_migration_status(i)})")
    elif check is Check.MIGRATION_ABORTABLE:
        if _migration_status(i) not in (MigrationStatus.QUEUED, MigrationStatus.PREPARING,
                                        MigrationStatus.RUNNING):
            return errors.InvalidMigrationState(
                f"migration of {i.uuid} cannot be aborted ({_migration_status(i)})")
    elif check is Check.MIGRATION_FINISHED:
        # API.confirm_resize / API.revert_resize: Migration.get_by_instance_and_status(
        # ..., 'finished') raises MigrationNotFoundByStatus when there is none.
        if _migration_status(i) is not MigrationStatus.FINISHED:
            return errors.MigrationNotFoundByStatus(
                f"no migration of {i.uuid} in status finished ({_migration_status(i)})")
    elif check is Check.UNLOCK_OWNER:
        if i.locked and i.locked_by == "admin" and not ctx.is_admin:
            return errors.PolicyNotAuthorized(f"{i.uuid} was locked by an admin")
    return None


def guard_failure(op: Operation, i: Instance, ctx: Context) -> errors.NovaModelError | None:
    """Run the operation's checks in Nova's decorator order; return the first failure."""
    if op.creates_instance:
        return None if i.state == NEW else errors.InvalidRequest(f"{i.uuid} already exists")
    if i.state == NEW or i.vm_state is VmState.DELETED:
        return errors.InstanceNotFound(f"instance {i.uuid} does not exist")
    if op.guard is None:
        return None
    checks = op.guard.checks
    if op.admin_only and Check.POLICY not in checks:
        checks = (Check.POLICY, *checks)
    for check in checks:
        failure = _check_failure(check, op, i, ctx)
        if failure is not None:
            return failure
    return None


# --- the legal set ----------------------------------------------------------------

def _vm_target(branch: Branch, vm: VmState, saved: Iterable[VmState]) -> list[VmState]:
    if branch.vm is Rule.KEEP:
        return [vm]
    if branch.vm is Rule.SAVED_VM_STATE:
        return sorted(set(saved), key=list(VmState).index)
    return [branch.vm]


def _task_target(branch: Branch, task: Task) -> Task:
    return task if branch.task is Rule.KEEP else branch.task


def _guest_target(branch: Branch, guest: PowerState) -> PowerState:
    """The guest after the branch: declared, or as the record's new power_state."""
    if isinstance(branch.guest, PowerState):
        return branch.guest
    if branch.guest is Rule.SHUT_OFF:
        return guest if guest is PowerState.PENDING else PowerState.SHUTDOWN
    if branch.guest is Rule.FOLLOW and isinstance(branch.power, PowerState):
        return branch.power
    return guest


def _power_target(branch: Branch, power: PowerState, guest: PowerState) -> PowerState:
    """The record's power_state after the branch (``guest``: the guest after it)."""
    if branch.power is Rule.KEEP:
        return power
    if branch.power is Rule.GUEST:
        return guest
    return branch.power


def remembered_vm_states(operations: Iterable[Operation]) -> frozenset[VmState]:
    """Every vm_state an operation can store as old_vm_state (what SAVED can restore)."""
    saved = {VmState.ACTIVE}
    for op in operations:
        if op.remembers_vm_state and op.guard is not None:
            saved |= op.guard.vm_states or set(VmState)
    return frozenset(saved)


def check_admits(step: Step, task: Task, guest: PowerState | None) -> bool:
    """Whether the step's compare-and-swap admits ``task``: one it expects, or one of
    ``Step.expects_if_guest_down`` when its handler finds the guest down (``guest``
    None: the guest is not known, and either may be it)."""
    if step.expects is None or task in step.expects:
        return True
    return task in step.expects_if_guest_down and (guest is None or guest in GUEST_DOWN)


def _step_accepts(step: Step, op: Operation, vm: VmState, task: Task,
                  guest: PowerState | None = None) -> bool:
    if vm is VmState.DELETED:
        return False
    if step.where is Where.API:
        if op.creates_instance:
            return False
        g = op.guard
        if g is not None and g.vm_states is not None and vm not in g.vm_states:
            return False
        if g is not None and g.task_states is not None and task not in g.task_states:
            return False
    return check_admits(step, task, guest)


def _static_ok(branch: Branch, vm: VmState, task: Task) -> bool:
    return all(STATIC_CONDITIONS[w](vm, task, None) for w in branch.when
               if w in STATIC_CONDITIONS)


#: What a step that lost its compare-and-swap is said to do: the cause the cluster
#: records for the error it leaves (``Step.preempted``), and the explorer's edge label
#: (``"<operation>.<step> preempted"``).
PREEMPTED = "preempted"


def preempted_label(operation: str, step: str) -> str:
    """The explorer's label for a step delivered after it lost its compare-and-swap."""
    return f"{operation}.{step} {PREEMPTED}"


def preempted_step_of(label: str) -> tuple[str, str] | None:
    """(operation, step) of a ``preempted_label``; None for any other label."""
    name, _, word = label.partition(" ")
    if word != PREEMPTED:
        return None
    operation, _, step = name.partition(".")
    return operation, step


@dataclass(frozen=True)
class CleanUp:
    """What a step that lost its compare-and-swap still does for its move: Nova raises
    UnexpectedTaskStateError inside its own exception handling, so the step's declared
    failure path cleans up (``_revert_allocation``, ``errors_out_migration``,
    ``_rollback_live_migration``) while its writes to the instance are lost to the
    operation that got there first. ``branch`` is that failure's branch (its resource
    and flavor effects), ``migration`` its change to the move's record."""

    outcome: str
    branch: Branch
    migration: Migration | None
    #: the handler's own failure path (``Preempted.cleanup``), run whatever record the
    #: work carries, rather than a fault outcome's, run only with the work's record
    declared: bool = False


def preempted_clean_up(lifecycle: "Lifecycle", operation: str, step: Step,
                       reaches: bool = True) -> CleanUp | None:
    """The clean-up of ``step`` when it loses its compare-and-swap: the handler's
    failure path as ``Step.preempted.cleanup`` declares it, else its first fault outcome
    (a conductor step's no valid host, when it declares no fault: its failure path is
    the world's answer, whose clean-up ``MigrationTask.rollback`` runs the same way), or
    ``Preempted.record_gone`` when the handler does not reach its check (``reaches``:
    ``preempted_reaches``); None when that failure changes no allocation and no record.

    A failure that goes on to a reschedule (``CM._reschedule_resize_or_reraise``) ends
    the move as its reschedule ends with no alternate left: a preempted move is not sent
    on to another host."""
    declared = step.preempted.cleanup if step.preempted is not None else None
    if not reaches:
        declared = step.preempted.record_gone  # type: ignore[union-attr]
    if declared is not None:
        return CleanUp(PREEMPTED, declared, declared.migration, declared=True)
    fault = next((o for o in step.outcomes if o.kind is OutcomeKind.FAULT),
                 next((o for o in step.outcomes if o.kind is OutcomeKind.ENV), None))
    if fault is None:
        return None
    branch = fault.branches[0]
    migration = branch.migration
    if branch.then is not None:
        then = lifecycle.operation(operation).step(branch.then)
        if then.claims_alternate:
            migration = then.outcome("no_valid_host").branches[0].migration
    if not branch.alloc and migration is None:
        return None
    return CleanUp(fault.name, branch, migration)


def branch_taken(step: Step, outcome: str, instance: Instance) -> Branch:
    """The branch ``outcome`` of ``step`` takes for the instance now: the first whose
    conditions hold."""
    vm, task = instance.vm_state, instance.task_state
    branches = step.outcome(outcome).branches
    for b in branches:
        if all(STATIC_CONDITIONS[w](vm, task, instance.power_state) if w in STATIC_CONDITIONS
               else DYNAMIC_CONDITIONS[w](instance) for w in b.when):
            return b
    return branches[-1]


def fault_reached(step: Step, outcome: str, instance: Instance) -> bool:
    """Whether the call a fault outcome stands for is made: not when the handler's own
    check fails before it (``Branch.answers`` on the branch ``ok`` takes now: the
    handler answers the request and never calls the driver), so the step can only end
    as ``ok``."""
    return (step.outcome(outcome).kind is not OutcomeKind.FAULT
            or not branch_taken(step, "ok", instance).answers)


def preempted_reaches(step: Step, record: MigrationStatus | None) -> bool:
    """Whether the handler of a step that lost its compare-and-swap reaches it, given
    the status of the step's own record now (None: none, or no longer the instance's
    latest move's): not when ``Preempted.record_in`` names statuses and the record has
    none of them (another request confirmed the migration, or a later move replaced
    it, and the instance's migration context, which ``CM._confirm_resize`` reads before
    its save, went with it: dropped by that confirm, or by the later move's own end,
    e.g. ``RT.finish_evacuation``); then the step leaves ``Preempted.record_gone``."""
    p = step.preempted
    return p is None or not p.record_in or record in p.record_in


def preempted_state(step: Step, instance: "Instance", target: str | None,
                    reaches: bool = True) -> tuple[str, PowerState | None] | None:
    """``Step.preempted``: the machine state a step that lost its compare-and-swap
    leaves, and the power_state its handler read before (None: the record keeps its
    own): vm_state error with the task_state its handler had set in memory, saved by
    ``_error_out_instance_on_exception``, or with none when a check before the
    compare-and-swap failed first (the guest already on the step's host:
    ``reverts_task_state`` clears that one). None when the step leaves the instance as
    it is (nothing declared, or the instance is deleted). A handler that does not
    reach its check (``reaches``: ``preempted_reaches``) leaves ``Preempted.record_gone``'s
    vm and task, with the power_state the record has."""
    preempted = step.preempted
    if preempted is None or instance.vm_state is VmState.DELETED:
        return None
    if not reaches and preempted.record_gone is not None:
        gone = preempted.record_gone
        return state_name(gone.vm, instance.task_state if gone.task is Rule.KEEP
                          else gone.task), None
    task, power = preempted.task, preempted.power
    if task is Rule.KEEP:  # the handler set no task_state: the one found stays
        task = instance.task_state
    if (preempted.exists_check is not None and target is not None
            and target == instance.host and instance.guest is not PowerState.PENDING):
        task, power = None, None
    if power is Rule.GUEST:  # read on the step's host: the guest, if it is there
        power = instance.guest if target in (None, instance.host) else PowerState.PENDING
    return state_name(VmState.ERROR, task), power


def preempted_guest(step: Step, instance: "Instance") -> PowerState | None:
    """``Step.guest_before_check``: the guest a step that lost its compare-and-swap
    leaves, its driver having acted before the check (None: the guest is left as it
    is: the step's driver does nothing first, the instance is deleted, or the
    hypervisor has no guest of it)."""
    if (step.guest_before_check is None or instance.vm_state is VmState.DELETED
            or instance.guest is PowerState.PENDING):
        return None
    return step.guest_before_check


def rebuild_as_stopped(instance: "Instance") -> None:
    """The API's ``target_state`` stopped (``Operation.stopped_from_microversion``): the
    destination rebuilds the instance as a stopped one (``CM._do_rebuild_instance``
    takes it in place of the vm_state the API remembered), unless it is in error."""
    if instance.old_vm_state is not VmState.ERROR:
        instance.old_vm_state = VmState.STOPPED


def _preempted_combos(step: Step, vm: VmState, task: Task, power: PowerState,
                      guest: PowerState) -> list[tuple[VmState, Task, PowerState, PowerState]]:
    """What ``Step.preempted`` leaves when the step finds ``task`` instead of what it
    expects: vm_state error with the handler's task_state and the power_state it read
    (or none and the record's, when the check before the compare-and-swap failed first);
    with nothing declared, the record as it is and the guest as the driver left it
    before the check (``Step.guest_before_check``)."""
    p = step.preempted
    if check_admits(step, task, guest) or vm is VmState.DELETED:
        return []
    if p is None:
        # the driver's work before the lost check (``Step.guest_before_check``)
        after = step.guest_before_check
        if after is None or guest is PowerState.PENDING:
            return []
        return [(vm, task, power, after)]
    read = guest if p.power is Rule.GUEST else p.power
    combos = [(VmState.ERROR, task if p.task is Rule.KEEP else p.task,
               power if read is None else read, guest)]
    if p.exists_check is not None:
        combos.append((VmState.ERROR, None, power, guest))
    if p.record_gone is not None:
        gone = p.record_gone
        combos.append((gone.vm, task if gone.task is Rule.KEEP else gone.task, power, guest))
    return combos


def legal_combinations(operations: Iterable[Operation]
                       ) -> frozenset[tuple[VmState, Task, PowerState]]:
    """Every (vm_state, task_state, power_state) the operations can produce from a boot.

    A fixpoint over the declared records: the API steps from every combination their
    guard admits, the other steps from every combination whose task_state they expect.
    It over-approximates what the explorer reaches (it ignores which work is pending),
    which is what an invariant about *legal* combinations needs.
    """
    operations = tuple(operations)
    saved = remembered_vm_states(operations)
    creates = [op for op in operations if op.creates_instance]
    # (the fixpoint runs over (vm, task, power, guest): a branch may read the guest)
    frontier: set[tuple[VmState, Task, PowerState, PowerState]] = set()
    for op in creates:
        for b in op.api.outcomes[0].branches:
            guest = _guest_target(b, PowerState.PENDING)
            frontier.add((b.vm, b.task, _power_target(b, PowerState.PENDING, guest),  # type: ignore[arg-type]
                          guest))
    seen = set(frontier)
    while frontier:
        nxt: set[tuple[VmState, Task, PowerState, PowerState]] = set()
        for (vm, task, power, guest) in frontier:
            for op in operations:
                for step in op.all_steps.values():
                    if not _step_accepts(step, op, vm, task, guest):
                        # a step that loses its compare-and-swap inside
                        # _error_out_instance_on_exception errors the instance
                        for combo in _preempted_combos(step, vm, task, power, guest):
                            if combo not in seen:
                                seen.add(combo)
                                nxt.add(combo)
                        continue
                    for outcome in step.outcomes:
                        for b in outcome.branches:
                            if not _static_ok(b, vm, task):
                                continue
                            if not all(POWER_CONDITIONS[w](power) for w in b.when
                                       if w in POWER_CONDITIONS):
                                continue
                            if not all(GUEST_CONDITIONS[w](guest) for w in b.when
                                       if w in GUEST_CONDITIONS):
                                continue
                            guest2 = _guest_target(b, guest)
                            for vm2 in _vm_target(b, vm, saved):
                                combo = (vm2, _task_target(b, task),
                                         _power_target(b, power, guest2), guest2)
                                if combo not in seen:
                                    seen.add(combo)
                                    nxt.add(combo)
        frontier = nxt
    return frozenset((vm, task, power) for vm, task, power, _ in seen)


# --- the machine --------------------------------------------------------------------

def trigger_name(op: str, step: str, outcome: str) -> str:
    return f"{op}.{step}.{outcome}"


@dataclass(frozen=True)
class TransitionSpec:
    """One derived transition, kept for tests and diagrams."""

    trigger: str
    source: str
    dest: str
    operation: str
    step: str
    outcome: str
    branch_index: int
    conditions: tuple[When, ...]


class QuietState(State):
    """A state whose entry and exit, with no callbacks to run (none has any here),
    skip the stock pair of log records each (two of a trigger's ~12 calls)."""

    def enter(self, event_data):
        if self.on_enter:
            super().enter(event_data)

    def exit(self, event_data):
        if self.on_exit:
            super().exit(event_data)


class SharedMachine(Machine):
    """A ``Machine`` that binds nothing onto its models.

    The stock ``add_model`` binds ``trigger``, ``may_trigger``, ``<trigger>``,
    ``may_<trigger>`` and ``is_<state>`` per model: with this catalogue's ~170
    triggers and ~170 states that is ~3 ms per instance (and the bound partials tie
    each instance to itself in a reference cycle, which only the garbage collector's
    full collections free). The lifecycle fires an event itself
    (``events[trigger].trigger(model)``) and answers ``may`` from the compiled table
    (``CompiledMachine``): nothing is looked up on the model. Only public methods are
    overridden.
    """

    state_cls = QuietState

    def callbacks(self, funcs, event_data):
        # Every callback here is a callable taking the event (``send_event=True``): it
        # is called as it is, without the stock name resolution and log record per call.
        for func in funcs:
            func(event_data)

    def add_model(self, model, initial=None):
        # The stock method binds the per-model helpers above and finds duplicates by
        # equality; here only the initial state is set, and duplicates are found by
        # identity in a set (a scan of ``models`` per instance made creating n
        # instances quadratic).
        initial = self.initial if initial is None else initial
        added = self.__dict__.setdefault("_model_ids", set())
        for mod in model if isinstance(model, list) else [model]:
            mod = self if mod is self.self_literal else mod
            if id(mod) in added:
                continue
            self.set_state(initial, model=mod)
            self.models.append(mod)
            added.add(id(mod))

    def remove_model(self, model):
        super().remove_model(model)
        added = self.__dict__.get("_model_ids", set())
        for mod in model if isinstance(model, list) else [model]:
            added.discard(id(mod))


class FiredEvent:
    """What a compiled transition's conditions and callbacks read: the three parts of a
    ``transitions`` ``EventData`` this lifecycle's callables use."""

    __slots__ = ("model", "kwargs", "transition")

    def __init__(self, model, kwargs: dict, transition):
        self.model, self.kwargs, self.transition = model, kwargs, transition


class CompiledMachine:
    """The lifecycle's ``transitions`` machine, compiled into a table for the explorer.

    Read from the machine's public attributes (``events``, each event's
    ``transitions`` per source state, each transition's ``dest``, ``conditions`` and
    ``after``), so it is the same declaration, not a second one. ``fire`` does what
    ``Event.trigger`` does for this machine (send_event, no prepare, before, enter or
    exit callbacks, no machine-wide callbacks): try the transitions leaving the model's
    state in order, take the first whose conditions all hold, set the state, run its
    after-callbacks. A machine using any feature ``fire`` leaves out is refused.
    """

    def __init__(self, machine: Machine):
        unsupported = [name for name in ("prepare_event", "before_state_change",
                                         "after_state_change", "finalize_event",
                                         "on_exception", "on_final")
                       if getattr(machine, name)]
        unsupported += [f"state {s.name} callbacks" for s in machine.states.values()
                        if s.on_enter or s.on_exit]
        if not machine.send_event or machine.model_attribute != "state":
            unsupported.append("send_event off or a model attribute other than state")
        table: dict[tuple[str, str], tuple] = {}
        for trigger, event in machine.events.items():
            for source, transitions in event.transitions.items():
                compiled = []
                for t in transitions:
                    if t.prepare or t.before or not t.dest:
                        unsupported.append(f"{trigger} from {source}")
                    funcs = [c.func for c in t.conditions] + list(t.after)
                    if not all(callable(f) for f in funcs):
                        unsupported.append(f"{trigger} from {source}: callbacks by name")
                    compiled.append((t, t.dest,
                                     tuple((c.func, c.target) for c in t.conditions),
                                     tuple(t.after)))
                table[(source, trigger)] = tuple(compiled)
        if unsupported:
            raise errors.NovaModelError(
                "cannot compile the machine: " + "; ".join(sorted(set(unsupported))))
        self.table = table

    def transitions_from(self, state: str, trigger: str) -> tuple:
        """(transition, dest, ((condition, target), ...), after-callbacks) in order."""
        return self.table.get((state, trigger), ())

    def fire(self, model, trigger: str, kwargs: dict) -> bool:
        """Fire ``trigger`` on ``model``; False when no transition from its state may."""
        for transition, dest, conditions, after in self.table.get((model.state, trigger), ()):
            event = FiredEvent(model, kwargs, transition)
            if all(func(event) == target for func, target in conditions):
                model.state = dest
                for callback in after:
                    callback(event)
                return True
        return False

    def may(self, model, trigger: str, kwargs: dict | None = None) -> bool:
        """Whether firing ``trigger`` now would take a transition (nothing is changed)."""
        for transition, _, conditions, _ in self.table.get((model.state, trigger), ()):
            event = FiredEvent(model, {} if kwargs is None else kwargs, transition)
            if all(func(event) == target for func, target in conditions):
                return True
        return False


class Lifecycle:
    """A catalogue turned into one ``transitions`` machine: a value, not a module.

    Build several from different catalogues (a reviewer's variant of a guard, a
    seeded fault) and they run side by side.
    """

    def __init__(self, catalogue: Mapping[str, Operation] = CATALOGUE):
        self.catalogue = dict(catalogue)
        self.operations = tuple(self.catalogue.values())
        self.saved_vm_states = remembered_vm_states(self.operations)
        self.legal = legal_combinations(self.operations)
        pairs = sorted({(vm, task) for vm, task, _ in self.legal},
                       key=lambda p: (list(VmState).index(p[0]), task_label(p[1])))
        self.states = tuple(state_name(vm, task) for vm, task in pairs)
        self._state_set = frozenset(self.states) | {NEW}
        self.specs = tuple(self._derive())
        self.machine = SharedMachine(
            model=None, states=[NEW, *self.states], initial=NEW, send_event=True,
            auto_transitions=False, ignore_invalid_triggers=False,
)
        for spec, callback, condition in self._callbacks:
            self.machine.add_transition(spec.trigger, spec.source, spec.dest,
                                        conditions=condition, after=callback)
        self.triggers = frozenset(s.trigger for s in self.specs)

    # -- derivation --

    def _derive(self) -> Iterable[TransitionSpec]:
        self._callbacks: list[tuple[TransitionSpec, Callable, list]] = []
        self._shared: dict[tuple, Any] = {}
        legal_pairs = [STATE_PAIRS[s] for s in self.states]
        for op in self.operations:
            for step in op.all_steps.values():
                for outcome in step.outcomes:
                    trigger = trigger_name(op.name, step.name, outcome.name)
                    sources = ([(None, None)] if op.creates_instance and step.where is Where.API
                               else [(vm, task) for vm, task in legal_pairs
                                     if _step_accepts(step, op, vm, task)])
                    for vm, task in sources:
                        for index, b in enumerate(outcome.branches):
                            if vm is not None and not _static_ok(b, vm, task):
                                continue
                            dynamic = tuple(w for w in b.when if w in DYNAMIC_CONDITIONS)
                            if vm is not None and not check_admits(step, task,
                                                                   PowerState.RUNNING):
                                # admitted only with the guest down
                                # (``Step.expects_if_guest_down``)
                                dynamic += (When.GUEST_DOWN,)
                            yield from self._branch_specs(trigger, op, step, outcome.name,
                                                          index, b, vm, task, dynamic)

    def _branch_specs(self, trigger, op, step, outcome, index, b, vm, task, dynamic):
        if vm is None:  # creation
            source = NEW
            targets = [(b.vm, ())]
            task = None
        else:
            source = state_name(vm, task)
            if b.vm is Rule.SAVED_VM_STATE:
                targets = [(v, (v,)) for v in sorted(self.saved_vm_states,
                                                     key=list(VmState).index)]
            else:
                targets = [(v, ()) for v in _vm_target(b, vm, self.saved_vm_states)]
        for vm2, saved in targets:
            dest = state_name(vm2, _task_target(b, task))
            if dest not in self._state_set:
                # The legal set already applied the branch's power conditions: a
                # destination outside it is reachable only from an illegal power_state
                # (e.g. sync_power_state's shut-off branch from paused), so the edge
                # could never fire and must not point at an unregistered state.
                continue
            spec = TransitionSpec(trigger, source, dest, op.name, step.name, outcome, index,
                                  dynamic)
            # One callback per branch and one condition per combination, shared by all
            # the transitions they serve (closures per transition were a third of the
            # machine's objects, which every full garbage collection walks).
            effect = self._shared.get((op.name, id(b)))
            if effect is None:
                effect = self._shared[(op.name, id(b))] = _effect(op, b)
            condition = self._shared.get((dynamic, saved))
            if condition is None:
                condition = self._shared[(dynamic, saved)] = _conditions(dynamic, saved)
            self._callbacks.append((spec, effect, condition))
            yield spec

    # -- instances --

    def new_instance(self, uuid: str, world: World, **attrs) -> Instance:
        instance = Instance(uuid, world, **attrs)
        self.machine.add_model(instance, initial=NEW)
        return instance

    def forget(self, instance: Instance) -> None:
        self.machine.remove_model(instance)

    # -- driving --

    def request(self, op_name: str, instance: Instance, ctx: Context = USER, **kw) -> Branch:
        """An API call: check the guard, then take the API step. Raises on rejection."""
        op = self.operation(op_name)
        failure = guard_failure(op, instance, ctx)
        if failure is not None:
            raise failure
        return self._fire(op, op.api, "ok", instance, ctx=ctx, **kw)

    def deliver(self, op_name: str, step_name: str, outcome: str, instance: Instance,
                **kw) -> Branch:
        """Run one asynchronous step with the given outcome.

        Raises UnexpectedTaskStateError when the step's compare-and-swap on task_state
        fails (another operation got there first): the work is then dropped, as
        ``reverts_task_state`` leaves such a preemption alone.
        """
        op = self.operation(op_name)
        return self._fire(op, op.step(step_name), outcome, instance, **kw)

    def guard_failure_for(self, op_name: str, instance: Instance, ctx: Context = ADMIN
                          ) -> errors.NovaModelError | None:
        return guard_failure(self.operation(op_name), instance, ctx)

    def may(self, op_name: str, step_name: str, outcome: str, instance: Instance, **kw) -> bool:
        trigger = trigger_name(op_name, step_name, outcome)
        if trigger not in self.triggers:
            return False
        return self.compiled.may(instance, trigger, kw)

    def operation(self, name: str) -> Operation:
        try:
            return self.catalogue[name]
        except KeyError:
            raise errors.InvalidRequest(f"unknown operation {name!r}") from None

    def _fire(self, op: Operation, step: Step, outcome: str, instance: Instance,
              **kw) -> Branch:
        trigger = trigger_name(op.name, step.name, outcome)
        if trigger not in self.triggers:
            raise errors.UnexpectedTaskStateError(
                f"{op.name}.{step.name} has no outcome {outcome!r} from any legal state")
        instance.last_branch = None
        try:
            # (the event itself: what ``instance.trigger`` looks up, one call less)
            fired = self.machine.events[trigger].trigger(instance, **kw)
        except MachineError:
            fired = False
        if not fired:
            raise errors.UnexpectedTaskStateError(
                f"{op.name}.{step.name}: {outcome} not possible for {instance.uuid} in "
                f"{instance.vm_state.value}/{task_label(instance.task_state)}")
        return instance.last_branch  # type: ignore[return-value]

    @cached_property
    def compiled(self) -> CompiledMachine:
        """The machine as a table (what ``may`` and the explorer read)."""
        return CompiledMachine(self.machine)

    # -- views derived for tests, the CLI and diagrams --

    @cached_property
    def api_sources(self) -> dict[str, frozenset[str]]:
        """For each operation, the machine states its API transition leaves from."""
        out: dict[str, set[str]] = {}
        for s in self.specs:
            if s.step == "api":
                out.setdefault(s.operation, set()).add(s.source)
        return {k: frozenset(v) for k, v in out.items()}


def place(instance: Instance, effect: HostEffect, source: str | None,
          dest: str | None) -> None:
    """A branch's ``HostEffect`` on ``instance.host`` (a step's own branch, or the
    clean-up of one that lost its compare-and-swap: ``Preempted.cleanup``)."""
    if effect is HostEffect.SET_DEST or effect is HostEffect.SET_SOURCE:
        instance.host = dest if effect is HostEffect.SET_DEST else source
        placed = getattr(instance.world, "instance_placed", None)
        if placed is not None:  # a world that indexes its instances by host
            placed(instance)
    elif effect is HostEffect.CLEAR:
        instance.host = None


def _conditions(dynamic: tuple[When, ...], saved: tuple[VmState, ...]) -> list[Callable]:
    checks = [DYNAMIC_CONDITIONS[w] for w in dynamic]
    if saved:
        (want,) = saved
        checks.append(lambda i, want=want: (i.old_vm_state or VmState.ACTIVE) is want)
    if not checks:
        return []
    if len(checks) == 1:
        only = checks[0]
        return [lambda ev: only(ev.model)]
    return [lambda ev: all(c(ev.model) for c in checks)]


def _effect(op: Operation, b: Branch) -> Callable:
    """The after-callback: what the branch does to the instance's other variables."""
    remembers = (op.remembers_vm_state and b is op.api.outcomes[0].branches[0]
                 or b.stashes_vm_state)

    def apply(ev) -> None:
        i: Instance = ev.model
        kw = ev.kwargs
        if remembers:
            i.old_vm_state = STATE_PAIRS[ev.transition.source][0]
        if b.guest is not Rule.KEEP:
            i.guest = _guest_target(b, i.guest)
        if b.power is Rule.GUEST:
            i.power_state = i.guest
        elif b.power is not Rule.KEEP:
            i.power_state = b.power
        place(i, b.host, kw.get("source"), kw.get("dest"))
        if b.launched:
            i.launched = True
        if b.lock is True:
            # API.lock: "Only update the lock if we are an admin (non-owner)": an
            # owner re-locking a locked instance is a no-op (locked_by is kept).
            if not (i.locked and not kw["ctx"].is_admin):
                i.locked, i.locked_by = True, kw["ctx"].who
        elif b.lock is False:
            i.locked, i.locked_by = False, None
        i.last_branch = b

    return apply
