"""My anti-affinity groups stay apart through every move."""

import pytest
from hypothesis import given, settings

from my_promises import MY_CLOUD
from nova_model import strategies as nova_st
from nova_model.testing import assert_promises_kept, describe, first_broken_promise

pytestmark = pytest.mark.nova(config="my_cloud.toml", examples=150, steps=30)

MOVES = ("resize", "confirm_resize", "revert_resize", "migrate", "live_migrate",
         "evacuate", "shelve", "unshelve", "stop", "start")
#: Group races the model reproduces in Nova itself; reported as findings, not failures.
#: We have read them and accept them; a new one fails this suite.
ACCEPTED_NOVA_GROUP_RACES = {
    "the scheduler does not count group members that are still arriving",
    "a reverted resize returns a member to a host another member was given",
}


def test_frontends_stay_apart_under_search(nova_search):
    report = nova_search()  # server_group_policies is one of the promises searched
    assert_promises_kept(report)
    assert {"resize confirmed", "live migration completed"} <= set(report.coverage["events"])
    group_findings = {f["name"] for f in report.findings if "member" in f["name"]}
    assert group_findings <= ACCEPTED_NOVA_GROUP_RACES


@settings(max_examples=150, deadline=None)
@given(nova_st.scenarios(MY_CLOUD, max_steps=20, operations=MOVES))
def test_frontends_stay_apart_through_any_sequence_of_moves(scenario):
    broken = first_broken_promise(scenario, MY_CLOUD)
    assert broken is None, describe(broken)
