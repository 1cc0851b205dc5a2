"""Fixtures shared by the cluster tests that script a run step by step."""

from __future__ import annotations

import pytest

from model.cluster import Cluster
from model.cluster_scenarios import small_config


@pytest.fixture
def c():
    """A cluster of ``small_config()`` (a module may define its own ``c``)."""
    cluster = Cluster(small_config(), seed=1)
    yield cluster
    cluster.close()


@pytest.fixture
def step(c):
    """``step(uuid, operation, name, outcome="ok")``: deliver that queued step of the
    instance's work in ``c`` with ``outcome``; the delivery's result."""
    def deliver(uuid, operation, name, outcome="ok"):
        work = next(w for w in c.pending() if w.instance == uuid
                    and (w.operation, w.step) == (operation, name))
        return c.deliver(work.id, outcome)
    return deliver
