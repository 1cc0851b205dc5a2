"""The vocabulary operations are declared in.

An operation is data: a guard (Nova's ``check_instance_*`` decorators), an API
step (the compare-and-swap on task_state the API does), and the asynchronous
steps that follow (conductor, scheduler, compute), each with named outcomes.
An outcome has one or more branches; the first branch whose conditions hold is
taken. The ``transitions`` machine, the guard table, the state graph, the
Hypothesis rules and every diagram are derived from these records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from model.states import MigrationStatus, MigrationType, PowerState, Task, TaskState, VmState


class Kind(StrEnum):
    """Who starts an operation."""

    API = "api"            # a user or admin request
    PERIODIC = "periodic"  # a ComputeManager periodic task
    EVENT = "event"        # something the hypervisor or the host does


class Where(StrEnum):
    """Where a step runs; the cluster delivers it there."""

    API = "api"
    CONDUCTOR = "conductor"
    HOST = "host"      # the compute service of instance.host
    SOURCE = "source"  # the source host of the operation's migration
    DEST = "dest"      # the destination chosen by the scheduler


class Rule(StrEnum):
    """A target that depends on the instance rather than being a constant."""

    KEEP = "unchanged"
    SAVED_VM_STATE = "old_vm_state (default active)"
    #: a guest effect: the guest is left as the branch leaves the record's power_state
    #: (the driver did what the step asked of it)
    FOLLOW = "as the power_state the branch sets"
    #: a power_state effect: the record reads the hypervisor (``CM._get_power_state``:
    #: the guest's power state, NOSTATE when the driver has no guest)
    GUEST = "the guest's power state (CM._get_power_state)"
    #: a guest effect: a guest the hypervisor has is left shut off; with none, none
    #: (a driver call that failed after stopping a guest, or before making one)
    SHUT_OFF = "shut off if there is one (none stays none)"


KEEP = Rule.KEEP


class When(StrEnum):
    """Branch conditions. Instance conditions read the instance; the others the cluster."""

    WAS_STOPPED = "old_vm_state is stopped"
    NOT_WAS_STOPPED = "old_vm_state is not stopped"
    WAS_ERROR = "old_vm_state is error"
    NOT_WAS_ERROR = "old_vm_state is not error"
    POWERED_OFF = "power_state is shutdown"
    NOT_POWERED_OFF = "power_state is not shutdown"
    VM_SHELVED = "vm_state is shelved"
    VM_SHELVED_OFFLOADED = "vm_state is shelved_offloaded"
    VM_RESIZED = "vm_state is resized"
    VM_ACTIVE_OR_PAUSED = "vm_state is active or paused"
    VM_STOPPED = "vm_state is stopped"
    NOT_VM_RESIZED = "vm_state is not resized"
    VM_ERROR_OR_OFFLOADED = "vm_state is error or shelved_offloaded"
    NOT_VM_ERROR_OR_OFFLOADED = "vm_state is neither error nor shelved_offloaded"
    ALREADY_DELETING = "task_state is deleting or soft-deleting"
    NOT_ALREADY_DELETING = "task_state is neither deleting nor soft-deleting"
    HAS_HOST = "instance.host is set"
    NO_HOST = "instance.host is None"
    HOST_UP = "instance.host's compute service is up"
    HOST_DOWN = "instance.host's compute service is down"
    OFFLOAD_NOW = "shelved_offload_time == 0"
    VOLUME_BACKED = "the instance boots from a volume (compute_utils.is_volume_backed_instance)"
    NOT_VOLUME_BACKED = "the instance boots from an image"
    NOT_OFFLOAD_NOW = "shelved_offload_time != 0"
    MIGRATION_CONFIRMED = "the instance's migration is already confirmed"
    MIGRATION_FINISHED = "the instance's migration is finished (not yet confirmed or reverted)"
    POWER_RUNNING = "power_state is running"
    POWER_PAUSED = "power_state is paused"
    MIGRATION_RUNNING = "the instance's migration is running"
    # The guest: what the hypervisor has for the instance (``Instance.guest``).
    NO_GUEST = "the hypervisor has no guest (the driver raises InstanceNotFound)"
    HAS_GUEST = "the hypervisor has a guest"
    GUEST_OFF = "the hypervisor reports the guest shut off"
    GUEST_ON = "the hypervisor reports the guest running or paused"
    GUEST_DOWN = ("the hypervisor reports no guest, or the guest shut off or crashed "
                  "(NOSTATE, SHUTDOWN or CRASHED)")
    GUEST_NOT_RUNNING = "the hypervisor reports the guest in any state but running"
    NOT_MIGRATION_RUNNING = "the instance's migration is not running"
    # Compute-start recovery (CM._init_instance): the task_state groups it tests, in
    # its order. INIT_PROCEEDS is its early return turned around.
    INIT_PROCEEDS = ("CM._init_instance handles the instance (vm_state not soft-delete; "
                     "not error unless task_state is resize_migrating or deleting)")
    BUILDING_OR_BUILD_TASK = ("vm_state is building, or task_state is scheduling, "
                              "networking, block_device_mapping or spawning")
    REBUILD_TASK = ("vm_state is active or stopped and task_state is rebuilding, "
                    "rebuild_block_device_mapping or rebuild_spawning")
    IMAGE_TASK = ("task_state is image_snapshot_pending, image_snapshot, "
                  "image_pending_upload or image_uploading")
    TASK_RESIZE_PREP = "task_state is resize_prep"
    TASK_DELETING = "task_state is deleting"
    REBOOT_TASK = ("task_state is rebooting, reboot_started, rebooting_hard or "
                   "reboot_started_hard; reboot_pending with vm_state active; or "
                   "reboot_pending_hard with vm_state in ALLOW_HARD_REBOOT")
    TASK_PAUSING = "task_state is pausing"
    TASK_UNPAUSING = "task_state is unpausing"
    TASK_POWERING_OFF = "task_state is powering-off"
    TASK_POWERING_ON = "task_state is powering-on"
    TASK_RESIZE_MIGRATING = "task_state is resize_migrating"
    TASK_MIGRATING = "task_state is migrating"


class Entered(StrEnum):
    """How a step is entered, which decides whether it outlives its compute process."""

    #: the operation's own start: an API request, a periodic task or a hypervisor event
    START = "the operation's start (an API request, a periodic task or an event)"
    #: an RPC cast or call from the API, the conductor or another compute: the message
    #: waits in the queue of the service it is sent to while that service is down
    RPC = "an RPC message, which waits in its service's queue while the service is down"
    #: the handler that ran the step before goes on with this one: no message is left
    #: for it, so it dies with the compute process (``CM.init_host`` then recovers the
    #: instance from its vm_state and task_state)
    HANDLER = "the same RPC handler goes on, and dies with the compute process"


@dataclass(frozen=True)
class Entry:
    """How a step is entered (``kind``) and the Nova function it runs in (``handler``):
    the one that receives the message, or the one that goes on. ``inline_after``
    names the steps after which the step is entered inside the handler of that step
    instead, with that handler: (step, handler) pairs (shelve's offload is cast by
    ``API.shelve`` for a volume-backed instance and called inline by
    ``CM._shelve_instance`` after the snapshot)."""

    kind: Entered
    handler: str
    inline_after: tuple[tuple[str, str], ...] = ()

    def after(self, previous: str) -> "Entry":
        """How the step is entered when ``previous`` queued it."""
        for step, handler in self.inline_after:
            if step == previous:
                return Entry(Entered.HANDLER, handler)
        return self


class Alloc(StrEnum):
    """Resource effects on the Placement ledger (implemented by the cluster)."""

    CLAIM_DEST = "claim the flavor for the instance on the selected host"
    CLAIM_DEST_DOUBLED = "add the selected host to the instance's allocation (source+dest)"
    MOVE_SOURCE_TO_MIGRATION = "move the instance's source allocation to the migration"
    REVERT_MIGRATION_TO_INSTANCE = "give the migration's allocation back to the instance; free the destination"
    DELETE_MIGRATION = "delete the migration's allocation"
    DELETE_INSTANCE = "delete the instance's allocation"
    REMOVE_DEST_FROM_INSTANCE = "remove the destination from the instance's allocation"
    REMOVE_SOURCE_FROM_INSTANCE = "remove the source from the instance's allocation"
    REMOVE_HOST_FROM_INSTANCE = "remove the instance's own host from its allocation"


#: The effects Nova writes as one POST /allocations naming two consumers (Placement's
#: ``set_allocations``: both consumers' old allocations go first and capacity is checked
#: on the write's cumulative effect, all or nothing), with the Nova code that makes it:
#: the report client's ``move_allocations``. Every other effect writes one consumer
#: (PUT /allocations/{consumer}: ``claim_resources``,
#: ``remove_provider_tree_from_instance_allocation``, ``delete_allocation_for_instance``).
BATCHED_WRITES: dict[Alloc, str] = {
    Alloc.MOVE_SOURCE_TO_MIGRATION: (
        "nova/conductor/tasks/migrate.py: replace_allocation_with_migration (resize, cold "
        "and live migration) -> SchedulerReportClient.move_allocations(instance, migration)"),
    Alloc.REVERT_MIGRATION_TO_INSTANCE: (
        "nova/compute/manager.py: ComputeManager._revert_allocation (revert_resize, a failed "
        "prep_resize or resize_instance, _rollback_live_migration, live_migration_abort); "
        "nova/conductor/tasks/migrate.py: revert_allocation_for_migration (a move that "
        "fails in the conductor) -> SchedulerReportClient.move_allocations(migration, "
        "instance)"),
}


class Track(StrEnum):
    """Calls on the compute's resource tracker (``nova/compute/resource_tracker.py``),
    made on the host the step runs on (the drops at source and destination: on the
    migration's source and destination). Kept apart from ``Alloc``: Placement's
    ledger and the tracker's own count are two views Nova keeps separately."""

    INSTANCE_CLAIM = "RT.instance_claim: count the instance on this host"
    ABORT_INSTANCE_CLAIM = "RT.abort_instance_claim: stop counting the instance here"
    MOVE_CLAIM = "RT.resize_claim / RT.rebuild_claim: count the incoming move here"
    DROP_MOVE_CLAIM = "RT.drop_move_claim (the move claim's abort): stop counting the move here"
    DROP_MOVE_CLAIM_AT_SOURCE = "RT.drop_move_claim_at_source: the source stops counting the old flavor"
    DROP_MOVE_CLAIM_AT_DEST = "RT.drop_move_claim_at_dest: the destination stops counting the new flavor"
    UPDATE_USAGE = "RT.update_usage: re-read the instance (dropped once deleted or offloaded)"
    BUILD_FAILED = "RT.build_failed: one more consecutive failed build"
    BUILD_SUCCEEDED = "RT.build_succeeded: the failed-build count back to 0"
    AUDIT = ("CM.update_available_resource: the tracker counts again at once, as the "
             "periodic audit does")
    FINISH_EVACUATION = ("RT.finish_evacuation: the instance's migration context is applied "
                         "and dropped, whichever move's it was")


class HostEffect(StrEnum):
    KEEP = "unchanged"
    SET_DEST = "instance.host = destination"
    SET_SOURCE = "instance.host = source"
    CLEAR = "instance.host = None"


class SchedulerUse(StrEnum):
    NEVER = "no"
    ALWAYS = "yes"
    UNLESS_FORCED = "yes, unless a host is forced"
    IF_OFFLOADED = "only from shelved_offloaded"
    CHECK_IF_NEW_IMAGE = "check only, when the image changes"


class SpecFlavor(StrEnum):
    """What a request does with the flavor its RequestSpec holds (``RequestSpec.flavor``,
    saved in the API database: a failed resize can leave it unlike the instance's)."""

    #: the scheduling asks for the saved RequestSpec's flavor as it is: the live
    #: migration (``LiveMigrationTask._find_destination``), the evacuation and the
    #: rebuild's image check (``COND.rebuild_instance``), the unshelve
    #: (``COND.unshelve_instance``); none of them sets it from the instance
    READS = "reads the saved flavor"
    #: ``COND._get_request_spec_for_cold_migrate`` sets it to the requested flavor (the
    #: instance's own for a cold migration), and ``COND._cold_migrate`` saves it once
    #: ``MigrationTask`` has scheduled and cast
    SETS = "sets it to the requested flavor, saved once scheduled"
    #: ``API.revert_resize`` puts ``instance.old_flavor`` back when it differs
    RESTORES = "puts the old flavor back"


class IgnoreHosts(StrEnum):
    """The host a move's scheduling leaves out (``RequestSpec.ignore_hosts``)."""

    NONE = "none"
    #: ``MigrationTask._execute`` (cold migration), ``LiveMigrationTask._find_destination``
    #: and ``COND.rebuild_instance`` (evacuate) put the source in ``ignore_hosts``
    SOURCE = "the instance's own host"
    #: ``API.resize`` with a new flavor ignores the source only when
    #: ``allow_resize_to_same_host`` is off
    SOURCE_UNLESS_RESIZE_TO_SAME_HOST = ("the instance's own host, unless "
                                         "allow_resize_to_same_host")


class HostChange(StrEnum):
    """How an existing instance comes onto another host, as the group filters see it
    (``ServerGroupAntiAffinityFilter`` and ``ServerGroupAffinityFilter`` read the members'
    ``instance.host``, ``InstanceGroup.get_hosts``)."""

    NONE = "stays on its host"
    #: a move: ``instance.host`` stays the source until the destination takes it
    LEAVES = "leaves its host for another one"
    #: unshelve from shelved_offloaded: ``instance.host`` is None until the compute's
    #: claim (``CM._unshelve_instance``) sets it
    ARRIVES = "comes onto a host from none"


class PeriodicTask(StrEnum):
    """The compute's periodic tasks that request an operation for each instance they find."""

    POLL_UNCONFIRMED_RESIZES = "CM._poll_unconfirmed_resizes"
    POLL_SHELVED_INSTANCES = "CM._poll_shelved_instances"
    RECLAIM_QUEUED_DELETES = "CM._reclaim_queued_deletes"
    SYNC_POWER_STATES = "CM._sync_power_states"


class OutcomeKind(StrEnum):
    OK = "ok"          # the step did its job
    ENV = "env"        # the world decided (no valid host, no alternates left)
    FAULT = "fault"    # an injected failure of the kind Nova's driver/services raise


@dataclass(frozen=True)
class Migration:
    """A change to the operation's migration record."""

    status: MigrationStatus
    create: MigrationType | None = None
    #: the chosen destination is written to the migration now (the API's requested
    #: host, the live-migration conductor, or the destination's move claim,
    #: ``RT._claim_existing_migration``); otherwise it keeps what it had
    records_dest: bool = False
    #: with ``create``: the instance's existing record of that type in this status, if
    #: it has one, is taken instead of a new one (and given ``status``), as
    #: ``MigrationTask._preallocate_migration`` looks one up before it creates one
    #: (``MigrationList.get_by_filters``, the first found): a second move scheduled
    #: while the first one's record is still in it shares that record
    reuses: MigrationStatus | None = None


@dataclass(frozen=True)
class Branch:
    """One way an outcome can go: conditions, then the new instance state and effects."""

    when: tuple[When, ...] = ()
    vm: VmState | Rule = KEEP
    task: Task | Rule = None
    power: PowerState | Rule = KEEP
    #: what the branch leaves on the hypervisor (``Instance.guest``): by default what
    #: the record says (``FOLLOW``); declared where Nova's code leaves them apart
    guest: PowerState | Rule = Rule.FOLLOW
    host: HostEffect = HostEffect.KEEP
    then: str | None = None  # the next step of the same operation
    alloc: tuple[Alloc, ...] = ()
    #: the compute's resource-tracker calls, in order
    tracker: tuple[Track, ...] = ()
    migration: Migration | None = None
    launched: bool = False   # sets launched_at
    lock: bool | None = None  # lock (True) / unlock (False)
    #: a resize's instance gets its old flavor back (after whatever the effects did)
    old_flavor: bool = False
    #: old_vm_state becomes the vm_state the branch leaves from (a move sent on to
    #: another host with the instance as it is now, whose next step stashes that
    #: vm_state: ``CM._prep_resize``'s ``system_metadata['old_vm_state']``)
    stashes_vm_state: bool = False
    #: the error the request answers with when its API waits for this step
    #: (``Operation.api_waits``) and the step fails by its own check, not by an
    #: injected fault: the compute raises after the branch's writes
    answers: str = ""
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    name: str
    kind: OutcomeKind
    branches: tuple[Branch, ...]
    nova: str = ""  # the Nova code path that produces it


@dataclass(frozen=True)
class Preempted:
    """What a step's handler does when its compare-and-swap on task_state fails
    (``instance.save(expected_task_state=...)`` raises UnexpectedTaskStateError) inside
    ``_error_out_instance_on_exception``: ``_set_instance_obj_error_state`` saves
    vm_state error with the task_state the handler had set in memory (``task``), which
    ``reverts_task_state`` leaves alone for this exception; ``Rule.KEEP`` where the
    handler set none in memory (``Instance.save`` writes only the fields changed, so the
    instance keeps the task_state the request that got there first left).
    ``exists_check`` names a check of the handler that runs before the compare-and-swap
    and fails first when the destination's hypervisor already has the instance's guest
    (the instance is on that host): a failure ``reverts_task_state`` does clear, so the
    task_state is None.
    ``power``: the power_state the handler reads into memory before the compare-and-swap
    (``instance.power_state = CM._get_power_state``), saved with the error: a constant
    where the hypervisor has no guest of the instance (the evacuation's destination:
    NOSTATE), ``Rule.GUEST`` where it reads the guest on the instance's own host; None
    when the handler reads none (the record keeps its power_state). ``cleanup``: the
    handler's failure path (its allocation, migration, flavor and host effects: with
    ``host``, what the handler put in memory before the compare-and-swap, which
    ``_set_instance_obj_error_state`` then saves; its vm and task are the above), for a
    step with no fault outcome of its own, whose first one ``Cluster._preempted`` runs
    otherwise. ``record_in``: the statuses the step's record must still have for its
    handler to reach the compare-and-swap; with the record in any other (or none
    followed), a call of the handler before the check fails first and the step leaves
    ``record_gone`` instead (its vm and task, ``Rule.KEEP`` where nothing clears the one
    found; its record and allocation effects): ``lifecycle.preempted_reaches``. Empty:
    the handler always reaches its check."""

    task: Task | Rule
    nova: str
    exists_check: str | None = None
    power: PowerState | Rule | None = None
    cleanup: Branch | None = None
    record_in: frozenset[MigrationStatus] = frozenset()
    record_gone: Branch | None = None


@dataclass(frozen=True)
class RecordLookup:
    """How a step comes by the move's migration record when Nova does not pass the
    record along its chain: the step finds it by its status, or its claim makes one.

    ``status``: the step looks the record up as the first of the instance's records in
    that status, of any type (``Migration.get_by_instance_and_status``), whichever
    request made it; finding none, it goes on with none. ``create``: the step's move
    claim takes the record it was given (status ``claimed`` and this host as the
    destination, ``RT._claim_existing_migration``) before its outcome, whatever the
    outcome is; given none, it makes one of this type (``RT._create_migration``:
    ``claimed``, from the instance's host to this host) that the step's handler never
    holds, so nothing the chain declares is written to it. Statuses the chain declares
    are written only to a record it holds."""

    nova: str
    status: MigrationStatus | None = None
    create: MigrationType | None = None
    claimed: MigrationStatus | None = None


@dataclass(frozen=True)
class Step:
    """One unit of work: it checks task_state (compare-and-swap), then takes an outcome.

    ``expects`` is the task_state the step's ``instance.save(expected_task_state=...)``
    requires; ``None`` (the Python value) means Nova does no check at all.
    """

    name: str
    where: Where
    expects: frozenset[Task] | None
    outcomes: tuple[Outcome, ...]
    nova: str
    schedules: bool = False  # consults the scheduler (and claims) before its outcome
    #: the outcome taken instead of ``ok`` when the compute's re-check of the hard
    #: server-group policy fails (``CM._validate_instance_group_policy``), if any
    late_group_check: str | None = None
    #: the outcome in which Placement fails to move the migration's allocation
    #: back to the instance (``CM._revert_allocation`` raises AllocationMoveFailed),
    #: if any: the accounting names the allocation it leaves behind
    move_refused: str | None = None
    #: the scheduling fails (NoValidHost's outcome) while the instance's own host's
    #: compute service is down: the conductor checks the source before it schedules
    source_must_be_up: bool = False
    #: the scheduling fails (NoValidHost's outcome) unless the instance's power_state
    #: is running or paused: the conductor checks it first
    #: (``LiveMigrationTask._check_instance_is_active``)
    guest_must_run: bool = False
    #: a branch of this step that claims (``Alloc.CLAIM_DEST``) has the scheduler claim
    #: the chosen host in Placement and then fail before it consumes the host: the
    #: claim stays and the handler raises with nothing cleaned up (why, citing Nova)
    claim_then_fails: str | None = None
    #: a reschedule: the conductor claims the next of the alternates the first
    #: scheduling returned, in order, instead of asking the scheduler again
    #: (``COND.build_instances``, ``MigrationTask._reschedule``); an operation with
    #: such a step has its alternates kept when it is first scheduled
    claims_alternate: bool = False
    #: the conductor skips a destination whose hypervisor type differs from the
    #: source's or whose version is older, and asks the scheduler again
    #: (``LiveMigrationTask._check_compatible_with_source_hypervisor`` in
    #: ``_find_destination``; a forced destination fails the move)
    same_or_newer_hypervisor: bool = False
    #: a multi-create (a create's ``min_count`` / ``max_count``) is scheduled here for all
    #: its instances at once, in the words given: one decision that places them one
    #: after another, each chosen host consumed and counted by the group filters before
    #: the next; NoValidHost for all when fewer are placed; then each instance goes on
    #: alone (``COND.schedule_and_build_instances``)
    schedules_batch: str | None = None
    #: how the step is entered (an RPC message that survives its service being down, or
    #: the handler of the step before going on, which dies with the compute process);
    #: every step declares it (``Operation`` refuses a step without)
    entry: Entry | None = None
    #: what the handler does to the instance when this step's compare-and-swap fails
    #: (``Preempted``); None: the step's writes are lost to the operation that got
    #: there first (its UnexpectedTaskStateError is caught and logged, or raised
    #: outside any ``_error_out_instance_on_exception``)
    preempted: "Preempted | None" = None
    #: where the step gets its move's migration record, when not from the step before
    #: it (``RecordLookup``)
    record: RecordLookup | None = None
    #: what the step's handler has the driver do to the guest before its
    #: compare-and-swap, which it keeps when that check fails: the record is not saved
    #: and nothing errors it (``reverts_task_state`` logs the UnexpectedTaskStateError
    #: and leaves the task alone), but the guest is as the driver left it. Only where the
    #: hypervisor has a guest to act on. None: the driver does nothing before the check.
    guest_before_check: PowerState | None = None
    #: task_states the step's compare-and-swap also admits when its handler finds the
    #: guest down before acting (``When.GUEST_DOWN``, read as the handler starts);
    #: ``lifecycle.check_admits`` is the rule. Empty: the check admits ``expects`` only.
    expects_if_guest_down: frozenset[Task] = frozenset()

    def outcome(self, name: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.name == name:
                return outcome
        raise KeyError(f"step {self.name!r} has no outcome {name!r}")


class Check(StrEnum):
    """The API's guard checks, each named after the Nova decorator or test it mirrors."""

    POLICY = "policy: admin only"
    LOCK = "check_instance_lock"
    HOST = "check_instance_host"
    STATE = "check_instance_state"
    SOURCE_HOST_DOWN = "source compute service must be down"
    SOURCE_COMPUTE_UP = "migration source compute service must be up"
    MIGRATION_RUNNING = "migration status must be running"
    MIGRATION_ABORTABLE = "migration status must be queued, preparing or running"
    MIGRATION_FINISHED = "a migration in status finished must exist"
    UNLOCK_OWNER = "an admin's lock is only lifted by an admin"


@dataclass(frozen=True)
class Guard:
    """Nova's ``check_instance_state`` / ``check_instance_lock`` / ``check_instance_host``.

    ``vm_states`` None means any vm_state; ``task_states`` None means any task_state
    (Nova's ``task_state=None``); the default is "no task in progress".
    ``checks`` lists the checks in the order Nova's decorators run them.
    """

    vm_states: frozenset[VmState] | None
    task_states: frozenset[Task] | None = frozenset({None})
    must_have_launched: bool = True
    check_instance_lock: bool = True
    check_instance_host: bool = False
    check_is_up: bool = False
    checks: tuple[Check, ...] = (Check.LOCK, Check.STATE)


@dataclass(frozen=True)
class Operation:
    name: str
    kind: Kind
    api_method: str
    summary: str
    guard: Guard | None
    api: Step                       # the synchronous part: CAS and the API's own writes
    steps: tuple[Step, ...] = ()
    scheduler: SchedulerUse = SchedulerUse.NEVER
    resources: str = "unchanged"    # the declared resource effect, in words
    remembers_vm_state: bool = False  # stores old_vm_state (sysmeta) when accepted
    creates_instance: bool = False
    admin_only: bool = False
    #: the API calls the compute and waits (an RPC call, not a cast): a failure of the
    #: compute step is the request's own answer (an error response), not a later state
    api_waits: bool = False
    #: the request's arguments (the REST body fields the API method reads); a request
    #: naming any other is refused
    request_args: frozenset[str] = frozenset()
    #: the request names a new flavor for the instance (``API.resize`` with a
    #: ``flavor_id``): it must exist, differ from the current one
    #: (CannotResizeToSameFlavor) and fit the image's min_disk
    #: (``_validate_flavor_image_nostatus``)
    changes_flavor: bool = False
    #: the request's image becomes the instance's (``API.rebuild``: ``image_ref``,
    #: ``_reset_image_metadata``); the request spec's image changes only when the image
    #: does, which is when the scheduler checks it (``SchedulerUse.CHECK_IF_NEW_IMAGE``)
    replaces_image: bool = False
    #: what the request does with its RequestSpec's flavor
    spec_flavor: SpecFlavor = SpecFlavor.READS
    #: the host the scheduling leaves out
    ignore_hosts: IgnoreHosts = IgnoreHosts.NONE
    #: how the instance comes onto another host, as the group filters see it
    host_change: HostChange = HostChange.NONE
    #: the request microversion from which the instance ends stopped whatever it was
    #: (unless in error): the API's ``target_state``, if the operation has one
    stopped_from_microversion: tuple[int, int] | None = None
    #: the periodic task that requests this operation, if any
    requested_by: PeriodicTask | None = None
    notes: tuple[str, ...] = ()
    all_steps: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "all_steps", {s.name: s for s in (self.api, *self.steps)})
        self._check_wiring()

    def _check_wiring(self) -> None:
        """Every ``then`` names a step, and every step is reachable from the API step."""
        reached, todo = {"api"}, ["api"]
        while todo:
            for outcome in self.all_steps[todo.pop()].outcomes:
                for branch in outcome.branches:
                    if branch.then is None:
                        continue
                    if branch.then not in self.all_steps:
                        raise ValueError(f"{self.name}: unknown next step {branch.then!r}")
                    if branch.then not in reached:
                        reached.add(branch.then)
                        todo.append(branch.then)
        unreached = set(self.all_steps) - reached
        if unreached:
            raise ValueError(f"{self.name}: steps never reached: {sorted(unreached)}")
        undeclared = sorted(s.name for s in self.all_steps.values() if s.entry is None)
        if undeclared:
            raise ValueError(f"{self.name}: steps that do not declare how they are "
                             f"entered: {undeclared}")

    def step(self, name: str) -> Step:
        return self.all_steps[name]

    @property
    def migration_types(self) -> frozenset[MigrationType]:
        """The kinds of migration record this operation creates."""
        return frozenset(
            b.migration.create for s in self.all_steps.values() for o in s.outcomes
            for b in o.branches if b.migration is not None and b.migration.create is not None)

    @property
    def task_states_written(self) -> frozenset[TaskState]:
        """Every task_state this operation can write, API and compute side."""
        return frozenset(
            b.task for s in self.all_steps.values() for o in s.outcomes for b in o.branches
            if isinstance(b.task, TaskState))


def the_operation(operations: Iterable[Operation], test: Callable[[Operation], bool],
                  what: str) -> Operation:
    """The one operation of ``operations`` that passes ``test`` (``what`` names it in
    the error when there is not exactly one)."""
    found = [op for op in operations if test(op)]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} operations {what}: "
                             f"{sorted(op.name for op in found)}")
    return found[0]
