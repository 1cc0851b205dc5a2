"""Scenarios: a cluster run written down as data, and the runner that replays it.

A scenario is JSON: a list of steps, or an object ``{"seed": N, "config": "file.toml",
"description": "...", "steps": [...]}``. A bare list may start with ``{"seed": N}``.
Each step is an object with exactly one verb (plus an optional ``"note"``):

``{"api": "resize", "instance": "vm1", "as": "owner", "args": {"flavor": "m1.large"}}``
    An API request; ``as`` is ``owner`` (default) or ``admin``. ``create`` takes no
    instance; its ``args`` are ``flavor``, ``image``, ``group``, ``availability_zone``,
    ``hints``, ``min_count``, ``max_count`` (a multi-create: positive integers, min at
    most max; it makes ``max_count`` instances). Instances are named by the cluster, in
    creation order: vm1, vm2, ...
``{"deliver": "next"}`` / ``{"deliver": "w7"}`` / ``{"deliver": {"operation": "resize",
"step": "prep_resize", "instance": "vm1"}, "outcome": "claim_failed"}``
    Run one pending step: the oldest deliverable one, a work item by id, or the oldest
    pending item of that operation step for that instance (add ``"work": "w7"`` to the
    object to pin one). ``outcome`` defaults to ``ok``; another declared outcome injects
    a fault or an environment result.
``{"settle": true, "outcomes": {"resize.prep_resize": "claim_failed"}}``
    Deliver everything deliverable, oldest first; each listed outcome is used the first
    time that step is delivered. ``"instance": "vm1"`` restricts it to one instance.
``{"periodic": "update_available_resource", "host": "compute1"}``
    Or ``poll_unconfirmed_resizes``, ``poll_shelved_instances``,
    ``reclaim_queued_deletes``, ``sync_power_states`` (no host).
``{"host": "compute1", "event": "service_down"}``
    Or ``service_up``, ``restart``, ``disable``, ``enable``.
``{"event": "guest_stopped", "instance": "vm1"}``
    A hypervisor event (a ``Kind.EVENT`` operation of the catalogue).
``{"operator": "set_allocation_ratio", "host": "compute1", "resource_class": "VCPU",
"value": 2.0}``
    Or ``set_reserved`` (an integer amount).

A scenario that does not parse or names something the cluster does not have is an
input error: ``ScenarioError``, one line naming the file, the step (``steps[i]``,
indexed from 0 as written in the file) and the field. A request the model refuses is
a result, not an error.

Each step is read as one of the cluster's actions (``model.actions``: a ``Request``,
``Deliver``, ``Settle``, ``Periodic``, ``HostEvent``, ``GuestEvent`` or
``OperatorChange``), which the runner applies with ``model.actions.apply``, as the
search's rules do; ``ScenarioStep.action`` holds it, and ``model.actions.to_json``
writes it back as the step was written (its ``note`` aside).

The run is deterministic: the same scenario, seed, configuration and catalogue give
the same steps, results and final cluster. ``scenario_from_trace`` turns the step
records of a run (the same dicts) back into a scenario document, so a search can save
a counterexample that ``nova-model simulate`` replays exactly.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from model import actions, documents, errors
from model.actions import Action
from model.catalogue import CATALOGUE, INIT_INSTANCE, REQUEST_ARGS
from model.cluster import Cluster, Result, Work, create_counts
from model.cluster_records import name_order
from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from model.operation import Kind
from model.placement import ResourceClass
from model.states import task_label

VERBS = ("api", "deliver", "settle", "periodic", "event", "operator", "seed")
#: Fields each verb's step may carry besides the verb itself ("note" is always allowed).
FIELDS: dict[str, tuple[str, ...]] = {
    "api": ("instance", "as", "args"),
    "deliver": ("outcome",),
    "settle": ("outcomes", "instance"),
    "periodic": ("host",),
    "event": ("host", "instance"),
    "operator": ("host", "resource_class", "value"),
    "seed": (),
}
PERIODIC = actions.PERIODIC
HOST_EVENTS = actions.HOST_EVENTS
OPERATOR_ACTIONS = tuple(actions.OPERATOR_FIELDS)
CALLERS = actions.CALLERS
RESOURCE_CLASSES = tuple(rc.value for rc in ResourceClass)
TOP_KEYS = ("seed", "config", "description", "steps")
#: The most steps one scenario may have (a settle counts as one).
MAX_STEPS = 20_000
#: How the cluster names instances and work items (ASCII digits only: ``str.isdigit``
#: also accepts "²" and "١", which ``int`` then refuses or reads as another number).
INSTANCE_NAME = re.compile(r"vm([1-9][0-9]{0,9})", re.ASCII)
WORK_ID = re.compile(r"w[1-9][0-9]{0,9}", re.ASCII)

#: API operations a scenario can request (create included).
API_NAMES = tuple(name for name, op in CATALOGUE.items() if op.kind is Kind.API)
#: Hypervisor events a scenario can send (compute-start recovery is fired by service_up).
INSTANCE_EVENTS = tuple(name for name, op in CATALOGUE.items()
                        if op.kind is Kind.EVENT and name != INIT_INSTANCE)


class ScenarioError(ValueError):
    """A scenario is invalid. ``str()`` is one line: file, step, field, problem."""

    def __init__(self, message: str):
        message = " ".join(str(message).split("\n"))
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ScenarioStep:
    """One step: where it is in the file, its verb, its fields as written, and the
    cluster action it asks for (``model.actions``; None for a ``seed`` step)."""

    path: str
    verb: str
    data: Mapping[str, Any]
    action: Action | None = None

    def __post_init__(self) -> None:
        if self.action is None and self.verb != "seed":
            object.__setattr__(self, "action", actions.from_json(self.data))


@dataclass(frozen=True)
class Scenario:
    steps: tuple[ScenarioStep, ...]
    seed: int = 0
    config: str | None = None      # a cluster file, relative to the scenario's directory
    description: str = ""
    source: str = "<scenario>"

    def document(self) -> dict[str, Any]:
        """The scenario as a JSON-ready object (the object form)."""
        doc: dict[str, Any] = {"seed": self.seed, "steps": [dict(s.data) for s in self.steps]}
        if self.config is not None:
            doc["config"] = self.config
        if self.description:
            doc["description"] = self.description
        return doc


# ---------------------------------------------------------------------------- parsing

def _close(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A value as an error message shows it: strings quoted, containers by kind."""
    return repr(value) if isinstance(value, (str, int, float)) else _kind(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file (structure only; see ``check_against``)."""
    try:
        text = documents.read_text(path)
    except documents.DocumentError as exc:
        raise ScenarioError(str(exc)) from None
    return loads(text, os.fspath(path))


def loads(text: str, source: str = "<scenario>") -> Scenario:
    try:
        raw = documents.parse_json(text, source)
    except documents.DocumentError as exc:
        raise ScenarioError(str(exc)) from None
    return parse(raw, source)


def parse(raw: Any, source: str = "<scenario>") -> Scenario:
    """Check a decoded scenario document and return it as a ``Scenario``."""
    try:
        # (a bare list is the steps: its fields are named as in the object form)
        documents.check_tree(raw, source, "steps" if isinstance(raw, list) else "")
    except documents.DocumentError as exc:
        raise ScenarioError(str(exc)) from None
    seed, config, description = 0, None, ""
    if isinstance(raw, dict):
        for key in raw:
            if key not in TOP_KEYS:
                raise ScenarioError(f"{source}: {key}: unknown field{_close(key, TOP_KEYS)}; "
                                    f"expected {', '.join(TOP_KEYS)}")
        if "steps" not in raw:
            raise ScenarioError(f"{source}: steps: missing (a list of steps)")
        if "seed" in raw:
            seed = _seed(raw["seed"], f"{source}: seed")
        if "config" in raw:
            config = raw["config"]
            if not isinstance(config, str) or not config:
                raise ScenarioError(f"{source}: config: expected a file name, "
                                    f"got {_kind(config)}")
            if "\0" in config:
                raise ScenarioError(f"{source}: config: a file name cannot contain a "
                                    f"NUL byte")
        if "description" in raw:
            description = raw["description"]
            if not isinstance(description, str):
                raise ScenarioError(f"{source}: description: expected a string, "
                                    f"got {_kind(description)}")
        items = raw["steps"]
        if not isinstance(items, list):
            raise ScenarioError(f"{source}: steps: expected a list, got {_kind(items)}")
        seeded = "seed" in raw
    elif isinstance(raw, list):
        items, seeded = raw, False
    else:
        raise ScenarioError(f"{source}: expected a list of steps or an object with "
                            f"\"steps\", got {_kind(raw)}")
    if len(items) > MAX_STEPS:
        raise ScenarioError(f"{source}: steps: {len(items)} steps; a scenario has at most "
                            f"{MAX_STEPS}")
    steps: list[ScenarioStep] = []
    created = 0
    for index, item in enumerate(items):
        path = f"steps[{index}]"
        where = f"{source}: {path}"
        step = _step(item, where)
        if step.verb == "seed":
            if index != 0 or seeded:
                raise ScenarioError(f"{where}.seed: a seed can only be the first step")
            seed = _seed(item["seed"], f"{where}.seed")
            continue
        created = _check_instances(step, where, created)
        steps.append(dataclasses.replace(step, path=path))
    return Scenario(tuple(steps), seed, config, description, source)


def _seed(value: Any, where: str) -> int:
    if not _is_int(value) or value < 0:
        raise ScenarioError(f"{where}: expected a non-negative integer, got {value!r}")
    return value


def _step(item: Any, where: str) -> ScenarioStep:
    if not isinstance(item, dict):
        raise ScenarioError(f"{where}: expected an object with one of {', '.join(VERBS)}, "
                            f"got {_kind(item)}")
    verbs = [k for k in item if k in VERBS]
    # {"host": ..., "event": ...} is a host event: "event" is the verb, "host" a field.
    if not verbs:
        for key in item:
            hint = _close(key, VERBS)
            if key != "note" and hint:
                raise ScenarioError(f"{where}.{key}: unknown verb{hint}")
        raise ScenarioError(f"{where}: no verb: expected one of {', '.join(VERBS)}")
    if len(verbs) > 1:
        raise ScenarioError(f"{where}: two verbs, {verbs[0]} and {verbs[1]}: "
                            f"one step does one thing")
    verb = verbs[0]
    allowed = FIELDS[verb]
    for key in item:
        if key not in (verb, "note", *allowed):
            known = (*allowed, "note")
            article = "an" if verb[0] in "aeiou" else "a"
            raise ScenarioError(f"{where}.{key}: unknown field for {article} {verb} step"
                                f"{_close(key, known)}; allowed: {', '.join(known)}")
    if "note" in item and not isinstance(item["note"], str):
        raise ScenarioError(f"{where}.note: expected a string, got {_kind(item['note'])}")
    check = {"api": _check_api, "deliver": _check_deliver, "settle": _check_settle,
             "periodic": _check_periodic, "event": _check_event, "operator": _check_operator,
             "seed": lambda item, where: None}[verb]
    check(item, where)
    return ScenarioStep("", verb, item)


def _name(item: Mapping, key: str, where: str, required: bool = True) -> str | None:
    if key not in item:
        if required:
            raise ScenarioError(f"{where}.{key}: missing")
        return None
    value = item[key]
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where}.{key}: expected a name, got {_kind(value)}")
    return value


def _check_api(item: Mapping, where: str) -> None:
    op = item["api"]
    if not isinstance(op, str):
        raise ScenarioError(f"{where}.api: expected an operation name, got {_kind(op)}")
    if op not in API_NAMES:
        if op in CATALOGUE:
            kind = CATALOGUE[op].kind.value
            raise ScenarioError(f"{where}.api: {op!r} is not an API operation ({kind}); "
                                f"use a periodic or event step")
        raise ScenarioError(f"{where}.api: unknown operation {op!r}{_close(op, API_NAMES)}")
    if op == "create":
        if "instance" in item:
            raise ScenarioError(f"{where}.instance: create makes a new instance; the cluster "
                                f"names it (vm1, vm2, ... in creation order)")
    else:
        _name(item, "instance", where)
    if "as" in item and not (isinstance(item["as"], str) and item["as"] in CALLERS):
        raise ScenarioError(f"{where}.as: expected owner or admin, got "
                            f"{_shown(item['as'])}")
    args = item.get("args", {})
    if not isinstance(args, dict):
        raise ScenarioError(f"{where}.args: expected an object, got {_kind(args)}")
    allowed = REQUEST_ARGS.get(op, frozenset())
    for key, value in args.items():
        if key not in allowed:
            takes = (f"; it takes {', '.join(sorted(allowed))}" if allowed
                     else "; it takes no arguments")
            raise ScenarioError(f"{where}.args.{key}: {op} takes no argument {key!r}"
                                f"{_close(key, allowed)}{takes}")
        if key == "force":
            if not isinstance(value, bool):
                raise ScenarioError(f"{where}.args.force: expected true or false, "
                                    f"got {_kind(value)}")
        elif key == "hints":
            if not isinstance(value, dict) or not all(
                    isinstance(v, list) and all(isinstance(x, str) for x in v)
                    for v in value.values()):
                raise ScenarioError(f"{where}.args.hints: expected an object of lists of "
                                    f"names, got {_kind(value)}")
        elif key in ("min_count", "max_count"):
            if not _is_int(value):
                raise ScenarioError(f"{where}.args.{key}: expected a positive integer, "
                                    f"got {_shown(value)}")
        elif not isinstance(value, str) or not value:
            raise ScenarioError(f"{where}.args.{key}: expected a name, got {_kind(value)}")
    if op == "create":
        try:
            create_counts(args.get("min_count"), args.get("max_count"))
        except errors.InvalidRequest as exc:
            field = "min_count" if "min_count" in exc.message.split(" ")[0] else "max_count"
            raise ScenarioError(f"{where}.args.{field}: {exc.message}") from None
    if op == "resize" and "flavor" not in args:
        raise ScenarioError(f"{where}.args.flavor: resize needs a flavor")
    if args.get("force") and "host" not in args:
        raise ScenarioError(f"{where}.args.force: force needs a host")


def _check_deliver(item: Mapping, where: str) -> None:
    what = item["deliver"]
    outcome = item.get("outcome", "ok")
    if not isinstance(outcome, str) or not outcome:
        raise ScenarioError(f"{where}.outcome: expected an outcome name, got {_kind(outcome)}")
    if isinstance(what, str):
        if what != "next" and not WORK_ID.fullmatch(what):
            raise ScenarioError(f"{where}.deliver: expected \"next\", a work id (w7) or an "
                                f"object with operation, step and instance, got {what!r}")
        return
    if not isinstance(what, dict):
        raise ScenarioError(f"{where}.deliver: expected \"next\", a work id or an object, "
                            f"got {_kind(what)}")
    inner = f"{where}.deliver"
    for key in what:
        if key not in ("operation", "step", "instance", "work"):
            raise ScenarioError(f"{inner}.{key}: unknown field"
                                f"{_close(key, ('operation', 'step', 'instance', 'work'))}; "
                                f"allowed: operation, step, instance, work")
    op_name = _name(what, "operation", inner)
    if op_name not in CATALOGUE:
        raise ScenarioError(f"{inner}.operation: unknown operation {op_name!r}"
                            f"{_close(op_name, CATALOGUE)}")
    op = CATALOGUE[op_name]
    step_name = _name(what, "step", inner)
    steps = [s for s in op.all_steps if s != "api"]
    if step_name not in steps:
        has = f"; it has {', '.join(steps)}" if steps else "; it has no asynchronous steps"
        raise ScenarioError(f"{inner}.step: {op_name} has no step {step_name!r}"
                            f"{_close(step_name, steps)}{has}")
    _name(what, "instance", inner)
    work = _name(what, "work", inner, required=False)
    if work is not None and not WORK_ID.fullmatch(work):
        raise ScenarioError(f"{inner}.work: expected a work id such as w7, got {work!r}")
    outcomes = [o.name for o in op.step(step_name).outcomes]
    if outcome not in outcomes:
        raise ScenarioError(f"{where}.outcome: {op_name}.{step_name} has no outcome "
                            f"{outcome!r}{_close(outcome, outcomes)}; it has "
                            f"{', '.join(outcomes)}")


def _check_settle(item: Mapping, where: str) -> None:
    if item["settle"] is not True:
        raise ScenarioError(f"{where}.settle: expected true, got {item['settle']!r}")
    _name(item, "instance", where, required=False)
    outcomes = item.get("outcomes", {})
    if not isinstance(outcomes, dict):
        raise ScenarioError(f"{where}.outcomes: expected an object of "
                            f"\"operation.step\": outcome, got {_kind(outcomes)}")
    for key, outcome in outcomes.items():
        at = f"{where}.outcomes.{key}"
        op_name, _, step_name = key.partition(".")
        if op_name not in CATALOGUE:
            raise ScenarioError(f"{at}: unknown operation {op_name!r}"
                                f"{_close(op_name, CATALOGUE)} (keys are operation.step)")
        op = CATALOGUE[op_name]
        steps = [s for s in op.all_steps if s != "api"]
        if step_name not in steps:
            raise ScenarioError(f"{at}: {op_name} has no step {step_name!r}"
                                f"{_close(step_name, steps)}")
        names = [o.name for o in op.step(step_name).outcomes]
        if outcome not in names:
            raise ScenarioError(f"{at}: {key} has no outcome {outcome!r}"
                                f"{_close(str(outcome), names)}; it has {', '.join(names)}")


def _check_periodic(item: Mapping, where: str) -> None:
    name = item["periodic"]
    if name not in PERIODIC:
        raise ScenarioError(f"{where}.periodic: unknown periodic task {name!r}"
                            f"{_close(str(name), PERIODIC)}; expected one of "
                            f"{', '.join(PERIODIC)}")
    if name == "update_available_resource":
        _name(item, "host", where)
    elif "host" in item:
        raise ScenarioError(f"{where}.host: {name} runs for the whole cluster; only "
                            f"update_available_resource takes a host")


def _check_event(item: Mapping, where: str) -> None:
    name = item["event"]
    if name in HOST_EVENTS:
        _name(item, "host", where)
        if "instance" in item:
            raise ScenarioError(f"{where}.instance: {name} is a host event; it takes a host")
    elif name in INSTANCE_EVENTS:
        _name(item, "instance", where)
        if "host" in item:
            raise ScenarioError(f"{where}.host: {name} is an instance event; "
                                f"it takes an instance")
    else:
        known = (*HOST_EVENTS, *INSTANCE_EVENTS)
        raise ScenarioError(f"{where}.event: unknown event {name!r}{_close(str(name), known)};"
                            f" expected one of {', '.join(known)}")


def _check_operator(item: Mapping, where: str) -> None:
    action = item["operator"]
    if action not in OPERATOR_ACTIONS:
        raise ScenarioError(f"{where}.operator: unknown action {action!r}"
                            f"{_close(str(action), OPERATOR_ACTIONS)}; expected "
                            f"{' or '.join(OPERATOR_ACTIONS)}")
    _name(item, "host", where)
    rc = _name(item, "resource_class", where)
    if rc not in RESOURCE_CLASSES:
        raise ScenarioError(f"{where}.resource_class: unknown resource class {rc!r}"
                            f"{_close(rc, RESOURCE_CLASSES)}; expected "
                            f"{', '.join(RESOURCE_CLASSES)}")
    if "value" not in item:
        raise ScenarioError(f"{where}.value: missing")
    value = item["value"]
    if action == "set_allocation_ratio":
        # (finite and within Placement's range: ``documents.check_tree``)
        if not _is_number(value) or not value > 0:
            raise ScenarioError(f"{where}.value: an allocation ratio must be a number > 0, "
                                f"got {value!r}")
    elif not _is_int(value) or value < 0:
        raise ScenarioError(f"{where}.value: a reserved amount must be an integer >= 0, "
                            f"got {value!r}")


def instance_refs(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, instance name) of every instance a step (as written) names."""
    refs = []
    if "instance" in data:
        refs.append(("instance", data["instance"]))
    if isinstance(data.get("deliver"), Mapping):
        refs.append(("deliver.instance", data["deliver"]["instance"]))
    return refs


def _check_instances(step: ScenarioStep, where: str, created: int) -> int:
    """Instances are vm1, vm2, ... in creation order: a step can only name one made before."""
    for fld, name in instance_refs(step.data):
        named = INSTANCE_NAME.fullmatch(name)
        if not (named and int(named[1]) <= created):
            made = (f"{created} created so far: "
                    + (", ".join(f"vm{i}" for i in range(1, created + 1)) if created <= 5
                       else f"vm1 .. vm{created}")) if created else "none created so far"
            raise ScenarioError(f"{where}.{fld}: no instance {name!r} at this point ({made})")
    if step.verb == "api" and step.data["api"] == "create":
        args = step.data.get("args", {})
        created += create_counts(args.get("min_count"), args.get("max_count"))[1]
    return created


def check_against(scenario: Scenario, config: ClusterConfig) -> None:
    """The names a scenario uses must exist in the cluster it runs on."""
    hosts = [h.name for h in config.hosts]
    flavors = [f.name for f in config.flavors]
    images = [i.name for i in config.images]
    groups = [g.name for g in config.server_groups]

    def need(value: str, known: list[str], what: str, at: str) -> None:
        if value not in known:
            raise ScenarioError(f"{scenario.source}: {at}: unknown {what} {value!r}"
                                f"{_close(value, known)}; the cluster has "
                                f"{', '.join(known) or 'none'}")

    for step in scenario.steps:
        data, at = step.data, step.path
        if "host" in data:
            need(data["host"], hosts, "host", f"{at}.host")
        if step.verb == "api":
            args = data.get("args", {})
            if "flavor" in args:
                need(args["flavor"], flavors, "flavor", f"{at}.args.flavor")
            if "image" in args:
                need(args["image"], images, "image", f"{at}.args.image")
            if "group" in args:
                need(args["group"], groups, "server group", f"{at}.args.group")
            if "host" in args:
                need(args["host"], hosts, "host", f"{at}.args.host")


def resolve_config(scenario: Scenario, override: str | os.PathLike[str] | None = None
                   ) -> ClusterConfig:
    """The cluster a scenario runs on: ``override``, else its ``config``, else the default.

    A relative ``config`` is read from the scenario file's directory. Raises ConfigError
    for a bad cluster file, and ScenarioError naming the scenario's ``config`` field
    when the file it names cannot be read.
    """
    if override is not None:
        return ClusterConfig.load(override)
    if scenario.config is not None:
        path = scenario.config
        if not os.path.isabs(path) and os.path.exists(scenario.source):
            path = os.path.join(os.path.dirname(scenario.source), path)
        try:
            text = documents.read_text(path)
        except documents.UnreadableFile as exc:
            raise ScenarioError(f"{scenario.source}: config: {scenario.config!r} "
                                f"({exc.source}): {exc.problem}") from None
        return ClusterConfig.loads(text, source=path)
    return ClusterConfig.default()


# ---------------------------------------------------------------------------- the run

@dataclass
class StepResult:
    """What one step did. ``index`` counts executed steps from 1; ``path`` is the file's."""

    index: int
    path: str
    words: str
    accepted: bool
    error: errors.NovaModelError | None
    detail: str
    input: Mapping[str, Any]
    results: list[str] = field(default_factory=list)  # the deliveries of a settle, ...

    def line(self) -> str:
        if self.accepted:
            verdict = "accepted" + (f", {self.detail}" if self.detail else "")
        elif self.error is not None:
            verdict = f"rejected: {type(self.error).__name__}: {self.error.message}"
        else:
            verdict = f"rejected: {self.detail}"
        return f"{self.index}. {self.words} -> {verdict}"

    def record(self) -> dict[str, Any]:
        return {
            "index": self.index, "path": self.path, "step": self.words,
            "accepted": self.accepted,
            "error": None if self.error is None else {"type": type(self.error).__name__,
                                                      "message": self.error.message},
            "detail": self.detail, "input": dict(self.input), "results": list(self.results),
        }


@dataclass
class Run:
    scenario: Scenario
    cluster: Cluster
    results: list[StepResult]

    def text(self) -> str:
        from nova_model.render.cluster_table import table as cluster_table
        lines = [r.line() for r in self.results]
        return "\n".join(lines + ["", cluster_table(self.cluster)]) + "\n"

    def document(self) -> dict[str, Any]:
        return {"seed": self.scenario.seed,
                "config": getattr(self.cluster.config, "source", None),
                "steps": [r.record() for r in self.results], **cluster_state(self.cluster)}

    def json(self, extra: Mapping[str, Any] | None = None) -> str:
        """``document()`` (with ``extra`` fields) as JSON text; a value JSON cannot
        hold (NaN, infinity) raises instead of being printed as non-JSON."""
        return json.dumps({**self.document(), **(extra or {})}, sort_keys=True, indent=2,
                          allow_nan=False) + "\n"

    def close(self) -> None:
        """Detach the cluster's instances from the (shared) lifecycle."""
        self.cluster.close()


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def cluster_state(cluster: Cluster) -> dict[str, Any]:
    """The cluster as plain JSON data: instances, hosts, allocations, migrations, pending."""
    from model.cluster import RESOURCE_CLASSES as RCS
    instances = {}
    for uuid in sorted(cluster.instances, key=name_order):
        i = cluster.instances[uuid]
        if i.state == "new":
            continue
        info = cluster.info[uuid]
        instances[uuid] = {
            "vm_state": i.vm_state.value, "task_state": task_label(i.task_state)
            if i.task_state is not None else None,
            "power_state": i.power_state.label, "host": i.host, "flavor": i.flavor,
            "image": i.image, "locked": i.locked,
            "migration": None if i.migration is None else i.migration.uuid,
            "group": info.group, "availability_zone": info.availability_zone,
        }
    hosts = {}
    for name in sorted(cluster.hosts):
        h = cluster.hosts[name]
        hosts[name] = {
            "up": h.up, "enabled": h.enabled, "queue": list(h.queue),
            "usage": {str(rc): {"used": _number(cluster.ledger.usage(name, rc)),
                                "capacity": _number(cluster.ledger.capacity(name, rc))}
                      for rc in RCS},
        }
    migrations = {
        m.uuid: {"instance": m.instance_uuid, "type": m.migration_type.value,
                 "status": m.status.value, "source": m.source, "dest": m.dest,
                 "old_flavor": m.old_flavor, "new_flavor": m.new_flavor}
        for m in sorted(cluster.migrations.values(), key=lambda m: name_order(m.uuid))}
    pending = [{"id": w.id, "instance": w.instance, "operation": w.operation, "step": w.step,
                "target": w.target,
                "deliverable": w.target is None or cluster.service_is_up(w.target)}
               for w in cluster.pending()]
    return {"instances": instances, "hosts": hosts, "allocations": cluster.allocations(),
            "migrations": migrations, "pending": pending}


@functools.cache
def specification() -> Lifecycle:
    """The unmodified catalogue's lifecycle, built once (one machine serves every cluster)."""
    return Lifecycle()


@dataclass(frozen=True)
class Observation:
    """One moment of a run, as an observer passed to ``run`` sees it.

    ``kind`` is ``"step"`` before a scenario step, ``"deliver"`` just before one work
    item is delivered (each delivery of a ``settle`` too), ``"delivered"`` just after
    it (``result`` is the cluster's ``Result``) and ``"done"`` after the step
    (``result`` is its ``StepResult``). The cluster is the live one: read it during the
    call, do not change it. Observing changes nothing in the run or its output.
    """

    kind: str
    cluster: Cluster
    index: int
    step: ScenarioStep
    work: Work | None = None
    outcome: str | None = None
    result: Result | StepResult | None = None


Observer = Callable[[Observation], None]


def run(scenario: Scenario, config: ClusterConfig | None = None, *,
        lifecycle: Lifecycle | None = None, cluster_class: type[Cluster] = Cluster,
        observer: Observer | None = None) -> Run:
    """Run every step of ``scenario`` on a fresh cluster; raise ScenarioError on bad names.

    ``lifecycle`` and ``cluster_class`` replay a run of a catalogue variant or a cluster
    subclass; by default the specification's shared lifecycle is used, so call
    ``Run.close()`` when done with the result's cluster. ``observer`` is called at each
    ``Observation`` (the sequence diagram of ``nova_model.render.sequence`` is drawn
    from them: the step records alone do not say what each delivery changed).
    """
    config = config if config is not None else ClusterConfig.default()
    check_against(scenario, config)
    lifecycle = lifecycle if lifecycle is not None else specification()
    cluster = cluster_class(config, lifecycle=lifecycle, seed=scenario.seed)
    runner = _Runner(cluster, observer)
    results = [runner.step(index, step) for index, step in enumerate(scenario.steps, 1)]
    return Run(scenario, cluster, results)


class _Runner:
    def __init__(self, cluster: Cluster, observer: Observer | None = None):
        self.c = cluster
        self.observer = observer
        self.at: tuple[int, ScenarioStep] | None = None  # the step being run, for observing

    def step(self, index: int, step: ScenarioStep) -> StepResult:
        """Run one step: its action, applied to the cluster (each delivery observed)."""
        self.at = (index, step)
        self._observe("step")
        action = step.action
        ran: list[Work] = []

        def deliver(work: Work, outcome: str) -> Result:
            ran.append(work)
            self._observe("deliver", work=work, outcome=outcome)
            result = self.c.deliver(work.id, outcome)
            self._observe("delivered", work=work, outcome=outcome, result=result)
            return result

        result = actions.apply(self.c, action, deliver)
        words = actions.describe(action, ran[0] if isinstance(action, actions.Deliver)
                                 and ran else None)
        subs = list(result.notes) if isinstance(result, actions.Batch) else []
        done = StepResult(index, step.path, words, result.accepted, result.error,
                          result.detail, step.data, subs)
        self._observe("done", result=done)
        return done

    def _observe(self, kind: str, **fields: Any) -> None:
        if self.observer is not None and self.at is not None:
            self.observer(Observation(kind, self.c, *self.at, **fields))


# ---------------------------------------------------------------------------- traces

def scenario_from_trace(records: Sequence[Mapping[str, Any]], *, seed: int | None = None,
                        config: str | None = None, description: str = "") -> dict[str, Any]:
    """A scenario document (the object form) from the step records of a run.

    ``records`` are the same dicts a scenario holds, in the order they were executed;
    a leading ``{"seed": N}`` record sets the seed (``seed`` overrides it). The records
    are checked like a scenario file (ScenarioError if one is malformed), so what is
    written is what ``nova-model simulate`` accepts, and running it on the same
    configuration (and catalogue) reproduces the run exactly.

    A ``deliver`` record names an operation step of an instance; when several such
    items are pending the replay takes the oldest deliverable one, so a search that
    picks another must record its id as ``"work"`` in the ``deliver`` object.
    """
    steps = [dict(r) for r in records]
    if steps and set(steps[0]) == {"seed"}:
        first = steps.pop(0)["seed"]
        seed = first if seed is None else seed
    doc: dict[str, Any] = {"seed": 0 if seed is None else seed, "steps": steps}
    if config is not None:
        doc["config"] = config
    if description:
        doc["description"] = description
    doc = json.loads(json.dumps(doc))  # plain JSON values (tuples become lists)
    parse(doc, "<trace>")  # raises ScenarioError if a record is malformed
    return doc


def dumps(document: Mapping[str, Any]) -> str:
    """A scenario document as JSON text: one step per line, keys sorted."""
    head = {k: v for k, v in document.items() if k != "steps"}
    lines = ["{"]
    for key in sorted(head):
        lines.append(f"  {json.dumps(key)}: {json.dumps(head[key], sort_keys=True)},")
    steps = document.get("steps", [])
    lines.append('  "steps": [')
    for n, step in enumerate(steps):
        comma = "," if n < len(steps) - 1 else ""
        lines.append(f"    {json.dumps(step, sort_keys=True)}{comma}")
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(document: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(document))
