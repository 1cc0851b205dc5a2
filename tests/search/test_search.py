"""The stateful search: green on the model, and not an empty run.

The search runs under the loaded Hypothesis profile (``ci`` by default); the
coverage it reports must contain every vm_state, every operation accepted, a host
near capacity, a confirmed and a reverted resize, an evacuation and an unshelve
onto another host.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from nova_model.search.run import run_search


@pytest.fixture(scope="module")
def report():
    profile = settings()  # the loaded profile: ci unless --hypothesis-profile says otherwise
    return run_search(profile.max_examples, profile.stateful_step_count,
                      derandomize=profile.derandomize, database=profile.database)


@pytest.fixture(scope="module")
def coverage(report):
    return report.coverage


def test_the_model_keeps_every_promise_under_search(report):
    assert report.violation is None, report.violation
    assert report.steps > 1000  # the search ran, and it ran long


def test_the_search_is_not_vacuous(coverage):
    assert coverage["missing"] == [], coverage
    assert len(coverage["vm_states reached"]) == 12, coverage


def test_the_search_reproduces_an_upstream_finding(report):
    assert report.findings, report.coverage
