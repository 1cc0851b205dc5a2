"""Nova's documentation page against the model, row by row.

Everything on the documentation side comes from the transcription in
:mod:`nova_model.render.nova_docs`; everything on the model side from the
catalogue (guards) and the replayed runs of :class:`~nova_model.render.derive.ModelView`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from model.operation import Kind, Operation
from model.states import Task, VmState
from nova_model.render import nova_docs as docs
from nova_model.render.derive import VM_ORDER, ModelView


def vm_list(vms) -> str:
    return ", ".join(v.value for v in sorted(set(vms), key=VM_ORDER.__getitem__)) or "—"


def doc_vms(cell: str) -> frozenset[VmState]:
    return frozenset(docs.VM_WORDS[w] for w in docs.words(cell))


@dataclass(frozen=True)
class RequirementRow:
    command: str
    operations: tuple[str, ...]
    doc_vms: str
    model_vms: str
    vms_agree: bool
    vms_detail: str
    doc_tasks: str
    model_tasks: str
    tasks_agree: bool | None  # None: the page states no requirement
    tasks_detail: str
    doc_target: str
    model_target: str
    target_agree: bool
    target_detail: str

    @property
    def agrees(self) -> bool:
        return self.vms_agree and self.tasks_agree is not False and self.target_agree


@dataclass(frozen=True)
class StateRow:
    state_word: str
    vm: VmState
    doc_commands: tuple[str, ...]
    model_commands: tuple[str, ...]     # the page's commands the model accepts here
    only_doc: tuple[str, ...]           # the page allows, the model refuses
    only_model: tuple[str, ...]         # the model accepts, the page does not list
    model_others: tuple[str, ...]       # accepted operations the page has no word for

    @property
    def agrees(self) -> bool:
        return not self.only_doc and not self.only_model


@dataclass(frozen=True)
class DiagramRow:
    source: VmState
    target: VmState
    in_doc: bool
    model_operations: tuple[str, ...]   # operations whose successful runs make the move

    @property
    def agrees(self) -> bool:
        return self.in_doc == bool(self.model_operations)


class Comparison:
    def __init__(self, view: ModelView):
        self.view = view
        self.ops = {op.name: op for op in view.operations}

    # -- model facts --

    def guard_vms(self, op: Operation) -> frozenset[VmState]:
        """The vm_states the op's guard names; for "any", those it was accepted in."""
        if op.guard is not None and op.guard.vm_states is not None:
            return frozenset(op.guard.vm_states)
        return frozenset(vm for name, vm, _ in self.view.accepted if name == op.name)

    def guard_tasks(self, op: Operation) -> frozenset[Task] | None:
        return None if op.guard is None else op.guard.task_states

    def outcomes(self, names, starts) -> dict[VmState, set[VmState]]:
        """start vm -> end vms of successful runs from an idle instance."""
        out: dict[VmState, set[VmState]] = {}
        for run in self.view.runs:
            if run.operation in names and not run.failed and run.idle and run.start in starts:
                out.setdefault(run.start, set()).add(run.end)
        return out

    def accepted_idle(self, name: str, vm: VmState) -> bool:
        return (name, vm, None) in self.view.accepted

    # -- table 1: requirements for commands --

    def requirements(self) -> list[RequirementRow]:
        rows = []
        for command, vms_cell, tasks_cell, target_cell in docs.REQUIREMENTS:
            names = docs.COMMAND_WORDS[command]
            ops = [self.ops[n] for n in names]
            want = doc_vms(vms_cell)
            have = frozenset().union(*(self.guard_vms(op) for op in ops))
            any_vm = all(op.guard is not None and op.guard.vm_states is None for op in ops)
            model_vms = ("any: " if any_vm else "") + vm_list(have)
            if len(ops) > 1:
                model_vms = "; ".join(f"{op.name}: {vm_list(self.guard_vms(op))}" for op in ops)
            vms_detail = _diff(want, have)

            task_words = docs.words(tasks_cell)
            model_tasks = _task_text(self.guard_tasks(ops[0]))
            if len(ops) > 1:
                model_tasks = "; ".join(f"{op.name}: {_task_text(self.guard_tasks(op))}"
                                        for op in ops)
            if task_words == [docs.TASK_NOT_STATED]:
                tasks_agree, tasks_detail = None, "the page states none"
            else:
                problems = []
                if docs.TASK_UNSET in task_words and not all(
                        self.guard_tasks(op) is None or None in self.guard_tasks(op)
                        for op in ops):
                    problems.append("the model does not accept an idle instance")
                if docs.TASK_RESIZE_VERIFY in task_words and docs.RESIZE_VERIFY_IS not in have:
                    problems.append(f"\"Resize Verify\" is vm_state "
                                    f"{docs.RESIZE_VERIFY_IS.value} in the code, "
                                    f"which the guard refuses")
                tasks_agree = not problems
                tasks_detail = "; ".join(problems)

            target = doc_vms(target_cell)
            starts = (want & have) or have
            by_start = self.outcomes(set(names), starts)
            ends = frozenset().union(*by_start.values()) if by_start else frozenset()
            model_target = vm_list(ends) + f" (from {vm_list(by_start)})"
            rows.append(RequirementRow(
                command, names, vms_cell, model_vms, want == have, vms_detail,
                tasks_cell, model_tasks, tasks_agree, tasks_detail,
                target_cell, model_target, target == ends, _diff(target, ends)))
        return rows

    # -- table 2: vm states and possible commands --

    def states(self) -> list[StateRow]:
        known = {n for names in docs.COMMAND_WORDS.values() for n in names}
        rows = []
        for state_cell, commands_cell in docs.COMMANDS_BY_STATE:
            vm = docs.VM_WORDS[state_cell.lower()]
            listed = tuple(docs.words(commands_cell))
            allowed = tuple(c for c in docs.COMMAND_WORDS
                            if any(self.accepted_idle(n, vm) for n in docs.COMMAND_WORDS[c]))
            others = tuple(op.name for op in self.view.operations
                           if op.kind is Kind.API and op.name not in known
                           and not op.creates_instance and self.accepted_idle(op.name, vm))
            rows.append(StateRow(
                state_cell, vm, listed, allowed,
                tuple(c for c in listed if c not in allowed),
                tuple(c for c in allowed if c not in listed), others))
        return rows

    # -- the page's diagram --

    def diagram(self) -> list[DiagramRow]:
        drawn = {(docs.VM_WORDS[a], docs.VM_WORDS[b]) for a, b in docs.DIAGRAM_EDGES}
        model: dict[tuple[VmState, VmState], set[str]] = {}
        for run in self.view.runs:
            op = self.ops[run.operation]
            if run.start is None and op.creates_instance and not run.failed:
                # creation: the API step makes the instance in its first vm_state
                first = op.api.outcomes[0].branches[0].vm
                run = dataclasses.replace(run, start=first, idle=True)
            if (run.failed or not run.idle or run.start is None or op.kind is not Kind.API
                    or op.admin_only and op.guard is not None and op.guard.vm_states is None):
                continue
            if run.start == run.end and not op.task_states_written:
                continue
            model.setdefault((run.start, run.end), set()).add(run.operation)
        # The page says every state may go to deleted and error: those are not drawn.
        implied = set(docs.DIAGRAM_NOTE_TARGETS)
        pairs = drawn | {p for p in model if p[1] not in implied}
        rows = []
        for a, b in sorted(pairs, key=lambda p: (VM_ORDER[p[0]], VM_ORDER[p[1]])):
            names = tuple(n for n in self.ops if n in model.get((a, b), ()))
            rows.append(DiagramRow(a, b, (a, b) in drawn, names))
        return rows

    def implied_targets(self) -> dict[VmState, tuple[VmState, ...]]:
        """For "all states may go to deleted and error": the states that can't, per target."""
        out = {}
        for target in docs.DIAGRAM_NOTE_TARGETS:
            reach = {r.start for r in self.view.runs
                     if r.end == target and r.start is not None and not r.failed}
            live = {r.start for r in self.view.runs if r.start is not None} - {target}
            out[target] = tuple(sorted(live - reach, key=VM_ORDER.__getitem__))
        return out


def _diff(doc: frozenset, model: frozenset) -> str:
    parts = []
    if doc - model:
        parts.append("only the page: " + vm_list(doc - model))
    if model - doc:
        parts.append("only the model: " + vm_list(model - doc))
    return "; ".join(parts)


def _task_text(tasks) -> str:
    if tasks is None:
        return "any"
    from model.states import TaskState, task_label
    ordered = ([None] if None in tasks else []) + [t for t in TaskState if t in tasks]
    return ", ".join(task_label(t) for t in ordered)
