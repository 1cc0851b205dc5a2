"""A create names a zone: Nova 34's API refuses a zone no enabled compute service is in
(``API.create``), and its scheduler asks Placement only for hosts in an aggregate of
the zone (``map_az_to_placement_aggregate``, always on: AvailabilityZoneFilter is gone)."""

from __future__ import annotations

import textwrap

import pytest

from invariants import violations
from model.config import ClusterConfig
from model.lifecycle import USER
from nova_model import scenario as S

TWO_ZONES = textwrap.dedent("""\
    [scheduler]
    mode = "{mode}"

    [[aggregates]]
    name = "zone-a"
    availability_zone = "az1"

    [[aggregates]]
    name = "zone-b"
    availability_zone = "az2"

    # az1's host has the most free memory: the weighers prefer it for anything
    [[hosts]]
    name = "big"
    vcpus = 16
    memory_mb = 65536
    local_gb = 500
    aggregates = ["zone-a"]

    [[hosts]]
    name = "small"
    vcpus = 1
    memory_mb = 2048
    local_gb = 20
    aggregates = ["zone-b"]

    [[hosts]]
    name = "plain"
    vcpus = 4
    memory_mb = 4096
    local_gb = 40

    [[flavors]]
    name = "m1.small"
    vcpus = 1
    ram = 1024
    disk = 1
""")


def _config(mode: str = "placement") -> ClusterConfig:
    return ClusterConfig.loads(TWO_ZONES.format(mode=mode), source="zones.toml")


def _hosts_after(steps: list[dict], config: ClusterConfig) -> tuple[dict, list, dict]:
    run = S.run(S.parse(steps), config)
    try:
        return ({u: (i.vm_state.value, i.host) for u, i in run.cluster.instances.items()},
                [r.accepted for r in run.results], violations(run.cluster))
    finally:
        run.close()


@pytest.mark.parametrize("mode", ["placement", "legacy"])
def test_a_create_for_a_zone_lands_in_that_zone_or_nowhere(mode):
    create_az2 = {"api": "create", "args": {"availability_zone": "az2"}}
    placed, accepted, broken = _hosts_after(
        [create_az2, {"settle": True}, create_az2, {"settle": True}], _config(mode))
    # one fits on az2's only host; the second gets no host there, and none elsewhere
    assert placed == {"vm1": ("active", "small"), "vm2": ("error", None)}
    assert all(accepted) and broken == {}


def test_a_zone_without_an_aggregate_restricts_nothing_in_placement_mode():
    # "nova", the default zone of the host in no zone aggregate, is carried by no
    # aggregate: the request filter adds no member_of, so the weighers choose freely
    placed, _, broken = _hosts_after(
        [{"api": "create", "args": {"availability_zone": "nova"}}, {"settle": True}],
        _config())
    assert placed == {"vm1": ("active", "big")} and broken == {}


@pytest.mark.parametrize("zone", ["az3", "AZ1"])
def test_a_zone_no_service_is_in_is_refused_by_the_api(zone):
    cluster_run = S.run(S.parse([{"api": "create"}]), _config())
    try:
        result = cluster_run.cluster.request("create", None, USER, availability_zone=zone)
        assert not result.accepted and type(result.error).__name__ == "InvalidRequest"
        assert "The requested availability zone is not available" in result.error.message
        assert set(cluster_run.cluster.instances) == {"vm1"}  # nothing created
    finally:
        cluster_run.close()


def test_a_zone_whose_services_are_all_disabled_is_not_available():
    steps = [{"host": "small", "event": "disable"},
             {"api": "create", "args": {"availability_zone": "az2"}},
             {"host": "small", "event": "service_down"},
             {"host": "small", "event": "enable"},
             {"api": "create", "args": {"availability_zone": "az2"}}]
    run = S.run(S.parse(steps), _config())
    try:
        # disabled: not available; down but enabled: available (the API does not ask)
        assert [r.accepted for r in run.results] == [True, False, True, True, True]
        assert "not available" in run.results[1].error.message
    finally:
        run.close()
