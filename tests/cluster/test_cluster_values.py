"""A cluster is a value: rejections change nothing, snapshots round-trip, runs are deterministic."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from model.cluster import Cluster
from model.cluster_scenarios import boot, small_config
from model.errors import (
    ComputeServiceInUse, InstanceInvalidState, InstanceNotFound, InvalidRequest,
    PolicyNotAuthorized,
)
from model.lifecycle import ADMIN, USER, Lifecycle
from model.states import VmState as V
from nova_model.render.cluster_table import table as cluster_table


LC = Lifecycle()  # one shared machine for every cluster in this module


def cluster(seed: int = 0, **options) -> Cluster:
    return Cluster(small_config(**options), LC, seed=seed)


@pytest.mark.parametrize("op,ctx,args,error", [
    ("start", USER, {}, InstanceInvalidState),            # already active
    ("migrate", USER, {}, PolicyNotAuthorized),            # admin only
    ("evacuate", ADMIN, {}, ComputeServiceInUse),          # source is up
    ("resize", USER, {"flavor": "small"}, InvalidRequest),  # same flavor
    ("resize", USER, {"flavor": "nope"}, InvalidRequest),
    ("confirm_resize", USER, {}, InstanceInvalidState),
    ("live_migrate_abort", ADMIN, {}, InstanceInvalidState),
])
def test_a_rejected_request_changes_nothing(op, ctx, args, error):
    c = cluster()
    uuid = boot(c)
    other = boot(c)
    c.request("pause", other)  # leave work pending too
    before = c.snapshot()
    r = c.request(op, uuid, ctx, **args)
    assert not r.accepted and isinstance(r.error, error), r
    assert c.snapshot() == before
    c.close()


def test_rejected_requests_for_missing_things_change_nothing():
    c = cluster()
    before = c.snapshot()
    assert isinstance(c.request("stop", "vm9").error, InstanceNotFound)
    assert isinstance(c.request("create", flavor="nope").error, InvalidRequest)
    assert isinstance(c.request("create", flavor="small", image="nope").error, InvalidRequest)
    assert isinstance(c.request("create", flavor="small", group="nope").error, InvalidRequest)
    assert c.snapshot() == before
    assert not c.instances


def test_work_whose_task_state_check_fails_is_dropped():
    c = cluster()
    uuid = boot(c)
    c.request("stop", uuid)
    (w,) = c.pending()
    c.request("reset_state_active", uuid, ADMIN)  # clears the task
    r = c.deliver(w.id)
    assert not r.accepted and r.error.nova == "UnexpectedTaskStateError"
    assert c.pending() == []


def _scenario(c: Cluster) -> None:
    a = c.request("create", flavor="small").instance
    b = c.request("create", flavor="large", group="anti").instance
    c.settle()
    c.request("resize", a, flavor="large")
    c.request("live_migrate", b, ADMIN)
    c.deliver(c.pending()[0].id)


def test_snapshot_is_hashable_and_restore_round_trips():
    c = cluster()
    _scenario(c)
    snap = c.snapshot()
    hash(snap)
    d = Cluster.restore(snap, c.config, LC)
    assert d.snapshot() == snap
    assert cluster_table(d) == cluster_table(c)
    # both continue identically
    c.settle()
    d.settle()
    assert d.snapshot() == c.snapshot()
    c.close()
    d.close()


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        c = cluster(seed=7)
        _scenario(c)
        c.settle()
        runs.append(c.snapshot())
        c.close()
    assert runs[0] == runs[1]


def test_several_clusters_coexist():
    c1, c2 = cluster(), cluster()
    boot(c1)
    assert c2.instances == {} and c2.ledger.consumers() == []
    boot(c2)
    assert c1.snapshot() == c2.snapshot()


def test_table_shows_instances_usage_allocations_and_work():
    c = cluster()
    uuid = boot(c)
    c.request("stop", uuid)
    text = cluster_table(c)
    for needle in ("INSTANCES", uuid, "active", "powering-off", "HOSTS", "VCPU=1/8",
                   "ALLOCATIONS", "PENDING", "stop.power_off"):
        assert needle in text


# --- random runs ---------------------------------------------------------------------

OPS = ("create", "stop", "start", "reboot_soft", "reboot_hard", "pause", "unpause",
       "suspend", "resume", "resize", "migrate", "confirm_resize", "revert_resize",
       "live_migrate", "live_migrate_abort", "evacuate", "shelve", "unshelve",
       "soft_delete", "restore", "delete", "rebuild", "snapshot", "reset_state_error")


def random_action(c: Cluster, rng: random.Random) -> str:
    kind = rng.random()
    hosts = sorted(c.hosts)
    if kind < 0.45 and c.pending():
        w = rng.choice(c.pending())
        step = c.lc.operation(w.operation).step(w.step)
        outcome = rng.choice([o.name for o in step.outcomes]) if rng.random() < 0.2 else "ok"
        c.deliver(w.id, outcome)
        return f"deliver {w.id} {outcome}"
    if kind < 0.85 or not c.instances:
        op = rng.choice(OPS)
        uuid = rng.choice(sorted(c.instances)) if c.instances else None
        args = {}
        if op == "create":
            args = {"flavor": rng.choice(["small", "large"])}
        elif op == "resize":
            args = {"flavor": rng.choice(["small", "large"])}
        elif op == "rebuild":
            args = {"image": rng.choice(["cirros", "ubuntu"])}
        c.request(op, uuid, ADMIN, **args)
        return f"{op} {uuid}"
    event = rng.choice(["down", "up", "restart", "update", "sync", "disable", "enable"])
    host = rng.choice(hosts)
    if event == "down":
        c.service_down(host)
    elif event == "up":
        c.service_up(host)
    elif event == "restart":
        c.restart(host)
    elif event == "update":
        c.update_available_resource(host)
    elif event == "sync":
        c.sync_power_states()
    elif event == "disable":
        c.disable(host)
    else:
        c.enable(host)
    return f"{event} {host}"


def check_invariants(c: Cluster) -> None:
    assert c.ledger.usage_mismatches() == []
    assert c.ledger.over_capacity(include_explained=False) == []
    for uuid in c.ledger.consumers():
        assert uuid in c.instances or uuid in c.migrations
    for w in c.pending():
        assert w.instance in c.instances
    for uuid, inst in c.instances.items():
        assert inst.state in LC.states
        if (inst.vm_state is V.ACTIVE and inst.task_state is None and inst.migration is None
                and inst.host is not None and inst.launched):
            # an idle, never-moved active instance holds exactly its flavor on its host
            assert list(c.ledger.allocations_of(uuid)) == [inst.host]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(10, 80))
def test_random_runs_keep_the_ledger_consistent_and_are_deterministic(seed, steps):
    snaps = []
    for _ in range(2):
        c = cluster(seed=seed % 5)
        rng = random.Random(seed)
        for _ in range(steps):
            random_action(c, rng)
            check_invariants(c)
        snaps.append(c.snapshot())
        d = Cluster.restore(snaps[-1], c.config, LC)
        assert d.snapshot() == snaps[-1]
        d.close()
        c.close()
    assert snaps[0] == snaps[1]


def test_the_packaged_default_cluster_boots_and_moves():
    from model.config import ClusterConfig
    c = Cluster(ClusterConfig.default(), LC)
    flavor = sorted(c.flavors.values(), key=lambda f: f.memory_mb)[0]
    r = c.request("create", flavor=flavor.name)
    c.settle()
    inst = c.instances[r.instance]
    assert inst.vm_state is V.ACTIVE
    assert c.request("migrate", r.instance, ADMIN).accepted
    c.settle()
    assert c.request("confirm_resize", r.instance).accepted
    c.settle()
    assert c.ledger.consumers() == [r.instance]
    c.close()


def test_volume_backed_image_claims_no_disk():
    from model.config import ClusterConfig, ImageConfig
    config = small_config()
    config = config.replace(images=config.images + (ImageConfig("vol", volume_backed=True),))
    c = Cluster(config, LC)
    uuid = boot(c, image="vol")
    (host_allocs,) = c.ledger.allocations_of(uuid).values()
    assert "DISK_GB" not in host_allocs and host_allocs["VCPU"] == 1
    c.close()


@pytest.mark.parametrize("offload_time", [0, -1, 3600])
def test_a_volume_backed_shelve_offloads_at_once_whatever_shelved_offload_time(offload_time):
    """API.shelve casts shelve_offload_instance for a volume-backed instance: no
    snapshot steps, offloaded, its allocation deleted; an image-backed one beside it
    waits for shelved_offload_time."""
    from model.config import ImageConfig
    config = small_config(shelved_offload_time=offload_time)
    config = config.replace(images=config.images + (ImageConfig("vol", volume_backed=True),))
    c = Cluster(config, LC)
    volume = boot(c, image="vol")
    image = boot(c, image="cirros")
    for uuid in (volume, image):
        assert c.request("shelve", uuid).accepted
    steps = {w.instance: w.step for w in c.pending()}
    assert steps == {volume: "offload", image: "shelving_image_pending_upload"}
    c.settle()
    assert c.instances[volume].vm_state is V.SHELVED_OFFLOADED
    assert c.instances[volume].host is None
    assert volume not in c.ledger.consumers()
    assert c.instances[image].vm_state is (
        V.SHELVED_OFFLOADED if offload_time == 0 else V.SHELVED)
    # unshelve schedules it again, without root disk
    assert c.request("unshelve", volume).accepted
    c.settle()
    assert c.instances[volume].vm_state is V.ACTIVE
    (host_allocs,) = c.ledger.allocations_of(volume).values()
    assert "DISK_GB" not in host_allocs
    c.close()
