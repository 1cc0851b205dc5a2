"""Bad input of every shape ends as one line naming the file (and field), exit 2.

The per-field messages of scenarios and cluster files are listed in
``test_scenarios_format.py`` and ``test_config.py``; here are the files that are
not documents at all, and the values that used to pass the checks and then fail
deep inside a run.
"""

from __future__ import annotations

import re

import json
import os
import textwrap
import threading

import pytest

from invariants import violations
from model.config import ClusterConfig
from nova_model import scenario as S
from nova_model.cli import main


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str, *parts: str) -> None:
    assert err.startswith("nova-model: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text('[{"api": "create"}]')
    return path


def _cli_reading_fifo(capsys, fifo, *argv: str) -> tuple[int, str, str]:
    """The command's result, failing (not hanging) if it waits for a writer."""
    done: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: done.append(_cli(capsys, *argv)), daemon=True)
    worker.start()
    worker.join(10)
    if not done:
        with open(fifo, "w"):  # unblock the reader so the test process can end
            pass
        pytest.fail("reading a FIFO blocked")
    return done[0]


@pytest.mark.parametrize("command", ["simulate", "check"])
def test_a_fifo_as_the_cluster_file_is_refused(capsys, tmp_path, scenario, command):
    fifo = tmp_path / "cluster.toml"
    os.mkfifo(fifo)
    argv = ([command, str(scenario), "--config", str(fifo)] if command == "simulate"
            else [command, "--config", str(fifo), "--skip-graph", "--examples", "1"])
    code, out, err = _cli_reading_fifo(capsys, fifo, *argv)
    assert (code, out) == (2, "")
    _one_error_line(err, f"{fifo}: cannot read: not a regular file (a FIFO)")


def test_a_fifo_as_the_scenario_is_refused(capsys, tmp_path):
    fifo = tmp_path / "scenario.json"
    os.mkfifo(fifo)
    code, out, err = _cli_reading_fifo(capsys, fifo, "simulate", str(fifo))
    assert (code, out) == (2, "")
    _one_error_line(err, f"{fifo}: cannot read: not a regular file (a FIFO)")


def test_dev_zero_is_refused_not_read_to_the_end(capsys):
    code, out, err = _cli(capsys, "simulate", "/dev/zero")
    assert (code, out) == (2, "")
    _one_error_line(err, "/dev/zero: cannot read: not a regular file (a character device)")


def test_a_file_larger_than_the_limit_is_refused_unread(capsys, tmp_path):
    from model.documents import MAX_FILE_BYTES
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    code, out, err = _cli(capsys, "simulate", str(path))
    assert (code, out) == (2, "")
    _one_error_line(err, f"{path}: larger than 8 MiB")


def test_a_config_path_with_a_nul_byte_is_one_line(capsys, scenario):
    code, out, err = _cli(capsys, "simulate", str(scenario), "--config", "a\0b.toml")
    assert (code, out) == (2, "")
    _one_error_line(err, "a file name cannot contain a NUL byte")


def test_a_directory_as_the_cluster_file_is_one_line(capsys, scenario, tmp_path):
    code, out, err = _cli(capsys, "check", "--config", str(tmp_path), "--skip-graph")
    assert (code, out) == (2, "")
    _one_error_line(err, f"{tmp_path}: cannot read: is a directory")


# -- a host without disk: the libvirt driver reports no DISK_GB inventory ----------------------

DISKLESS = textwrap.dedent("""\
    [[hosts]]
    name = "diskless"
    vcpus = 8
    memory_mb = 8192
    local_gb = 0

    [[hosts]]
    name = "disky"
    vcpus = 2
    memory_mb = 2048
    local_gb = 10

    [[flavors]]
    name = "nodisk"
    vcpus = 1
    ram = 512

    [[flavors]]
    name = "disk"
    vcpus = 1
    ram = 512
    disk = 1
""")


@pytest.mark.parametrize("mode", ["placement", "legacy"])
def test_a_host_without_disk_takes_only_instances_that_need_none(mode):
    config = ClusterConfig.loads(DISKLESS + f'\n[scheduler]\nmode = "{mode}"\n',
                                 source="diskless.toml")
    steps = [{"api": "create", "args": {"flavor": "disk"}}, {"settle": True},
             {"api": "create", "args": {"flavor": "disk"}}, {"settle": True},
             {"api": "create", "args": {"flavor": "nodisk"}}, {"settle": True}]
    run = S.run(S.parse(steps), config)
    try:
        hosts = {u: i.host for u, i in run.cluster.instances.items()}
        # the diskless host has the most free memory, so it wins whatever fits on it
        assert hosts == {"vm1": "disky", "vm2": "disky", "vm3": "diskless"}
        assert violations(run.cluster) == {}
        refused = run.cluster.set_allocation_ratio("diskless", "DISK_GB", 2.0)
        assert not refused.accepted and "no DISK_GB inventory" in refused.error.message
    finally:
        run.close()


def test_check_searches_a_cluster_with_a_diskless_host(capsys, tmp_path):
    path = tmp_path / "diskless.toml"
    path.write_text(DISKLESS)
    code, out, err = _cli(capsys, "check", "--config", str(path), "--skip-graph",
                          "--examples", "5", "--steps", "20", "--out", str(tmp_path))
    assert (code, err) == (0, ""), out + err
    # five runs reach little: no violation, and the verdict says what was not reached
    assert re.fullmatch(r"no violation; \d+ coverage items not reached \(raise --examples\)",
                        out.strip().splitlines()[-1]), out


# -- clusters the search cannot run on, arguments beyond bounds ---------------------------------

@pytest.mark.parametrize("text,field", [
    ('[[hosts]]\nname = "h"\nvcpus = 1\nmemory_mb = 1024\nlocal_gb = 1\n', "flavors"),
    ('[[flavors]]\nname = "f"\nvcpus = 1\nram = 1\n', "hosts"),
    ("", "flavors"),
])
def test_check_refuses_a_cluster_it_cannot_boot_anything_on(capsys, tmp_path, text, field):
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    code, out, err = _cli(capsys, "check", "--config", str(path), "--skip-graph",
                          "--examples", "2")
    assert (code, out) == (2, "")
    _one_error_line(err, f"{path}: {field}: the search boots instances and needs at least")


def test_check_bounds_the_concurrency(capsys):
    code, out, err = _cli(capsys, "check", "--concurrency", "3")
    assert (code, out) == (2, "")
    _one_error_line(err, "--concurrency must be at most 2, got 3")


# -- outputs that cannot be written: found out before the work, one line -------------------------

@pytest.mark.parametrize("argv", [
    ["diagram", "--out", "{file}/diagrams"],
    ["diagram", "--out", "{file}"],
    ["report", "--out", "{file}/docs/lifecycle.md"],
    ["check", "--skip-graph", "--examples", "1", "--out", "{file}/out"],
    ["simulate", "{scenario}", "--sequence", "{file}/run.md"],
])
def test_an_output_under_a_file_is_one_line(capsys, tmp_path, scenario, argv):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    argv = [a.format(file=blocker, scenario=scenario) for a in argv]
    code, out, err = _cli(capsys, *argv)
    assert (code, out) == (2, "")
    _one_error_line(err, str(blocker))
    assert blocker.read_text() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "scenario.json"]


def test_the_largest_ratio_placement_takes_still_gives_json(capsys, tmp_path, scenario):
    cluster = tmp_path / "cluster.toml"
    cluster.write_text(DISKLESS + "\n[allocation_ratios]\ncpu_allocation_ratio = 3.4e38\n")
    code, out, err = _cli(capsys, "simulate", str(scenario), "--config", str(cluster),
                          "--json")
    assert (code, err) == (0, "")

    def refuse(token):
        raise AssertionError(f"{token} is not JSON")
    document = json.loads(out, parse_constant=refuse)
    assert document["hosts"]["disky"]["usage"]["VCPU"]["capacity"] == 2 * 3.4e38


@pytest.mark.parametrize("line,field", [
    ('enabled_filters = ["IsolatedHostFilter"]', "scheduler.enabled_filters"),
    ('image_props_weight_setting = ["os_distro"]', "scheduler.image_props_weight_setting"),
    ('metrics_weight_of_unavailable = "low"', "scheduler.metrics_weight_of_unavailable"),
])
def test_a_bad_scheduler_plugin_option_is_one_line(capsys, tmp_path, line, field):
    path = tmp_path / "cluster.toml"
    path.write_text('[[hosts]]\nname = "h"\nvcpus = 1\nmemory_mb = 1024\nlocal_gb = 1\n'
                    '[[flavors]]\nname = "f"\nvcpus = 1\nram = 1\n'
                    f'[scheduler]\n{line}\n')
    code, out, err = _cli(capsys, "check", "--config", str(path), "--skip-graph", "--examples", "2")
    assert (code, out) == (2, "")
    _one_error_line(err, f"{path}: {field}: invalid value")
