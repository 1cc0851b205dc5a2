"""Property: whatever scenario or cluster file a careless or hostile user writes,
``nova-model simulate`` answers within a time bound with exit 0 (a run), 1 (a run that
broke a promise, printed) or 2 (one error line), never a traceback; and what it
accepts is meaningful: finite capacities, known zones and names, output that is JSON.

Budget: ``EXAMPLES`` documents of each kind (scenarios on the default cluster, and
cluster files under a fixed scenario), each run at most ``SECONDS`` seconds; the
whole module takes a few tens of seconds. The documents are built from a vocabulary
of the formats' own words and of odd values (huge, infinite, negative, empty,
non-ASCII, wrongly typed, deeply nested), then written as text, sometimes cut short
or garbled, so that most reach deep into the checks instead of failing at the first.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import time

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from model.config import ClusterConfig
from nova_model.cli import main

EXAMPLES = 200
SECONDS = 10.0

# -- odd values ------------------------------------------------------------------------------

NAMES = ["vm1", "vm2", "vm0", "vm01", "vm\u00b2", "vm\u0661", "w1", "w\u00b2", "next",
         "compute1", "compute9", "m1.small", "m1.large", "az1", "az2", "az3", "internal",
         "web", "VCPU", "DISK_GB", "CPU", "", " ", "a\0b", "\u00e9", "x" * 300]
NUMBERS = [0, 1, -1, 2, 1.5, 0.5, 2**31 - 1, 2**31, -2**31, 10**20, 10**400, 1e308,
           3.4e38, 3.5e38, 1e-320, float("inf"), float("-inf"), float("nan")]
ODD = st.sampled_from([None, True, False, [], {}, [[]], {"a": 1}] + NAMES + NUMBERS)


def _json():
    return st.recursive(ODD, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(NAMES + ["api", "args"]), inner,
                                          max_size=3), max_leaves=8)


def maybe(good, odds: int = 10):
    """Mostly ``good``, one time in ``odds`` an odd value: many documents get past the
    first checks (one odd value anywhere refuses the whole file) and reach a run."""
    return st.integers(1, odds).flatmap(lambda n: ODD if n == 1 else good)


def one(*choices, odds: int = 10):
    return maybe(st.sampled_from(choices), odds)


INSTANCE = one("vm1", "vm2", "vm3")
OPS = ("stop", "start", "delete", "reboot_hard", "migrate", "evacuate", "live_migrate",
       "shelve", "unshelve", "confirm_resize", "revert_resize", "pause", "rebuild")
STEPS = st.one_of(
    st.fixed_dictionaries({"api": st.just("create")}, optional={
        "as": one("owner", "admin"),
        "args": st.fixed_dictionaries({}, optional={
            "flavor": one("m1.small", "m1.large", "m1.huge"),
            "availability_zone": one("az1", "az2", "az3", "nova", "internal")})}),
    st.fixed_dictionaries({"api": one(*OPS), "instance": INSTANCE},
                          optional={"as": one("owner", "admin")}),
    st.fixed_dictionaries({"api": st.just("resize"), "instance": INSTANCE,
                           "args": st.fixed_dictionaries({"flavor": one("m1.large",
                                                                        "m1.small")})}),
    st.fixed_dictionaries({"deliver": one("next", "w1", "w3")},
                          optional={"outcome": one("ok", "claim_failed")}),
    st.fixed_dictionaries({"settle": maybe(st.just(True))},
                          optional={"instance": INSTANCE}),
    st.fixed_dictionaries({"host": one("compute1", "compute3", "compute9"),
                           "event": one("service_down", "service_up", "restart",
                                        "disable", "enable")}),
    st.fixed_dictionaries({"periodic": one("sync_power_states", "poll_unconfirmed_resizes",
                                           "reclaim_queued_deletes")}),
    st.fixed_dictionaries({"operator": one("set_allocation_ratio", "set_reserved"),
                           "host": one("compute1", "compute2"),
                           "resource_class": one("VCPU", "MEMORY_MB", "DISK_GB"),
                           "value": maybe(st.sampled_from([0.5, 1, 2.0, 16.0, 64]))}),
    st.dictionaries(st.sampled_from(["api", "deliver", "note", "instance", "args"]), ODD,
                    max_size=3),
)

# (most scenarios start by creating the instances they name: vm1, vm2, vm3)
RUNS = st.tuples(st.integers(0, 3), st.lists(STEPS, max_size=10)).map(
    lambda made: [{"api": "create"}] * made[0] + made[1])
SCENARIOS = st.one_of(
    RUNS,
    RUNS.map(lambda s: [{"seed": 3}, *s]),
    st.fixed_dictionaries({"steps": RUNS},
                          optional={"seed": maybe(st.integers(0, 2**16)),
                                    "config": one("missing.toml", ".", "/dev/zero", "a\0b"),
                                    "description": maybe(st.text(max_size=10)),
                                    "stepz": ODD}),
    _json(),
)


def _garble(text: str, how: int) -> bytes:
    """The text as written, or cut short, nested deep, or not UTF-8."""
    data = text.encode("utf-8")
    if how < 6:
        return data
    return [data[: len(data) // 2], b"[" * 3000 + data, data + b"\xff", b"\x00" + data][how - 6]


# -- cluster files ---------------------------------------------------------------------------

def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return '""'  # (None has no TOML form)


def rare(*choices):
    """A cluster file has some thirty values: each is odd only one time in sixty."""
    return one(*choices, odds=60)


HOST_FIELDS = {
    "vcpus": rare(8, 1), "memory_mb": rare(16384, 2048),
    "local_gb": rare(200, 1, 0), "availability_zone": rare("az1", "az2", "nova"),
    "aggregates": maybe(st.lists(st.sampled_from(["zone-a", "ssd"]), max_size=2,
                                 unique=True), 60),
    "cpu_allocation_ratio": rare(16.0, 0.5, 3.4e38), "disk_allocation_ratio": rare(1.0, 2.0),
    "reserved_host_memory_mb": rare(0, 512), "service_up": rare(True, False),
    "supported_instances": maybe(st.just([["x86_64", "kvm", "hvm"]]), 60),
}
REQUIRED = ("vcpus", "memory_mb", "local_gb")


@st.composite
def cluster_files(draw) -> str:
    lines = []
    if draw(st.booleans()):
        lines += ["[allocation_ratios]",
                  f"profile = {_toml_value(draw(rare('seeds', 'nova')))}"]
        for key in draw(st.lists(st.sampled_from(["cpu_allocation_ratio",
                                                  "ram_allocation_ratio",
                                                  "reserved_host_disk_mb"]),
                                 max_size=2, unique=True)):
            lines.append(f"{key} = {_toml_value(draw(rare(1.0, 1.5, 2048)))}")
    if draw(st.booleans()):
        lines += ["[scheduler]", f"mode = {_toml_value(draw(rare('placement', 'legacy')))}"]
    if draw(st.integers(0, 9)):
        lines += ["[[aggregates]]", 'name = "zone-a"',
                  f"availability_zone = {_toml_value(draw(rare('az1', 'az2')))}",
                  "[[aggregates]]", 'name = "ssd"']
    for n in range(draw(st.integers(0, 3) if draw(st.integers(0, 9)) == 0 else
                        st.integers(2, 3))):
        lines += ["[[hosts]]", f"name = {_toml_value(draw(rare(f'compute{n + 1}')))}"]
        keys = [k for k in REQUIRED if draw(st.integers(0, 19))]  # one in 20 left out
        keys += draw(st.lists(st.sampled_from(sorted(HOST_FIELDS)), max_size=3, unique=True))
        for key in dict.fromkeys(keys):
            lines.append(f"{key} = {_toml_value(draw(HOST_FIELDS[key]))}")
    flavors = (["m1.small"] if draw(st.integers(0, 9)) else []) + (
        ["m1.large"] if draw(st.booleans()) else [])
    for name in flavors:
        lines += ["[[flavors]]", f"name = {_toml_value(draw(rare(name)))}",
                  f"vcpus = {_toml_value(draw(rare(1, 2)))}",
                  f"ram = {_toml_value(draw(rare(512, 4096)))}",
                  f"disk = {_toml_value(draw(rare(0, 1, 40)))}"]
    return "\n".join(lines) + "\n"


CLUSTER_SCENARIO = json.dumps([
    {"api": "create", "args": {"availability_zone": "az1"}},
    {"api": "create", "args": {"availability_zone": "az2"}},
    {"api": "create"}, {"settle": True},
    {"api": "resize", "instance": "vm3", "args": {"flavor": "m1.small"}},
    {"operator": "set_allocation_ratio", "host": "compute1", "resource_class": "DISK_GB",
     "value": 2.0},
    {"settle": True}])


# -- the property ----------------------------------------------------------------------------

def _simulate(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["simulate", *argv])
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    return code, out.getvalue(), err.getvalue()


def _strict_json(text: str):
    def refuse(token):
        raise AssertionError(f"{token} in the output is not JSON")
    return json.loads(text, parse_constant=refuse)


def _answers_cleanly(code: int, out: str, err: str) -> None:
    event(f"exit {code}")  # (--hypothesis-show-statistics: how many runs got how far)
    assert "Traceback" not in out + err
    if code == 2:
        assert out == "" and err.startswith("nova-model: error: ") and err.count("\n") == 1, err
        return
    assert code in (0, 1) and err == "", (code, err)
    document = _strict_json(out)
    assert (code == 1) == bool(document["violations"])
    for host in document["hosts"].values():
        for usage in host["usage"].values():
            assert math.isfinite(usage["capacity"]) and math.isfinite(usage["used"])
    zones = {i["availability_zone"] for i in document["instances"].values()} - {None}
    assert zones <= {"az1", "az2", "internal", "nova"}, zones


settings_ = settings(max_examples=EXAMPLES, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow,
                                            HealthCheck.filter_too_much])


@settings_
@given(document=SCENARIOS, how=st.integers(0, 9))
def test_any_scenario_document_is_answered_cleanly(document, how):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scenario.json")
        with open(path, "wb") as f:
            f.write(_garble(json.dumps(document), how))
        code, out, err = _simulate(path, "--json")
    _answers_cleanly(code, out, err)
    if code != 2:  # accepted: every instance it names was made, every host exists
        steps_run = _strict_json(out)["steps"]
        assert len(steps_run) == len(document if isinstance(document, list)
                                     else document["steps"]) - (
            1 if isinstance(document, list) and document and document[0].keys() == {"seed"}
            else 0)


@settings_
@given(text=cluster_files(), how=st.integers(0, 9))
def test_any_cluster_file_is_answered_cleanly(text, how):
    with tempfile.TemporaryDirectory() as tmp:
        cluster, scenario = os.path.join(tmp, "cluster.toml"), os.path.join(tmp, "s.json")
        with open(cluster, "wb") as f:
            f.write(_garble(text, how))
        with open(scenario, "w") as f:
            f.write(CLUSTER_SCENARIO)
        code, out, err = _simulate(scenario, "--config", cluster, "--json")
        _answers_cleanly(code, out, err)
        if code != 2:  # accepted: the file itself is a meaningful cluster
            config = ClusterConfig.load(cluster)
            for host in config.hosts:
                assert host.name and host.availability_zone
                for inventory in config.inventories_for(host).values():
                    assert math.isfinite(inventory.capacity)
