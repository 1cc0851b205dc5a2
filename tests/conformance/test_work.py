"""The harness's quiescence: Nova is at rest when its work in flight has ended, not when
what it shows has stayed the same for a while (``nova_model.conformance.work``)."""

from __future__ import annotations

import sys
import textwrap
import threading

import pytest

from model.config import ClusterConfig
from nova_model import scenario as scenarios
from nova_model.conformance.work import Work, wait_for_rest


class Clock:
    """A clock that moves only when the waiter sleeps; ``at`` runs callbacks at times."""

    def __init__(self):
        self.now = 0.0
        self.events: list[tuple[float, object]] = []

    def at(self, when: float, do) -> None:
        self.events.append((when, do))

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for when, do in list(self.events):
            if when <= self.now:
                self.events.remove((when, do))
                do()


def _wait(work, observe, clock, timeout=60.0):
    return wait_for_rest(work, observe, timeout=timeout, clock=lambda: clock.now,
                         sleep=clock.sleep)


def test_a_settle_waits_for_work_in_flight_however_long_nothing_shown_changes():
    """The flake: a scheduling decision on a loaded machine shows nothing new for
    seconds; the settle waits for it to end, not for a quiet spell."""
    work, clock = Work(), Clock()
    decision = work.begin("schedule_and_build_instances on conductor.*")
    clock.at(7.5, lambda: work.end(decision))
    shown = []
    seen, waited, still = _wait(work, lambda: shown.append(clock.now) or "after", clock)
    assert still == [] and seen == "after"
    assert shown == [pytest.approx(7.52)] and waited == pytest.approx(7.52)


def test_work_that_never_ends_is_named_when_the_settle_gives_up():
    work, clock = Work(), Clock()
    work.begin("_locked_do_build_and_run_instance on the long_task executor")
    seen, waited, still = _wait(work, lambda: "busy", clock, timeout=5.0)
    assert still == ["_locked_do_build_and_run_instance on the long_task executor"]
    assert seen == "busy" and 5.0 < waited < 5.1


def test_queued_messages_are_in_flight_until_taken_and_handled():
    queue = ["build_and_run_instance to compute.compute1"]
    work, clock = Work(lambda: list(queue)), Clock()
    assert work.in_flight() == ["queued build_and_run_instance to compute.compute1"]

    def take():
        queue.clear()
        unit = work.begin("build_and_run_instance on compute.compute1")
        clock.at(clock.now + 1.0, lambda: work.end(unit))

    clock.at(2.0, take)
    _, waited, still = _wait(work, lambda: None, clock)
    assert still == [] and waited == pytest.approx(3.0)


def test_a_held_unit_waits_for_the_scenario_and_counts_again_once_let_go():
    """A chain held at a cast is not Nova's work in flight; released, it is at once,
    before its thread wakes up to run it."""
    work = Work()
    unit = work.begin("prep_resize on compute.compute2")
    released = []
    with work.running(unit), work.holding(lambda: not released):
        assert work.in_flight() == []
        released.append(True)
        assert work.in_flight() == ["prep_resize on compute.compute2"]
    work.end(unit)
    assert work.in_flight() == []


def test_an_observation_during_which_work_began_elsewhere_is_not_taken():
    work, clock = Work(), Clock()
    observations = []

    def observe():
        observations.append(clock.now)
        if len(observations) == 1:   # a timer's work begins and ends meanwhile
            other = threading.Thread(target=lambda: work.end(work.begin("a timer's task")))
            other.start()
            other.join()
        return len(observations)

    seen, _, still = _wait(work, observe, clock)
    assert still == [] and seen == 2


def test_what_the_observation_itself_spawns_does_not_stop_it():
    """The API's own scatter-gather tasks run during an observation, in its thread."""
    work, clock = Work(), Clock()
    seen, _, still = _wait(work, lambda: work.end(work.begin("scatter")) or "seen", clock)
    assert (seen, still) == ("seen", [])


def test_a_new_cluster_forgets_the_work_of_the_one_before():
    work = Work()
    left = work.begin("live_migration of the cluster before")
    work.reset()
    assert work.in_flight() == []
    mine = work.begin("mine")
    work.end(left)
    assert work.in_flight() == ["mine"]
    work.end(mine)
    assert work.in_flight() == []


# -- in Nova: a scheduler made slow, in the Nova process only ---------------------------

_SLOW_NOVA = """\
import os, sys, time
from nova_model.conformance import nova_side
stdout = os.dup(1)
os.dup2(2, 1)   # (what importing the scheduler logs goes to stderr, as nova_side's own)
from nova.scheduler import manager
os.dup2(stdout, 1)

nova_side.SETTLE_TIMEOUT_S = {timeout}
select = manager.SchedulerManager.select_destinations

def slow(self, *args, **kwargs):
    time.sleep({delay})   # a green sleep: the scheduler deciding on a loaded machine
    return select(self, *args, **kwargs)

manager.SchedulerManager.select_destinations = slow
sys.exit(nova_side.main())
"""


def _slow_nova(tmp_path, delay: float, timeout: float) -> str:
    script = tmp_path / "slow_nova.py"
    script.write_text(_SLOW_NOVA.format(delay=delay, timeout=timeout))
    python = tmp_path / "python"
    python.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        exec {sys.executable} {script}
        """))
    python.chmod(0o755)
    return str(python)


@pytest.mark.conformance
def test_a_slow_scheduling_decision_is_waited_for_and_one_that_never_ends_reported(tmp_path):
    """Nova's scheduler takes 2 s to decide (nothing Nova shows changes meanwhile: the
    servers stay building/scheduling): the settle waits and the boot agrees. With the
    settle's limit below the decision's time, the step is a harness error naming the
    work still in flight, not a comparison of a Nova that is not at rest."""
    from nova_model.conformance.runner import conform
    config = ClusterConfig.default()
    scenario = scenarios.parse([{"api": "create", "args": {"min_count": 2, "max_count": 2}},
                                {"settle": True}])
    [slow] = conform([("slow", scenario)], config,
                     python=_slow_nova(tmp_path, delay=2.0, timeout=120.0))
    assert slow.agrees, slow.text()
    assert slow.fields > 20 and slow.steps[-1].settled["seconds"] >= 2.0
    assert slow.steps[-1].settled["in_flight"] == []

    [stuck] = conform([("stuck", scenario)], config,
                      python=_slow_nova(tmp_path, delay=4.0, timeout=1.0))
    assert not stuck.agrees and stuck.harness_error is not None
    assert "Nova still at work after 1 s" in stuck.harness_error
    assert "schedule_and_build_instances on conductor" in stuck.harness_error, \
        stuck.harness_error
