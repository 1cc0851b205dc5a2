"""Variants of the catalogue: the one way to change the model without a switch in it.

A variant is a copy of the catalogue with some operations rewritten (a guard that
admits more states, an outcome whose branches lose a resource effect ...). The
seeded faults, the proposals ``nova-model review`` compares with the baseline and
the users of the pytest plugin all build their variants here, so that a change to
the model is always expressed against the same declaration ``model.catalogue``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from model.catalogue import CATALOGUE
from model.lifecycle import Lifecycle
from model.operation import Alloc, Branch, Operation, Step


def edit_steps(op: Operation, step: str, edit: Callable[[Step], Step]) -> Operation:
    """``op`` with its step ``step`` (``"api"`` for the API step) rewritten by ``edit``."""
    if step not in op.all_steps:
        raise KeyError(f"{op.name} has no step {step!r}")
    def rewrite(s: Step) -> Step:
        return edit(s) if s.name == step else s
    return dataclasses.replace(op, api=rewrite(op.api), steps=tuple(rewrite(s) for s in op.steps))


def edit_branches(op: Operation, step: str, outcome: str,
                  edit: Callable[[Branch], Branch]) -> Operation:
    """``op`` with every branch of ``step``'s ``outcome`` rewritten by ``edit``."""
    op.step(step).outcome(outcome)  # (a KeyError naming what is missing)
    return edit_steps(op, step, lambda s: step_with_branches(s, outcome, edit))


def step_with_branches(step: Step, outcome: str, edit: Callable[[Branch], Branch]) -> Step:
    """``step`` with every branch of its ``outcome`` rewritten by ``edit``."""
    return dataclasses.replace(step, outcomes=tuple(
        dataclasses.replace(o, branches=tuple(edit(b) for b in o.branches))
        if o.name == outcome else o for o in step.outcomes))


def without(effect: Alloc) -> Callable[[Branch], Branch]:
    """A branch edit: the branch no longer has the resource effect ``effect``."""
    return lambda b: dataclasses.replace(b, alloc=tuple(a for a in b.alloc if a is not effect))


def with_guard(op: Operation, **changes) -> Operation:
    """``op`` whose guard has ``changes`` (``vm_states``, ``task_states``, ``checks`` ...)."""
    return dataclasses.replace(op, guard=dataclasses.replace(op.guard, **changes))


def variant(base: Mapping[str, Operation] = CATALOGUE, /, **operations: Operation) -> Lifecycle:
    """The lifecycle of ``base`` (the catalogue by default) with ``operations`` replaced."""
    unknown = sorted(set(operations) - set(base))
    if unknown:
        raise KeyError(f"the catalogue has no operation {unknown[0]!r}")
    return Lifecycle({**base, **operations})
