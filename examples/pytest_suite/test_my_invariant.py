"""My own invariant: our edge host never gets an xlarge server."""

import pytest

from my_promises import xlarge_never_on_the_edge
from nova_model.testing import assert_promises_kept

pytestmark = pytest.mark.nova(config="my_cloud.toml", examples=150, steps=30)


def test_the_search_never_puts_an_xlarge_on_the_edge(nova_search):
    report = nova_search(promises=[xlarge_never_on_the_edge])
    assert_promises_kept(report)


def test_with_only_the_edge_host_left_an_xlarge_is_refused(nova_cluster):
    for host in ("general1", "general2"):
        nova_cluster.disable(host)
    server = nova_cluster.request("create", None, flavor="xlarge").instance
    nova_cluster.settle()
    assert nova_cluster.instances[server].vm_state.value == "error"
    assert xlarge_never_on_the_edge(nova_cluster) == []
