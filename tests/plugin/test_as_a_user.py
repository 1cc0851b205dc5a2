"""The plugin as an installed user runs it: pytest in a directory of one's own, with the
plugin loaded by its entry point. A broken property must fail with the readable trace."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from nova_model import cli

BROKEN = '''
import pytest
from nova_model.testing import assert_promises_kept, promise


@promise
def nobody_ever_resizes(cluster):
    """No server is ever resized."""
    return [f"{uuid} is resized" for uuid, inst in sorted(cluster.instances.items())
            if inst.vm_state.value == "resized"]


@pytest.mark.nova(examples=300, steps=30)
def test_nobody_resizes(nova_search):
    assert_promises_kept(nova_search(promises=[nobody_ever_resizes]))
'''

BUDGET = '''
def test_budget(nova_search, nova_cluster):
    report = nova_search()
    print(f"RAN examples={report.examples} hosts={sorted(nova_cluster.hosts)}")
'''


def _pytest(directory, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(directory),
         "--hypothesis-profile", "ci", *args],
        cwd=directory, capture_output=True, text=True, timeout=300)


def test_a_broken_property_fails_with_the_trace_the_table_and_the_scenario(tmp_path, capsys):
    (tmp_path / "test_broken.py").write_text(textwrap.dedent(BROKEN))
    run = _pytest(tmp_path, "--basetemp", str(tmp_path / "base"))
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "1 failed" in out
    assert "The search broke a promise" in out
    assert "Trace (each step as an operator would describe it):" in out
    assert re.search(r"\n(E\s+)?1\. create ", out), out
    assert re.search(r"\n(E\s+)?\d+\. (resize|migrate) vm\d+.* -> accepted", out), out
    assert "nobody_ever_resizes: No server is ever resized." in out
    assert "Cluster at the point of failure:" in out and "INSTANCES" in out and "HOSTS" in out
    # the message, not the helper's frames
    assert "def assert_promises_kept" not in out
    path = re.search(r"Replay it: nova-model simulate (\S+\.json)", out).group(1)
    # the scenario replays, and ends with the instance resized
    capsys.readouterr()
    assert cli.main(["simulate", path]) == 0
    assert re.search(r"vm\d+\s+resized", capsys.readouterr().out)


def test_the_options_set_the_cluster_and_the_budget(tmp_path):
    (tmp_path / "test_budget.py").write_text(textwrap.dedent(BUDGET))
    (tmp_path / "mine.toml").write_text(
        '[[hosts]]\nname = "solo"\nvcpus = 2\nmemory_mb = 4096\nlocal_gb = 20\n\n'
        '[[flavors]]\nname = "one"\nvcpus = 1\nram = 512\n')
    run = _pytest(tmp_path, "-s", "--nova-config", "mine.toml", "--nova-examples", "7",
                  "--nova-steps", "5")
    assert run.returncode == 0, run.stdout + run.stderr
    examples = int(re.search(r"RAN examples=(\d+) hosts=\['solo'\]", run.stdout).group(1))
    assert examples < 20  # seven asked for (not the ci profile's 1500)


def test_bad_options_are_usage_errors(tmp_path):
    (tmp_path / "test_budget.py").write_text(textwrap.dedent(BUDGET))
    run = _pytest(tmp_path, "--nova-examples", "0")
    assert run.returncode == 4 and "--nova-examples must be at least 1, got 0" in run.stderr
    (tmp_path / "bad.toml").write_text('[[hosts]]\nname = "x"\n')
    run = _pytest(tmp_path, "--nova-config", "bad.toml")
    assert run.returncode != 0
    assert "bad.toml" in run.stdout + run.stderr and "hosts[0]" in run.stdout + run.stderr
