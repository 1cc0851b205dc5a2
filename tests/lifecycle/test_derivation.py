"""One source of truth: the machine, the guard table and the legal set agree with
the catalogue, and the catalogue's guards agree with Nova's decorators."""

from __future__ import annotations

import ast
import dataclasses
import json
import pathlib

import pytest

import model
from lifecycle_support import make_instance
from model import errors
from model.catalogue import API_OPERATIONS, CATALOGUE
from model.guard_table import guard_json, guard_table
from model.lifecycle import NEW, STATE_PAIRS, USER, Lifecycle, SimpleWorld, state_name
from model.operation import Kind
from model.states import MigrationStatus, PowerState, TaskState, VmState
from nova_expected import NOVA

MODEL_DIR = pathlib.Path(model.__file__).resolve().parent


def _catalogue_guard_passes(op, vm, task) -> bool:
    if vm is VmState.DELETED:
        return False
    g = op.guard
    if g is None:
        return True
    return ((g.vm_states is None or vm in g.vm_states)
            and (g.task_states is None or task in g.task_states))


def _nova_state_check_passes(name, vm, task) -> bool:
    if vm is VmState.DELETED:
        return False
    g = NOVA[name]
    task_s = None if task is None else task.value
    return ((g.vm is None or vm.value in g.vm) and (g.task is None or task_s in g.task))


# --- the guard table -----------------------------------------------------------------

def test_guard_table_is_computed_from_the_catalogue_records():
    expected = {}
    for op in API_OPERATIONS:
        g = op.guard
        expected[op.name] = {
            "api_method": op.api_method,
            "vm_states": (None if g is None or g.vm_states is None
                          else [v.value for v in VmState if v in g.vm_states]),
            "task_states": ("any" if g is None or g.task_states is None else
                            ([None] if None in g.task_states else [])
                            + [t.value for t in TaskState if t in g.task_states]),
            "must_have_launched": bool(g and g.must_have_launched),
            "check_instance_lock": bool(g and g.check_instance_lock),
            "check_instance_host": ({"check_is_up": g.check_is_up}
                                    if g is not None and g.check_instance_host else None),
        }
    assert guard_table() == {"operations": expected}
    assert json.loads(guard_json()) == {"operations": expected}


def test_guard_table_agrees_with_nova():
    table = guard_table()["operations"]
    for name, g in NOVA.items():
        rec = table[name]
        want_vm = None if g.vm is None else sorted(g.vm)
        got_vm = None if rec["vm_states"] is None else sorted(rec["vm_states"])
        assert got_vm == want_vm, name
        want_task = "any" if g.task is None else set(g.task)
        got_task = "any" if rec["task_states"] == "any" else set(rec["task_states"])
        assert got_task == want_task, name
        assert rec["check_instance_lock"] == ("lock" in g.checks), name
        want_host = ({"check_is_up": True} if "host_up" in g.checks
                     else {"check_is_up": False} if "host" in g.checks else None)
        assert rec["check_instance_host"] == want_host, name
        if "state" in g.checks:
            assert rec["must_have_launched"] == g.launched, name


# --- the machine ---------------------------------------------------------------------

def test_machine_states_are_the_projection_of_the_legal_set(lc):
    projected = {state_name(vm, task) for vm, task, _ in lc.legal}
    assert set(lc.machine.states) - {NEW} == projected
    assert set(lc.states) == projected


def test_every_machine_trigger_is_a_catalogue_outcome_and_back(lc):
    declared = {f"{op.name}.{step.name}.{outcome.name}"
                for op in CATALOGUE.values() for step in op.all_steps.values()
                for outcome in step.outcomes}
    assert set(lc.machine.events) == declared
    assert lc.triggers == declared
    for spec in lc.specs:
        op = CATALOGUE[spec.operation]
        op.step(spec.step).outcome(spec.outcome)  # raises if unknown
        assert spec.source in lc.machine.states and spec.dest in lc.machine.states


@pytest.mark.parametrize("op", [o for o in API_OPERATIONS if not o.creates_instance],
                         ids=lambda o: o.name)
def test_api_sources_are_exactly_where_the_guard_passes(lc, op):
    sources = lc.api_sources[op.name]
    for state in lc.states:
        vm, task = STATE_PAIRS[state]
        assert (state in sources) == _catalogue_guard_passes(op, vm, task), state
        assert (state in sources) == _nova_state_check_passes(op.name, vm, task), state


def test_create_leaves_only_from_new(lc):
    assert lc.api_sources["create"] == frozenset({NEW})


def test_every_api_operation_has_an_api_transition(lc):
    assert set(lc.api_sources) >= {op.name for op in API_OPERATIONS}


def test_legal_set_contains_the_boot_and_every_idle_vm_state(lc):
    assert (VmState.BUILDING, TaskState.SCHEDULING, PowerState.PENDING) in lc.legal
    idle_vms = {vm for vm, task, _ in lc.legal if task is None}
    assert idle_vms == set(VmState)


# --- no state names outside model/states.py ------------------------------------------

STATE_STRINGS = ({v.value for v in VmState} | {t.value for t in TaskState}
                 | {p.label for p in PowerState} | {m.value for m in MigrationStatus})


@pytest.mark.parametrize("source", ["lifecycle.py", "graph.py", "guard_table.py",
                                    "explain.py"])
def test_no_state_name_literals(source):
    """A string constant that *is* a state name (or a ``vm|task`` machine-state name)."""
    tree = ast.parse((MODEL_DIR / source).read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            parts = text.split("|")
            if text in STATE_STRINGS or (len(parts) == 2 and parts[0] in STATE_STRINGS):
                found.append((node.lineno, text))
    assert not found, f"{source} spells state names: {found}"


# --- a Lifecycle is a value -----------------------------------------------------------

def test_two_lifecycles_from_different_catalogues_run_side_by_side():
    pause = CATALOGUE["pause"]
    variant = dict(CATALOGUE)
    variant["pause"] = dataclasses.replace(
        pause, guard=dataclasses.replace(pause.guard,
                                         vm_states=pause.guard.vm_states | {VmState.STOPPED}))
    stock, loose = Lifecycle(), Lifecycle(variant)
    stopped = state_name(VmState.STOPPED, None)
    assert stopped in loose.api_sources["pause"]
    assert stopped not in stock.api_sources["pause"]

    world = SimpleWorld()
    a = make_instance(stock, "stopped", world=world)
    b = make_instance(loose, "stopped", world=world)
    with pytest.raises(errors.InstanceInvalidState):
        stock.request("pause", a, USER)
    loose.request("pause", b, USER)
    assert (b.vm_state, b.task_state) == (VmState.STOPPED, TaskState.PAUSING)
    loose.deliver("pause", "pause", "ok", b)
    assert b.vm_state is VmState.PAUSED
    # the stock machine and the module-level catalogue are untouched
    with pytest.raises(errors.InstanceInvalidState):
        stock.request("pause", a, USER)
    assert a.state == stopped
    assert CATALOGUE["pause"].guard.vm_states == frozenset({VmState.ACTIVE})
    assert stock.legal != loose.legal or stock.specs != loose.specs
    # each instance is driven by its own machine
    c = make_instance(stock, "active", world=world)
    stock.request("pause", c, USER)
    assert c.task_state is TaskState.PAUSING
    for lc_, inst in ((stock, a), (loose, b), (stock, c)):
        lc_.forget(inst)


def test_api_operations_are_the_api_kind():
    assert {op.name for op in API_OPERATIONS} == {
        op.name for op in CATALOGUE.values() if op.kind is Kind.API}
