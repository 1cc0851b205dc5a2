"""States the search has reached, saved by the rule calls that reached them.

Hypothesis makes most runs by changing an earlier run part-way through, so a new run
often repeats the first steps of one already made: in the benchmark's 100-run
searches 42% of all steps repeat calls an earlier run made. The machine is
deterministic (its only randomness is the cluster's own seeded ``random.Random``,
part of its state), so the state after a prefix of rule calls is a function of that
prefix.
``StateMemo`` saves it once, after the invariants have passed on it; a later run
that makes the same calls in the same order resumes from the saved state instead
of computing it again, and is checked again from its first new step on.

A saved state is keyed by the state it came from and the call that left it:
``(parent id, rule name, argument values)``. The rules draw nothing inside their
bodies (every choice is a rule argument), which is what makes a skipped call safe:
it would have drawn nothing either. (A rule that drew inside its body would make
Hypothesis's choices differ between runs, which it reports as flaky.) One memo
serves one search: the states are only valid for the machine class, configuration
and catalogue that made them, and the search's coverage records (the "sometimes"
checks) were taken when each state was first reached, in the same search.

The memo is bounded (least recently used states are dropped first): Hypothesis
mutates recent runs, so the states worth keeping are recent ones.

``resumable`` (in ``machine.py``, with the resume state it reads) wraps each rule of
``ClusterMachine``; ``MachineState`` is what the
machine saves; ``state_differences`` is what a verifying memo (``verify=True``, for
tests) checks when it computes a saved step again from its parent's saved state.
"""

from __future__ import annotations

import marshal
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable, NamedTuple

#: The id of the state every run starts from (a fresh machine).
ROOT = 0
#: States a search keeps: Hypothesis makes most new runs from the run it made last, so
#: a little more than one run's states is enough (the benchmark's searches resumed
#: 13,850 of their 33,328 steps with 256 states, 15,180 with 4,096, 843 with 32).
CAPACITY = 256


@dataclass(frozen=True, slots=True)
class Saved:
    """A state reached by a prefix of rule calls: ``state`` is what the machine needs
    to resume there, ``result`` what the last call returned (what it added to the
    bundles)."""

    id: int
    state: Any
    result: Any


class StateMemo:
    """Saved states of one search, by ``(parent id, rule, arguments)``."""

    def __init__(self, capacity: int = CAPACITY, verify: bool = False) -> None:
        if capacity < 1:
            raise ValueError(f"a memo holds at least one state, not {capacity}")
        self.capacity = capacity
        #: compute every step even when it was saved, and check that the state computed
        #: is the state saved (for tests: resuming must be the same as computing)
        self.verify = verify
        self._saved: OrderedDict[Hashable, Saved] = OrderedDict()
        self._last_id = ROOT
        #: steps resumed from a saved state, steps computed (of which, when verifying,
        #: checked against a saved state), states dropped
        self.resumed = 0
        self.computed = 0
        self.verified = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._saved)

    def get(self, key: Hashable) -> Saved | None:
        saved = self._saved.get(key)
        if saved is not None:
            self._saved.move_to_end(key)
        return saved

    def put(self, key: Hashable, state: Any, result: Any) -> int:
        """Save the state ``key`` reached; its id, the parent of the calls after it."""
        self._last_id += 1
        self._saved[key] = Saved(self._last_id, state, result)
        if len(self._saved) > self.capacity:
            self._saved.popitem(last=False)
            self.dropped += 1
        return self._last_id

    def summary(self) -> dict[str, int]:
        out = {"steps resumed from saved states": self.resumed,
               "steps computed": self.computed,
               "states saved now": len(self._saved), "states dropped": self.dropped}
        if self.verify:
            out["steps checked against a saved state"] = self.verified
        return out


class MachineState(NamedTuple):
    """What a run has reached after a step, saved to resume from (``StateMemo``).

    The trace is kept as what this step added to its parent's (a run's states share
    their common trace instead of each holding a copy of it), its lines already put
    into words and its scenario steps ``marshal``-ed: plain values, which the garbage
    collector does not walk (a search keeps hundreds of states).
    """

    parent: "MachineState | None"
    new_steps: bytes  # marshal-ed
    new_lines: tuple  # (words, verdict) pairs
    n_steps: int  # the run's steps and lines up to here
    n_lines: int
    cluster: Any  # model.cluster.FrozenCluster, or None before ``start``
    history: tuple  # the run's placement history (``Coverage.observe``), as items
    fault_weight: int
    faults: int
    peak: float
    moves: int
    focus: tuple[str, ...]
    world_focus: tuple[str, ...]
    flavor_names: tuple[str, ...]
    run_config: Any  # model.config.ClusterConfig, or None before ``start``
    live: bool      # what the preconditions ask, answered without thawing the cluster
    has_work: bool
    aims: bool

    def trace_parts(self) -> tuple[list, list]:
        """The whole run's ``steps`` and ``lines`` up to here."""
        chain = []
        state: MachineState | None = self
        while state is not None:
            chain.append(state)
            state = state.parent
        chain.reverse()
        return ([s for state in chain for s in marshal.loads(state.new_steps)],
                [line for state in chain for line in state.new_lines])


def state_differences(computed: MachineState, saved: MachineState) -> list[str]:
    """Where a state computed again differs from the one saved for the same calls."""
    out = []
    (steps, lines), (saved_steps, saved_lines) = computed.trace_parts(), saved.trace_parts()
    if steps != saved_steps:
        out.append("the scenario steps differ")
    if lines != saved_lines:
        out.append("the trace differs")
    a, b = computed.cluster, saved.cluster
    if (a is None) != (b is None):
        out.append("one state has a cluster, the other none")
    elif a is not None:
        # (the plain values compared as values: marshal's bytes depend on which equal
        # strings happen to be one object)
        out += [f"cluster {field} differs" for field in a._fields
                if field not in ("shared", "plain")
                and getattr(a, field) != getattr(b, field)]
        if marshal.loads(a.plain) != marshal.loads(b.plain):
            out.append("cluster state variables differ")
    out += [f"{field} differs" for field in computed._fields
            if field not in ("parent", "new_steps", "new_lines", "n_steps", "n_lines", "cluster")
            and getattr(computed, field) != getattr(saved, field)]
    return out
