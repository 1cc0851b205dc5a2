"""The search's rules speak the cluster's actions (``model.actions``), as scenarios do.

Each rule applies actions of the kinds declared for it below, and nothing else; the
rules that only fill bundles apply none. Every kind of action but a ``Settle`` is
applied by some rule (the search delivers a settle's steps one by one, each recorded as
its own ``Deliver``, so that the run replays delivery by delivery). What a rule applies
is recorded as the scenario step of its action, which reads back as the same action.
"""

from __future__ import annotations

import inspect
import sys
from collections import defaultdict

from hypothesis.stateful import INITIALIZE_RULE_MARKER, RULE_MARKER

from model import actions
from model.actions import (
    Deliver, GuestEvent, HostEvent, OperatorChange, Periodic, Request, Settle,
)
from nova_model.search.machine import ClusterMachine
from nova_model.search.run import run_search

#: The kinds of action each rule may apply.
RULE_ACTIONS: dict[str, set[type]] = {
    "start": {Request, Deliver},  # boots the first instances and settles them
    "compute_hosts": set(), "catalogue_flavors": set(), "server_groups": set(),
    "boot": {Request},
    "api": {Request},
    "operate": {Request, Deliver},
    "settle": {Deliver},
    "deliver": {Deliver},
    "pursue": {Request, Deliver, HostEvent, GuestEvent, Periodic, OperatorChange},
    "world": {HostEvent, GuestEvent, Periodic, OperatorChange},
}


def test_every_rule_is_declared():
    rules = {name for name, member in inspect.getmembers(ClusterMachine)
             if hasattr(member, RULE_MARKER) or hasattr(member, INITIALIZE_RULE_MARKER)}
    assert rules == set(RULE_ACTIONS)


def test_each_rule_applies_only_the_actions_declared_for_it():
    applied: dict[str, set[type]] = defaultdict(set)
    problems: list[str] = []

    class Recording(ClusterMachine):
        def _apply(self, action, work=None):
            frame = sys._getframe(1)
            while frame is not None and not (frame.f_code.co_name in RULE_ACTIONS
                                             and frame.f_locals.get("self") is self):
                frame = frame.f_back
            rule = frame.f_code.co_name if frame is not None else "(no rule)"
            applied[rule].add(type(action))
            if actions.from_json(actions.to_json(action)) != action:
                problems.append(f"{action!r} does not read back from its scenario step")
            return super()._apply(action, work)

    report = run_search(150, 30, machine=Recording, memo=False, shrink=False)
    assert report.violation is None, report.violation
    assert not problems, problems
    assert set(applied) <= set(RULE_ACTIONS), applied
    for rule, kinds in applied.items():
        assert kinds <= RULE_ACTIONS[rule], (rule, kinds)
    assert {rule for rule, kinds in RULE_ACTIONS.items() if kinds} == set(applied)
    assert set().union(*applied.values()) == set(actions.KINDS) - {Settle}
