"""A proposed change to the model, read from a small TOML file (or a Python module).

The proposal is turned into a variant of the catalogue with ``model.variants`` (the
same edits the seeded faults make) plus, optionally, other configuration options
for the search. TOML says::

    title = "Allow rescue of a resized instance"
    why = "one sentence a reviewer reads first"

    [operations.rescue.guard]          # the API's guard
    add_vm_states = ["resized"]        # or vm_states = [...], remove_vm_states = [...]
    # task_states / add_task_states = ["none", "resize_prep"] ("none": no task)
    # lock = true | false              # check_instance_lock
    # host = true | false              # check_instance_host
    # source_up = true | false         # the migration's source compute must be up

    [operations.shelve]
    remove_steps = ["shelving_image_pending_upload", "shelving_image_uploading"]
    expects = { shelved = ["shelving"] }   # the step's compare-and-swap

    [[operations.shelve.branches]]     # a step's outcome, every branch or one (index)
    step = "api"
    outcome = "ok"                     # (the default)
    then = "shelved"                   # vm, task, power, host, then,
                                       # add_alloc / remove_alloc = ["DELETE_MIGRATION"]

    [options]                          # the cluster's options, for the search
    shelved_offload_time = -1

A Python proposal is a module with ``TITLE`` (and optionally ``WHY`` and ``OPTIONS``)
and ``operations(catalogue) -> {name: Operation}``, the operations it replaces.

Anything wrong is a ``ProposalError``: one line naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from model.catalogue import CATALOGUE
from model.config import Options
from model.lifecycle import Lifecycle
from model.operation import Alloc, Branch, Check, HostEffect, Operation
from model.states import PowerState, TaskState, VmState
from model.variants import step_with_branches, variant, with_guard

TOP_KEYS = ("title", "why", "operations", "options")
OPERATION_KEYS = ("guard", "branches", "remove_steps", "expects")
GUARD_KEYS = ("vm_states", "add_vm_states", "remove_vm_states", "task_states",
              "add_task_states", "remove_task_states", "lock", "host", "source_up")
BRANCH_KEYS = ("step", "outcome", "index", "vm", "task", "power", "host", "then",
               "add_alloc", "remove_alloc")
#: TOML names of the host effects (``instance.host = ...``)
HOSTS = {"keep": HostEffect.KEEP, "set_dest": HostEffect.SET_DEST,
         "set_source": HostEffect.SET_SOURCE, "clear": HostEffect.CLEAR}


class ProposalError(ValueError):
    """A proposal that cannot be applied: one line, naming the file and the field."""


@dataclass(frozen=True)
class Proposal:
    title: str
    why: str
    source: str
    lifecycle: Lifecycle
    #: the operations the proposal rewrites, in catalogue order
    changed: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def options_for(self, base: Options) -> Options:
        return dataclasses.replace(base, **self.options)


def load(path: str | os.PathLike[str]) -> Proposal:
    source = os.fspath(path)
    if source.endswith(".py"):
        return _load_module(source)
    try:
        with open(source, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ProposalError(f"{source}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProposalError(f"{source}: invalid TOML: {exc}") from None
    return _Reader(source).proposal(raw)


def _load_module(source: str) -> Proposal:
    if not os.path.exists(source):
        raise ProposalError(f"{source}: cannot read: No such file or directory")
    spec = importlib.util.spec_from_file_location("nova_model_proposal", source)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the module is the user's: any error is a bad proposal
        raise ProposalError(f"{source}: the module raised {type(exc).__name__}: {exc}") from None
    reader = _Reader(source)
    for name in ("TITLE", "operations"):
        if not hasattr(module, name):
            raise ProposalError(f"{source}: {name}: missing (a Python proposal defines TITLE "
                                f"and operations(catalogue))")
    try:
        replaced = dict(module.operations(CATALOGUE))
    except Exception as exc:
        raise ProposalError(f"{source}: operations: raised {type(exc).__name__}: {exc}") from None
    for name, op in replaced.items():
        if name not in CATALOGUE:
            reader.fail("operations", f"unknown operation {name!r}{_close(name, CATALOGUE)}")
        if not isinstance(op, Operation):
            reader.fail(f"operations.{name}", "expected a model.operation.Operation")
    options = reader.options(getattr(module, "OPTIONS", {}))
    return reader.build(str(module.TITLE), str(getattr(module, "WHY", "")), replaced, options)


def _close(word: str, choices) -> str:
    match = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


class _Reader:
    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str):
        raise ProposalError(f"{self.source}: {where}: {problem}")

    def keys(self, table: Any, where: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(table, dict):
            self.fail(where, f"expected a table, got {type(table).__name__}")
        for key in table:
            if key not in allowed:
                self.fail(f"{where}.{key}" if where else key,
                          f"unknown field{_close(key, allowed)}; expected one of "
                          f"{', '.join(allowed)}")
        return table

    def proposal(self, raw: dict) -> Proposal:
        self.keys(raw, "", TOP_KEYS)
        title = raw.get("title")
        if not isinstance(title, str) or not title.strip():
            self.fail("title", "missing (one line saying what the proposal changes)")
        why = raw.get("why", "")
        if not isinstance(why, str):
            self.fail("why", f"expected a string, got {type(why).__name__}")
        operations = self.keys(raw.get("operations", {}), "operations", tuple(CATALOGUE))
        replaced = {name: self.operation(CATALOGUE[name], spec, f"operations.{name}")
                    for name, spec in operations.items()}
        options = self.options(raw.get("options", {}))
        if not replaced and not options:
            self.fail("operations", "the proposal changes nothing (no operations, no options)")
        return self.build(title.strip(), why.strip(), replaced, options)

    def build(self, title: str, why: str, replaced: dict[str, Operation],
              options: dict) -> Proposal:
        try:
            lifecycle = variant(**replaced)
        except (KeyError, ValueError) as exc:
            self.fail("operations", f"the changed catalogue is not consistent: {exc}")
        changed = tuple(name for name in CATALOGUE if name in replaced)
        return Proposal(title, why, self.source, lifecycle, changed, options)

    # -- one operation -------------------------------------------------------------------

    def operation(self, op: Operation, spec: Any, where: str) -> Operation:
        """``op`` with every edit of ``spec``; the steps are rewired once, at the end (an
        edit may leave a step unreached that a later one removes)."""
        self.keys(spec, where, OPERATION_KEYS)
        guard = (self.guard(op, spec["guard"], f"{where}.guard").guard if "guard" in spec
                 else op.guard)
        steps = {s.name: s for s in (op.api, *op.steps)}
        for i, edit in enumerate(self.list_of_tables(spec.get("branches", []),
                                                     f"{where}.branches")):
            self.branches(op, steps, edit, f"{where}.branches[{i}]")
        for step, tasks in self.keys(spec.get("expects", {}), f"{where}.expects",
                                     tuple(op.all_steps)).items():
            expected = frozenset(self.tasks(tasks, f"{where}.expects.{step}"))
            steps[step] = dataclasses.replace(steps[step], expects=expected)
        for i, step in enumerate(self.list_(spec.get("remove_steps", []),
                                            f"{where}.remove_steps")):
            if step not in op.all_steps or step == "api":
                self.fail(f"{where}.remove_steps[{i}]", f"{op.name} has no step {step!r} to "
                          f"remove{_close(str(step), op.all_steps)}")
            del steps[step]
        try:
            return dataclasses.replace(op, guard=guard, api=steps.pop("api"),
                                       steps=tuple(steps.values()))
        except ValueError as exc:  # (the wiring: a step unreached, an unknown next step)
            self.fail(where, str(exc))

    def guard(self, op: Operation, spec: Any, where: str) -> Operation:
        self.keys(spec, where, GUARD_KEYS)
        g = op.guard
        if g is None:
            self.fail(where, f"{op.name} has no API guard")
        vm_states = set(g.vm_states) if g.vm_states is not None else set(VmState)
        if "vm_states" in spec:
            vm_states = set(self.vm_states(spec["vm_states"], f"{where}.vm_states"))
        vm_states |= set(self.vm_states(spec.get("add_vm_states", []), f"{where}.add_vm_states"))
        vm_states -= set(self.vm_states(spec.get("remove_vm_states", []),
                                        f"{where}.remove_vm_states"))
        tasks = set(g.task_states) if g.task_states is not None else {None, *TaskState}
        if "task_states" in spec:
            tasks = set(self.tasks(spec["task_states"], f"{where}.task_states"))
        tasks |= set(self.tasks(spec.get("add_task_states", []), f"{where}.add_task_states"))
        tasks -= set(self.tasks(spec.get("remove_task_states", []),
                                f"{where}.remove_task_states"))
        checks = list(g.checks)
        lock, host = g.check_instance_lock, g.check_instance_host
        if "lock" in spec:
            lock = self.bool_(spec["lock"], f"{where}.lock")
            checks = _toggle(checks, Check.LOCK, lock, first=True)
        if "host" in spec:
            host = self.bool_(spec["host"], f"{where}.host")
            checks = _toggle(checks, Check.HOST, host, before=Check.STATE)
        if "source_up" in spec:
            checks = _toggle(checks, Check.SOURCE_COMPUTE_UP,
                             self.bool_(spec["source_up"], f"{where}.source_up"))
        return with_guard(
            op, vm_states=None if vm_states == set(VmState) else frozenset(vm_states),
            task_states=None if tasks == {None, *TaskState} else frozenset(tasks),
            check_instance_lock=lock, check_instance_host=host, checks=tuple(checks))

    def branches(self, op: Operation, steps: dict, spec: dict, where: str) -> None:
        """Rewrite, in ``steps``, the chosen branches of one step's outcome."""
        self.keys(spec, where, BRANCH_KEYS)
        step = spec.get("step")
        if step not in steps:
            self.fail(f"{where}.step", f"{op.name} has no step {step!r}"
                      f"{_close(str(step), op.all_steps)}")
        outcome = spec.get("outcome", "ok")
        names = [o.name for o in steps[step].outcomes]
        if outcome not in names:
            self.fail(f"{where}.outcome", f"{op.name}.{step} has no outcome {outcome!r}; it "
                      f"has {', '.join(names)}")
        count = len(steps[step].outcome(outcome).branches)
        indices = spec.get("index", list(range(count)))
        indices = indices if isinstance(indices, list) else [indices]
        for i, index in enumerate(indices):
            if not isinstance(index, int) or not 0 <= index < count:
                self.fail(f"{where}.index", f"{op.name}.{step}.{outcome} has branches 0 to "
                          f"{count - 1}, not {index!r}")
        changes = self.branch_changes(op, spec, where)
        seen = iter(range(count))
        chosen = set(indices)
        steps[step] = step_with_branches(steps[step], outcome,
                                         lambda b: changes(b) if next(seen) in chosen else b)

    def branch_changes(self, op: Operation, spec: dict, where: str) -> Callable[[Branch], Branch]:
        fields: dict[str, Any] = {}
        if "vm" in spec:
            fields["vm"] = self.one(spec["vm"], f"{where}.vm", {v.value: v for v in VmState})
        if "task" in spec:
            fields["task"] = self.tasks([spec["task"]], f"{where}.task")[0]
        if "power" in spec:
            fields["power"] = self.one(spec["power"], f"{where}.power",
                                       {p.label: p for p in PowerState})
        if "host" in spec:
            fields["host"] = self.one(spec["host"], f"{where}.host", HOSTS)
        if "then" in spec:
            then = spec["then"]
            if then not in op.all_steps or then == "api":
                self.fail(f"{where}.then", f"{op.name} has no step {then!r}"
                          f"{_close(str(then), op.all_steps)}")
            fields["then"] = then
        allocs = {a.name: a for a in Alloc}
        add = [self.one(a, f"{where}.add_alloc", allocs) for a in
               self.list_(spec.get("add_alloc", []), f"{where}.add_alloc")]
        remove = {self.one(a, f"{where}.remove_alloc", allocs) for a in
                  self.list_(spec.get("remove_alloc", []), f"{where}.remove_alloc")}

        def change(b: Branch) -> Branch:
            alloc = tuple(a for a in b.alloc if a not in remove) + tuple(
                a for a in add if a not in b.alloc)
            return dataclasses.replace(b, alloc=alloc, **fields)
        return change

    # -- values ------------------------------------------------------------------------------

    def options(self, spec: Any) -> dict:
        known = {f.name: f for f in dataclasses.fields(Options)}
        self.keys(spec, "options", tuple(known))
        for key, value in spec.items():
            default = known[key].default
            if type(value) is not type(default):
                self.fail(f"options.{key}", f"expected {type(default).__name__}, got "
                          f"{type(value).__name__}")
        return dict(spec)

    def list_(self, value: Any, where: str) -> list:
        if not isinstance(value, list):
            self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def list_of_tables(self, value: Any, where: str) -> list[dict]:
        items = self.list_(value, where)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.fail(f"{where}[{i}]", f"expected a table, got {type(item).__name__}")
        return items

    def bool_(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            self.fail(where, f"expected true or false, got {value!r}")
        return value

    def one(self, value: Any, where: str, choices: Mapping[str, Any]):
        if not isinstance(value, str) or value not in choices:
            self.fail(where, f"unknown value {value!r}{_close(str(value), choices)}; expected "
                      f"one of {', '.join(choices)}")
        return choices[value]

    def vm_states(self, values: Any, where: str) -> list[VmState]:
        choices = {v.value: v for v in VmState}
        return [self.one(v, f"{where}[{i}]", choices)
                for i, v in enumerate(self.list_(values, where))]

    def tasks(self, values: Any, where: str) -> list:
        choices: dict[str, Any] = {"none": None, **{t.value: t for t in TaskState}}
        return [self.one(v, f"{where}[{i}]", choices)
                for i, v in enumerate(self.list_(values, where))]


def _toggle(checks: list[Check], check: Check, on: bool, *, first: bool = False,
            before: Check | None = None) -> list[Check]:
    """``checks`` with ``check`` present (in Nova's decorator order) or absent."""
    out = [c for c in checks if c is not check]
    if not on:
        return out
    if first:
        return [check, *out]
    if before is not None and before in out:
        out.insert(out.index(before), check)
        return out
    return [*out, check]
