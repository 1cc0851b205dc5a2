"""What a fault declaration is made of (``faults.py`` and the three tables use it).

A module of its own so that the tables (``faults_basic``, ``faults_moves``,
``faults_live_evacuate``) and ``faults.fault_map``, which merges them, import one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


#: the move claim's test (RT._move_claim builds a MoveClaim after it has written the
#: destination to the migration): where a move claim that does not fit fails
MOVE_CLAIM_TEST = "nova.compute.claims.MoveClaim._test_numa_topology"


@dataclass(frozen=True)
class Fault:
    """Make ``target`` raise ``raises`` (the first ``times`` calls) while the chain runs.

    ``target`` is a dotted path to a class attribute or module function Nova calls at
    the step, e.g. ``nova.virt.fake.FakeDriver.power_on``. ``raises`` is a dotted path
    to an exception class; ``kwargs`` are passed to it. ``wraps`` names an exception
    class to construct first and pass as ``inner_exception`` (InstanceFaultRollback).
    ``nova`` cites the Nova function whose handling gives the declared outcome.
    ``guest_off`` also shuts the fake guest off before raising: a driver that fails and
    leaves the guest down (the fake driver's failures leave it as it was). ``guest_on``
    starts the fake guest before raising: a driver that fails and leaves the guest
    running, whatever it was before (an earlier suspend, or a reset-state, can leave
    the fake guest off while the instance's record says otherwise).
    """

    target: str
    raises: str
    nova: str
    kwargs: Mapping[str, object] = field(default_factory=dict)
    wraps: str | None = None
    times: int = 1
    note: str = ""
    guest_off: bool = False
    guest_on: bool = False


@dataclass(frozen=True)
class NotInjectable:
    """An outcome the harness cannot force in Nova, and why."""

    reason: str


FaultMap = Mapping[tuple[str, str, str], "Fault | NotInjectable"]
