"""The cluster's state, declared once: every variable of a ``Cluster`` with its role.

``VARIABLES`` lists each variable once: the system's state (hosts and their queues,
the conductor's queue, the work, the instances and what the cluster keeps beside them,
migrations, server groups, Placement's ledger, the resource trackers, the scheduler's
in-memory consumption, ...), apart from it the audit and history records the invariants
and the findings read (``error_causes``, ``dropped_steps``, ``overlaps``,
``discarded_steps``, ``group_races``, ...), the record of the last request
(``decisions``), an index worked out from the state, and the configuration with the
caches worked out from it, which are not state. Each says how it becomes plain rows
and back, and whether a snapshot sorts it.

``Cluster.__init__`` (``new_state``), ``rows`` / ``set_rows``, ``snapshot`` (the
canonical key the memo's checks, forks and the minimizer compare: ``witness`` is
built on it), ``restore``, ``freeze`` and ``thaw`` are derived from the declaration;
nothing else lists the variables. The records the variables hold are here too.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import marshal
import random
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple

from model.cluster_records import HostEvent
from model.lifecycle import ADMIN, USER, Context, MigrationRecord
from model.operation import OutcomeKind
from model.resource_tracker import Tracker
from model.states import MigrationStatus as MS, MigrationType, PowerState, VmState


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
        return freeze_context(merged)


def freeze_context(values: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in values.items() if v is not None))


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


class FlavorDrop(NamedTuple):
    """A resource tracker's removal of an instance it counted alone (not a move of it)
    at another flavor than the one it took off (``Cluster.flavor_drops``): which
    instance, the step that removed it, the flavor the tracker had counted it at
    (``Cluster.counted_flavors``) and the one taken off (the instance's flavor then,
    or the flavor a drop was given)."""

    instance: str
    operation: str
    step: str
    counted: str
    dropped: str


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


class VanishedGuest(NamedTuple):
    """A step that found no guest on the hypervisor and returned with its task still
    set (``Cluster.vanished_guests``: Nova takes the driver's InstanceNotFound or
    InstanceNotRunning for an instance deleted meanwhile), and the task it left."""

    operation: str
    step: str
    task: str


class ApiError(NamedTuple):
    """A request whose API raised after its writes, with nothing cast
    (``Cluster.api_errors``): the operation and the error Nova answers with (500)."""

    operation: str
    error: str


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
    queued (``Cluster.overlaps``, per migration; ``move`` is that migration's type,
    ``chain`` the operation whose steps were queued: the move itself, or a revert)."""

    operation: str
    step: str
    outcome: str
    move: str
    chain: str = ""


class SharedMigration(NamedTuple):
    """A move's step that took over the record another move of the instance had made
    (``Cluster.shared_migrations``, per migration; ``Migration.reuses``:
    ``MigrationTask._preallocate_migration``)."""

    operation: str
    step: str
    outcome: str


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
    #: the flavor the instance's RequestSpec holds, when it is not the instance's own:
    #: COND._cold_migrate saves a resize's new flavor to the RequestSpec, and only
    #: API.revert_resize puts the old one back, so after a resize that failed before
    #: CM._finish_resize a live migration, an evacuation or an unshelve asks the
    #: scheduler (and Placement) for the new flavor
    spec_flavor: str | None = None


class CountingRandom(random.Random):
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


# ---------------------------------------------------------------------- the declaration


class Role(Enum):
    """What a variable of a cluster is."""

    #: the system's state: what decides what the cluster does next
    SYSTEM = "the system's state"
    #: an audit or history record the invariants and the findings read: what happened,
    #: which the state cannot be asked afterwards (part of the snapshot all the same:
    #: two clusters that differ in it do not report alike)
    RECORD = "an audit or history record"
    #: a record of the last request only: what the scheduler decided since then
    #: (left out of snapshots, empty after a restore or a thaw)
    NOTE = "a record of the last request"
    #: an index worked out from the state (rebuilt after a restore or a thaw)
    INDEX = "an index of the state"
    #: the configuration and what is worked out from it (immutable): shared with forks
    CONFIG = "the configuration"
    #: answers worked out from the configuration on first use: shared with forks
    CACHE = "a cache of the configuration's answers"


class Form(Enum):
    """How a variable is kept in a snapshot and a frozen cluster."""

    ROWS = "plain rows"     # ``row`` and ``back`` below; snapshot sorts them if ``keyed``
    LEDGER = "the ledger"   # Placement's own snapshot / copy
    RANDOM = "random"       # the random generator's state
    NONE = "not kept"


@dataclass(frozen=True)
class Variable:
    """One variable of a cluster: its name, its role, what it means, how it starts and
    how it becomes plain rows (``marshal``-able values) and back."""

    name: str
    role: Role
    meaning: str
    #: the cluster -> its value in a new cluster; None: ``Cluster.__init__`` sets it
    #: from the configuration (or, for a cache, on first use)
    new: Callable[[Any], Any] | None = None
    form: Form = Form.NONE
    #: its rows, as an expression of the value ``v`` (each dict's rows in the order it
    #: holds them, led by key); ``rows`` is compiled from these expressions
    row: str | None = None
    #: (rows, the cluster) -> the value again
    back: Callable[[Any, Any], Any] | None = None
    #: whether a snapshot sorts its rows (a dict's, by key); a list keeps its order
    keyed: bool = True
    #: made again after the other rows (it points into them)
    late: bool = False
    #: what a restore or a thaw makes a variable that has no rows
    reset: Callable[[], Any] | None = None


def _empty(cluster: Any) -> dict:
    return {}


def _empty_list(cluster: Any) -> list:
    return []


#: the rows of a dict of plain values, of records, of tuples of records
_PAIRS = "tuple(v.items())"
_TUPLES = "tuple((k, tuple(x)) for k, x in v.items())"
_TUPLE_LISTS = "tuple((k, tuple(map(tuple, xs))) for k, xs in v.items())"


def _records(kind: type) -> Callable[[Any, Any], Any]:
    return lambda rows, cluster: {k: kind(*v) for k, v in rows}


def _record_lists(kind: type) -> Callable[[Any, Any], Any]:
    return lambda rows, cluster: {k: tuple(kind(*v) for v in vs) for k, vs in rows}


def _dict(rows: tuple, cluster: Any) -> dict:
    return dict(rows)


def _work_back(rows: tuple, cluster: Any) -> dict:
    return {wid: Work(wid, inst, op, step, target, context, ADMIN if admin else USER)
            for wid, inst, op, step, target, context, admin in rows}


def _instances_back(rows: tuple, cluster: Any) -> dict:
    instances = {}
    migrations = cluster.migrations
    new_instance = cluster.lc.new_instance
    for (uuid, state, power, guest, host, launched, locked, locked_by, old_vm, mig,
         flavor, image) in rows:
        inst = new_instance(uuid, cluster, flavor=flavor, image=image)
        inst.state, inst.power_state, inst.host = state, PowerState(power), host
        inst.guest = PowerState(guest)
        inst.launched, inst.locked, inst.locked_by = launched, locked, locked_by
        inst.old_vm_state = None if old_vm is None else VmState(old_vm)
        inst.migration = None if mig is None else migrations[mig]
        instances[uuid] = inst
    return instances


#: Every variable of a cluster, each once. ``Cluster.__init__``, ``rows``, ``set_rows``,
#: ``snapshot``, ``restore``, ``freeze``, ``thaw`` and ``witness`` are derived from it;
#: ``tests/cluster/test_cluster_state.py`` fails on an attribute a cluster module assigns
#: that is not declared here.
VARIABLES: tuple[Variable, ...] = (
    # --- the system's state ---
    Variable("hosts", Role.SYSTEM, "each compute host's service flags and FIFO queue of work",
             _empty, Form.ROWS,
             "tuple((h.name, h.up, h.enabled, tuple(h.queue)) for h in v.values())",
             lambda rows, c: {name: HostRecord(name, up, enabled, list(queue))
                              for name, up, enabled, queue in rows}),
    Variable("conductor", Role.SYSTEM, "the conductor's FIFO queue of work ids",
             _empty_list, Form.ROWS, "tuple(v)", lambda rows, c: list(rows),
             keyed=False),
    Variable("work", Role.SYSTEM, "every pending step, by id",
             _empty, Form.ROWS,
             "tuple((w.id, w.instance, w.operation, w.step, w.target, w.context,"
             " w.caller.is_admin) for w in v.values())",
             _work_back),
    Variable("instances", Role.SYSTEM, "the lifecycle's instances, by uuid",
             _empty, Form.ROWS,
             "tuple((i.uuid, i.state, int(i.power_state), int(i.guest), i.host, i.launched,"
             " i.locked, i.locked_by,"
             " None if i.old_vm_state is None else i.old_vm_state.value,"
             " None if i.migration is None else i.migration.uuid, i.flavor, i.image)"
             " for i in v.values())",
             _instances_back, late=True),
    Variable("info", Role.SYSTEM, "what the cluster keeps beside an instance's variables",
             _empty, Form.ROWS,
             "tuple((u, i.group, i.availability_zone, i.hints, i.min_disk, i.spec_image,"
             " i.spec_flavor) for u, i in v.items())",
             lambda rows, c: {u: InstanceInfo(*fields) for u, *fields in rows}),
    Variable("migrations", Role.SYSTEM, "the migration records, by uuid",
             _empty, Form.ROWS,
             "tuple((m.uuid, m.instance_uuid, m.migration_type.value, m.status.value,"
             " m.source, m.dest, m.old_flavor, m.new_flavor, m.sent_to) for m in v.values())",
             lambda rows, c: {
                 uuid: MigrationRecord(uuid, inst, MigrationType(kind), MS(status), source,
                                       dest, old, new, sent_to)
                 for uuid, inst, kind, status, source, dest, old, new, sent_to in rows}),
    Variable("migration_contexts", Role.SYSTEM,
             "each instance's migration context, as the record its last move claim took "
             "(RT._move_claim: instance.migration_context); the claim's move dropped it "
             "once that record left progress",
             _empty, Form.ROWS, _PAIRS, _dict),
    Variable("groups", Role.SYSTEM, "each server group's members",
             _empty, Form.ROWS, _TUPLES,
             lambda rows, c: {g: list(members) for g, members in rows}),
    Variable("counters", Role.SYSTEM, "the next number of each kind of name (vm, mig, w)",
             lambda c: {"vm": 0, "mig": 0, "w": 0}, Form.ROWS, _PAIRS, _dict),
    Variable("inventory_changes", Role.SYSTEM,
             "operator changes to inventories: (host, rc) -> sorted (field, value) pairs",
             _empty, Form.ROWS, _PAIRS, _dict),
    Variable("trackers", Role.SYSTEM,
             "each compute's resource tracker (its own count, and the record it saved)",
             _empty, Form.ROWS, "tuple((h, t.row()) for h, t in v.items())",
             lambda rows, c: {h: Tracker.from_row(row) for h, row in rows}),
    Variable("ledger", Role.SYSTEM, "Placement: providers, inventories, allocations",
             lambda c: c.ledger_class(), Form.LEDGER),
    Variable("rng", Role.SYSTEM, "the scheduler's random generator (made from the seed)",
             None, Form.RANDOM),
    # --- the audit and history records the invariants read ---
    Variable("injected_faults", Role.RECORD,
             "how many FAULT outcomes deliveries have injected (and that fired)",
             lambda c: 0, Form.ROWS, "v", lambda rows, c: rows, keyed=False),
    Variable("arrivals", Role.RECORD,
             "the operation that last put each instance on a host (an unshelve leaves no "
             "migration record behind: the group invariant names arrivals from this)",
             _empty, Form.ROWS, _PAIRS, _dict),
    Variable("migration_errors", Role.RECORD,
             "how each migration in error got there: (operation, step, outcome) of the "
             "step that errored it (the invariants tell Nova's leaks from lost releases)",
             _empty, Form.ROWS, _TUPLES, _records(MigrationErrorCause)),
    Variable("error_causes", Role.RECORD,
             "why each instance in error got there (the last transition into error)",
             _empty, Form.ROWS,
             "tuple((u, c.operation, c.step, c.outcome, c.kind.value, c.trigger,"
             " c.vm_before, c.task_before) for u, c in v.items())",
             lambda rows, c: {
                 u: ErrorCause(op, step, outcome, OutcomeKind(kind), trigger, vm, task)
                 for u, op, step, outcome, kind, trigger, vm, task in rows}),
    Variable("unmatched_allocations", Role.RECORD,
             "instances a failed step left with an allocation that does not match their "
             "host or flavor (a clean-up removed their own host from it, or their old "
             "flavor came back over the new one's claim): (operation, step, outcome)",
             _empty, Form.ROWS, _TUPLES, _records(AllocationCause)),
    Variable("uncounted_drops", Role.RECORD,
             "the last drop each tracker made, since its audit, of an instance it never "
             "counted (a live migration's destination counts the instance only at its "
             "audit): the invariants name it",
             _empty, Form.ROWS, _TUPLES, _records(UncountedDrop)),
    Variable("uncounted_arrivals", Role.RECORD,
             "instances a step put on a host whose tracker does not count them (a live "
             "migration's destination, until its audit): uuid -> (host, operation)",
             _empty, Form.ROWS, _PAIRS, _dict),
    Variable("dropped_steps", Role.RECORD,
             "per instance, the steps dropped by their compare-and-swap on task_state "
             "(each once, the latest last)",
             _empty, Form.ROWS, _TUPLE_LISTS, _record_lists(DroppedStep)),
    Variable("overlaps", Role.RECORD,
             "per migration, the steps of other requests that ran while its chain was "
             "queued",
             _empty, Form.ROWS, _TUPLE_LISTS, _record_lists(Overlap)),
    Variable("discarded_steps", Role.RECORD,
             "per instance, the steps a stopped compute process took with it (each was to "
             "go on inside an RPC handler), the latest last",
             _empty, Form.ROWS, _TUPLE_LISTS, _record_lists(DiscardedStep)),
    Variable("handler_lost", Role.RECORD,
             "per instance, the step of its current task a stopped compute process took "
             "with it (forgotten once a request changes the instance's task_state)",
             _empty, Form.ROWS, _TUPLES, _records(DiscardedStep)),
    Variable("host_events", Role.RECORD,
             "per migration, the host events that acted on it (the evacuation clean-up)",
             _empty, Form.ROWS, _TUPLE_LISTS, _record_lists(HostEvent)),
    Variable("carried_allocations", Role.RECORD,
             "per migration, the allocation on a host whose compute service was down that "
             "the move took over from the instance (an evacuation's source, not yet "
             "cleaned up), and the step that moved it",
             _empty, Form.ROWS, _TUPLES, _records(AllocationCause)),
    Variable("spec_flavor_claims", Role.RECORD,
             "per instance, the last scheduling step that claimed its RequestSpec's flavor "
             "(InstanceInfo.spec_flavor, left by a failed resize) on its destination, "
             "unlike the instance's own flavor",
             _empty, Form.ROWS, _TUPLES, _records(AllocationCause)),
    Variable("shared_migrations", Role.RECORD,
             "per migration, the steps of another move that took it over instead of "
             "creating their own (see SharedMigration)",
             _empty, Form.ROWS, _TUPLE_LISTS, _record_lists(SharedMigration)),
    Variable("group_races", Role.RECORD,
             "per instance, the server group races it took part in (see GroupRace)",
             _empty, Form.ROWS, _TUPLE_LISTS, _record_lists(GroupRace)),
    Variable("negative_drops", Role.RECORD,
             "a drop that left a host's tracker counting less than nothing although it "
             "counted the instance (a flavor other than the one it counted), per host "
             "until its next audit",
             _empty, Form.ROWS, _TUPLES, _records(UncountedDrop)),
    Variable("counted_flavors", Role.RECORD,
             "per host, the flavor its resource tracker counted each instance it tracks "
             "at (when it started counting it: a claim or its audit): the tracker keeps "
             "no per-instance usage and takes the flavor it is given off, so this is "
             "what tells a removal at another flavor",
             _empty, Form.ROWS, _PAIRS, _dict),
    Variable("flavor_drops", Role.RECORD,
             "the last removal each tracker made, since its audit, of an instance it "
             "counted at another flavor than the one it took off (see FlavorDrop)",
             _empty, Form.ROWS, _TUPLES, _records(FlavorDrop)),
    Variable("vanished_guests", Role.RECORD,
             "per instance, the steps that found no guest and left their task set (each "
             "once, the latest last)",
             _empty, Form.ROWS, _TUPLE_LISTS, _record_lists(VanishedGuest)),
    Variable("api_errors", Role.RECORD,
             "per instance, the last request whose API raised after its writes",
             _empty, Form.ROWS, _TUPLES, _records(ApiError)),
    Variable("claimed_records", Role.RECORD,
             "the migrations a destination's move claim made because its handler was "
             "given none (RT._create_migration), each with the record its request had "
             "made and its chain did not find (or ''): no request made them, and "
             "nothing of that chain writes their status",
             _empty, Form.ROWS, _PAIRS, _dict),
    Variable("decisions", Role.NOTE,
             "the scheduling decisions made since the last API request: a record of what "
             "happened, not state (left out of snapshots, empty after a restore)",
             _empty_list, reset=list),
    # --- worked out from the state ---
    Variable("placed_uuids", Role.INDEX,
             "the uuids of instances that may have a host (placed_instances); None: "
             "unknown, worked out again on first use",
             _empty, reset=lambda: None),
    # --- the configuration, shared with forks ---
    Variable("config", Role.CONFIG, "the cluster file"),
    Variable("lc", Role.CONFIG, "the lifecycle machine the instances run on"),
    Variable("scheduler_config", Role.CONFIG, "the scheduler's configuration"),
    Variable("flavors", Role.CONFIG, "the flavors, by name"),
    Variable("images", Role.CONFIG, "the images, by name"),
    Variable("host_configs", Role.CONFIG, "each host's configuration, by name"),
    Variable("base_inventories", Role.CONFIG,
             "each host's inventories as configured, by resource class"),
    Variable("changed_inventories", Role.CACHE,
             "inventories as operator changes left them", _empty),
    Variable("resources_cache", Role.CACHE, "each flavor's resources, image-backed or not",
             _empty),
    Variable("volume_backed_images", Role.CACHE, "whether each image is volume-backed",
             _empty),
    Variable("zone_aggregate_names", Role.CACHE, "the aggregates of each zone",
             _empty),
    Variable("host_static", Role.CACHE,
             "the HostState fields the configuration fixes (a cached property)"),
    Variable("_fork_shared", Role.CACHE,
             "the shared variables, gathered once by the first freeze"),
)

BY_NAME: Mapping[str, Variable] = MappingProxyType({v.name: v for v in VARIABLES})
#: The variables kept as rows, in the order of ``rows()`` (a snapshot's sections).
ROW_VARIABLES = tuple(v for v in VARIABLES if v.form is Form.ROWS)
ROW_NAMES = tuple(v.name for v in ROW_VARIABLES)
#: What a fork shares with its origin. Any attribute not declared (a subclass's own)
#: is deep-copied by ``freeze``.
SHARED_WITH_FORKS = frozenset(v.name for v in VARIABLES
                              if v.role in (Role.CONFIG, Role.CACHE))
#: What ``freeze`` keeps (the rows, the ledger, the random state) or resets on ``thaw``.
FROZEN_STATE = frozenset(BY_NAME) - SHARED_WITH_FORKS
_NEW = tuple((v.name, v.new) for v in VARIABLES if v.new is not None)
_KEYED = tuple(v.keyed for v in ROW_VARIABLES)
#: (index in the rows, name, back), the late ones last
_FROM_ROWS = tuple(sorted(((i, v.name, v.back) for i, v in enumerate(ROW_VARIABLES)),
                          key=lambda t: ROW_VARIABLES[t[0]].late))
_RESETS = tuple((v.name, v.reset) for v in VARIABLES if v.reset is not None)
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def new_state(cluster: Any) -> None:
    """Give a new cluster every declared variable that starts the same in any cluster."""
    for name, new in _NEW:
        setattr(cluster, name, new(cluster))


def _compile_rows() -> Callable[[Any], tuple]:
    """``rows``, compiled once from the declared expressions: one tuple display, as
    fast as a hand-written one (a call per variable would cost a sixth more)."""

    class Value(ast.NodeTransformer):
        def __init__(self, name: str) -> None:
            self.name = name

        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id != "v":
                return node
            return ast.copy_location(ast.Attribute(ast.Name("cluster", ast.Load()),
                                                   self.name, ast.Load()), node)

    items = [ast.unparse(Value(v.name).visit(ast.parse(v.row, mode="eval")).body)
             for v in ROW_VARIABLES]
    source = "def rows(cluster):\n    return (\n" + "".join(
        f"        {item},\n" for item in items) + "    )\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<model.cluster_state rows>", "exec"), namespace)
    return namespace["rows"]


_rows = _compile_rows()


def rows(cluster: Any) -> tuple:
    """The variables kept as rows, as plain values, in the order of ``ROW_NAMES``:
    what ``freeze`` keeps and ``snapshot`` sorts, and what ``set_rows`` makes
    variables again (each variable's declared ``row`` expression)."""
    return _rows(cluster)


def set_rows(cluster: Any, plain: tuple) -> None:
    """Make ``rows`` variables again, the dicts in the rows' order."""
    attrs = vars(cluster)
    for index, name, back in _FROM_ROWS:
        attrs[name] = back(plain[index], cluster)
    for name, reset in _RESETS:
        attrs[name] = reset()


def snapshot(cluster: Any, ledger: bool = True) -> tuple:
    """The whole cluster as one canonical hashable value.

    The rows with each dict's rows sorted by key (the queues keep their order), the
    ledger and the random state. ``decisions`` is left out: it records what the last
    requests and deliveries decided (for the invariants to audit), it decides nothing
    that follows. ``ledger=False`` leaves the ledger out too, for a caller that
    compares it by value (``Ledger.copy()`` and ``==``: its canonical encoding costs
    more than the rest together).
    """
    sections = tuple(
        (name, tuple(sorted(plain)) if keyed else plain)
        for name, plain, keyed in zip(ROW_NAMES, rows(cluster), _KEYED))
    return sections + (
        ("ledger", _encode_ledger(cluster.ledger.snapshot()) if ledger else None),
        ("rng", cluster.rng.state()))


def witness(cluster: Any) -> tuple:
    """A value that compares equal before and after anything that changed nothing
    (the snapshot without the ledger, and a copy of the ledger)."""
    return (snapshot(cluster, ledger=False), cluster.ledger.copy())


def restore(cluster: Any, value: tuple) -> Any:
    """Put a new cluster in the state ``value`` (a ``snapshot``) holds."""
    data = dict(value)
    set_rows(cluster, tuple(data[name] for name in ROW_NAMES))
    cluster.ledger = cluster.ledger_class.restore(_decode_ledger(data["ledger"]))
    cluster.rng.setstate(data["rng"])
    return cluster


class FrozenCluster(NamedTuple):
    """A cluster's state at one moment (``Cluster.freeze``), to ``Cluster.thaw``."""

    cls: type
    shared: Mapping[str, Any]  # the configuration and what is worked out from it
    extra: Mapping[str, Any]   # a subclass's own attributes, deep-copied
    plain: bytes               # ``rows(cluster)``, ``marshal``-ed
    ledger: Any                # a private copy of the ledger
    rng: tuple                 # (state, draws)


def freeze(cluster: Any, like: FrozenCluster | None = None) -> FrozenCluster:
    """Every variable as it is now, in values nobody changes, dict order included:
    ``thaw`` builds a cluster that goes on exactly as this one would.

    (``snapshot`` is canonical, sorted, for comparing states; this is exact, for
    resuming one: the order of ``instances`` decides which instance a search's choice
    picks.) Like ``snapshot`` it leaves out ``decisions``, the record the invariants
    audit of what the scheduler decided since the last request: it decides nothing
    that follows, and a thawed cluster starts a new record. The rows are packed into
    one ``marshal`` string, which the garbage collector never walks: a search keeps
    hundreds of frozen clusters. ``like``, an earlier frozen state of this cluster,
    lends the parts that are still the same (the ledger, when nothing was claimed or
    freed since).
    """
    known = vars(cluster)
    extra = known.keys() - FROZEN_STATE - SHARED_WITH_FORKS
    shared = known.get("_fork_shared")
    if shared is None:
        shared = cluster._fork_shared = {k: known[k] for k in SHARED_WITH_FORKS
                                         if k in known}
    rng, ledger = cluster.rng, cluster.ledger
    return FrozenCluster(
        type(cluster), shared,
        {k: copy.deepcopy(known[k]) for k in extra} if extra else _NO_EXTRA,
        marshal.dumps(rows(cluster)),
        like.ledger if like is not None and ledger.same(like.ledger) else ledger.copy(),
        (rng.state(), rng.draws))


def thaw(frozen: FrozenCluster) -> Any:
    """A live cluster in the state ``frozen`` holds (which stays as it was)."""
    cluster = frozen.cls.__new__(frozen.cls)
    attrs = vars(cluster)
    attrs.update(frozen.shared)
    attrs["_fork_shared"] = frozen.shared
    attrs.update({k: copy.deepcopy(v) for k, v in frozen.extra.items()})
    set_rows(cluster, marshal.loads(frozen.plain))
    cluster.ledger = frozen.ledger.copy()
    rng = cluster.rng = CountingRandom()
    state, draws = frozen.rng
    rng.setstate(state)
    rng.draws, rng._state = draws, (draws, state)
    return cluster


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


def _encode_ledger(snap: Any) -> tuple:
    try:
        hash(snap)
        return ("raw", snap)
    except TypeError:
        return ("encoded", _hashable(snap))


def _decode_ledger(value: tuple) -> Any:
    kind, snap = value
    return snap if kind == "raw" else _unhashable(snap)
