"""The stateful search runs the whole cluster under every invariant and stays green."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from nova_model.search.machine import ClusterMachine

SEARCH = settings(max_examples=60, stateful_step_count=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)


def test_the_model_keeps_every_promise_under_search():
    run_state_machine_as_test(ClusterMachine, settings=SEARCH)
