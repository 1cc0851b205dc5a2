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

A gate is declared per (operation, step): the endpoint whose cast *is* the step in
Nova. A step whose work starts inside another step's code (a call within the same
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


_CM = "nova.compute.manager.ComputeManager."
_CTM = "nova.conductor.manager.ComputeTaskManager."


def _cold_move(op: str) -> dict[tuple[str, str], Gate | NoGate]:
    return {
        (op, "schedule"): Gate(_CTM + "migrate_server",
                               "API.resize casts migrate_server to the conductor "
                               "(ComputeTaskAPI.resize_instance, do_cast=True)"),
        (op, "prep_resize"): Gate(_CM + "prep_resize",
                                  "MigrationTask._execute casts prep_resize to the "
                                  "destination"),
        (op, "resize_migrating"): Gate(_CM + "resize_instance",
                                       "CM._prep_resize casts resize_instance to the source"),
        (op, "resize_finish"): Gate(_CM + "finish_resize",
                                    "CM._resize_instance casts finish_resize to the "
                                    "destination"),
    }


GATES: dict[tuple[str, str], Gate | NoGate] = {
    ("soft_delete", "soft_delete"): Gate(_CM + "soft_delete_instance",
                                         "API._do_soft_delete casts soft_delete_instance"),
    ("delete", "terminate"): Gate(_CM + "terminate_instance",
                                  "API._do_delete casts terminate_instance"),
    ("force_delete", "terminate"): Gate(_CM + "terminate_instance",
                                        "API._do_delete casts terminate_instance"),
    **_cold_move("resize"),
    **_cold_move("migrate"),
    ("evacuate", "schedule"): Gate(_CTM + "rebuild_instance",
                                   "API.evacuate casts rebuild_instance to the conductor "
                                   "(ComputeTaskAPI.rebuild_instance)"),
    ("evacuate", "rebuilding"): Gate(_CM + "rebuild_instance",
                                     "ComputeTaskManager.rebuild_instance casts "
                                     "rebuild_instance to the destination"),
    ("live_migrate", "schedule"): Gate(_CTM + "live_migrate_instance",
                                       "API.live_migrate casts live_migrate_instance to "
                                       "the conductor (async_=True)"),
    ("live_migrate", "pre_live_migration"): Gate(
        _CM + "live_migration",
        "LiveMigrationTask._execute casts live_migration to the source, whose "
        "_do_live_migration calls pre_live_migration on the destination first"),
    ("revert_resize", "revert_resize"): Gate(_CM + "revert_resize",
                                             "API.revert_resize casts revert_resize to "
                                             "the destination"),
    ("revert_resize", "finish_revert_resize"): Gate(
        _CM + "finish_revert_resize",
        "CM.revert_resize casts finish_revert_resize to the source"),
    ("confirm_resize", "confirm"): Gate(_CM + "confirm_resize",
                                        "API.confirm_resize casts confirm_resize to the "
                                        "source"),
}


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
