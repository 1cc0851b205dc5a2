"""Where running Nova can be held in the middle of a chain.

Nova runs a request's chain by itself: each service casts the next step to the next
service as soon as its own step ends. A scenario that sends a request (or a host event,
a periodic task, an operator's change) while the model still holds a chain's next step
needs Nova stopped at that step. The harness does it by *holding the cast*: the Nova
method that receives the step's RPC cast (a ``ComputeManager`` or
``ComputeTaskManager`` endpoint) is wrapped, and its first call for the held instance
waits, before any of the method's own code runs, until the scenario delivers that step
(``nova_side._Gate``). The racing step is sent only once Nova has reached the hold;
the held step runs as soon as the model delivers it.

A hold is declared per (operation, step) (``HELD``); its gate, the endpoint whose
cast *is* the step in Nova, is the handler the catalogue cites for the step's entry
(``Step.entry``), not written a second time. A step whose work starts inside another step's code (a call within the same
handler, the driver's own thread) has no gate: a scenario that races it is "not
reproducible in Nova", with the reason below. Requests whose API calls the conductor
synchronously (``ComputeTaskAPI.live_migrate_instance`` without ``async_``, a build)
cannot be held at the conductor either: the API request itself would wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.catalogue import CATALOGUE
from model.operation import Entered


@dataclass(frozen=True)
class Gate:
    """The step is the RPC cast to ``target`` (a dotted path to the Nova method)."""

    target: str
    nova: str  # why that cast is the step


@dataclass(frozen=True)
class NoGate:
    """Nova cannot be held before this step; ``reason`` says why."""

    reason: str


#: The services whose endpoints a catalogue handler names (``model.catalogue``'s ``CM``
#: and ``COND``), as the dotted paths of their Nova classes.
ENDPOINT_CLASSES = {
    "CM": "nova.compute.manager.ComputeManager",
    "COND": "nova.conductor.manager.ComputeTaskManager",
}

#: The steps a scenario may race, each held at the RPC endpoint its catalogue entry
#: (``Step.entry``) names: the cast that *is* the step in Nova. A held step is listed
#: once here; its endpoint and why it is that cast are read off the catalogue.
HELD: tuple[tuple[str, str], ...] = (
    ("soft_delete", "soft_delete"),
    ("delete", "terminate"),
    ("force_delete", "terminate"),
    *((op, step) for op in ("resize", "migrate")
      for step in ("schedule", "prep_resize", "resize_migrating", "resize_finish")),
    ("evacuate", "schedule"),
    ("evacuate", "rebuilding"),
    ("rebuild", "rebuilding"),
    ("live_migrate", "schedule"),
    ("live_migrate", "pre_live_migration"),
    ("revert_resize", "revert_resize"),
    ("revert_resize", "finish_revert_resize"),
    ("confirm_resize", "confirm"),
    ("restore", "restore"),
    ("start", "power_on"),
    ("stop", "power_off"),
    ("unshelve", "powering_on"),
    ("unshelve", "unshelve"),
    ("unshelve", "power_on"),
    ("unshelve", "spawning"),
)

#: Held steps whose hold is at another step's endpoint, with why: Nova's source
#: handler (``CM.live_migration``, cast by ``LiveMigrationTask._execute``) receives its
#: cast before it calls the destination's ``pre_live_migration``, which the catalogue
#: delivers first (the migration is still ``queued`` there, as in the model).
HELD_AT: dict[tuple[str, str], tuple[str, str]] = {
    ("live_migrate", "pre_live_migration"): (
        "live_migration",
        "whose CM._do_live_migration calls pre_live_migration on the destination first"),
}


def endpoint(handler: str) -> str:
    """The dotted path of the Nova method a catalogue entry's handler names
    (``"CM.prep_resize (cast by ...)"`` -> ``nova.compute.manager.ComputeManager.prep_resize``)."""
    name = handler.split(" ", 1)[0]
    service, _, method = name.partition(".")
    if service not in ENDPOINT_CLASSES or not method or "." in method:
        raise ValueError(f"{handler!r} names no ComputeManager or ComputeTaskManager method")
    return f"{ENDPOINT_CLASSES[service]}.{method}"


def _gate(operation: str, step: str) -> Gate:
    at, why = HELD_AT.get((operation, step), (step, ""))
    entry = CATALOGUE[operation].step(at).entry
    if entry.kind is not Entered.RPC:
        raise ValueError(f"{operation}.{at} is not entered by a message ({entry.kind.name})")
    return Gate(endpoint(entry.handler), " ".join(filter(None, (entry.handler, why))))


#: Every hold, derived: (operation, step) -> the gate.
GATES: dict[tuple[str, str], Gate] = {key: _gate(*key) for key in HELD}


def gate(operation: str, step: str) -> Gate | NoGate:
    """How Nova is held before ``operation.step``: its gate, or why there is none (a
    step the catalogue declares entered inside its handler, ``Step.entry``, has no cast
    of its own)."""
    if (operation, step) in GATES:
        return GATES[(operation, step)]
    entry = CATALOGUE[operation].step(step).entry if operation in CATALOGUE else None
    if entry is not None and entry.kind is Entered.HANDLER:
        return NoGate(f"{operation}.{step} goes on inside the same handler ({entry.handler}), "
                      "with no cast of its own to hold")
    return NoGate(
        f"no hold is declared for {operation}.{step} (nova_model/conformance/holds.py)")
