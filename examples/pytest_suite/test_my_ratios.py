"""My ratios never overcommit with these flavors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from my_promises import MY_CLOUD, never_beyond_my_ratios
from nova_model import strategies as nova_st
from nova_model.testing import assert_promises_kept, describe, first_broken_promise

pytestmark = pytest.mark.nova(config="my_cloud.toml", examples=150, steps=30)


@pytest.mark.nova(examples=300, steps=50)  # long enough runs to fill a host
def test_the_search_never_overcommits_my_hosts(nova_search):
    # hold_ratios: our operators do not change allocation ratios under running servers
    report = nova_search(promises=[never_beyond_my_ratios], hold_ratios=True)
    assert_promises_kept(report)
    # and the search did fill a host, so the promise was put to the test
    assert "a host at or near capacity" in report.coverage["events"]


@settings(max_examples=150, deadline=None)
@given(candidate=nova_st.flavors(name="candidate", max_vcpus=8, max_ram_mb=16384,
                                 max_disk_gb=160),
       data=st.data())
def test_a_flavor_we_might_sell_never_overcommits(candidate, data):
    config = MY_CLOUD.replace(flavors=MY_CLOUD.flavors + (candidate,))
    scenario = data.draw(nova_st.scenarios(config, max_steps=15))
    broken = first_broken_promise(scenario, config, promises=[never_beyond_my_ratios])
    assert broken is None, describe(broken, [never_beyond_my_ratios])
