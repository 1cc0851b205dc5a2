"""The explorer's compiled table is the ``transitions`` machine, not a second one.

``Lifecycle.compiled`` reads the machine's transitions into a table that
``model.graph`` fires directly (and ``Lifecycle.may`` asks). For every machine state
and every trigger, the table lists the machine's transitions in the machine's order,
and firing through either one, from the same instance variables, does the same:
the same refusal, or the same state, power state, guest, host, launch, lock, remembered
vm_state and branch taken.
"""

from __future__ import annotations

import itertools

import pytest
from transitions import MachineError

from model import errors
from model.lifecycle import (
    ADMIN, NEW, USER, CompiledMachine, Lifecycle, MigrationRecord, SimpleWorld,
)
from model.states import MigrationStatus, PowerState, VmState

#: The instance variables the machine's conditions read, in the combinations tried.
POWERS = (PowerState.RUNNING, PowerState.SHUTDOWN, PowerState.PAUSED)
#: the guest: as the power state says (None), or none on the hypervisor
GUESTS = (None, PowerState.PENDING)
OLD_VM_STATES = (None, VmState.ACTIVE, VmState.STOPPED, VmState.ERROR)
HOSTS = ((None, ()), ("A", ()), ("A", ("A",)))  # (instance.host, services down)
MIGRATIONS = (None, MigrationStatus.RUNNING, MigrationStatus.CONFIRMED)
OFFLOAD_TIMES = (0, -1)
#: every combination, for the (state, trigger) pairs with a conditional transition
SETTINGS = tuple(itertools.product(POWERS, OLD_VM_STATES, HOSTS, MIGRATIONS,
                                   OFFLOAD_TIMES, GUESTS))
#: a few, for the pairs whose transitions have no condition (and those with none)
FEW = tuple(itertools.product(POWERS[:2], OLD_VM_STATES[:1], HOSTS, MIGRATIONS[:2],
                              OFFLOAD_TIMES[:1], GUESTS[:1]))


def _place(inst, state, setting, *, locked) -> None:
    power, old, (host, down), migration, offload, guest = setting
    inst.world.down, inst.world.shelved_offload_time = set(down), offload
    inst.state, inst.power_state, inst.old_vm_state, inst.host = state, power, old, host
    inst.guest = power if guest is None else guest
    inst.launched = host is not None
    inst.locked, inst.locked_by = locked, ("owner" if locked else None)
    inst.migration = None
    if migration is not None:
        inst.migration = MigrationRecord("m", "i", None, migration, "A", "B")
    inst.last_branch = None


def _variables(inst) -> tuple:
    m = inst.migration
    return (inst.state, inst.power_state, inst.guest, inst.host, inst.launched, inst.locked,
            inst.locked_by, inst.old_vm_state, inst.last_branch,
            None if m is None else m.status)


def _fire_machine(lc, inst, trigger, kwargs) -> bool:
    try:
        return lc.machine.events[trigger].trigger(inst, **kwargs)
    except MachineError:
        return False


@pytest.fixture(scope="module")
def pairs(lc):
    states = [NEW, *lc.states]
    return [(state, trigger) for state in states for trigger in sorted(lc.triggers)]


def test_the_table_lists_the_machines_transitions_in_order(lc, pairs):
    table = lc.compiled
    for state, trigger in pairs:
        machine = lc.machine.events[trigger].transitions.get(state, [])
        compiled = table.transitions_from(state, trigger)
        assert [t for t, *_ in compiled] == list(machine), (state, trigger)
        assert [dest for _, dest, *_ in compiled] == [t.dest for t in machine]


@pytest.fixture
def instance(lc):
    inst = lc.new_instance("i", SimpleWorld())
    yield inst
    lc.forget(inst)


def test_firing_through_the_table_does_what_the_machine_does(lc, pairs, instance):
    table = lc.compiled
    compared = fired = 0
    for state, trigger in pairs:
        transitions = lc.machine.events[trigger].transitions.get(state, [])
        conditional = any(t.conditions for t in transitions)
        for setting in SETTINGS if conditional else FEW if transitions else FEW[:1]:
            for ctx in ((ADMIN, USER) if trigger.startswith("lock.") else (ADMIN,)):
                kwargs = {"ctx": ctx, "dest": "B", "source": "A"}
                results = []
                for fire in (lambda i: _fire_machine(lc, i, trigger, kwargs),
                             lambda i: table.fire(i, trigger, kwargs)):
                    _place(instance, state, setting, locked=ctx is USER)
                    may = lc.may(*trigger.split("."), instance)
                    results.append((fire(instance), may, _variables(instance)))
                assert results[0] == results[1], (state, trigger, setting, ctx)
                assert results[0][0] == results[0][1], ("may", state, trigger, setting)
                compared += 1
                fired += results[0][0]
    # every pair was compared, and a good share of the comparisons fired a transition
    assert compared >= len(pairs) and fired > len(lc.specs)


def test_a_machine_with_features_the_table_leaves_out_is_refused(lc):
    """A callback the table would not run (here a prepare callback) is refused, not
    skipped: the table and the machine cannot silently differ."""
    lifecycle = Lifecycle(lc.catalogue)
    trigger = sorted(lifecycle.triggers)[0]
    source = next(iter(lifecycle.machine.events[trigger].transitions))
    lifecycle.machine.events[trigger].transitions[source][0].prepare.append(
        lambda event: None)
    with pytest.raises(errors.NovaModelError, match="cannot compile"):
        CompiledMachine(lifecycle.machine)
