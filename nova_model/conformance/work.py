"""Nova's work in flight, counted where it starts and where it ends.

The harness compares Nova with the model at quiescent points. Nova is quiescent when no
work of its own is left: no message waits in the queue of a service that listens, no
RPC handler runs, no task a service spawned on its executors is unfinished. Only then
can what Nova shows no longer change by itself. A quiet spell (what Nova shows
unchanged for a while) is no such proof: on a loaded machine one scheduling decision
can take longer than any spell chosen.

``Work`` is the count; ``nova_side`` feeds it from the places Nova's work passes
through in its functional environment (the fake transport's queues and listeners,
oslo.messaging's RPC server, ``nova.thread_pool_factory.spawn_on``). It knows nothing
of Nova, so it is tested on its own.

A unit of work is *held* while its thread waits at one of the harness's holds (a held
cast, a live migration the driver holds): Nova waits there for the scenario, not for
itself. It counts again the moment the hold lets it go (the hold's ``holding`` turns
false), not when its thread next wakes.

``wait_for_rest`` waits until no unit is in flight, then observes; an observation during
which new work began is not taken. Work still in flight after the time limit is said
by name: a Nova that never finishes its work is reported, never compared as if it
were at rest.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator


@dataclass(eq=False)
class Unit:
    """One piece of Nova's work: a message taken off a queue until its handler returns,
    or a spawned task until its future is done."""

    label: str
    epoch: int
    thread: int | None = None   # the thread running it, once it runs


class Work:
    """Every unit of Nova's work begun and not yet ended, and the queues that feed them.

    ``queued`` names the messages still waiting in the queue of a listening service (a
    stopped service's queue keeps its messages: nobody will take them until it starts
    again, so they are not in flight). ``reset`` starts a new epoch: what is left of a
    previous cluster's work is not counted, and ends nothing of the new one.
    """

    def __init__(self, queued: Callable[[], Iterable[str]] = lambda: ()):
        self.queued = queued
        self.epoch = 0
        self.open: dict[int, Unit] = {}
        self.held: dict[int, Callable[[], bool]] = {}
        self.begun = 0              # units begun by any thread but the observer's
        self.observer: int | None = None

    def reset(self, queued: Callable[[], Iterable[str]] | None = None) -> None:
        self.epoch += 1
        self.open.clear()
        self.held.clear()
        self.begun = 0
        if queued is not None:
            self.queued = queued

    def begin(self, label: str) -> Unit:
        unit = Unit(label, self.epoch)
        self.open[id(unit)] = unit
        if threading.get_ident() != self.observer:
            self.begun += 1
        return unit

    def end(self, unit: Unit) -> None:
        if unit.epoch == self.epoch:
            self.open.pop(id(unit), None)

    @contextmanager
    def running(self, unit: Unit) -> Iterator[None]:
        """``unit`` runs in this thread until the block ends (its end may come later,
        a future's callback)."""
        unit.thread = threading.get_ident()
        try:
            yield
        finally:
            unit.thread = None

    @contextmanager
    def holding(self, still: Callable[[], bool]) -> Iterator[None]:
        """This thread waits at a harness hold while ``still()`` is true."""
        me = threading.get_ident()
        self.held[me] = still
        try:
            yield
        finally:
            self.held.pop(me, None)

    def _is_held(self, unit: Unit) -> bool:
        still = self.held.get(unit.thread) if unit.thread is not None else None
        return still is not None and still()

    def in_flight(self) -> list[str]:
        """What Nova still has to do by itself: queued messages, then open units."""
        return [*(f"queued {q}" for q in self.queued()),
                *sorted(u.label for u in list(self.open.values()) if not self._is_held(u))]


def wait_for_rest(work: Work, observe: Callable[[], Any], *, timeout: float,
                  poll: float = 0.02, clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep
                  ) -> tuple[Any, float, list[str]]:
    """Observe Nova once it is at rest: ``(observation, seconds waited, in flight)``.

    At rest: nothing in flight before the observation nor after it, and no unit begun
    meanwhile by another thread than the observer's (the observation saw one state of
    Nova; what the observation's own requests spawn ends with them). After ``timeout`` seconds the
    observation is returned with what is still in flight, which is then not empty.
    """
    start = clock()
    work.observer = threading.get_ident()
    while True:
        sleep(poll)
        busy = work.in_flight()
        if not busy:
            begun = work.begun
            seen = observe()
            busy = work.in_flight()
            if not busy and work.begun == begun:
                return seen, clock() - start, []
        if clock() - start > timeout:
            seen = observe()
            return seen, clock() - start, work.in_flight() or busy
