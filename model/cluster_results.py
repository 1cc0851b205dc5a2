"""What the cluster's concerns share: a request's or a delivery's ``Result``, the
bounds of a create, and the helpers and constants several of them use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model import errors
from model.lifecycle import Instance
from model.operation import Alloc, Branch
from model.states import VmState


#: Alloc effects done while scheduling (inside the claim), not after the transition.
SCHEDULING_ALLOCS = frozenset({Alloc.MOVE_SOURCE_TO_MIGRATION, Alloc.CLAIM_DEST,
                               Alloc.CLAIM_DEST_DOUBLED})


#: The most instances the model creates from one request. Nova's own bound is the
#: project's instance quota (``compute_utils.check_num_instances_quota``), which the
#: model does not have; this keeps a mistyped count from creating millions.
MAX_INSTANCES_PER_REQUEST = 100


def create_counts(min_count: Any = None, max_count: Any = None) -> tuple[int, int]:
    """A create's ``(min_count, max_count)`` as ``ServersController.create`` reads them:
    positive integers (the schema's ``positive_integer``), ``min_count`` 1 when absent,
    ``max_count`` ``min_count`` when absent, and ``min_count <= max_count``
    ("min_count must be <= max_count"). Raises InvalidRequest (400)."""
    for name, value in (("min_count", min_count), ("max_count", max_count)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidRequest(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise errors.InvalidRequest(f"{name} must be at least 1, got {value}")
        if value > MAX_INSTANCES_PER_REQUEST:
            raise errors.InvalidRequest(
                f"{name} {value} is more than the model creates from one request "
                f"({MAX_INSTANCES_PER_REQUEST}; Nova's bound is the project's quota)")
    low = 1 if min_count is None else min_count
    high = low if max_count is None else max_count
    if low > high:
        raise errors.InvalidRequest(f"min_count must be <= max_count (min_count {low} > "
                                    f"max_count {high})")
    return low, high


#: ``GroupRace.moving`` of a member's own move forced onto a host (the scheduler's
#: group filters never saw it)
FORCED_PAST_THE_FILTERS = "forced past the group filters"


@dataclass(frozen=True)
class Result:
    """What a request, a delivery or an event did."""

    accepted: bool
    #: why a request was refused; on an accepted request, the error its answer carried
    #: after the API's writes (errors.NoHostForInstance)
    error: errors.NovaModelError | None = None
    detail: str = ""
    instance: str | None = None
    branch: Branch | None = field(default=None, compare=False, repr=False)


def vm_of(inst: Instance) -> tuple[VmState, Any] | None:
    """The instance's (vm_state, task_state); None for one the API is still creating."""
    return None if inst.state == "new" else (inst.vm_state, inst.task_state)


def detached(exc: BaseException) -> BaseException:
    """The error without its traceback. A Result keeps it; with its traceback it
    would hold the frames that raised it (and their callers) in a reference cycle
    that only the garbage collector frees, once per rejected request."""
    return exc.with_traceback(None)
