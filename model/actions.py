"""The cluster's actions: one vocabulary for everything that can happen to a cluster.

Each action is a frozen, hashable value with a one-line meaning; ``apply(cluster,
action)`` is the one interpreter: it checks what the action names (a delivery's work
item is pending, ...) and applies the effect through the cluster's public methods,
returning the cluster's ``Result`` (the verdict: a request the model refuses is a
result, not an error). The scenario runner, the search's rules, the minimizer and the
sequence diagrams all speak these actions; ``describe`` puts one into words, and
``to_json`` / ``from_json`` are the scenario file's step objects (``{"api": ...}``,
``{"deliver": ...}``, ``{"settle": true}``, ...), whose checks are the scenario
reader's (``nova_model.scenario``): ``from_json`` reads a step already checked.

A field that the step may leave out is ``None`` when it was left out (``caller``,
``args``, ``outcome``, ``outcomes``), so that a step read and written again is the
step as written; ``apply`` reads ``None`` as the default (owner, no arguments, ok).
Admin reset-state is a ``Request`` like any other API operation (the catalogue's
``reset_state_*`` operations).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Mapping, Union

from model import errors
from model.catalogue import CATALOGUE
from model.cluster import Cluster, Result, Work, create_counts
from model.cluster_records import name_order
from model.lifecycle import ADMIN, USER

#: The callers a request can be made as, by the name a scenario gives them.
CALLERS = {"owner": USER, "admin": ADMIN}


def _frozen(value: Any) -> Any:
    """A JSON value as a hashable one: objects as tuples of items, lists as tuples."""
    if isinstance(value, Mapping):
        return tuple((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed_args(args: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """A request's arguments as the cluster and the scenario file take them (scheduler
    hints as an object of lists)."""
    return {k: ({h: list(names) for h, names in v} if k == "hints" else v) for k, v in args}


@dataclass(frozen=True, slots=True)
class Request:
    """An API request: an operation on an instance (none for a create), as its owner or
    an administrator, with the arguments its REST body carries."""

    verb: ClassVar[str] = "api"
    operation: str
    instance: str | None = None
    caller: str | None = None                       # "owner" (None: not written) or "admin"
    args: tuple[tuple[str, Any], ...] | None = None  # (name, value) in the order written

    @classmethod
    def of(cls, operation: str, instance: str | None, admin: bool,
           args: Mapping[str, Any] | None = None) -> "Request":
        """A request with its caller written out and, if any, its arguments."""
        return cls(operation, instance, "admin" if admin else "owner",
                   _frozen(args) if args else None)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments as the cluster and the scenario file take them."""
        return _thawed_args(self.args) if self.args else {}

    def with_kwargs(self, args: Mapping[str, Any]) -> "Request":
        """The same request with these arguments (written, even if there are none)."""
        return replace(self, args=_frozen(args))


@dataclass(frozen=True, slots=True)
class Deliver:
    """One pending step run with an outcome (``ok`` when None; another declared outcome
    injects a fault or an environment result): the oldest deliverable one (nothing
    named), a work item by id (``work`` alone), or the oldest pending item of an
    operation's step for an instance (``operation``, ``step``, ``instance``; ``work``
    pins one of them)."""

    verb: ClassVar[str] = "deliver"
    operation: str | None = None
    step: str | None = None
    instance: str | None = None
    work: str | None = None
    outcome: str | None = None

    @property
    def by_step(self) -> bool:
        """The delivery names an operation's step of an instance (not only a work id)."""
        return self.operation is not None


@dataclass(frozen=True, slots=True)
class Settle:
    """Every deliverable step delivered, oldest first (of one instance, if named); each
    listed ``"operation.step"`` outcome is used the first time that step is delivered."""

    verb: ClassVar[str] = "settle"
    outcomes: tuple[tuple[str, str], ...] | None = None
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class Periodic:
    """A periodic task of the computes: the resource audit of one host
    (``update_available_resource``), or a task every compute runs (no host)."""

    verb: ClassVar[str] = "periodic"
    task: str
    host: str | None = None


@dataclass(frozen=True, slots=True)
class HostEvent:
    """A compute service going down, coming back up or restarting, or an operator
    disabling or enabling it."""

    verb: ClassVar[str] = "event"
    kind: str
    host: str


@dataclass(frozen=True, slots=True)
class GuestEvent:
    """A hypervisor event on an instance (a ``Kind.EVENT`` operation of the catalogue:
    a guest that stops by itself ...)."""

    verb: ClassVar[str] = "event"
    event: str
    instance: str


@dataclass(frozen=True, slots=True)
class OperatorChange:
    """An operator setting a resource class's allocation ratio or reserved amount on a
    host's Placement inventory (``change`` is ``set_allocation_ratio`` or
    ``set_reserved``; ``value`` as written)."""

    verb: ClassVar[str] = "operator"
    change: str
    host: str
    resource_class: str
    value: float | int


Action = Union[Request, Deliver, Settle, Periodic, HostEvent, GuestEvent, OperatorChange]
#: Every kind of action, in the order a scenario's verbs are documented.
KINDS: tuple[type, ...] = (Request, Deliver, Settle, Periodic, HostEvent, GuestEvent,
                           OperatorChange)
HOST_EVENTS = ("service_down", "service_up", "restart", "disable", "enable")
#: The operator's changes and the inventory field each one sets.
OPERATOR_FIELDS = {"set_allocation_ratio": "allocation_ratio", "set_reserved": "reserved"}
#: The resource audit, the one periodic task that runs for one host.
AUDIT = "update_available_resource"


@dataclass(frozen=True)
class Batch(Result):
    """The verdict of an action made of several (a settle, a periodic task): accepted,
    with a summary; ``parts`` the cluster's result of each (each delivery of a settle,
    each instance a periodic task acted on, each instance the resource audit freed), and
    ``notes`` each of them in words."""

    parts: tuple[Result, ...] = field(default=(), compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)


Delivery = Callable[[Work, str], Result]


# ----------------------------------------------------------------------------- apply

def apply(cluster: Cluster, action: Action, deliver: Delivery | None = None) -> Result:
    """Apply ``action`` to ``cluster``: its verdict (a refused request, a delivery of
    work that is not pending, ... is a result that changed nothing).

    ``deliver(work, outcome)`` makes each delivery (of a ``Deliver`` or a ``Settle``);
    by default ``cluster.deliver``. An observer passes its own, which calls that.
    """
    return _APPLY[type(action)](cluster, action, deliver or _delivery(cluster))


def _delivery(cluster: Cluster) -> Delivery:
    return lambda work, outcome: cluster.deliver(work.id, outcome)


def _request(cluster: Cluster, a: Request, _: Delivery) -> Result:
    return cluster.request(a.operation, a.instance, CALLERS[a.caller or "owner"],
                           **(_thawed_args(a.args) if a.args else {}))


def target(cluster: Cluster, a: Deliver) -> Work | Result:
    """The work item a delivery names, or (when none is pending) the refusal."""
    if a.operation is None and a.work is None:
        ready = cluster.deliverable()
        if not ready:
            return Result(False, errors.InvalidRequest("no pending work can be delivered"),
                          "nothing to deliver")
        return min(ready, key=lambda w: name_order(w.id))
    if a.operation is None:
        work = cluster.work.get(a.work)
        if work is None:
            return Result(False, errors.InvalidRequest(f"no pending work {a.work}"),
                          f"no pending work {a.work}")
        return work
    named = (a.operation, a.step, a.instance)
    if a.work is not None:  # (one item at most: the pinned one, if it is that step's)
        work = cluster.work.get(a.work)
        matching = [work] if work is not None and (
            work.operation, work.step, work.instance) == named else []
    else:
        matching = [w for w in cluster.pending()
                    if (w.operation, w.step, w.instance) == named]
    if not matching:
        pinned = f" with id {a.work}" if a.work else ""
        return Result(False, errors.InvalidRequest(
            f"no pending {a.operation}.{a.step} for {a.instance}{pinned}"),
            f"no pending {a.operation}.{a.step} for {a.instance}", a.instance)
    ready = [w for w in matching if w.target is None or cluster.service_is_up(w.target)]
    return min(ready or matching, key=lambda w: name_order(w.id))


def _deliver(cluster: Cluster, a: Deliver, deliver: Delivery) -> Result:
    work = target(cluster, a)
    if isinstance(work, Result):
        return work
    return deliver(work, a.outcome or "ok")


def _settle(cluster: Cluster, a: Settle, deliver: Delivery) -> Result:
    waiting = dict(a.outcomes or ())
    parts, notes = [], []
    for work in cluster.deliveries(a.instance):
        outcome = waiting.pop(f"{work.operation}.{work.step}", "ok")
        result = deliver(work, outcome)
        parts.append(result)
        words = describe(Deliver(outcome=None if outcome == "ok" else outcome), work)
        if result.accepted:
            notes.append(f"{work.id} {words}: {result.detail}")
        else:
            error = result.error
            notes.append(f"{work.id} {words}: rejected: "
                         + (f"{type(error).__name__}: {error.message}" if error is not None
                            else result.detail))
    left = len([w for w in cluster.pending() if a.instance is None or w.instance == a.instance])
    detail = f"{len(parts)} step{'s' if len(parts) != 1 else ''} delivered"
    if left:
        detail += f", {left} still queued at a host that is down"
    if waiting:
        detail += f"; never delivered: {', '.join(sorted(waiting))}"
    return Batch(True, None, detail, parts=tuple(parts), notes=tuple(notes))


#: The periodic tasks every compute runs, each through the cluster's own method.
PERIODIC_TASKS: dict[str, Callable[[Cluster], list[Result]]] = {
    "poll_unconfirmed_resizes": lambda c: c.poll_unconfirmed_resizes(),
    "poll_shelved_instances": lambda c: c.poll_shelved_instances(),
    "reclaim_queued_deletes": lambda c: c.reclaim_queued_deletes(),
    "sync_power_states": lambda c: c.sync_power_states(),
}
#: Every periodic task, the resource audit first.
PERIODIC = (AUDIT, *PERIODIC_TASKS)


def _periodic(cluster: Cluster, a: Periodic, _: Delivery) -> Result:
    if a.task == AUDIT:
        freed = cluster.update_available_resource(a.host)
        detail = (f"freed the allocations of {', '.join(freed)}" if freed
                  else "nothing to free")
        return Batch(True, None, detail, parts=tuple(
            Result(True, None, "allocations freed", uuid) for uuid in freed))
    results = PERIODIC_TASKS[a.task](cluster)
    notes = tuple((f"{r.instance}: {r.detail}" if r.accepted else
                   f"{r.instance}: rejected: {type(r.error).__name__}: {r.error.message}"
                   if r.error is not None else f"{r.instance}: rejected: {r.detail}")
                  for r in results)
    return Batch(True, None, "; ".join(notes) if notes else "nothing to do",
                 parts=tuple(results), notes=notes)


#: The host events, each through the cluster's own method.
HOST_EVENT_EFFECTS: dict[str, Callable[[Cluster, str], Result]] = {
    "service_down": lambda c, host: c.service_down(host),
    "service_up": lambda c, host: c.service_up(host),
    "restart": lambda c, host: c.restart(host),
    "disable": lambda c, host: c.disable(host),
    "enable": lambda c, host: c.enable(host),
}


def _host_event(cluster: Cluster, a: HostEvent, _: Delivery) -> Result:
    return HOST_EVENT_EFFECTS[a.kind](cluster, a.host)


def _guest_event(cluster: Cluster, a: GuestEvent, _: Delivery) -> Result:
    return cluster.event(a.event, a.instance)


def _operator(cluster: Cluster, a: OperatorChange, _: Delivery) -> Result:
    if a.change == "set_allocation_ratio":
        return cluster.set_allocation_ratio(a.host, a.resource_class, float(a.value))
    return cluster.set_reserved(a.host, a.resource_class, int(a.value))


_APPLY: dict[type, Callable[[Cluster, Any, Delivery], Result]] = {
    Request: _request, Deliver: _deliver, Settle: _settle, Periodic: _periodic,
    HostEvent: _host_event, GuestEvent: _guest_event, OperatorChange: _operator,
}


# ----------------------------------------------------------------------------- words

def _fails(outcome: str | None) -> str:
    return "" if outcome is None or outcome == "ok" else f" fails: {outcome}"


def describe(action: Action, work: Work | None = None) -> str:
    """One line in operator language. ``work``: the item a delivery ran (the line then
    says where it ran)."""
    match action:
        case Request():
            return _request_words(action)
        case Deliver() if work is not None:
            where = f" on {work.target}" if work.target else " in the conductor"
            return (f"{work.operation}.{work.step} of {work.instance}{where}"
                    f"{_fails(action.outcome)}")
        case Deliver(operation=None, work=None):
            return "deliver the next pending step"
        case Deliver(operation=None):
            return f"deliver {action.work}{_fails(action.outcome)}"
        case Deliver():
            return (f"{action.operation}.{action.step} of {action.instance}"
                    f"{_fails(action.outcome)}")
        case Settle():
            words = ("settle" + (f" {action.instance}" if action.instance else "")
                     + ": deliver everything deliverable")
            if action.outcomes:
                words += " (" + ", ".join(f"{k} {v}" for k, v in action.outcomes) + ")"
            return words
        case Periodic(task=task, host=host) if task == AUDIT:
            return f"resource audit ({AUDIT}) on {host}"
        case Periodic():
            return f"periodic task {action.task}"
        case HostEvent(kind=kind, host=host):
            return {"service_down": f"nova-compute on {host} goes down",
                    "service_up": f"nova-compute on {host} comes back up",
                    "restart": f"nova-compute on {host} restarts",
                    "disable": f"operator disables compute service {host}",
                    "enable": f"operator enables compute service {host}"}[kind]
        case GuestEvent():
            return f"hypervisor event {action.event} for {action.instance}"
        case OperatorChange():
            return (f"operator sets {action.resource_class} "
                    f"{OPERATOR_FIELDS[action.change]} of {action.host} to {action.value}")
    raise TypeError(f"not an action: {action!r}")


def _request_words(a: Request) -> str:
    args = a.kwargs
    caller = " (as admin)" if a.caller == "admin" else ""
    if a.operation in CATALOGUE and CATALOGUE[a.operation].creates_instance:
        extra = [f"image {args['image']}" if "image" in args else "",
                 f"group {args['group']}" if "group" in args else "",
                 f"zone {args['availability_zone']}" if "availability_zone" in args else "",
                 " ".join(f"hint {k} {', '.join(v)}" for k, v in args.get("hints", {}).items())]
        extra = [e for e in extra if e]
        count = create_counts(args.get("min_count"), args.get("max_count"))
        if count != (1, 1):
            many = (f"{count[1]}" if count[0] == count[1]
                    else f"{count[0]} to {count[1]}")
            return (f"{a.operation} {many} {args.get('flavor', 'm1.small')} servers in one "
                    f"request" + (f" ({', '.join(extra)})" if extra else "") + caller)
        return (f"{a.operation} a {args.get('flavor', 'm1.small')} server"
                + (f" ({', '.join(extra)})" if extra else "") + caller)
    words = f"{a.operation} {a.instance}"
    if "flavor" in args:
        words += f" to {args['flavor']}"
    if "host" in args:
        words += f" to {args['host']}" + (" (forced)" if args.get("force") else "")
    if "image" in args:
        words += f" with image {args['image']}"
    return words + caller


# ----------------------------------------------------------------------------- JSON

def to_json(action: Action) -> dict[str, Any]:
    """The scenario step object of ``action`` (fields left out are not written)."""
    match action:
        case Request():
            out: dict[str, Any] = {"api": action.operation}
            if action.instance is not None:
                out["instance"] = action.instance
            if action.caller is not None:
                out["as"] = action.caller
            if action.args is not None:
                out["args"] = _thawed_args(action.args)
            return out
        case Deliver():
            if action.operation is not None:
                what: Any = {"operation": action.operation, "step": action.step,
                             "instance": action.instance}
                if action.work is not None:
                    what["work"] = action.work
            else:
                what = action.work if action.work is not None else "next"
            out = {"deliver": what}
            if action.outcome is not None:
                out["outcome"] = action.outcome
            return out
        case Settle():
            out = {"settle": True}
            if action.outcomes is not None:
                out["outcomes"] = dict(action.outcomes)
            if action.instance is not None:
                out["instance"] = action.instance
            return out
        case Periodic():
            return {"periodic": action.task} | (
                {"host": action.host} if action.host is not None else {})
        case HostEvent():
            return {"event": action.kind, "host": action.host}
        case GuestEvent():
            return {"event": action.event, "instance": action.instance}
        case OperatorChange():
            return {"operator": action.change, "host": action.host,
                    "resource_class": action.resource_class, "value": action.value}
    raise TypeError(f"not an action: {action!r}")


def from_json(step: Mapping[str, Any]) -> Action:
    """The action of a scenario step already checked (``nova_model.scenario.parse``);
    its ``note``, if any, is not part of the action. KeyError if it has no verb."""
    if "api" in step:
        args = step.get("args")
        return Request(step["api"], step.get("instance"), step.get("as"),
                       None if args is None else _frozen(args))
    if "deliver" in step:
        what, outcome = step["deliver"], step.get("outcome")
        if isinstance(what, Mapping):
            return Deliver(what["operation"], what["step"], what["instance"],
                           what.get("work"), outcome)
        return Deliver(work=None if what == "next" else what, outcome=outcome)
    if "settle" in step:
        outcomes = step.get("outcomes")
        return Settle(None if outcomes is None else tuple(outcomes.items()),
                      step.get("instance"))
    if "periodic" in step:
        return Periodic(step["periodic"], step.get("host"))
    if "event" in step:
        if step["event"] in HOST_EVENTS:
            return HostEvent(step["event"], step["host"])
        return GuestEvent(step["event"], step["instance"])
    if "operator" in step:
        return OperatorChange(step["operator"], step["host"], step["resource_class"],
                              step["value"])
    raise KeyError(f"no action verb in {sorted(step)}")


def instances_named(action: Action) -> tuple[str, ...]:
    """The instances an action names (a create names none: the cluster names it)."""
    match action:
        case Request(instance=str() as name) | Deliver(instance=str() as name) | \
                Settle(instance=str() as name) | GuestEvent(instance=name):
            return (name,)
    return ()


def renamed(action: Action, rename: Callable[[str], str]) -> Action:
    """``action`` with each instance it names renamed."""
    if not instances_named(action):
        return action
    return replace(action, instance=rename(action.instance))  # type: ignore[union-attr]
