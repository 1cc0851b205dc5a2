"""The command line: ``nova-model guards``, ``explain``, and ``check``'s usage errors."""

from __future__ import annotations

import json

import pytest

from model.catalogue import API_OPERATIONS
from nova_expected import NOVA
from nova_model.cli import main

RECORD_KEYS = {"api_method", "vm_states", "task_states", "must_have_launched",
               "check_instance_lock", "check_instance_host"}


def _guards_json(capsys) -> dict:
    assert main(["guards", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def test_guards_json_schema(capsys):
    doc = _guards_json(capsys)
    assert set(doc) == {"operations"}
    ops = doc["operations"]
    assert list(ops) == [op.name for op in API_OPERATIONS]
    for name, rec in ops.items():
        assert set(rec) == RECORD_KEYS, name
        assert isinstance(rec["api_method"], str) and rec["api_method"]
        assert rec["vm_states"] is None or (
            isinstance(rec["vm_states"], list)
            and all(isinstance(v, str) for v in rec["vm_states"]))
        assert rec["task_states"] == "any" or (
            isinstance(rec["task_states"], list)
            and all(t is None or isinstance(t, str) for t in rec["task_states"]))
        assert isinstance(rec["must_have_launched"], bool)
        assert isinstance(rec["check_instance_lock"], bool)
        host = rec["check_instance_host"]
        assert host is None or (set(host) == {"check_is_up"}
                                and isinstance(host["check_is_up"], bool))


def test_guards_json_matches_nova(capsys):
    ops = _guards_json(capsys)["operations"]
    for name, g in NOVA.items():
        rec = ops[name]
        assert (None if rec["vm_states"] is None else set(rec["vm_states"])) == (
            None if g.vm is None else set(g.vm)), name
        assert (rec["task_states"] if rec["task_states"] == "any"
                else set(rec["task_states"])) == ("any" if g.task is None
                                                  else set(g.task)), name
        assert rec["check_instance_lock"] is ("lock" in g.checks), name


@pytest.mark.parametrize("name,rec", [
    ("start", {"vm_states": ["stopped"], "task_states": [None], "must_have_launched": True,
               "check_instance_lock": True, "check_instance_host": {"check_is_up": False}}),
    ("resize", {"vm_states": ["active", "stopped"], "task_states": [None],
                "must_have_launched": True, "check_instance_lock": True,
                "check_instance_host": {"check_is_up": True}}),
    ("evacuate", {"vm_states": ["active", "stopped", "error"], "task_states": "any",
                  "must_have_launched": True, "check_instance_lock": False,
                  "check_instance_host": None}),
    ("delete", {"vm_states": None, "task_states": "any", "must_have_launched": False,
                "check_instance_lock": True, "check_instance_host": None}),
    ("snapshot", {"vm_states": ["active", "paused", "suspended", "stopped"],
                  "task_states": [None], "must_have_launched": True,
                  "check_instance_lock": False, "check_instance_host": None}),
])
def test_guards_json_rows(capsys, name, rec):
    got = _guards_json(capsys)["operations"][name]
    got = {k: v for k, v in got.items() if k != "api_method"}
    if isinstance(rec["vm_states"], list):
        got["vm_states"] = sorted(got["vm_states"])
        rec = {**rec, "vm_states": sorted(rec["vm_states"])}
    assert got == rec


def test_guards_markdown_has_a_row_per_operation(capsys):
    assert main(["guards"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")][1:]
    assert [r.split("|")[1].strip() for r in rows] == [op.name for op in API_OPERATIONS]
    resize = next(r for r in rows if r.startswith("| resize |"))
    assert "set and up" in resize


def test_explain_resize_mentions_its_steps(capsys):
    assert main(["explain", "resize"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    # Nova's task progression for a resize (CM._resize_instance, CM._finish_resize)
    for task in ("resize_prep", "resize_migrating", "resize_migrated", "resize_finish"):
        assert task in out
    for step in ("schedule", "prep_resize", "finish"):
        assert f"step {step}" in out
    assert "API.resize" in out and "check_instance_host" in out
    assert "resized" in out
    # a conditional branch reads "if <condition>: <effect>"
    assert "if old_vm_state is stopped: vm_state resized" in out
    assert ":;" not in out


def test_explain_unknown_operation_is_one_line_exit_2(capsys):
    assert main(["explain", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "nope" in err and "Traceback" not in err


def test_explain_suggests_a_close_name(capsys):
    assert main(["explain", "resise"]) == 2
    assert "resize" in capsys.readouterr().err


def test_check_rejects_bad_concurrency(capsys):
    assert main(["check", "--concurrency", "0"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
