"""One scheduling decision written down as data, for whoever audits it afterwards.

The cluster (``model/cluster.py``) records each time it asks for a destination:
what it asked (the request spec), what the scheduler saw (the host states passed to
``select_destinations``, which are immutable values built afresh for each request),
what Placement held at that moment (a private copy of the ledger, taken after any
allocation move that precedes the choice), the configuration, and the answer (the
chosen host, or NoValidHost and its reason). Nothing here judges the decision; the
record changes nothing the cluster does.

The kinds are the different paths of Nova's conductor:

* ``FILTER``: the filter scheduler (``SchedulerManager.select_destinations``):
  placement candidates, every enabled filter, weighing, then the claim;
* ``FORCED``: a forced destination (``force=True`` with a host on live migration or
  evacuation): Nova's conductor claims on the host without asking the scheduler;
* ``ALTERNATE``: a reschedule of a build (``ComputeTaskManager.build_instances``)
  claims the next alternate the first decision returned, without filtering again;
* ``REBUILD``: ``ComputeTaskManager.rebuild_instance`` asks the scheduler whether a
  new image may run on the instance's own host (``_nova_check_type=['rebuild']``:
  no Placement, only the filters that run on rebuild);
* ``ALLOCATION_MOVE``: the conductor's hand-over of a move's source allocation to the
  migration (``replace_allocation_with_migration``: one POST /allocations, ``batch``),
  recorded only when Placement refused it (AllocationMoveFailed, which ends the move
  before the scheduler is asked), with the ledger as it stood before the write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model.scheduler.config import SchedulerConfig
from model.scheduler.host_state import HostState
from model.scheduler.request import RequestSpec

if TYPE_CHECKING:
    from model.placement import Ledger

FILTER = "filter"
FORCED = "forced"
ALTERNATE = "alternate"
REBUILD = "rebuild"
ALLOCATION_MOVE = "allocation_move"
KINDS = (FILTER, FORCED, ALTERNATE, REBUILD, ALLOCATION_MOVE)


@dataclass(frozen=True, eq=False, repr=False)
class SchedulingDecision:
    """What was asked, what was seen and what was answered, at the moment of choice.

    ``chosen`` is the host the scheduler (or the conductor, for forced hosts and
    alternates) settled on, None when it answered NoValidHost; ``reason`` is the
    NoValidHost reason, also set when a host was chosen but its claim then failed
    (the legacy scheduler claims only after choosing). ``claim_failed`` lists, in the
    order tried, the hosts whose Placement claim was refused. ``claims`` are the
    branch's claim effects (``Alloc.CLAIM_DEST`` replaces what the ``consumer``
    holds, ``Alloc.CLAIM_DEST_DOUBLED`` adds to it); ``ledger`` is a private copy
    that nobody writes to.

    ``memo`` is a cache for readers: the record never changes, so a verdict about it
    computed once holds for good. It takes no part in the cluster's state.
    """

    kind: str
    operation: str
    step: str
    consumer: str
    config: SchedulerConfig
    chosen: str | None
    reason: str | None = None
    spec: RequestSpec | None = None
    hosts: tuple[HostState, ...] = ()
    ledger: "Ledger | None" = None
    claims: tuple[Any, ...] = ()
    claim_failed: tuple[str, ...] = ()
    #: the write refused, for ALLOCATION_MOVE: (consumer, its new allocations) pairs
    batch: tuple[tuple[str, Any], ...] = ()
    memo: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown scheduling decision kind {self.kind!r}")

    @property
    def no_valid_host(self) -> bool:
        """Whether the request ended in NoValidHost (at the scheduler or at the claim)."""
        return self.reason is not None

    @property
    def mode(self) -> str:
        return self.config.mode

    def __repr__(self) -> str:
        return f"SchedulingDecision({self.describe()})"

    def describe(self) -> str:
        answer = (f"chose {self.chosen}" if self.chosen and not self.reason
                  else f"chose {self.chosen}, then NoValidHost: {self.reason}" if self.chosen
                  else f"NoValidHost: {self.reason}")
        return f"{self.operation}.{self.step} for {self.consumer} ({self.kind}): {answer}"
