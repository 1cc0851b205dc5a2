"""States the search has reached, saved by the rule calls that reached them.

Hypothesis makes most runs by changing an earlier run part-way through, so a new run
often repeats the first steps of one already made: in a 100-run search about half of
all steps repeat a prefix that some earlier run took. The machine is deterministic
(its only randomness is the cluster's own seeded ``random.Random``, part of its
state), so the state after a prefix of rule calls is a function of that prefix.
``StateMemo`` saves it once, after the invariants have passed on it; a later run
that makes the same calls in the same order resumes from the saved state instead
of computing it again, and is checked again from its first new step on.

A saved state is keyed by the state it came from and the call that left it:
``(parent id, rule name, argument values)``. The rules draw nothing inside their
bodies (every choice is a rule argument), which is what makes a skipped call safe:
it would have drawn nothing either. One memo serves one search: the states are
only valid for the machine class, configuration and catalogue that made them, and
the search's coverage records (the "sometimes" checks) were taken when each state
was first reached, in the same search.

The memo is bounded (least recently used states are dropped first): Hypothesis
mutates recent runs, so the states worth keeping are recent ones.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable

#: The id of the state every run starts from (a fresh machine).
ROOT = 0


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

    def __init__(self, capacity: int = 4096, verify: bool = False) -> None:
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
