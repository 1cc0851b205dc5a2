"""The search resumes from saved states (``StateMemo``): the same search, only faster.

A run that repeats an earlier run's first calls resumes from the state they reached
instead of computing it again. That must change nothing the search finds or reports:
resuming must be exactly computing.
"""

from __future__ import annotations

import pytest

from model.cluster import Cluster
from nova_model.search.machine import ClusterMachine
from nova_model.search.memo import ROOT, StateMemo
from nova_model.search.run import run_search


def test_resuming_is_computing():
    # Every step is computed, and every step an earlier run already took is compared
    # with the state saved for it: cluster (dict order included), trace, scenario,
    # coverage history, the run's counters.
    memo = StateMemo(256, verify=True)
    report = run_search(300, 40, memo=memo, shrink=False)
    assert report.violation is None, report.violation
    assert memo.resumed == 0
    assert memo.verified > 2000, memo.summary()  # most runs repeat an earlier prefix


@pytest.fixture(scope="module")
def searches():
    return (run_search(300, 40, memo=False, shrink=False),
            run_search(300, 40, shrink=False))


def test_the_memo_changes_nothing_the_search_reports(searches):
    computed, resumed = searches
    assert resumed.memo["steps resumed from saved states"] > 2000, resumed.memo
    assert computed.memo == {}
    assert (resumed.examples, resumed.steps) == (computed.examples, computed.steps)
    assert resumed.coverage == computed.coverage
    assert resumed.findings == computed.findings
    assert resumed.violation == computed.violation is None


class _AmnesicRestart(Cluster):
    """A seeded fault: a restarted compute loses the work queued for it."""

    def restart(self, host):
        result = super().restart(host)
        for work_id in list(self.hosts[host].queue):
            self.dequeue(self.work[work_id])
        return result


def test_a_seeded_fault_is_found_alike_with_and_without_the_memo():
    machine = type("RestartLosesItsQueue", (ClusterMachine,), {"cluster_class": _AmnesicRestart})
    with_memo = run_search(1000, 60, machine=machine, shrink=False)
    without = run_search(1000, 60, machine=machine, shrink=False, memo=False)
    assert with_memo.violation is not None
    assert with_memo.memo["steps resumed from saved states"] > 0
    assert (with_memo.examples, with_memo.violation, with_memo.scenario) == (
        without.examples, without.violation, without.scenario)


def test_the_memo_forgets_the_least_recently_used_state_first():
    memo = StateMemo(2)
    a = memo.put((ROOT, "start", (1,)), "a", None)
    b = memo.put((a, "api", (2,)), "b", None)
    assert memo.get((ROOT, "start", (1,))).state == "a"  # now the most recently used
    memo.put((b, "api", (3,)), "c", None)
    assert memo.get((a, "api", (2,))) is None  # b was the least recently used
    assert memo.get((ROOT, "start", (1,))) is not None
    assert len(memo) == 2 and memo.dropped == 1
    assert len({a, b}) == 2 and ROOT not in (a, b)


def test_a_memo_holds_at_least_one_state():
    with pytest.raises(ValueError, match="at least one state"):
        StateMemo(0)
