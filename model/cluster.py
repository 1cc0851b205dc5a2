"""The cluster: many instances, hosts with queues, a conductor, the scheduler and Placement.

A ``Cluster`` is a value (no globals; several coexist). Everything it knows is in
the state variables listed in ``Cluster.__init__``; ``snapshot()`` turns them into
one canonical hashable value and ``Cluster.restore`` rebuilds a cluster from it;
``freeze()`` keeps them exactly, dict order included, for ``Cluster.thaw`` to go on
from (the search resumes runs this way).

Nothing completes atomically. ``request`` runs an operation's API step through
the shared ``Lifecycle`` (which writes the task_state) and enqueues the branch's
next step as a ``Work`` item; ``deliver(work_id, outcome)`` runs exactly one step.
Steps run where the catalogue says (``Where``): at the conductor, or at the
compute service of a host, which must be up for the work to be delivered.

The resource effects the catalogue declares (``Alloc``) are applied here, on the
Placement ledger:

* instance consumer = ``instance.uuid``; migration consumer = ``migration.uuid``;
* ``MOVE_SOURCE_TO_MIGRATION`` moves all of the instance's allocations to the
  migration, but only if the instance holds something on its own host
  (``replace_allocation_with_migration``; otherwise nothing moves and the move goes
  on without a migration allocation);
* ``CLAIM_DEST`` claims the (new) flavor for the instance on the chosen host the
  way the scheduler does (``claim_resources``): an instance that still holds
  allocations keeps them and gains only providers it did not use;
* ``CLAIM_DEST_DOUBLED`` adds the chosen host to the instance's allocation;
* a resize's migration consumer holds the OLD flavor on the source and the
  instance the NEW flavor on the destination; reverting gives the old flavor back.

Compute-start recovery (``CM._init_instance``) is the catalogue's ``init_instance``
record, fired through the lifecycle for each instance of a starting compute service;
that and the evacuation cleanup (``CM._destroy_evacuated_instances``) are driven from
``model/cluster_recovery.py``. Scenarios (``nova_model/scenario.py``) replay runs of a
cluster written down as JSON steps.

For the invariants to audit, the cluster also writes down what it cannot be asked
afterwards: each scheduling decision since the last API request (``decisions``, see
``model/scheduler/decision.py``; a record, not state), why each instance in error got
there (``error_causes``) and how many faults deliveries injected (``injected_faults``).
The causes the upstream findings are keyed on are recorded the same way, per instance or
migration, beside the state the invariants compare: ``migration_errors``,
``unmatched_allocations``, ``dropped_steps``, ``overlaps``, ``host_events``,
``carried_allocations``, ``group_races``, ``arrivals`` and ``vanished_guests``.
"""

from __future__ import annotations

import copy
import dataclasses
import heapq
import marshal
import random
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

from model import errors
from model.cluster_records import RESOURCE_CLASSES, HostEvent, name_order as _num
from model.cluster_compat import (
    ClusterConfig, Inventory, Ledger, PlacementError, ResourceClass, aggregates_of, flavors_of, group_policy, has_group,
    host_aggregates, host_attr, host_name, hosts_of, image_volume_backed, images_of, option,
    project_of,
    provider_inventories, scheduler_of,
)
from model.lifecycle import (
    ADMIN, DYNAMIC_CONDITIONS, STATIC_CONDITIONS, USER, Context, Instance,
    Lifecycle, MigrationRecord, state_name,
)
from model.operation import (
    Alloc, Branch, Entered, HostChange, HostEffect, IgnoreHosts, Migration, Operation,
    OutcomeKind, PeriodicTask, SchedulerUse, Step, Track, When, Where, the_operation,
)
from model.scheduler import (
    Destination, Flavor, HostState, InstanceGroup, NoValidHost, RequestSpec,
    select_destinations,
)
from model.scheduler.decision import (
    ALLOCATION_MOVE, ALTERNATE, FILTER, FORCED, REBUILD, SchedulingDecision,
)
from model.scheduler.filters import FilterError, SimpleCIDRAffinityFilter
from model.scheduler.pipeline import placement_resources
from model.scheduler.request_filter import map_az_to_placement_aggregate
from model.resource_tracker import TrackedInstance, TrackedMigration, Tracker, Usage
from model.states import (
    MIGRATION_FINAL, REBUILD_STATES, RESIZING_STATES, MigrationStatus as MS, MigrationType,
    PowerState, TaskState, VmState, task_label,
)

#: The zone Nova gives its control services (``internal_service_availability_zone``):
#: the API counts it as available, so a create asking for it reaches the scheduler.
INTERNAL_SERVICE_AVAILABILITY_ZONE = "internal"
#: What the scheduler sees of a resource class a host has no inventory of.
_NO_INVENTORY = Inventory(total=0)

#: Alloc effects done while scheduling (inside the claim), not after the transition.
SCHEDULING_ALLOCS = frozenset({Alloc.MOVE_SOURCE_TO_MIGRATION, Alloc.CLAIM_DEST,
                               Alloc.CLAIM_DEST_DOUBLED})

#: The most instances the model creates from one request. Nova's own bound is the
#: project's instance quota (``compute_utils.check_num_instances_quota``), which the
#: model does not have; this keeps a mistyped count from creating millions.
MAX_INSTANCES_PER_REQUEST = 100


def create_counts(min_count: Any = None, max_count: Any = None) -> tuple[int, int]:
    """A create's ``(min_count, max_count)`` as ``ServersController.create`` reads them:
    positive integers (the schema's ``positive_integer``), ``min_count`` 1 when absent,
    ``max_count`` ``min_count`` when absent, and ``min_count <= max_count``
    ("min_count must be <= max_count"). Raises InvalidRequest (400)."""
    for name, value in (("min_count", min_count), ("max_count", max_count)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidRequest(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise errors.InvalidRequest(f"{name} must be at least 1, got {value}")
        if value > MAX_INSTANCES_PER_REQUEST:
            raise errors.InvalidRequest(
                f"{name} {value} is more than the model creates from one request "
                f"({MAX_INSTANCES_PER_REQUEST}; Nova's bound is the project's quota)")
    low = 1 if min_count is None else min_count
    high = low if max_count is None else max_count
    if low > high:
        raise errors.InvalidRequest(f"min_count must be <= max_count (min_count {low} > "
                                    f"max_count {high})")
    return low, high


def _microversion(text: Any) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in str(text).split("."))
    except ValueError:
        raise errors.InvalidRequest(f"microversion {text!r} is not MAJOR.MINOR") from None
    return major, minor


#: ``GroupRace.moving`` of a member's own move forced onto a host (the scheduler's
#: group filters never saw it)
FORCED_PAST_THE_FILTERS = "forced past the group filters"


@dataclass(frozen=True)
class Work:
    """One pending step: ``operation.step`` for ``instance``, to run at ``target``.

    ``target`` is a host name, or None for the conductor. ``context`` carries the
    operation's arguments along its chain of steps (requested host, force, new
    flavor, chosen destination, alternates ...) as sorted (key, value) pairs.
    """

    id: str
    instance: str
    operation: str
    step: str
    target: str | None
    context: tuple[tuple[str, Any], ...] = ()
    caller: Context = USER

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.context:
            if k == key:
                return v
        return default

    @property
    def instances(self) -> tuple[str, ...]:
        """The instances this item is for: a multi-create's schedule step is for every
        instance of its request (``batch``), any other item for its own instance."""
        return self.get("batch") or (self.instance,)

    def with_context(self, **changes: Any) -> tuple[tuple[str, Any], ...]:
        merged = dict(self.context)
        merged.update(changes)
        return _freeze_context(merged)


def _freeze_context(values: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in values.items() if v is not None))


@dataclass(frozen=True)
class Result:
    """What a request, a delivery or an event did."""

    accepted: bool
    #: why a request was refused; on an accepted request, the error its answer carried
    #: after the API's writes (errors.NoHostForInstance)
    error: errors.NovaModelError | None = None
    detail: str = ""
    instance: str | None = None
    branch: Branch | None = field(default=None, compare=False, repr=False)


class AllocationCause(NamedTuple):
    """The failed step that left an instance's allocation unlike its host or flavor
    (``Cluster.unmatched_allocations``), and the host it was on then."""

    host: str
    operation: str
    step: str
    outcome: str


class UncountedDrop(NamedTuple):
    """A resource-tracker drop of an instance the tracker never counted
    (``Cluster.uncounted_drops``): which instance, the step that dropped it, and the
    operation that had put the instance on that host without a claim there (None if
    none did)."""

    instance: str
    operation: str
    step: str
    arrived_by: str | None


class MigrationErrorCause(NamedTuple):
    """The step that put a migration in error (``Cluster.migration_errors``)."""

    operation: str
    step: str
    outcome: str


class DroppedStep(NamedTuple):
    """A step of an instance that found its task_state taken by another request and
    was dropped (``Cluster.dropped_steps``), and the task_state it found."""

    operation: str
    step: str
    outcome: str
    task: str | None


#: The trigger recorded for a step outcome whose branch was taken because the
#: hypervisor had no guest for the instance (``When.NO_GUEST``).
MISSING_GUEST = "missing_guest"
#: What put an instance in error when a step lost its compare-and-swap inside
#: ``_error_out_instance_on_exception`` (``Step.preempted``): the race, not the step.
PREEMPTED = "preempted"


class VanishedGuest(NamedTuple):
    """A step that found no guest on the hypervisor and returned with its task still
    set (``Cluster.vanished_guests``: Nova takes the driver's InstanceNotFound or
    InstanceNotRunning for an instance deleted meanwhile), and the task it left."""

    operation: str
    step: str
    task: str


class DiscardedStep(NamedTuple):
    """A step that was to go on inside an RPC handler of a compute whose process
    stopped (``Cluster.discarded_steps``): no message was left for it, so it went with
    the process. ``task`` is the task_state the instance was in then, ``handler`` the
    Nova function it was to go on in."""

    operation: str
    step: str
    host: str
    task: str | None
    handler: str


class Overlap(NamedTuple):
    """A step of another request that ran while a move's own chain of steps was still
    queued (``Cluster.overlaps``, per migration; ``move`` is that migration's type)."""

    operation: str
    step: str
    outcome: str
    move: str


class GroupRace(NamedTuple):
    """A server group member scheduled while another member's move or unshelve was
    still under way (``Cluster.group_races``, on both members): ``other`` is the
    other member, ``moving`` the operation it was in."""

    operation: str
    step: str
    host: str
    other: str
    moving: str


@dataclass(frozen=True)
class ErrorCause:
    """How an instance last came into ``vm_state`` error: which outcome of which step.

    ``kind`` is the outcome's declared ``OutcomeKind``; ``trigger`` says what fired
    it: ``injected`` (the outcome a delivery asked for), ``scheduler`` (NoValidHost
    turned ``ok`` into ``no_valid_host``), ``late_group_check``
    (``CM._validate_instance_group_policy`` turned ``ok`` into the step's declared
    outcome), ``api`` (an API request's own step), ``event`` (a hypervisor event),
    ``periodic`` (a periodic task) or ``recovery`` (``CM._init_instance`` when a
    compute service starts). ``vm_before`` and ``task_before`` are the states it was
    in before (Nova's strings; task None when idle).
    """

    operation: str
    step: str
    outcome: str
    kind: OutcomeKind
    trigger: str
    vm_before: str | None = None
    task_before: str | None = None

    @property
    def name(self) -> str:
        return f"{self.operation}.{self.step}:{self.outcome}"


@dataclass
class HostRecord:
    """A compute host: its service flags and its FIFO queue of work ids."""

    name: str
    up: bool = True
    enabled: bool = True
    queue: list[str] = field(default_factory=list)


#: the migration statuses the compute's late group check does not count as in progress
#: (``migration_get_in_progress_by_host_and_node``)
_SETTLED_FOR_THE_GROUP_CHECK = MIGRATION_FINAL | {MS.DONE}
#: the statuses the tracker's audit leaves out (``migration_get_in_progress_and_error``:
#: error stays in)
_DROPS = frozenset({Track.DROP_MOVE_CLAIM, Track.DROP_MOVE_CLAIM_AT_SOURCE,
                    Track.DROP_MOVE_CLAIM_AT_DEST, Track.ABORT_INSTANCE_CLAIM})
_NOT_IN_PROGRESS = frozenset({MS.CONFIRMED, MS.REVERTED, MS.FAILED, MS.COMPLETED,
                              MS.CANCELLED, MS.DONE})
#: (``_instance_in_resize_state``)
_MOVING_TASKS = RESIZING_STATES | REBUILD_STATES


@dataclass(frozen=True)
class InstanceInfo:
    """What the cluster keeps beside the lifecycle's instance variables."""

    group: str | None = None
    availability_zone: str | None = None
    hints: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the image_min_disk Nova keeps in system_metadata (GB): the image's min_disk or
    #: the flavor's root disk at boot or rebuild, whichever is larger
    #: (nova/utils.py: get_system_metadata_from_image); a resize below it is refused
    min_disk: int = 0
    #: the image the instance's RequestSpec holds, when it is not the instance's own:
    #: API.rebuild saves a new image to the RequestSpec, and COND.rebuild_instance
    #: rolls only instance.image_ref back when the scheduler refuses it, so later
    #: scheduling (a move, an unshelve) asks for the refused image's properties
    spec_image: str | None = None


class _Random(random.Random):
    """The scheduler's ``random.Random`` (same draws), counting them so that a
    snapshot reads its 625-word state again only after it changed (~7 us a read,
    and the search snapshots around every API request)."""

    def __init__(self, seed: Any = None) -> None:
        self.draws = 0
        self._state: tuple[int, Any] = (-1, None)
        super().__init__(seed)

    def random(self) -> float:
        self.draws += 1
        return super().random()

    def getrandbits(self, k: int) -> int:
        self.draws += 1
        return super().getrandbits(k)

    def seed(self, *args: Any, **kwargs: Any) -> None:
        self.draws += 1
        super().seed(*args, **kwargs)

    def setstate(self, state: Any) -> None:
        self.draws += 1
        super().setstate(state)

    def state(self) -> Any:
        """``getstate()``, re-read only when a draw happened since the last read."""
        if self._state[0] != self.draws:
            self._state = (self.draws, self.getstate())
        return self._state[1]


class Cluster:
    """An executable Nova deployment: hosts, queues, instances, migrations, Placement."""

    #: Placement (a variant of the model may bring its own ledger, e.g. a seeded fault)
    ledger_class: type[Ledger] = Ledger

    def __init__(self, config=None, lifecycle: Lifecycle | None = None, seed: int = 0):
        self.config = config if config is not None else ClusterConfig.default()
        self.lc = lifecycle if lifecycle is not None else Lifecycle()
        self.scheduler_config = scheduler_of(self.config)
        self.flavors = flavors_of(self.config)
        self.images = images_of(self.config)
        self._host_configs = {host_name(h): h for h in hosts_of(self.config)}
        # --- the state variables, all of them ---
        self.hosts: dict[str, HostRecord] = {}
        self.conductor: list[str] = []
        self.work: dict[str, Work] = {}
        self.instances: dict[str, Instance] = {}
        self.info: dict[str, InstanceInfo] = {}
        self.migrations: dict[str, MigrationRecord] = {}
        self.groups: dict[str, list[str]] = {}
        self.ledger = self.ledger_class()
        #: each compute's resource tracker (its own count, and the record it saved)
        self.trackers: dict[str, Tracker] = {}
        #: the scheduler's in-memory consumption of a host it chose
        #: (``HostState.consume_from_request``): host -> (the tracker record's version
        #: it was made on, vcpus, memory_mb, disk_mb, instances); forgotten once the
        #: compute saves a newer record
        self.scheduler_consumed: dict[str, tuple[int, int, int, int, int]] = {}
        #: the last drop each tracker made, since its audit, of an instance it never
        #: counted (a live migration's destination counts the instance only at its
        #: audit): the invariants name it
        self.uncounted_drops: dict[str, UncountedDrop] = {}
        #: instances a step put on a host whose tracker does not count them (a live
        #: migration's destination, until its audit): uuid -> (host, operation)
        self.uncounted_arrivals: dict[str, tuple[str, str]] = {}
        #: a drop that left a host's tracker counting less than nothing although it
        #: counted the instance (a flavor other than the one it counted), per host
        #: until its next audit
        self.negative_drops: dict[str, UncountedDrop] = {}
        self.rng = _Random(seed)
        self.counters: dict[str, int] = {"vm": 0, "mig": 0, "w": 0}
        #: operator changes to inventories: (host, rc) -> sorted (field, value) pairs
        self.inventory_changes: dict[tuple[str, str], tuple[tuple[str, Any], ...]] = {}
        #: why each instance in error got there (the last transition into error)
        self.error_causes: dict[str, ErrorCause] = {}
        #: how many FAULT outcomes deliveries have injected (and that fired)
        self.injected_faults = 0
        #: the operation that last put each instance on a host (an unshelve leaves no
        #: migration record behind: the group invariant names arrivals from this)
        self.arrivals: dict[str, str] = {}
        #: how each migration in error got there: (operation, step, outcome) of the
        #: step that errored it (the invariants tell Nova's leaks from lost releases)
        self.migration_errors: dict[str, MigrationErrorCause] = {}
        #: instances a failed step left with an allocation that does not match their
        #: host or flavor (a clean-up removed their own host from it, or their old
        #: flavor came back over the new one's claim): (operation, step, outcome)
        self.unmatched_allocations: dict[str, AllocationCause] = {}
        #: per instance, the steps dropped by their compare-and-swap on task_state (each
        #: once, the latest last)
        self.dropped_steps: dict[str, tuple[DroppedStep, ...]] = {}
        #: per instance, the steps that found no guest and left their task set (each
        #: once, the latest last)
        self.vanished_guests: dict[str, tuple[VanishedGuest, ...]] = {}
        #: per migration, the steps of other requests that ran while its chain was queued
        self.overlaps: dict[str, tuple[Overlap, ...]] = {}
        #: per instance, the steps a stopped compute process took with it (each was to go
        #: on inside an RPC handler), the latest last
        self.discarded_steps: dict[str, tuple[DiscardedStep, ...]] = {}
        #: per instance, the step of its current task a stopped compute process took
        #: with it (forgotten once a request changes the instance's task_state)
        self.handler_lost: dict[str, DiscardedStep] = {}
        #: per migration, the host events that acted on it (the evacuation clean-up)
        self.host_events: dict[str, tuple[HostEvent, ...]] = {}
        #: per migration, the allocation on a host whose compute service was down that
        #: the move took over from the instance (an evacuation's source, not yet
        #: cleaned up), and the step that moved it
        self.carried_allocations: dict[str, AllocationCause] = {}
        #: per instance, the server group races it took part in (see ``GroupRace``)
        self.group_races: dict[str, tuple[GroupRace, ...]] = {}
        #: the scheduling decisions made since the last API request: a record of what
        #: happened, not state (left out of ``snapshot()``, empty after ``restore``)
        self.decisions: list[SchedulingDecision] = []
        #: the uuids of instances that may have a host (``_placed_instances``); None:
        #: unknown, worked out again on first use
        self._placed: dict[str, None] | None = {}
        inventories = {name: provider_inventories(h, self.config)
                       for name, h in self._host_configs.items()}
        self._base_inventories = {
            name: {ResourceClass(rc): inv for rc, inv in invs.items()}
            for name, invs in inventories.items()}
        for name, h in self._host_configs.items():
            self.hosts[name] = HostRecord(name, bool(host_attr(h, "service_up", True)),
                                          bool(host_attr(h, "enabled", True)))
            self.ledger.add_provider(name, inventories[name])
        for name in self._host_configs:
            self.trackers[name] = Tracker.empty(self.reserved_usage(name))
        # --- not state: answers worked out from the (immutable) config on first use ---
        self._changed_inventories: dict[tuple[str, Any], tuple[tuple, Any]] = {}
        self._resources: dict[tuple[str, bool], tuple[Flavor, dict]] = {}
        self._volume_backed_images: dict[str, bool] = {}
        self._zone_aggregate_names: dict[str, tuple[str, ...]] = {}

    # ------------------------------------------------------------------ World protocol

    def service_is_up(self, host: str) -> bool:
        record = self.hosts.get(host)
        return record is not None and record.up

    @property
    def shelved_offload_time(self) -> int:
        return int(option(self.config, "shelved_offload_time", 0))

    # ------------------------------------------------------------------ helpers

    def _next(self, kind: str) -> str:
        self.counters[kind] += 1
        return f"{kind}{self.counters[kind]}"

    def instance(self, uuid: str) -> Instance:
        try:
            return self.instances[uuid]
        except KeyError:
            raise errors.InstanceNotFound(f"instance {uuid} does not exist") from None

    def flavor_of(self, inst: Instance) -> Flavor:
        return self.flavors[inst.flavor]

    def resources(self, flavor: Flavor, image: str | None = None) -> dict:
        """What placement is asked for: the flavor, without root disk when volume-backed."""
        bfv = self._volume_backed(image)
        # (worked out once per flavor: every claim and every check of the
        # invariants asks, and building the request costs ~4 us)
        cached = self._resources.get((flavor.name, bfv))
        if cached is None or cached[0] is not flavor:
            spec = RequestSpec(flavor=flavor, is_bfv=bfv)
            cached = self._resources[(flavor.name, bfv)] = (flavor, {
                ResourceClass(rc): n for rc, n in placement_resources(spec).items()})
        return dict(cached[1])

    def is_volume_backed(self, image: str | None) -> bool:
        """Whether an instance of ``image`` boots from a volume (the world's answer to
        the lifecycle's ``When.VOLUME_BACKED``)."""
        return self._volume_backed(image)

    def _volume_backed(self, image: str | None) -> bool:
        if image is None:
            return False
        # (the configuration is immutable: each image is looked up once)
        known = self._volume_backed_images.get(image)
        if known is None:
            known = self._volume_backed_images[image] = image_volume_backed(self.config, image)
        return known

    def _option(self, name: str, default: Any) -> Any:
        return option(self.config, name, default)

    # ------------------------------------------------------------------ the API

    def request(self, op: str, instance_uuid: str | None = None, ctx: Context = USER,
                **args: Any) -> Result:
        """An API call. A rejected request changes nothing."""
        self.decisions = []
        operation = self.lc.catalogue.get(op)
        try:
            if operation is not None and operation.creates_instance:
                return self._create(operation, ctx, **args)
            inst = self.instance(instance_uuid)  # type: ignore[arg-type]
            context = self._validate(op, operation, inst, args)
            before_host, before_vm, before_task = inst.host, _vm_of(inst), inst.task_state
            branch = self.lc.request(op, inst, ctx)
        except errors.NovaModelError as exc:
            return Result(False, _detached(exc), f"{op} rejected: {exc.message}",
                          instance_uuid)
        self._note_vm_change(inst, before_vm, op, "api", "ok", "api")
        if inst.task_state is not before_task:
            self.handler_lost.pop(inst.uuid, None)  # (its task now is this request's)
        stopped_from = operation.stopped_from_microversion if operation else None
        if (stopped_from is not None and "microversion" in args
                and _microversion(args["microversion"]) >= stopped_from
                and inst.old_vm_state is not VmState.ERROR):
            # target_state stopped: the destination rebuilds it as a stopped instance
            inst.old_vm_state = VmState.STOPPED
        unaddressed = self._after_api(op, inst, branch, context, ctx, before_host)
        mig = inst.migration
        self._note_overlap(inst, op, "api", "ok",
                           mig.uuid if mig is not None and mig.in_progress else None)
        if unaddressed is not None:
            return Result(True, unaddressed, f"{op} accepted, then {unaddressed.message}",
                          inst.uuid, branch)
        return Result(True, None, f"{op} accepted" + (f" -> {branch.then}" if branch.then
                                                        else ""), inst.uuid, branch)

    def _create(self, operation: Operation, ctx: Context, flavor: str = "m1.small",
                image: str | None = None, group: str | None = None,
                availability_zone: str | None = None,
                hints: Mapping[str, Iterable[str]] | None = None,
                min_count: int | None = None, max_count: int | None = None) -> Result:
        """``API.create`` -> ``API._create_instance`` -> ``API._provision_instances``.

        A multi-create (``max_count`` > 1) makes its instances at once, each with its
        own uuid, in order (``vm3``, ``vm4``, ... here; Nova suffixes the display names
        ``-1``, ``-2``, ... in ``API._populate_instance_names``), all members of the
        group before anything is scheduled, and casts one
        ``schedule_and_build_instances`` for all of them: one work item carrying the
        batch (``batch`` in its context), delivered as one scheduling decision
        (``_deliver_batch``). The model has no quota, so
        ``compute_utils.check_num_instances_quota`` allows ``max_count`` and
        ``min_count`` changes nothing but what is checked: the scheduler must place
        all ``max_count`` (``RequestSpec.num_instances``) or none. The answer names
        the first instance (``ServersController.create`` returns ``instances[0]``, or
        the reservation id with ``return_reservation_id``).
        """
        _, count = create_counts(min_count, max_count)
        if flavor not in self.flavors:
            raise errors.InvalidRequest(f"unknown flavor {flavor!r}")
        if image is None:
            image = next(iter(self.images), None)  # the config's first image
        elif image not in self.images:
            raise errors.InvalidRequest(f"unknown image {image!r}")
        if group is not None and not has_group(self.config, group):
            raise errors.InvalidRequest(f"unknown server group {group!r}")
        if availability_zone is not None and availability_zone not in self.available_zones():
            # API.create: a zone no enabled compute service is in is refused (400)
            raise errors.InvalidRequest(
                f"The requested availability zone is not available: {availability_zone!r} "
                f"(available: {', '.join(sorted(self.available_zones()))})")
        made: list[tuple[Instance, Branch]] = []
        for index in range(count):
            uuid = f"vm{self.counters['vm'] + 1}"
            inst = self.lc.new_instance(uuid, self, flavor=flavor, image=image)
            try:
                branch = self.lc.request(operation.name, inst, ctx)
            except errors.NovaModelError:  # pragma: no cover - create has no guard
                self.lc.forget(inst)
                raise
            self.counters["vm"] += 1
            self.instances[uuid] = inst
            self.info[uuid] = InstanceInfo(
                group, availability_zone,
                tuple(sorted((k, tuple(v)) for k, v in (hints or {}).items())),
                self._min_disk(flavor, image))
            if group is not None:
                self.groups.setdefault(group, []).append(uuid)
            made.append((inst, branch))
        uuids = tuple(inst.uuid for inst, _ in made)
        head, head_branch = made[0]
        if (count > 1 and head_branch.then is not None
                and not operation.step(head_branch.then).schedules_batch):
            raise AssertionError(f"{operation.name}.{head_branch.then} does not schedule "
                                 f"a batch")
        for index, (inst, branch) in enumerate(made):
            # (one cast for the whole request: the first instance's work carries the batch)
            context = _freeze_context({"batch": uuids}) if count > 1 else ()
            self._after_api(operation.name, inst, branch, context, ctx, None,
                            enqueue=index == 0)
        words = ", ".join(uuids) if count <= 3 else f"{uuids[0]} .. {uuids[-1]}"
        return Result(True, None, f"{operation.name} accepted: {words}", head.uuid,
                      head_branch)

    def _min_disk(self, flavor: str, image: str | None) -> int:
        properties = self.images.get(image) or {}
        return max(int(properties.get("min_disk", 0) or 0), self.flavors[flavor].root_gb)

    def _validate(self, op: str, operation: Operation | None, inst: Instance,
                  args: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
        """Check the request's arguments (REST-layer checks, each operation's
        ``request_args``); return the work context. ``operation`` is None for a name the
        catalogue does not have (the lifecycle refuses it next)."""
        allowed = operation.request_args if operation is not None else frozenset()
        unknown = set(args) - allowed
        if unknown:
            raise errors.InvalidRequest(f"{op} takes no argument(s) {sorted(unknown)}")
        host = args.get("host")
        if host is not None:
            if host not in self.hosts:
                raise errors.ComputeHostNotFound(f"no compute host {host!r}")
            if host == inst.host:
                raise errors.InvalidRequest(f"{op}: the instance is already on {host}")
        if args.get("force") and host is None:
            raise errors.InvalidRequest(f"{op}: force needs a host")
        if operation is not None and operation.changes_flavor:
            new = args.get("flavor")
            if new not in self.flavors:
                raise errors.InvalidRequest(f"unknown flavor {new!r}")
            if new == inst.flavor:
                raise errors.InvalidRequest("resize to the same flavor (CannotResizeToSameFlavor)")
            # API.resize -> _validate_flavor_image_nostatus against the boot image's
            # system metadata (a root disk of 0 takes the image's size: not checked)
            root_gb, min_disk = self.flavors[new].root_gb, self.info[inst.uuid].min_disk
            if root_gb and root_gb < min_disk and not self._volume_backed(inst.image):
                raise errors.InvalidRequest(
                    f"{new}'s root disk ({root_gb} GB) is smaller than the image's "
                    f"min_disk ({min_disk} GB) (FlavorDiskSmallerThanMinDisk)")
        if "microversion" in args:
            version = _microversion(args["microversion"])
            if args.get("force") and version > (2, 67):
                raise errors.InvalidRequest(f"{op}: force is gone after microversion 2.67")
        if operation is not None and operation.replaces_image:
            image = args.get("image", inst.image)
            if image not in self.images:
                raise errors.InvalidRequest(f"unknown image {image!r}")
            if image != inst.image and self._volume_backed(inst.image):
                # API.rebuild: a volume-backed server keeps the image of its root volume
                # (reimage_boot_volume, 2.93, is not modelled)
                raise errors.InvalidRequest(
                    "Unable to rebuild with a different image for a volume-backed server "
                    "(ImageUnacceptable)")
            if self._volume_backed(image) and not self._volume_backed(inst.image):
                # A rebuild keeps the root disk the server was built with (its block
                # device mappings); the model reads the root disk off the instance's
                # image, so it cannot hold an image-backed server with this image.
                raise errors.InvalidRequest(
                    f"rebuilding an image-backed server from the volume-backed image "
                    f"{image!r} is outside the model")
        return _freeze_context(dict(args))

    def _after_api(self, op: str, inst: Instance, branch: Branch,
                   context: tuple[tuple[str, Any], ...], ctx: Context,
                   before_host: str | None, enqueue: bool = True
                   ) -> errors.NovaModelError | None:
        """The API step's effects beyond the instance: allocations, migration, next step.

        Returns the error the API answers with after its writes, if any: a next step
        cast to the instance's host when it has none is not sent
        (``NoHostForInstance``); a call the API waits for on a compute that is down
        times out (``MessagingTimeout``) while its message stays queued."""
        if branch.migration is not None and branch.migration.create is not None:
            # evacuate: the migration is created by the API, status accepted.
            self._create_migration(inst, branch.migration.create, branch.migration.status,
                                   source=before_host, dest=dict(context).get("host"))
        self._apply_allocs(inst, branch, (), before_host)
        self._track(inst, branch, before_host, before_host, (op, "api"))
        if branch.migration is not None and branch.migration.create is None:
            self._set_migration_status(inst, branch.migration.status, op, "api", "ok")
        if self.lc.operation(op).replaces_image:
            context = _freeze_context({**dict(context), "old_image": inst.image})
            new_image = dict(context).get("image")
            changes: dict[str, Any] = {}
            if new_image:
                if new_image != inst.image:
                    changes["spec_image"] = new_image
                inst.image = new_image
            # API.rebuild -> _reset_image_metadata: system metadata from the image and
            # the current flavor
            self.info[inst.uuid] = dataclasses.replace(
                self.info[inst.uuid], min_disk=self._min_disk(inst.flavor, inst.image),
                **changes)
        if branch.then is not None and enqueue:
            if self.lc.operation(op).step(branch.then).where is Where.HOST and inst.host is None:
                return errors.NoHostForInstance(
                    f"NovaException: Unable to find host for Instance {inst.uuid}: the "
                    f"task state stays and the API answers 500")
            work = self._enqueue(Work("", inst.uuid, op, branch.then, None, context, ctx))
            if (self.lc.operation(op).api_waits and work.target is not None
                    and not self.service_is_up(work.target)):
                return errors.MessagingTimeout(
                    f"MessagingTimeout: {work.target}'s compute service is down: the API "
                    f"answers 500 and its call waits in the queue")
        return None

    # ------------------------------------------------------------------ migrations

    def _create_migration(self, inst: Instance, kind: MigrationType, status: MS,
                          source: str | None, dest: str | None, uuid: str | None = None,
                          new_flavor: str | None = None) -> MigrationRecord:
        uuid = uuid or self._next("mig")
        record = MigrationRecord(uuid, inst.uuid, kind, status, source, dest,
                                 old_flavor=inst.flavor, new_flavor=new_flavor or inst.flavor)
        self.migrations[uuid] = record
        inst.migration = record
        return record

    def _change_migration(self, inst: Instance, change: Migration, work: Work,
                          outcome: str) -> None:
        """A step's change to the instance's migration: its status, and the
        destination when the step records it."""
        self._set_migration_status(inst, change.status, work.operation, work.step, outcome)
        if change.records_dest and inst.migration is not None:
            inst.migration.dest = work.get("dest")

    def _set_migration_status(self, inst: Instance, status: MS, operation: str, step: str,
                              outcome: str) -> None:
        if inst.migration is not None:
            inst.migration.status = status
            if status is MS.ERROR:
                self.migration_errors[inst.migration.uuid] = MigrationErrorCause(
                    operation, step, outcome)

    # ------------------------------------------------------------------ queues

    def _target(self, inst: Instance, step: Step, work: Work) -> str | None:
        if step.where is Where.HOST:
            return inst.host
        if step.where is Where.SOURCE:
            return inst.migration.source if inst.migration is not None else inst.host
        if step.where is Where.DEST:
            return work.get("dest") or (inst.migration.dest if inst.migration else None)
        return None

    def _enqueue(self, template: Work) -> Work:
        inst = self.instances[template.instance]
        step = self.lc.operation(template.operation).step(template.step)
        context = template.context
        if (inst.migration is not None and inst.migration.in_progress
                and template.get("migration") is None):
            # The move this chain belongs to: a late clean-up must touch only it.
            context = template.with_context(migration=inst.migration.uuid)
        # (Work's own constructor: dataclasses.replace costs three times as much, and
        # every step of every chain passes here)
        work = Work(self._next("w"), template.instance, template.operation, template.step,
                    self._target(inst, step, template), context, template.caller)
        self.work[work.id] = work
        if work.target is None:
            self.conductor.append(work.id)
        else:
            self.hosts[work.target].queue.append(work.id)
        return work

    def _dequeue(self, work: Work) -> None:
        del self.work[work.id]
        queue = self.conductor if work.target is None else self.hosts[work.target].queue
        queue.remove(work.id)

    def queued_work(self, deliverable: bool = False) -> Iterator[Work]:
        """The pending work items in delivery order (the conductor's queue, then each
        host's, FIFO); with ``deliverable``, only those whose target is up."""
        work = self.work
        for wid in self.conductor:
            yield work[wid]
        for name in sorted(self.hosts):
            record = self.hosts[name]
            if record.up or not deliverable:
                for wid in record.queue:
                    yield work[wid]

    def pending(self) -> list[Work]:
        """Every pending work item: the conductor's queue, then each host's, FIFO."""
        return list(self.queued_work())

    def deliverable(self) -> list[Work]:
        """The pending work whose target is up (or the conductor)."""
        return list(self.queued_work(deliverable=True))

    def next_deliverable(self, instance: str) -> Work | None:
        """The instance's first item of ``deliverable()`` (None if it has none)."""
        return next((w for w in self.queued_work(deliverable=True)
                     if instance in w.instances), None)

    def settle(self, limit: int | None = None, **outcomes: str) -> list[Result]:
        """Deliver deliverable work, oldest first, until none is left.

        ``outcomes`` maps ``"<operation>__<step>"`` to the outcome to inject the first
        time that step is delivered (default ``ok``). ``limit``: see ``deliveries``.
        """
        results: list[Result] = []
        for work in self.deliveries(limit=limit):
            outcome = outcomes.pop(f"{work.operation}__{work.step}", "ok")
            results.append(self.deliver(work.id, outcome))
        return results

    def deliveries(self, instance: str | None = None, limit: int | None = None
                   ) -> Iterator[Work]:
        """The oldest deliverable work item (of ``instance``, if given), and again after
        the caller delivered it, until none is left: the order a settle delivers in.

        Linear in the number of deliveries: the candidates wait in a heap by id, and
        after each delivery only the work created since joins it (listing all the
        deliverable work again after every delivery made settling n items quadratic).
        Only host events change which hosts are up, and none happens in between. An
        item the caller did not deliver (refused) comes back first. ``limit`` bounds
        the deliveries (default: 100 per item pending at the start, and 1,000 more):
        every chain of steps ends, so reaching it is a bug in the model.
        """
        def wanted(work: Work | None) -> bool:
            return work is not None and (instance is None or instance in work.instances) and (
                work.target is None or self.service_is_up(work.target))

        heap = [(_num(w.id)[1], w.id) for w in self.queued_work(deliverable=True)
                if wanted(w)]
        heapq.heapify(heap)
        limit = 1_000 + 100 * len(self.work) if limit is None else limit
        seen = self.counters["w"]
        for _ in range(limit):
            while heap and not wanted(self.work.get(heap[0][1])):
                heapq.heappop(heap)  # delivered, or dropped by another item's clean-up
            if not heap:
                return
            work = self.work[heap[0][1]]
            yield work
            if not wanted(self.work.get(work.id)):
                heapq.heappop(heap)
            created, seen = range(seen + 1, self.counters["w"] + 1), self.counters["w"]
            for n in created:
                new = self.work.get(f"w{n}")
                if wanted(new):
                    heapq.heappush(heap, (n, new.id))
        raise RuntimeError(f"work still pending after {limit} deliveries")

    # ------------------------------------------------------------------ delivery

    def deliver(self, work_id: str, outcome: str = "ok") -> Result:
        """Run one pending step with the given outcome (a fault or env outcome injects it).

        A step acts on its own move's migration record: Nova passes each move's
        ``Migration`` along its chain of casts, so when two moves of one instance are
        in flight (a task_state cleared under a queued move lets a second one in),
        each chain updates its own record. ``instance.migration`` follows the move
        that last acted, and goes back to the other one when that move has ended.
        """
        work = self.work.get(work_id)
        inst = self.instances.get(work.instance) if work is not None else None
        own = self.migrations.get(work.get("migration")) if work is not None else None
        previous = inst.migration if inst is not None else None
        if own is None or own is previous or not own.in_progress:
            return self._deliver(work_id, outcome)
        inst.migration = own
        try:
            return self._deliver(work_id, outcome)
        finally:
            if (inst.migration is own and not own.in_progress and previous is not None
                    and previous.in_progress):
                inst.migration = previous

    def _deliver(self, work_id: str, outcome: str) -> Result:
        work = self.work.get(work_id)
        if work is None:
            return Result(False, errors.InvalidRequest(f"no pending work {work_id!r}"),
                          f"no pending work {work_id}")
        if work.target is not None and not self.service_is_up(work.target):
            return Result(False, errors.ServiceUnavailable(f"{work.target} is down"),
                          f"{work.id} stays queued: compute service of {work.target} is down",
                          work.instance)
        op = self.lc.operation(work.operation)
        step = op.step(work.step)
        try:
            step.outcome(outcome)
        except KeyError:
            return Result(False, errors.InvalidRequest(
                f"{work.operation}.{work.step} has no outcome {outcome!r}"),
                f"unknown outcome {outcome!r}", work.instance)
        if work.get("batch"):
            return self._deliver_batch(work, outcome)
        inst = self.instances[work.instance]
        kw = self._kwargs(inst, work)
        if not self.lc.may(work.operation, work.step, outcome, inst, **kw):
            if outcome != "ok" and self.lc.may(work.operation, work.step, "ok", inst, **kw):
                # The step would run, but this outcome has no branch in the state it
                # finds (no_valid_host where nothing is scheduled): it cannot happen.
                err = errors.InvalidRequest(
                    f"{work.operation}.{work.step} cannot end in {outcome} for {inst.uuid} "
                    f"in {inst.vm_state.value}/{inst.task_state}")
                return Result(False, err, err.message, inst.uuid)
            self._dequeue(work)
            cleanup = self._preempted(step, inst, work)
            self._note_dropped(inst, work, outcome)
            cleanup += self._errored_by_preemption(step, inst, work)
            err = errors.UnexpectedTaskStateError(
                f"{work.operation}.{work.step}: {outcome} not possible for {inst.uuid} in "
                f"{inst.vm_state.value}/{inst.task_state}; work dropped{cleanup}")
            return Result(False, err, err.message, inst.uuid)
        trigger = "injected"
        if (step.late_group_check and outcome == "ok"
                and self._group_policy_violated(inst, work.target or inst.host)):
            outcome, trigger = step.late_group_check, "late_group_check"
        if outcome == "no_valid_host" and work.get("old_image") is not None:
            # COND.rebuild_instance rolls the new image_ref back on NoValidHost, whoever
            # decided it (the scheduler below, or an outcome delivered as such).
            inst.image = work.get("old_image")
        branch = self.predict(step, outcome, inst)
        before_host = inst.host
        migration_uuid: str | None = None
        if step.schedules and outcome == "ok" and (
                SCHEDULING_ALLOCS & set(branch.alloc) or self.lc.operation(
                    work.operation).scheduler is SchedulerUse.CHECK_IF_NEW_IMAGE):
            ledger_before = self.ledger.copy()  # restored on NoValidHost
            counters_before = dict(self.counters)
            try:
                work, migration_uuid = self._schedule(inst, work, branch)
                self._note_scheduled(inst, work, branch, migration_uuid, ledger_before)
            except NoValidHost as exc:
                self.ledger = ledger_before
                self.counters = counters_before
                if work.get("old_image") is not None:
                    # COND.rebuild_instance rolls the new image_ref back on NoValidHost.
                    inst.image = work.get("old_image")
                fallback = "no_valid_host"
                try:
                    step.outcome(fallback)
                except KeyError:  # pragma: no cover - every scheduling step declares it
                    raise
                if not self.lc.may(work.operation, work.step, fallback, inst, **kw):
                    self._dequeue(work)
                    err = errors.NoValidHost(exc.reason)
                    return Result(False, err, f"no valid host and no branch: {exc.reason}",
                                  inst.uuid)
                result = self._fire(work, fallback, inst, before_host, None, "scheduler")
                return dataclasses.replace(result, detail=f"no_valid_host: {exc.reason}")
            kw = self._kwargs(inst, work)
        return self._fire(work, outcome, inst, before_host, migration_uuid, trigger)

    def _deliver_batch(self, work: Work, outcome: str) -> Result:
        """A multi-create's ``COND.schedule_and_build_instances``: one scheduling
        decision for all the instances of the request (``_schedule_instances`` with
        every instance uuid), then each instance goes on alone: the conductor casts
        one ``build_and_run_instance`` per instance to its own host with its own
        alternates, and from there each build (its reschedules, its faults) is its
        own chain of steps. On NoValidHost every instance is buried in error with no
        host (``COND._bury_in_cell0``) and holds nothing: the scheduler has removed
        the claims it made for the earlier ones
        (``SchedulerManager._ensure_sufficient_hosts`` -> ``_cleanup_allocations``).

        An instance deleted while the request waited is left out (Nova schedules it
        too, then finds its build request gone and deletes its allocation: the same
        end); if all were, the item is dropped like any step whose task_state is gone.
        """
        step = self.lc.operation(work.operation).step(work.step)
        members = [self.instances[u] for u in work.get("batch")]
        live = [i for i in members
                if self.lc.may(work.operation, work.step, outcome, i, **self._kwargs(i, work))]
        self._dequeue(work)
        for inst in members:
            if inst not in live:
                self._note_dropped(inst, work, outcome)
        if not live:
            err = errors.UnexpectedTaskStateError(
                f"{work.operation}.{work.step}: {outcome} not possible for "
                f"{', '.join(work.get('batch'))}; work dropped")
            return Result(False, err, err.message, work.instance)
        base = {k: v for k, v in work.context if k != "batch"}
        branch = self.predict(step, outcome, live[0])
        trigger, reason = "injected", None
        placed: list[dict[str, Any]] = [{} for _ in live]
        ledger_before = self.ledger.copy()
        if outcome == "ok" and SCHEDULING_ALLOCS & set(branch.alloc):
            counters_before = dict(self.counters)
            try:
                placed = self._schedule_batch(live, work, branch)
            except NoValidHost as exc:
                self.ledger = ledger_before
                self.counters = counters_before
                outcome, trigger, reason = "no_valid_host", "scheduler", exc.reason
        results = []
        for inst, changes in zip(live, placed):
            item = self._enqueue(Work("", inst.uuid, work.operation, work.step, None,
                                      _freeze_context({**base, **changes}), work.caller))
            if changes:
                self._note_scheduled(inst, item, branch, None, ledger_before)
            results.append(self._fire(item, outcome, inst, inst.host, None, trigger))
        uuids = ", ".join(i.uuid for i in live)
        detail = (f"no_valid_host for {uuids}: {reason}" if reason is not None
                  else f"{work.operation}.{work.step}.{outcome} for {uuids}: "
                       + "; ".join(r.detail for r in results))
        return Result(all(r.accepted for r in results), None, detail, live[0].uuid,
                      results[0].branch)

    def _schedule_batch(self, live: list[Instance], work: Work, branch: Branch
                        ) -> list[dict[str, Any]]:
        """One ``select_destinations`` for the instances of a multi-create; returns
        each one's ``dest`` (and ``alternates``). Placement claims are per instance
        (``SchedulerManager._claim_resources`` inside the loop of ``_schedule``); the
        caller restores the ledger on NoValidHost."""
        op = work.operation
        head = live[0]
        flavor = self.flavors[head.flavor]
        uuids = tuple(i.uuid for i in live)
        spec = dataclasses.replace(self.request_spec(head, work), instance_uuids=uuids,
                                   num_instances=len(live))
        legacy = self.scheduler_config.mode != "placement"
        hosts = self.host_states()
        #: per instance: Placement as its claims saw it, and the hosts that refused it
        seen: dict[int, tuple[Ledger, list[str]]] = {}
        chosen: list[str] = []

        def candidates(s: RequestSpec):
            wanted = {ResourceClass(rc): n for rc, n in placement_resources(s).items()}
            return list(self.ledger.candidates(wanted))

        def claim(host_state: HostState, s: RequestSpec, index: int) -> bool:
            ledger, refused = seen.setdefault(index, (self.ledger.copy(), []))
            if self._claim_effects(live[index], branch, host_state.host, flavor, None):
                return True
            refused.append(host_state.host)
            return False

        try:
            selections = select_destinations(
                hosts, spec, self.scheduler_config, rng=self.rng,
                placement_candidates=candidates, claim=claim,
                return_alternates=self._reschedules(op),
                on_choice=lambda index, host_state: chosen.append(host_state.host))
        except NoValidHost as exc:
            self._decided_batch(live, work, spec, hosts, chosen, seen, branch, exc.reason)
            raise
        if legacy:  # the legacy scheduler chose them all; now each is claimed in turn
            for index, host in enumerate(chosen):
                seen[index] = (self.ledger.copy(), [])
                if not self._claim_effects(live[index], branch, host, flavor, None):
                    seen[index][1].append(host)
                    reason = f"claim on {host} failed"
                    self._decided_batch(live, work, spec, hosts, chosen[:index + 1], seen,
                                        branch, reason, claim_failed=True)
                    raise NoValidHost(reason)
        self._decided_batch(live, work, spec, hosts, chosen, seen, branch, None)
        out = []
        for selection in selections:
            self._consumed(selection.service_host, flavor)
            changes: dict[str, Any] = {"dest": selection.service_host}
            if self._reschedules(op):
                changes["alternates"] = tuple(a.host for a in selection.alternates)
            out.append(changes)
        return out

    def _decided_batch(self, live: list[Instance], work: Work, spec: RequestSpec,
                       hosts: list[HostState], chosen: list[str],
                       seen: Mapping[int, tuple[Ledger, list[str]]], branch: Branch,
                       reason: str | None, claim_failed: bool = False) -> None:
        """Write down a multi-create's decision as one decision per instance placed
        (and one for the instance no host was found for): each as the world stood for
        that instance, with the members placed before it in the same request counted
        as ``SchedulerManager._consume_selected_host`` counts them (the chosen host's
        state consumed and holding the member, the group's hosts with its host).
        Worked out here from the hosts chosen, not taken from the scheduler, so that
        a scheduler that forgets the earlier members is judged against them."""
        states = {h.host: h for h in hosts}
        order = [h.host for h in hosts]
        spec_i = spec
        now = self.ledger.copy()  # Placement once the earlier members were claimed
        last = len(chosen) if reason is None or claim_failed else len(chosen) + 1
        for index, inst in enumerate(live[:last]):
            spec_i = dataclasses.replace(spec_i, instance_uuid=inst.uuid)
            ledger, refused = seen.get(index, (now, []))
            shown = [states[h] for h in order]
            if index < len(chosen):
                host = chosen[index]
                failed = reason if claim_failed and index == len(chosen) - 1 else None
                self._decided(FILTER, inst, work, host, failed, spec_i, shown, ledger,
                              branch, refused)
                states[host] = states[host].consume_from_request(spec_i, inst.uuid)
                group = spec_i.instance_group
                if group is not None:
                    spec_i = dataclasses.replace(spec_i, instance_group=dataclasses.replace(
                        group, hosts=(*group.hosts, host)))
            else:
                self._decided(FILTER, inst, work, None, reason, spec_i, shown, ledger,
                              branch, refused)

    def _preempted(self, step: Step, inst: Instance, work: Work) -> str:
        """A step whose compare-and-swap fails raises UnexpectedTaskStateError inside
        Nova's own exception handling: the step's declared failure path still cleans
        up the move (``_revert_allocation``, ``errors_out_migration``,
        ``_rollback_live_migration``), while its writes to the instance are lost to
        the operation that got there first. So the resource and migration effects of
        the step's first fault outcome apply (a conductor step's no valid host, when
        it declares no fault), and nothing else."""
        # (a conductor step declares no fault: its failure path is the world's answer,
        # no valid host, whose clean-up MigrationTask.rollback runs the same way)
        fault = next((o for o in step.outcomes if o.kind is OutcomeKind.FAULT),
                     next((o for o in step.outcomes if o.kind is OutcomeKind.ENV), None))
        if fault is None or inst.migration is None or not inst.migration.in_progress:
            return ""
        if work.get("migration") != inst.migration.uuid:
            return ""  # a newer move owns the instance now; this one was reset already
        branch = fault.branches[0]
        migration = branch.migration
        if branch.then is not None:
            # A failure that goes on to a reschedule (CM._reschedule_resize_or_reraise)
            # ends the move here as its reschedule ends with no alternate left: the
            # model does not send a preempted move on to another host.
            then = self.lc.operation(work.operation).step(branch.then)
            if then.claims_alternate:
                migration = then.outcome("no_valid_host").branches[0].migration
        if not branch.alloc and migration is None:
            return ""
        if migration is not None and migration.create is None:
            self._change_migration(inst, migration, work, fault.name)
        self._apply_allocs(inst, branch, SCHEDULING_ALLOCS, inst.host)
        self._apply_flavor(inst, branch)
        self._note_unmatched(inst, branch, work, fault.name)
        return f"; its {fault.name} clean-up ran"

    def _errored_by_preemption(self, step: Step, inst: Instance, work: Work) -> str:
        """``Step.preempted``: the handler's ``_error_out_instance_on_exception`` saves
        vm_state error with the task_state it had set in memory, or with none when a
        check before the compare-and-swap failed first (``reverts_task_state`` clears
        that one)."""
        preempted = step.preempted
        if preempted is None or inst.vm_state is VmState.DELETED:
            return ""
        task = preempted.task
        if (preempted.exists_check is not None and work.target is not None
                and work.target == inst.host and inst.guest is not PowerState.PENDING):
            task = None
        vm, found = inst.vm_state, inst.task_state
        inst.state = state_name(VmState.ERROR, task)
        # (recorded even when the instance was in error already: this is what leaves it
        # in error with the task)
        outcome = next((o for o in step.outcomes if o.kind is not OutcomeKind.OK),
                       step.outcomes[0])
        self.error_causes[inst.uuid] = ErrorCause(
            work.operation, work.step, outcome.name, outcome.kind, PREEMPTED, vm.value,
            None if found is None else found.value)
        return f"; {inst.uuid} errored with task_state {task_label(task)}"

    def _group_policy_violated(self, inst: Instance, host: str | None) -> bool:
        """``CM._validate_instance_group_policy``: would ``host`` break a hard policy?

        Anti-affinity counts the other members on the host and those with a migration
        in progress from or to it, as its record says (Nova 24 and later:
        ``MigrationList.get_in_progress_by_host_and_node``, where done is not in
        progress); affinity looks at the other members' ``instance.host`` only
        (``InstanceGroup.get_hosts``).
        """
        group = self.info[inst.uuid].group if inst.uuid in self.info else None
        if group is None or host is None:
            return False
        policy, rules = group_policy(self.config, group)
        others = [self.instances[u] for u in self.groups.get(group, ())
                  if u != inst.uuid and u in self.instances
                  and self.instances[u].state != "new"
                  and self.instances[u].vm_state is not VmState.DELETED]
        if policy == "anti-affinity":
            moving = {m.instance_uuid for m in self.migrations.values()
                      if m.status not in _SETTLED_FOR_THE_GROUP_CHECK
                      and host in (m.source, m.dest)}
            here = sum(1 for o in others if o.host == host or o.uuid in moving)
            return here >= int(rules.get("max_server_per_host", 1))
        if policy == "affinity":
            return any(o.host is not None and o.host != host for o in others)
        return False

    def _kwargs(self, inst: Instance, work: Work) -> dict[str, Any]:
        source = inst.migration.source if inst.migration is not None else inst.host
        dest = work.get("dest") or (inst.migration.dest if inst.migration else None)
        return {"dest": dest, "source": source}

    def _fire(self, work: Work, outcome: str, inst: Instance, before_host: str | None,
              migration_uuid: str | None, trigger: str = "injected") -> Result:
        kw = self._kwargs(inst, work)
        before_vm = _vm_of(inst)
        try:
            branch = self.lc.deliver(work.operation, work.step, outcome, inst, **kw)
        except errors.UnexpectedTaskStateError as exc:
            self._dequeue(work)
            self._note_dropped(inst, work, outcome)
            return Result(False, _detached(exc), exc.message, inst.uuid)
        self._dequeue(work)
        self._note_overlap(inst, work.operation, work.step, outcome, work.get("migration"))
        # (a branch taken because the hypervisor has no guest: the world decided, as the
        # earlier failure that destroyed the guest left it)
        kind = self._note_vm_change(inst, before_vm, work.operation, work.step, outcome,
                                    MISSING_GUEST if When.NO_GUEST in branch.when
                                    else trigger)
        if trigger == "injected" and kind is OutcomeKind.FAULT:
            self.injected_faults += 1
        change = branch.migration
        context = work.context
        if change is not None and change.create is not None:
            dest = work.get("dest") if change.records_dest else None
            record = self._create_migration(inst, change.create, change.status, before_host,
                                            dest, uuid=migration_uuid,
                                            new_flavor=work.get("flavor"))
            context = work.with_context(migration=record.uuid)  # the rest of the chain's
        elif change is not None:
            self._change_migration(inst, change, work, outcome)
        if (outcome == "ok" and self.lc.operation(work.operation).step(work.step).schedules
                and inst.migration is not None and inst.migration.in_progress
                and work.get("dest")):
            inst.migration.sent_to = work.get("dest")
        self._apply_allocs(inst, branch, SCHEDULING_ALLOCS, before_host)
        self._track(inst, branch, work.target or before_host, before_host,
                    (work.operation, work.step))
        if (inst.host is not None and inst.host != before_host and inst.host in self.trackers
                and not self._counts(self.trackers[inst.host], inst.uuid)):
            # (also an instance this tracker let go earlier and that comes back uncounted:
            # a move away from it, then a live migration back before its audit; one that
            # returns to the host it first arrived at uncounted keeps that first arrival)
            first = self.uncounted_arrivals.get(inst.uuid)
            if first is None or first[0] != inst.host:
                self.uncounted_arrivals[inst.uuid] = (inst.host, work.operation)
        self._apply_flavor(inst, branch)
        if inst.host is not None and inst.host != before_host:
            self.arrivals[inst.uuid] = work.operation
        self._note_unmatched(inst, branch, work, outcome)
        if When.NO_GUEST in branch.when and branch.then is None and inst.task_state:
            gone = VanishedGuest(work.operation, work.step, inst.task_state.value)
            self.vanished_guests[inst.uuid] = tuple(
                g for g in self.vanished_guests.get(inst.uuid, ()) if g != gone) + (gone,)
        if branch.then is not None:
            # A step the same handler goes on with carries its handler: it dies with
            # the compute process (``service_down``); a message does not.
            entry = self.lc.operation(work.operation).step(branch.then).entry.after(work.step)
            within = entry.handler if entry.kind is Entered.HANDLER else None
            if within != work.get("within"):
                context = _freeze_context({**dict(context), "within": within})
            self._enqueue(Work(work.id, work.instance, work.operation, branch.then,
                               work.target, context, work.caller))
        return Result(True, None, f"{work.operation}.{work.step}.{outcome}"
                      + (f" -> {branch.then}" if branch.then else ""), inst.uuid, branch)

    def _note_unmatched(self, inst: Instance, branch: Branch, work: Work, outcome: str) -> None:
        """Remember the step whose clean-up left the instance's allocation unlike its host
        or flavor (the invariants name it, and an upstream finding may explain it)."""
        if ((Alloc.REMOVE_HOST_FROM_INSTANCE in branch.alloc or branch.old_flavor)
                and inst.host is not None):
            self.unmatched_allocations[inst.uuid] = AllocationCause(
                inst.host, work.operation, work.step, outcome)

    def _note_dropped(self, inst: Instance, work: Work, outcome: str) -> None:
        task = inst.task_state
        dropped = DroppedStep(work.operation, work.step, outcome,
                              None if task is None else task.value)
        self.dropped_steps[inst.uuid] = tuple(
            d for d in self.dropped_steps.get(inst.uuid, ()) if d != dropped) + (dropped,)

    def _note_overlap(self, inst: Instance, operation: str, step: str, outcome: str,
                      migration: str | None) -> None:
        """Remember, on each move whose chain of steps is still queued, a step of another
        request (another operation, or another move) that ran meanwhile: the upstream
        findings about requests that overtake a move are keyed on it."""
        for w in self.work.values():
            if w.instance != inst.uuid:
                continue
            mig = w.get("migration")
            if mig is None or (w.operation, mig) == (operation, migration):
                continue
            record = self.migrations.get(mig)
            if record is None:
                continue
            seen = self.overlaps.get(mig, ())
            overlap = Overlap(operation, step, outcome, record.migration_type.value)
            if overlap not in seen:
                self.overlaps[mig] = seen + (overlap,)

    def _note_scheduled(self, inst: Instance, work: Work, branch: Branch,
                        migration_uuid: str | None, before: Ledger) -> None:
        """What a scheduling step took over that findings are keyed on: an allocation on
        a down host carried into the move's migration, and a group member placed while
        another member was still on its way."""
        mover = migration_uuid or (inst.migration.uuid if inst.migration else None)
        if Alloc.MOVE_SOURCE_TO_MIGRATION in branch.alloc and mover is not None:
            for host in before.allocations_view(inst.uuid):
                if (host != inst.host and not self.service_is_up(host)
                        and host in self.ledger.allocations_view(mover)):
                    self.carried_allocations[mover] = AllocationCause(
                        host, work.operation, work.step, "ok")
        group = self.info[inst.uuid].group if inst.uuid in self.info else None
        if group is None:
            return
        members = set(self.groups.get(group, ())) - {inst.uuid}
        if work.get("force") and work.get("host"):
            # a forced destination skipped the scheduler's group filters: the member is
            # on its way there whatever its group's policy says, until the compute's
            # late check (if its move makes one) refuses it
            for other in sorted(members):
                race = GroupRace(work.operation, work.step, work.get("dest") or "", other,
                                 FORCED_PAST_THE_FILTERS)
                seen = self.group_races.get(inst.uuid, ())
                if race not in seen:
                    self.group_races[inst.uuid] = seen + (race,)
        # a member still being built has no instance.host for the group filters (nor,
        # for an alternate, is the move filtered again): a move scheduled meanwhile may
        # go where that member's build then breaks the policy
        moving = self.lc.operation(work.operation).host_change is HostChange.LEAVES
        for w in self.work.values():
            other_op = self.lc.operation(w.operation)
            if w.instance in members and (other_op.host_change is not HostChange.NONE
                                          or (moving and other_op.creates_instance)):
                for uuid, other in ((inst.uuid, w.instance), (w.instance, inst.uuid)):
                    race = GroupRace(work.operation, work.step, work.get("dest") or "",
                                     other, w.operation)
                    seen = self.group_races.get(uuid, ())
                    if race not in seen:
                        self.group_races[uuid] = seen + (race,)

    def _note_vm_change(self, inst: Instance, before: tuple[VmState, Any] | None,
                        operation: str, step: str, outcome: str, trigger: str) -> OutcomeKind:
        """Record why the instance came into error (or forget it once it left); returns
        the fired outcome's declared kind."""
        kind = self.lc.operation(operation).step(step).outcome(outcome).kind
        vm, task = before if before is not None else (None, None)
        after = inst.vm_state
        if after is not vm:
            if after is VmState.ERROR:
                self.error_causes[inst.uuid] = ErrorCause(
                    operation, step, outcome, kind, trigger,
                    None if vm is None else vm.value, None if task is None else task.value)
            elif vm is VmState.ERROR:
                self.error_causes.pop(inst.uuid, None)
        return kind

    def predict(self, step: Step, outcome: str, inst: Instance) -> Branch:
        """The branch an outcome will take for the instance now (first whose conditions hold)."""
        vm, task = inst.vm_state, inst.task_state
        for b in step.outcome(outcome).branches:
            if all(STATIC_CONDITIONS[w](vm, task, inst.power_state) if w in STATIC_CONDITIONS
                   else DYNAMIC_CONDITIONS[w](inst) for w in b.when):
                return b
        return step.outcome(outcome).branches[-1]

    # ------------------------------------------------------------------ effects

    def _apply_allocs(self, inst: Instance, branch: Branch, skip: frozenset | tuple,
                      before_host: str | None) -> None:
        mig = inst.migration
        for effect in branch.alloc:
            if effect in skip:
                continue
            if effect is Alloc.DELETE_INSTANCE:
                self.ledger.delete_allocations(inst.uuid)
            elif effect is Alloc.DELETE_MIGRATION:
                if mig is not None:
                    self.ledger.delete_allocations(mig.uuid)
            elif effect is Alloc.REVERT_MIGRATION_TO_INSTANCE:
                # one POST /allocations (model.operation.BATCHED_WRITES); like
                # CM._revert_allocation, nothing is done when Placement refuses it
                if mig is not None and self.ledger.allocations_of(mig.uuid):
                    self.ledger.move_allocations(mig.uuid, inst.uuid)
            elif effect is Alloc.REMOVE_DEST_FROM_INSTANCE:
                if mig is not None and mig.dest is not None and mig.dest != mig.source:
                    self.ledger.remove_provider_from_consumer(inst.uuid, mig.dest)
            elif effect is Alloc.REMOVE_SOURCE_FROM_INSTANCE:
                if mig is not None and mig.source is not None and mig.dest != mig.source:
                    self.ledger.remove_provider_from_consumer(inst.uuid, mig.source)
            elif effect is Alloc.REMOVE_HOST_FROM_INSTANCE:
                if inst.host is not None:
                    self.ledger.remove_provider_from_consumer(inst.uuid, inst.host)
            elif effect in SCHEDULING_ALLOCS:  # pragma: no cover - done by _schedule
                raise AssertionError(f"{effect} outside scheduling")

    def _apply_flavor(self, inst: Instance, branch: Branch) -> None:
        """Resize: the new flavor once finished; the old one back on a revert."""
        mig = inst.migration
        if mig is None or mig.migration_type is not MigrationType.RESIZE:
            return
        if branch.migration is not None and branch.migration.status is MS.FINISHED:
            inst.flavor = mig.new_flavor
        if Alloc.DELETE_MIGRATION in branch.alloc:
            # Dropping the migration's old-flavor allocation leaves the instance with the
            # destination's: CM._finish_resize has put the new flavor on the instance
            # before anything on the destination can fail, and Instance.save writes the
            # flavor before its task_state compare-and-swap, so even a preempted
            # finish_resize (CM.finish_resize -> _delete_allocation_after_move) leaves
            # the new flavor behind.
            inst.flavor = mig.new_flavor
        if branch.host is HostEffect.SET_SOURCE or branch.old_flavor:
            # (CM._finish_revert_resize restores the old flavor with the host, before
            # it gives the allocation back; a move that fails before finish_resize
            # never changed it)
            inst.flavor = mig.old_flavor

    # ------------------------------------------------------------------ resource tracker

    def reserved_usage(self, host: str) -> Usage:
        """What the compute counts as used before any instance: its reserved amounts."""
        base = self._base_inventories[host]
        cpu, mem, disk = (base.get(ResourceClass(rc)) for rc in RESOURCE_CLASSES)
        return Usage(cpu.reserved if cpu else 0, mem.reserved if mem else 0,
                     disk.reserved if disk else 0)

    def tracker_usage(self, flavor: str, inst: Instance) -> Usage:
        """A flavor's usage as the tracker counts it (``RT._get_usage_dict``)."""
        f = self.flavors[flavor]
        root = 0 if self._volume_backed(inst.image) else f.root_gb
        return Usage(f.vcpus, f.memory_mb, root + f.ephemeral_gb, f.swap)

    def _tracked(self, inst: Instance) -> TrackedInstance:
        task = inst.task_state
        return TrackedInstance(inst.uuid, self.tracker_usage(inst.flavor, inst),
                               inst.vm_state.value, None if task is None else task.value,
                               self._removable(inst))

    @staticmethod
    def _removable(inst: Instance) -> bool:
        """``vm_states.allow_resource_removal``: deleted, or offloaded and not spawning."""
        return inst.vm_state is VmState.DELETED or (
            inst.vm_state is VmState.SHELVED_OFFLOADED
            and inst.task_state is not TaskState.SPAWNING)

    def _track(self, inst: Instance, branch: Branch, here: str | None,
               before_host: str | None, where: tuple[str, str]) -> None:
        """The branch's resource-tracker calls (``Branch.tracker``), each on the
        compute that makes it: the step's own host, or the migration's source or
        destination for the drops that name one. A compute that is down makes none."""
        mig = inst.migration
        operation, step = where
        for call in branch.tracker:
            if call is Track.DROP_MOVE_CLAIM_AT_SOURCE:
                host = mig.source if mig is not None else None
            elif call in (Track.DROP_MOVE_CLAIM_AT_DEST, Track.DROP_MOVE_CLAIM):
                host = mig.dest if mig is not None else None
            else:
                host = here
            if host not in self.trackers or not self.service_is_up(host):
                continue
            tracker = self.trackers[host]
            arrival = self.uncounted_arrivals.get(inst.uuid)
            if call in _DROPS and (tracker.never_counted(inst.uuid) or (
                    arrival is not None and arrival[0] == host
                    and not self._counts(tracker, inst.uuid))):
                self.uncounted_drops[host] = UncountedDrop(
                    inst.uuid, operation, step,
                    arrival[1] if arrival is not None and arrival[0] == host else None)
            if call is Track.INSTANCE_CLAIM:
                tracker = tracker.instance_claim(self._tracked(inst))
            elif call is Track.ABORT_INSTANCE_CLAIM:
                tracker = tracker.abort_instance_claim(self._tracked(inst))
            elif call is Track.UPDATE_USAGE:
                # (CM._update_resource_tracker: only the compute the instance is on)
                if before_host != host:
                    continue
                tracker = tracker.update_usage(self._tracked(inst))
            elif call is Track.BUILD_FAILED:
                tracker = tracker.build_failed()
            elif call is Track.BUILD_SUCCEEDED:
                tracker = tracker.build_succeeded()
            elif call is Track.AUDIT:
                self.update_available_resource(host)
                continue
            elif mig is None:
                continue
            elif call is Track.MOVE_CLAIM:
                tracker = tracker.move_claim(inst.uuid, mig.uuid, self.tracker_usage(
                    mig.new_flavor or inst.flavor, inst))
            elif call is Track.DROP_MOVE_CLAIM_AT_SOURCE:
                tracker = tracker.drop_move_claim(inst.uuid, self.tracker_usage(
                    mig.old_flavor or inst.flavor, inst))
            else:  # at the destination, or the move claim's abort there
                tracker = tracker.drop_move_claim(inst.uuid, self.tracker_usage(
                    mig.new_flavor or inst.flavor, inst))
            if (call in _DROPS and host not in self.uncounted_drops
                    and min(_below_reserved(tracker, self.reserved_usage(host))) < 0):
                self.negative_drops[host] = UncountedDrop(inst.uuid, operation, step, None)
            self.trackers[host] = tracker

    @staticmethod
    def _counts(tracker: Tracker, uuid: str) -> bool:
        """Whether the tracker counts the instance or its move now."""
        return tracker.tracks(uuid) or tracker.tracks_move_of(uuid)

    def audit_tracker(self, host: str) -> None:
        """``RT._update_available_resource``: the tracker counts again."""
        self.trackers[host] = self.audited_tracker(host)
        self.uncounted_drops.pop(host, None)
        self.negative_drops.pop(host, None)
        for uuid in [u for u, (h, _) in self.uncounted_arrivals.items() if h == host]:
            del self.uncounted_arrivals[uuid]

    def audited_tracker(self, host: str) -> Tracker:
        """The host's tracker as its resource audit would leave it now: counted again
        from the instances on the host and the moves in progress (or in error) with the
        host at one end, the latest one per instance (nothing changes)."""
        on_host = [i for _, i in self._placed_instances()
                   if i.host == host and not self._removable(i)]
        counted = {i.uuid for i in on_host}
        latest: dict[str, MigrationRecord] = {}
        for mig in sorted(self.migrations.values(), key=lambda m: _num(m.uuid)):
            if mig.status not in _NOT_IN_PROGRESS and host in (mig.source, mig.dest):
                latest[mig.instance_uuid] = mig
        moves = []
        for uuid, mig in latest.items():
            inst = self.instances.get(uuid)
            if inst is None:
                continue
            if inst.migration is not None and inst.migration is not mig:
                # a record the instance's own move no longer points at is stale: the
                # audit skips it (``_update_usage_from_migrations``)
                continue
            vm, task = inst.vm_state, inst.task_state
            moving = (vm is VmState.RESIZED
                      or (vm in (VmState.ACTIVE, VmState.STOPPED) and task in _MOVING_TASKS)
                      or (task is TaskState.MIGRATING
                          and vm in (VmState.ACTIVE, VmState.PAUSED)))
            moves.append(TrackedMigration(
                uuid, mig.uuid, incoming=mig.dest == host, outbound=mig.source == host,
                usage_new=self.tracker_usage(mig.new_flavor or inst.flavor, inst),
                usage_old=self.tracker_usage(mig.old_flavor or inst.flavor, inst),
                tracked=uuid in counted, instance_moving=moving,
                flavor_is_old=inst.flavor == (mig.old_flavor or inst.flavor)))
        return self.trackers[host].audit(
            self.reserved_usage(host), [self._tracked(i) for i in on_host], moves)

    def _consumed(self, host: str, flavor: Flavor) -> None:
        """The scheduler chose ``host``: its cached HostState is consumed
        (``HostState.consume_from_request``) until the compute saves a newer record."""
        version = self.trackers[host].version
        seen = self.scheduler_consumed.get(host)
        cpus, mem, disk, count = seen[1:] if seen and seen[0] == version else (0, 0, 0, 0)
        self.scheduler_consumed[host] = (
            version, cpus + flavor.vcpus, mem + flavor.memory_mb,
            disk + (flavor.root_gb + flavor.ephemeral_gb) * 1024, count + 1)

    # ------------------------------------------------------------------ scheduling

    def host_states(self) -> list[HostState]:
        """What the scheduler sees: configured hosts, their flags, and each compute's
        last saved record (``HostState._update_from_compute_node``), with what the
        scheduler itself consumed of it since. The allocation ratios are the compute's
        own (an operator's change in Placement does not reach them)."""
        on_host: dict[str, dict[str, Mapping[str, Any]]] = {h: {} for h in self.hosts}
        images = self.images
        for uuid, inst in self._placed_instances():
            if inst.host in on_host and inst.vm_state is not VmState.DELETED:
                on_host[inst.host][uuid] = images.get(inst.image, {}) or {}
        states = []
        for name in sorted(self.hosts):
            rec = self.hosts[name]
            cpu, mem, disk = (self._inventory(name, rc) for rc in RESOURCE_CLASSES)
            base = self._base_inventories[name]
            own_cpu, own_mem, own_disk = (base.get(ResourceClass(rc), _NO_INVENTORY)
                                          for rc in RESOURCE_CLASSES)
            tracker = self.trackers[name]
            vcpus_used, memory_used, disk_used, instances, io_ops, failed = tracker.saved
            # (the hypervisor's own disk_available_least is taken to be no lower)
            free_ram_mb = own_mem.total - memory_used
            free_disk_mb = (own_disk.total - disk_used) * 1024
            consumed = self.scheduler_consumed.get(name)
            if consumed is not None and consumed[0] == tracker.version:
                _, cpus, mem_mb, disk_mb, count = consumed
                vcpus_used += cpus
                free_ram_mb -= mem_mb
                free_disk_mb -= disk_mb
                instances += count
                io_ops += count
            states.append(HostState(
                host=name, nodename=name, uuid=name,
                total_usable_ram_mb=own_mem.total,
                free_ram_mb=free_ram_mb,
                total_usable_disk_gb=own_disk.total,
                free_disk_mb=free_disk_mb,
                disk_mb_used=disk_used * 1024,
                vcpus_total=own_cpu.total, vcpus_used=vcpus_used,
                num_instances=instances, num_io_ops=io_ops, failed_builds=failed,
                cpu_allocation_ratio=own_cpu.allocation_ratio,
                ram_allocation_ratio=own_mem.allocation_ratio,
                disk_allocation_ratio=own_disk.allocation_ratio,
                service_up=rec.up, service_disabled=not rec.enabled,
                hypervisor_hostname=name,
                instances=on_host[name],
                reserved_host_memory_mb=mem.reserved,
                reserved_host_disk_mb=disk.reserved * 1024,
                reserved_host_cpus=cpu.reserved,
                **self._host_static[name],
            ))
        return states

    def instance_placed(self, inst: Instance) -> None:
        """The lifecycle gave ``inst`` a host (``World.instance_placed``)."""
        if self._placed is not None:
            self._placed[inst.uuid] = None

    def _placed_instances(self) -> list[tuple[str, Instance]]:
        """The instances that have a host, in creation order.

        Kept as an index of the instances a transition placed, pruned here of those
        that left their host since: every scheduling decision asks, and scanning all
        instances each time made creating n instances quadratic (most of a large
        cluster's failed boots have no host). Rebuilt by one scan after a restore."""
        instances = self.instances
        if self._placed is None:
            self._placed = dict.fromkeys(u for u, i in instances.items() if i.host is not None)
        placed = self._placed
        for uuid in [u for u in placed if u not in instances or instances[u].host is None]:
            del placed[uuid]
        return [(u, instances[u]) for u in sorted(placed, key=_num)]

    @cached_property
    def _host_static(self) -> dict[str, dict[str, Any]]:
        """The HostState fields the configuration fixes (it is immutable): worked out
        once, not on every scheduling request."""
        out = {}
        for name, cfg in self._host_configs.items():
            zone = host_attr(cfg, "availability_zone", None)
            # with the zone's implicit aggregate already added (by HostState itself),
            # so that each HostState built from these need not add it again
            aggregates = HostState(host=name, nodename=name, availability_zone=zone,
                                   aggregates=host_aggregates(self.config, cfg)).aggregates
            out[name] = {
                "availability_zone": zone,
                "aggregates": aggregates,
                "stats": MappingProxyType(dict(host_attr(cfg, "stats", {}) or {})),
                "supported_instances": tuple(host_attr(cfg, "supported_instances", ()) or ()),
                "hypervisor_type": host_attr(cfg, "hypervisor_type", None),
                "hypervisor_version": host_attr(cfg, "hypervisor_version", None),
                "host_ip": host_attr(cfg, "host_ip", None),
                "metrics": MappingProxyType(dict(host_attr(cfg, "metrics", {}) or {}))}
        return out

    def _inventory(self, host: str, rc):
        """The host's inventory of ``rc``: the configured one plus the operator's changes.

        A host that reports none of a class (``local_gb = 0``: the libvirt driver
        reports no DISK_GB) offers none of it: the scheduler sees a total of 0, and
        Placement refuses any request for it (there is no inventory to change either).
        """
        base = self._base_inventories[host].get(ResourceClass(rc))
        if base is None:
            return _NO_INVENTORY
        changes = self.inventory_changes.get((host, str(rc)))
        if not changes:
            return base
        # (remembered per change: a replaced dataclass is re-validated, ~5 us)
        cached = self._changed_inventories.get((host, rc))
        if cached is None or cached[0] is not changes:
            cached = self._changed_inventories[(host, rc)] = (
                changes, dataclasses.replace(base, **dict(changes)))
        return cached[1]

    def _group(self, inst: Instance) -> InstanceGroup | None:
        """The group a request spec carries: ``scheduler_utils.setup_instance_group``
        fills its hosts from ``InstanceGroup.get_hosts()``, every member's host, the
        moving instance's own included (no ``exclude``), so an affinity group's only
        member can move nowhere once its source is ignored."""
        group = self.info[inst.uuid].group
        if group is None:
            return None
        policy, rules = group_policy(self.config, group)
        members = tuple(u for u in self.groups.get(group, ())
                        if self.instances[u].vm_state is not VmState.DELETED)
        hosts = tuple(sorted({self.instances[u].host for u in members
                              if self.instances[u].host is not None}))
        return InstanceGroup(policy=policy, rules=rules, hosts=hosts, members=members,
                             uuid=group)

    def request_spec(self, inst: Instance, work: Work) -> RequestSpec:
        op = work.operation
        operation = self.lc.operation(op)
        if (operation.step(work.step).source_must_be_up
                and inst.host is not None and not self.service_is_up(inst.host)):
            raise NoValidHost(f"the source {inst.host}'s compute service is down")
        flavor = self.flavors[work.get("flavor") or inst.flavor]
        info = self.info[inst.uuid]
        ignore: tuple[str, ...] = ()
        if operation.ignore_hosts is not IgnoreHosts.NONE and inst.host is not None:
            same_host_ok = (operation.ignore_hosts
                            is IgnoreHosts.SOURCE_UNLESS_RESIZE_TO_SAME_HOST
                            and self._option("allow_resize_to_same_host", False))
            if not same_host_ok:
                ignore = (inst.host,)
        if operation.step(work.step).same_or_newer_hypervisor:
            # (skipping each incompatible choice and asking again ends where leaving
            # them all out does)
            ignore += tuple(h for h in sorted(self.hosts)
                            if h not in ignore and self._older_hypervisor(inst.host, h))
        host = work.get("host")
        # a rebuild's check of a new image asks for the instance's own host
        rebuild = operation.scheduler is SchedulerUse.CHECK_IF_NEW_IMAGE
        destination = None
        if rebuild and inst.host is not None:
            destination = Destination(inst.host)
        elif host is not None:
            destination = Destination(host)
        image = info.spec_image or inst.image
        spec = RequestSpec(
            flavor=flavor,
            image_properties=dict(self.images.get(image, {}) or {}),
            image_id=image, project_id=project_of(self.config),
            availability_zone=info.availability_zone, instance_group=self._group(inst),
            scheduler_hints=dict(info.hints), ignore_hosts=ignore,
            requested_destination=destination,
            member_of=self._zone_aggregates(info.availability_zone),
            instance_uuid=inst.uuid, is_rebuild=rebuild, is_bfv=self._volume_backed(inst.image),
        )
        if "SimpleCIDRAffinityFilter" in self.scheduler_config.filters:
            # Nova's scheduler raises AddrFormatError on hints it cannot read and the
            # conductor fails the request as it does on NoValidHost
            try:
                SimpleCIDRAffinityFilter.affinity_network(spec)
            except FilterError as exc:
                raise NoValidHost(f"SimpleCIDRAffinityFilter: {exc}") from None
        return spec

    def _zone_aggregates(self, zone: str | None) -> tuple[str, ...]:
        """The aggregates a request for ``zone`` must be in (the scheduler's request
        filter ``map_az_to_placement_aggregate``; read by placement mode only)."""
        if not zone:
            return ()
        found = self._zone_aggregate_names.get(zone)
        if found is None:
            found = self._zone_aggregate_names[zone] = map_az_to_placement_aggregate(
                zone, aggregates_of(self.config))
        return found

    def available_zones(self) -> frozenset[str]:
        """The zones a create may ask for: the zone of every enabled compute service,
        and the internal zone of the control services (``get_availability_zones`` with
        ``get_only_available``; a disabled service's zone is not available, a down
        one's is)."""
        zones = {self._host_static[name]["availability_zone"]
                 for name, record in self.hosts.items() if record.enabled}
        return frozenset(zones | {INTERNAL_SERVICE_AVAILABILITY_ZONE})

    def _claim_effects(self, inst: Instance, branch: Branch, host: str, flavor: Flavor,
                       migration_uuid: str | None) -> bool:
        """The branch's declared claim effects on ``host``, in order; False if one fails."""
        wanted = self.resources(flavor, inst.image)
        for effect in branch.alloc:
            if effect is Alloc.CLAIM_DEST:
                if not self.ledger.claim_resources(inst.uuid, {host: wanted}):
                    return False
            elif effect is Alloc.CLAIM_DEST_DOUBLED:
                if not self.ledger.add_to_consumer(inst.uuid, host, wanted):
                    return False
        return True

    def _schedule(self, inst: Instance, work: Work, branch: Branch) -> tuple[Work, str | None]:
        """Choose and claim a destination for a scheduling step; raise NoValidHost.

        Returns the work with ``dest`` (and ``alternates``) recorded in its context, and
        the uuid reserved for the migration the branch creates (if any). The caller
        restores the ledger on NoValidHost.
        """
        op = work.operation
        flavor = self.flavors[work.get("flavor") or inst.flavor]
        if self.lc.operation(op).scheduler is SchedulerUse.CHECK_IF_NEW_IMAGE:
            # only a new image is checked, on the instance's own host
            if work.get("image") and work.get("image") != work.get("old_image"):
                spec = self.request_spec(inst, work)
                hosts = self.host_states()
                try:
                    select_destinations(hosts, spec, self.scheduler_config, rng=self.rng)
                except NoValidHost as exc:
                    self._decided(REBUILD, inst, work, None, exc.reason, spec, hosts)
                    raise
                self._decided(REBUILD, inst, work, inst.host, None, spec, hosts)
            return work, None
        migration_uuid = None
        if branch.migration is not None and branch.migration.create is not None:
            migration_uuid = self._next("mig")
        # (a reschedule moves onto the record the first scheduling created)
        mover = migration_uuid or (inst.migration.uuid if inst.migration else None)
        if (Alloc.MOVE_SOURCE_TO_MIGRATION in branch.alloc
                and inst.host in self.ledger.allocations_view(inst.uuid)):
            # (an instance holding nothing on its own host has nothing moved: Nova
            # then goes on without a migration allocation)
            assert mover is not None
            # one POST /allocations (model.operation.BATCHED_WRITES)
            if not self.ledger.move_allocations(inst.uuid, mover):
                # AllocationMoveFailed aborts the move like no host; written down so
                # that the refusal can be judged against Placement's rule (a refused
                # batch writes nothing: the ledger is still as it was before it)
                before = self.ledger.copy()
                reason = ("AllocationMoveFailed: Placement refused to move the source "
                          "allocation to the migration")
                batch = ((inst.uuid, {}), (mover, before.allocations_view(inst.uuid)))
                self.decisions.append(SchedulingDecision(
                    ALLOCATION_MOVE, work.operation, work.step, inst.uuid,
                    self.scheduler_config, None, reason, ledger=before, batch=batch))
                raise NoValidHost(reason)
        if self.lc.operation(op).step(work.step).claims_alternate:
            # claim the next alternate the scheduler returned
            alternates = list(work.get("alternates", ()))
            tried: list[str] = []
            while alternates:
                host = alternates.pop(0)
                # Nova's conductor only claims the alternate; it does not ask whether
                # the compute service is up.
                if self._claim_effects(inst, branch, host, flavor, migration_uuid):
                    self._decided(ALTERNATE, inst, work, host, None, refused=tried)
                    return dataclasses.replace(work, context=work.with_context(
                        dest=host, alternates=tuple(alternates))), migration_uuid
                tried.append(host)
            reason = "no alternate host left (MaxRetriesExceeded)"
            self._decided(ALTERNATE, inst, work, None, reason, refused=tried)
            raise NoValidHost(reason)
        forced = work.get("force") and work.get("host")
        if forced:
            host = work.get("host")
            if (self.lc.operation(op).step(work.step).same_or_newer_hypervisor
                    and self._older_hypervisor(inst.host, host)):
                reason = (f"{host}'s hypervisor is of another type or older than "
                          f"{inst.host}'s (DestinationHypervisorTooOld)")
                self._decided(FORCED, inst, work, None, reason, refused=[host])
                raise NoValidHost(reason)
            if not self._claim_effects(inst, branch, host, flavor, migration_uuid):
                reason = f"cannot claim on forced host {host}"
                self._decided(FORCED, inst, work, None, reason, refused=[host])
                raise NoValidHost(reason)
            self._decided(FORCED, inst, work, host, None)
            return dataclasses.replace(work, context=work.with_context(dest=host)), migration_uuid
        spec = self.request_spec(inst, work)
        legacy = self.scheduler_config.mode != "placement"

        def candidates(s: RequestSpec):
            wanted = {ResourceClass(rc): n for rc, n in placement_resources(s).items()}
            return list(self.ledger.candidates(wanted))

        refused: list[str] = []

        def claim(host_state: HostState, s: RequestSpec, index: int) -> bool:
            if self._claim_effects(inst, branch, host_state.host, flavor, migration_uuid):
                return True
            refused.append(host_state.host)
            return False

        hosts = self.host_states()
        seen = self.ledger.copy()  # Placement as the scheduler is about to see it
        try:
            selections = select_destinations(
                hosts, spec, self.scheduler_config, rng=self.rng,
                placement_candidates=candidates, claim=claim,
                return_alternates=self._reschedules(op))
        except NoValidHost as exc:
            self._decided(FILTER, inst, work, None, exc.reason, spec, hosts, seen, branch,
                          refused)
            raise
        chosen = selections[0]
        host = chosen.service_host
        if legacy and not self._claim_effects(inst, branch, host, flavor, migration_uuid):
            reason = f"claim on {host} failed"
            self._decided(FILTER, inst, work, host, reason, spec, hosts, seen, branch, [host])
            raise NoValidHost(reason)
        self._decided(FILTER, inst, work, host, None, spec, hosts, seen, branch, refused)
        self._consumed(host, flavor)
        alternates = tuple(a.host for a in chosen.alternates)
        changes: dict[str, Any] = {"dest": host}
        if self._reschedules(op):
            changes["alternates"] = alternates
        return dataclasses.replace(work, context=work.with_context(**changes)), migration_uuid

    def _older_hypervisor(self, source: str | None, dest: str) -> bool:
        """Whether ``dest``'s hypervisor is of another type than ``source``'s, or older
        (``LiveMigrationTask._check_compatible_with_source_hypervisor``)."""
        if source is None or source not in self.hosts:
            return False
        src, dst = self._host_static[source], self._host_static[dest]
        if src["hypervisor_type"] != dst["hypervisor_type"]:
            return True
        return (src["hypervisor_version"] or 0) > (dst["hypervisor_version"] or 0)

    def _reschedules(self, op: str) -> bool:
        """Whether the operation can go on to its first scheduling's alternates."""
        return any(s.claims_alternate for s in self.lc.operation(op).steps)

    def _decided(self, kind: str, inst: Instance, work: Work, chosen: str | None,
                 reason: str | None, spec: RequestSpec | None = None,
                 hosts: list[HostState] | None = None, ledger: Ledger | None = None,
                 branch: Branch | None = None, refused: list[str] | None = None) -> None:
        """Write down one scheduling decision (``model/scheduler/decision.py``)."""
        claims = () if branch is None else tuple(
            a for a in branch.alloc if a in (Alloc.CLAIM_DEST, Alloc.CLAIM_DEST_DOUBLED))
        self.decisions.append(SchedulingDecision(
            kind, work.operation, work.step, inst.uuid, self.scheduler_config, chosen,
            reason, spec, tuple(hosts or ()), ledger, claims, tuple(refused or ())))

    # ------------------------------------------------------------------ host events

    def service_down(self, host: str) -> Result:
        """nova-compute stops. The RPC messages sent to it wait in its queue; the steps
        its handlers were to go on with (a work item carrying ``within``: no message
        is left for them) go with the process, each written down in
        ``discarded_steps``. ``CM.init_host`` recovers those instances from their
        vm_state and task_state when the service starts again."""
        record = self._host(host)
        if not record.up:
            return Result(True, None, f"{host} already down")
        record.up = False
        return Result(True, None, f"{host} compute service down" + _gone(self._stop(host)))

    def _stop(self, host: str) -> list[Work]:
        """Discard the host's queued steps that were to go on inside a handler."""
        gone = [self.work[wid] for wid in self.hosts[host].queue
                if self.work[wid].get("within")]
        for work in gone:
            self._dequeue(work)
            inst = self.instances[work.instance]
            task = inst.task_state
            discarded = DiscardedStep(work.operation, work.step, host,
                                      None if task is None else task.value,
                                      work.get("within"))
            self.discarded_steps[inst.uuid] = tuple(
                d for d in self.discarded_steps.get(inst.uuid, ()) if d != discarded
            ) + (discarded,)
            self.handler_lost[inst.uuid] = discarded
        return gone

    def service_up(self, host: str) -> Result:
        """nova-compute starts: ``CM.init_host`` (see model/cluster_recovery.py)."""
        from model.cluster_recovery import init_host
        record = self._host(host)
        was_up = record.up
        record.up = True
        if was_up:
            return Result(True, None, f"{host} already up")
        from model.catalogue import INIT_INSTANCE
        # A compute that starts has a new ResourceTracker (ComputeManager.__init__):
        # its Stats, the failed-build count with them, start empty.
        self.trackers[host] = self.trackers[host].started()
        before = {u: _vm_of(i) for u, i in self.instances.items() if i.host == host}
        done = init_host(self, host, self._apply_recovery)
        # (Service.start: ComputeManager.pre_start_hook runs the resource audit once
        # init_host is through)
        freed = self.update_available_resource(host)
        if freed:
            done.append(f"the resource audit freed the allocations of {', '.join(freed)}")
        if INIT_INSTANCE in self.lc.catalogue:
            for uuid, vm in before.items():
                self._note_vm_change(self.instances[uuid], vm, INIT_INSTANCE, "api", "ok",
                                     "recovery")
        return Result(True, None, f"{host} compute service up; " + ("; ".join(done) or
                                                                    "nothing to recover"))

    def _apply_recovery(self, inst: Instance, effects: Branch, before: str | None) -> None:
        """What a ``CM._init_instance`` branch does beyond the instance itself: the
        migration's status, the allocations and the flavor (``cluster_recovery``)."""
        from model.catalogue import INIT_INSTANCE
        if effects.migration is not None and effects.migration.create is None:
            self._set_migration_status(inst, effects.migration.status, INIT_INSTANCE, "api",
                                       "ok")
        self._apply_allocs(inst, effects, (), before)
        self._apply_flavor(inst, effects)

    def restart(self, host: str) -> Result:
        """nova-compute stops and starts again: ``service_down`` (its handlers' next
        steps go with it), then ``service_up`` (``CM.init_host``)."""
        record = self._host(host)
        gone = self._stop(host) if record.up else []
        record.up = False
        up = self.service_up(host)
        return dataclasses.replace(up, detail=up.detail + _gone(gone)) if gone else up

    def disable(self, host: str) -> Result:
        self._host(host).enabled = False
        return Result(True, None, f"{host} disabled")

    def enable(self, host: str) -> Result:
        self._host(host).enabled = True
        return Result(True, None, f"{host} enabled")

    def set_allocation_ratio(self, host: str, rc, ratio: float) -> Result:
        self._host(host)
        return self._change_inventory(host, rc, f"allocation_ratio={ratio}",
                                      allocation_ratio=ratio)

    def set_reserved(self, host: str, rc, amount: int) -> Result:
        self._host(host)
        return self._change_inventory(host, rc, f"reserved={amount}", reserved=amount)

    def _change_inventory(self, host: str, rc, words: str, **changes: Any) -> Result:
        """An operator's PUT of an inventory; Placement refuses a bad value (reserved
        above the total) or a class the provider has no inventory of, changing nothing."""
        rc = ResourceClass(rc)
        try:
            self.ledger.update_inventory(host, rc, **changes)
        except PlacementError as exc:
            error = errors.InvalidRequest(f"placement refused: {exc}")
            return Result(False, error, error.message)
        merged = dict(self.inventory_changes.get((host, str(rc)), ()))
        merged.update(changes)
        self.inventory_changes[(host, str(rc))] = tuple(sorted(merged.items()))
        return Result(True, None, f"{host} {rc} {words}")

    def _host(self, host: str) -> HostRecord:
        try:
            return self.hosts[host]
        except KeyError:
            raise errors.ComputeHostNotFound(f"no compute host {host!r}") from None

    def event(self, op: str, instance_uuid: str) -> Result:
        """A hypervisor event (``Kind.EVENT`` operation, e.g. ``guest_stopped``)."""
        try:
            inst = self.instance(instance_uuid)
            before_vm = _vm_of(inst)
            branch = self.lc.request(op, inst, ADMIN)
        except errors.NovaModelError as exc:
            return Result(False, _detached(exc), exc.message, instance_uuid)
        self._note_vm_change(inst, before_vm, op, "api", "ok", "event")
        self._after_api(op, inst, branch, (), ADMIN, inst.host)
        # CM.handle_lifecycle_event syncs the instance's power state at once
        # (CM._sync_instance_power_state), as the periodic task would later
        # (Nova 34, seen by conformance).
        synced = self._sync_power_state(instance_uuid, inst)
        return Result(True, None, f"{op} on {instance_uuid}"
                      + (f"; {synced.detail}" if synced else ""), instance_uuid, branch)

    # ------------------------------------------------------------------ periodic tasks

    def update_available_resource(self, host: str) -> list[str]:
        """``RT.update_available_resource``: the tracker counts again, and
        ``RT._remove_deleted_instances_allocations`` frees deleted instances'
        allocations on the host."""
        if self.service_is_up(host):
            self.audit_tracker(host)
        removed = []
        for consumer in list(self.ledger.consumers()):
            inst = self.instances.get(consumer)
            if inst is None or inst.vm_state is not VmState.DELETED:
                continue
            if host in self.ledger.allocations_of(consumer):
                self.ledger.delete_allocations(consumer)
                removed.append(consumer)
        return removed

    def poll_unconfirmed_resizes(self) -> list[Result]:
        """``CM._poll_unconfirmed_resizes``: auto-confirm when resize_confirm_window > 0."""
        if self._option("resize_confirm_window", 0) <= 0:
            return []
        out = []
        for mig in sorted(self.migrations.values(), key=lambda m: _num(m.uuid)):
            inst = self.instances.get(mig.instance_uuid)
            if (mig.status is MS.FINISHED and inst is not None and inst.migration is mig
                    and inst.vm_state is VmState.RESIZED and inst.task_state is None):
                out.append(self.request(
                    self._requested_by(PeriodicTask.POLL_UNCONFIRMED_RESIZES),
                    inst.uuid, ADMIN))
        return out

    def poll_shelved_instances(self) -> list[Result]:
        """``CM._poll_shelved_instances``: offload when shelved_offload_time > 0."""
        if self.shelved_offload_time <= 0:
            return []
        offload = self._requested_by(PeriodicTask.POLL_SHELVED_INSTANCES)
        return [self.request(offload, uuid, ADMIN)
                for uuid, inst in self._live()
                if inst.vm_state is VmState.SHELVED and inst.task_state is None]

    def reclaim_queued_deletes(self) -> list[Result]:
        """``CM._reclaim_queued_deletes``: delete soft-deleted instances (interval > 0).

        Nova runs ``_delete_instance`` inside the compute; here it is a delete request
        as admin, whose terminate step runs at the instance's host.
        """
        if self._option("reclaim_instance_interval", 0) <= 0:
            return []
        delete = self._requested_by(PeriodicTask.RECLAIM_QUEUED_DELETES)
        return [self.request(delete, uuid, ADMIN) for uuid, inst in self._live()
                if inst.vm_state is VmState.SOFT_DELETED and inst.task_state is None]

    def sync_power_states(self) -> list[Result]:
        """``CM._sync_instance_power_state``: only active instances found shut off change.

        Runs the catalogue's ``sync_power_state`` record for each active instance
        with no task whose host is up (Nova's periodic runs in the compute).
        """
        out = []
        for uuid, inst in self._live():
            result = self._sync_power_state(uuid, inst)
            if result is not None:
                out.append(result)
        return out

    def _sync_power_state(self, uuid: str, inst: Instance) -> Result | None:
        """The catalogue's ``sync_power_state`` record for one instance, if it applies."""
        if inst.vm_state is not VmState.ACTIVE or inst.host is None:
            return None
        if not self.service_is_up(inst.host):
            return None
        sync = self._requested_by(PeriodicTask.SYNC_POWER_STATES)
        if self.lc.guard_failure_for(sync, inst) is not None:
            return None
        if not self.lc.may(sync, "api", "ok", inst):
            return None
        before_vm = _vm_of(inst)
        branch = self.lc.deliver(sync, "api", "ok", inst)
        self._note_vm_change(inst, before_vm, sync, "api", "ok", "periodic")
        self._after_api(sync, inst, branch, (), ADMIN, inst.host)
        return Result(True, None, f"{sync} {uuid}", uuid, branch)

    def _requested_by(self, task: PeriodicTask) -> str:
        """The operation the periodic task requests, as this cluster's catalogue says."""
        return the_operation(self.lc.operations, lambda op: op.requested_by is task,
                             f"requested by {task.value}").name

    def _live(self) -> list[tuple[str, Instance]]:
        return [(u, i) for u, i in sorted(self.instances.items(), key=lambda kv: _num(kv[0]))
                if i.vm_state is not VmState.DELETED]

    # ------------------------------------------------------------------ snapshots

    def _rows(self) -> tuple:
        """The state variables (but the ledger and the random state) as rows of plain
        values, each dict's rows in the order it holds them and led by its key, in the
        order of ``_ROWS``: what ``freeze`` keeps and ``snapshot`` sorts, and what
        ``_set_rows`` makes state variables again."""
        return (
            tuple((h.name, h.up, h.enabled, tuple(h.queue)) for h in self.hosts.values()),
            tuple(self.conductor),
            tuple((w.id, w.instance, w.operation, w.step, w.target, w.context,
                   w.caller.is_admin) for w in self.work.values()),
            tuple((i.uuid, i.state, int(i.power_state), int(i.guest), i.host, i.launched,
                   i.locked,
                   i.locked_by, None if i.old_vm_state is None else i.old_vm_state.value,
                   None if i.migration is None else i.migration.uuid, i.flavor, i.image)
                  for i in self.instances.values()),
            tuple((u, i.group, i.availability_zone, i.hints, i.min_disk, i.spec_image)
                  for u, i in self.info.items()),
            tuple((m.uuid, m.instance_uuid, m.migration_type.value, m.status.value, m.source,
                   m.dest, m.old_flavor, m.new_flavor, m.sent_to)
                  for m in self.migrations.values()),
            tuple((g, tuple(members)) for g, members in self.groups.items()),
            tuple(self.counters.items()),
            tuple(self.inventory_changes.items()),
            self.injected_faults,
            tuple(self.arrivals.items()),
            tuple((m, tuple(c)) for m, c in self.migration_errors.items()),
            tuple((u, c.operation, c.step, c.outcome, c.kind.value, c.trigger, c.vm_before,
                   c.task_before) for u, c in self.error_causes.items()),
            tuple((u, tuple(c)) for u, c in self.unmatched_allocations.items()),
            tuple((h, t.row()) for h, t in self.trackers.items()),
            tuple(self.scheduler_consumed.items()),
            tuple((h, tuple(d)) for h, d in self.uncounted_drops.items()),
            tuple(self.uncounted_arrivals.items()),
            tuple((u, tuple(map(tuple, cs))) for u, cs in self.dropped_steps.items()),
            tuple((m, tuple(map(tuple, cs))) for m, cs in self.overlaps.items()),
            tuple((u, tuple(map(tuple, cs))) for u, cs in self.discarded_steps.items()),
            tuple((u, tuple(c)) for u, c in self.handler_lost.items()),
            tuple((m, tuple(map(tuple, cs))) for m, cs in self.host_events.items()),
            tuple((m, tuple(c)) for m, c in self.carried_allocations.items()),
            tuple((u, tuple(map(tuple, cs))) for u, cs in self.group_races.items()),
            tuple((h, tuple(d)) for h, d in self.negative_drops.items()),
            tuple((u, tuple(map(tuple, gs))) for u, gs in self.vanished_guests.items()),
        )

    def _set_rows(self, rows: tuple) -> None:
        """Make ``_rows`` state variables again, the dicts in the rows' order."""
        (hosts, conductor, work, instances, info, migrations, groups, counters,
         inventory_changes, injected_faults, arrivals, migration_errors,
         error_causes, unmatched_allocations, trackers, scheduler_consumed,
         uncounted_drops, uncounted_arrivals, dropped_steps, overlaps, discarded_steps,
         handler_lost, host_events, carried_allocations, group_races, negative_drops,
         vanished_guests) = rows
        self.hosts = {name: HostRecord(name, up, enabled, list(queue))
                      for name, up, enabled, queue in hosts}
        self.conductor = list(conductor)
        self.work = {wid: Work(wid, inst, op, step, target, context, ADMIN if admin else USER)
                     for wid, inst, op, step, target, context, admin in work}
        self.migrations = {
            uuid: MigrationRecord(uuid, inst, MigrationType(kind), MS(status), source, dest,
                                  old, new, sent_to)
            for uuid, inst, kind, status, source, dest, old, new, sent_to in migrations}
        self.instances = {}
        self._placed = None  # (the hosts below are written directly, not by transitions)
        new_instance = self.lc.new_instance
        for (uuid, state, power, guest, host, launched, locked, locked_by, old_vm, mig,
             flavor, image) in instances:
            inst = new_instance(uuid, self, flavor=flavor, image=image)
            inst.state, inst.power_state, inst.host = state, PowerState(power), host
            inst.guest = PowerState(guest)
            inst.launched, inst.locked, inst.locked_by = launched, locked, locked_by
            inst.old_vm_state = None if old_vm is None else VmState(old_vm)
            inst.migration = None if mig is None else self.migrations[mig]
            self.instances[uuid] = inst
        self.info = {u: InstanceInfo(group, zone, hints, min_disk, spec_image)
                     for u, group, zone, hints, min_disk, spec_image in info}
        self.groups = {g: list(members) for g, members in groups}
        self.counters = dict(counters)
        self.inventory_changes = dict(inventory_changes)
        self.injected_faults = injected_faults
        self.arrivals = dict(arrivals)
        self.migration_errors = {m: MigrationErrorCause(*c) for m, c in migration_errors}
        self.error_causes = {
            u: ErrorCause(op, step, outcome, OutcomeKind(kind), trigger, vm, task)
            for u, op, step, outcome, kind, trigger, vm, task in error_causes}
        self.unmatched_allocations = {u: AllocationCause(*c)
                                      for u, c in unmatched_allocations}
        self.trackers = {h: Tracker.from_row(row) for h, row in trackers}
        self.scheduler_consumed = dict(scheduler_consumed)
        self.uncounted_drops = {h: UncountedDrop(*d) for h, d in uncounted_drops}
        self.uncounted_arrivals = dict(uncounted_arrivals)
        self.negative_drops = {h: UncountedDrop(*d) for h, d in negative_drops}
        self.dropped_steps = {u: tuple(DroppedStep(*c) for c in cs) for u, cs in dropped_steps}
        self.vanished_guests = {u: tuple(VanishedGuest(*g) for g in gs)
                                for u, gs in vanished_guests}
        self.overlaps = {m: tuple(Overlap(*c) for c in cs) for m, cs in overlaps}
        self.discarded_steps = {u: tuple(DiscardedStep(*c) for c in cs)
                                for u, cs in discarded_steps}
        self.handler_lost = {u: DiscardedStep(*c) for u, c in handler_lost}
        self.host_events = {m: tuple(HostEvent(*c) for c in cs) for m, cs in host_events}
        self.carried_allocations = {m: AllocationCause(*c) for m, c in carried_allocations}
        self.group_races = {u: tuple(GroupRace(*c) for c in cs) for u, cs in group_races}
        self.decisions = []

    def snapshot(self, ledger: bool = True) -> tuple:
        """The whole cluster as one canonical hashable value.

        The rows of ``_rows`` with each dict's rows sorted by key (the queues keep their
        order), the ledger and the random state. ``decisions`` is left out: it records
        what the last requests and deliveries decided (for the invariants to audit), it
        decides nothing that follows. ``ledger=False`` leaves the ledger out too, for a
        caller that compares it by value (``Ledger.copy()`` and ``==``: its canonical
        encoding costs more than the rest together).
        """
        sections = tuple(
            (name, tuple(sorted(rows)) if name in _KEYED_ROWS else rows)
            for name, rows in zip(_ROWS, self._rows()))
        return sections + (
            ("ledger", _encode_ledger(self.ledger.snapshot()) if ledger else None),
            ("rng", self.rng.state()))

    def witness(self) -> tuple:
        """A value that compares equal before and after anything that changed
        nothing (the snapshot without the ledger, and a copy of the ledger)."""
        return (self.snapshot(ledger=False), self.ledger.copy())

    @classmethod
    def restore(cls, snapshot: tuple, config=None, lifecycle: Lifecycle | None = None
                ) -> "Cluster":
        data = dict(snapshot)
        cluster = cls(config, lifecycle)
        cluster._set_rows(tuple(data[name] for name in _ROWS))
        cluster.ledger = cls.ledger_class.restore(_decode_ledger(data["ledger"]))
        cluster.rng.setstate(data["rng"])
        return cluster

    # ------------------------------------------------------------------ forks

    def freeze(self, like: "FrozenCluster | None" = None) -> "FrozenCluster":
        """Every state variable as it is now, in values nobody changes, dict order
        included: ``thaw`` builds a cluster that goes on exactly as this one would.

        (``snapshot`` is canonical, sorted, for comparing states; this is exact, for
        resuming one: the order of ``instances`` decides which instance a search's
        choice picks.) Like ``snapshot`` it leaves out ``decisions``, the record the
        invariants audit of what the scheduler decided since the last request: it
        decides nothing that follows, and a thawed cluster starts a new record. The
        rows are packed into one ``marshal`` string, which the garbage collector never
        walks: a search keeps hundreds of frozen clusters. ``like``, an earlier frozen
        state of this cluster, lends the parts that are still the same (the ledger,
        when nothing was claimed or freed since).
        """
        known = vars(self)
        extra = known.keys() - _FROZEN_STATE - _SHARED_WITH_FORKS
        shared = known.get("_fork_shared")
        if shared is None:
            shared = self._fork_shared = {k: known[k] for k in _SHARED_WITH_FORKS
                                          if k in known}
        rng, ledger = self.rng, self.ledger
        return FrozenCluster(
            type(self), shared,
            {k: copy.deepcopy(known[k]) for k in extra} if extra else _NO_EXTRA,
            marshal.dumps(self._rows()),
            like.ledger if like is not None and ledger.same(like.ledger) else ledger.copy(),
            (rng.state(), rng.draws))

    @staticmethod
    def thaw(frozen: "FrozenCluster") -> "Cluster":
        """A live cluster in the state ``frozen`` holds (which stays as it was)."""
        cluster = frozen.cls.__new__(frozen.cls)
        vars(cluster).update(frozen.shared)
        cluster._fork_shared = frozen.shared
        vars(cluster).update({k: copy.deepcopy(v) for k, v in frozen.extra.items()})
        cluster._set_rows(marshal.loads(frozen.plain))
        cluster.ledger = frozen.ledger.copy()
        rng = cluster.rng = _Random()
        state, draws = frozen.rng
        rng.setstate(state)
        rng.draws, rng._state = draws, (draws, state)
        return cluster

    def close(self) -> None:
        """Detach the instances from the shared machine (frees them for the GC)."""
        for inst in self.instances.values():
            self.lc.forget(inst)
        self.instances.clear()

    # ------------------------------------------------------------------ views

    def usage(self, host: str) -> dict[str, int]:
        return {str(rc): self.ledger.usage(host, rc) for rc in RESOURCE_CLASSES}

    def allocations(self) -> dict[str, dict[str, dict[str, int]]]:
        return {c: {p: {str(rc): n for rc, n in res.items()}
                    for p, res in self.ledger.allocations_of(c).items()}
                for c in self.ledger.consumers()}

    def table(self) -> str:
        from model.cluster_view import table
        return table(self)


#: The sections of ``Cluster._rows``, in order; the keyed ones a snapshot sorts.
_ROWS = ("hosts", "conductor", "work", "instances", "info", "migrations", "groups",
         "counters", "inventory_changes", "injected_faults", "arrivals", "migration_errors",
         "error_causes", "unmatched_allocations", "trackers", "scheduler_consumed",
         "uncounted_drops", "uncounted_arrivals", "dropped_steps", "overlaps",
         "discarded_steps", "handler_lost", "host_events",
         "carried_allocations", "group_races", "negative_drops", "vanished_guests")
_KEYED_ROWS = frozenset(_ROWS) - {"conductor", "injected_faults"}
#: The state variables ``freeze`` copies (``Cluster.__init__`` lists them), and the index
#: of placed instances, which ``_set_rows`` marks for rebuilding.
_FROZEN_STATE = frozenset(_ROWS) | {"ledger", "rng", "decisions", "_placed"}
#: What a fork shares with its origin: the configuration and what is worked out from
#: it (immutable, or caches keyed on immutable values). Any other attribute (a
#: subclass's own) is deep-copied.
_SHARED_WITH_FORKS = frozenset({
    "config", "lc", "scheduler_config", "flavors", "images", "_host_configs",
    "_base_inventories", "_changed_inventories", "_resources", "_volume_backed_images",
    "_host_static", "_zone_aggregate_names", "_fork_shared"})
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


class FrozenCluster(NamedTuple):
    """A cluster's state at one moment (``Cluster.freeze``), to ``Cluster.thaw``."""

    cls: type
    shared: Mapping[str, Any]  # the configuration and what is worked out from it
    extra: Mapping[str, Any]   # a subclass's own attributes, deep-copied
    plain: bytes               # ``Cluster._rows()``, ``marshal``-ed
    ledger: Ledger             # a private copy
    rng: tuple                 # (state, draws)


def _gone(work: list[Work]) -> str:
    """The words for the steps a stopped compute process took with it."""
    if not work:
        return ""
    return "; its handlers' next steps went with it: " + ", ".join(
        f"{w.instance} {w.operation}.{w.step}" for w in work)


def _vm_of(inst: Instance) -> tuple[VmState, Any] | None:
    """The instance's (vm_state, task_state); None for one the API is still creating."""
    return None if inst.state == "new" else (inst.vm_state, inst.task_state)


def _below_reserved(tracker: Tracker, reserved: Usage) -> tuple[int, int, int]:
    """What a tracker counts for its instances and moves (its totals less reserved)."""
    return (tracker.vcpus_used - reserved.vcpus, tracker.memory_mb_used - reserved.memory_mb,
            tracker.local_gb_used - reserved.disk_gb)


def _hashable(value: Any) -> Any:
    """A canonical hashable form of a ledger snapshot (dicts become sorted tuples)."""
    if isinstance(value, Mapping):
        return ("__map__", tuple(sorted(((_hashable(k), _hashable(v)) for k, v in value.items()),
                                        key=repr)))
    if isinstance(value, (list, tuple)):
        return (("__list__" if isinstance(value, list) else "__tuple__"),
                tuple(_hashable(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("__set__", tuple(sorted((_hashable(v) for v in value), key=repr)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ("__dc__", type(value), tuple((f.name, _hashable(getattr(value, f.name)))
                                             for f in dataclasses.fields(value)))
    return value


def _unhashable(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[0], str):
        tag = value[0]
        if tag == "__map__":
            return {_unhashable(k): _unhashable(v) for k, v in value[1]}
        if tag == "__list__":
            return [_unhashable(v) for v in value[1]]
        if tag == "__tuple__":
            return tuple(_unhashable(v) for v in value[1])
        if tag == "__set__":
            return {_unhashable(v) for v in value[1]}
        if tag == "__dc__" and len(value) == 3:
            return value[1](**{k: _unhashable(v) for k, v in value[2]})
    return value


def _detached(exc: BaseException) -> BaseException:
    """The error without its traceback. A Result keeps it; with its traceback it
    would hold the frames that raised it (and their callers) in a reference cycle
    that only the garbage collector frees, once per rejected request."""
    return exc.with_traceback(None)


def _encode_ledger(snap: Any) -> tuple:
    try:
        hash(snap)
        return ("raw", snap)
    except TypeError:
        return ("encoded", _hashable(snap))


def _decode_ledger(value: tuple) -> Any:
    kind, snap = value
    return snap if kind == "raw" else _unhashable(snap)
