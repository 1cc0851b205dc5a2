"""Proposals: what each field does to the catalogue, and one line for each mistake."""

from __future__ import annotations

import textwrap

from pathlib import Path

import pytest

from model.catalogue import CATALOGUE
from model.operation import Alloc, Check
from model.states import TaskState, VmState
from nova_model import cli
from nova_model.review.proposal import ProposalError, load


ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text: str, name: str = "p.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_a_guard_proposal_changes_only_that_guard(tmp_path):
    p = load(_write(tmp_path, """
        title = "t"
        [operations.pause.guard]
        add_vm_states = ["stopped"]
        add_task_states = ["none", "powering-on"]
        lock = false
        host = true
        source_up = true
        """))
    g = p.lifecycle.catalogue["pause"].guard
    assert p.changed == ("pause",)
    assert g.vm_states == {VmState.ACTIVE, VmState.STOPPED}
    assert g.task_states == {None, TaskState.POWERING_ON}
    assert not g.check_instance_lock and g.check_instance_host
    assert g.checks == (Check.HOST, Check.STATE, Check.SOURCE_COMPUTE_UP)
    assert all(p.lifecycle.catalogue[n] == CATALOGUE[n] for n in CATALOGUE if n != "pause")


def test_a_branch_proposal_edits_the_chosen_branches_only(tmp_path):
    p = load(_write(tmp_path, """
        title = "t"
        [[operations.init_instance.branches]]
        step = "api"
        index = [3, 13]
        remove_alloc = ["REVERT_MIGRATION_TO_INSTANCE"]
        add_alloc = ["DELETE_MIGRATION"]
        """))
    before = CATALOGUE["init_instance"].api.outcome("ok").branches
    after = p.lifecycle.catalogue["init_instance"].api.outcome("ok").branches
    assert after[3].alloc == after[13].alloc == (Alloc.DELETE_MIGRATION,)
    assert after[12] == before[12] and after[4] == before[4]


def test_the_shelve_proposal_rewires_the_steps(tmp_path):
    p = load(ROOT / "proposals" / "shelve_without_snapshot.toml")
    shelve = p.lifecycle.catalogue["shelve"]
    assert [s.name for s in shelve.steps] == ["shelved", "offload"]
    assert shelve.api.outcome("ok").branches[0].then == "shelved"
    assert shelve.step("shelved").expects == {TaskState.SHELVING}


def test_options_are_checked_against_nova_s_options(tmp_path):
    p = load(_write(tmp_path, 'title = "t"\n[options]\nshelved_offload_time = -1\n'))
    assert p.changed == () and dict(p.options) == {"shelved_offload_time": -1}


def test_a_python_proposal(tmp_path):
    path = _write(tmp_path, """
        import dataclasses
        TITLE = "Pause also from stopped"
        def operations(catalogue):
            pause = catalogue["pause"]
            guard = dataclasses.replace(pause.guard, vm_states=pause.guard.vm_states | {
                type(next(iter(pause.guard.vm_states)))("stopped")})
            return {"pause": dataclasses.replace(pause, guard=guard)}
        """, "p.py")
    p = load(path)
    assert p.title == "Pause also from stopped" and p.changed == ("pause",)
    assert VmState.STOPPED in p.lifecycle.catalogue["pause"].guard.vm_states


@pytest.mark.parametrize("text, message", [
    ('[operations.rescue.guard]\nadd_vm_states = ["stopped"]\n', "p.toml: title: missing"),
    ('title = "t"\n[operations.rescu.guard]\nlock = false\n',
     "p.toml: operations.rescu: unknown field (did you mean 'rescue'?)"),
    ('title = "t"\n[operations.rescue.guard]\nadd_vm_states = ["stoped"]\n',
     "p.toml: operations.rescue.guard.add_vm_states[0]: unknown value 'stoped' "
     "(did you mean 'stopped'?)"),
    ('title = "t"\n[operations.rescue.guard]\nlocks = false\n',
     "p.toml: operations.rescue.guard.locks: unknown field (did you mean 'lock'?)"),
    ('title = "t"\n[operations.rescue.guard]\nlock = "no"\n',
     "p.toml: operations.rescue.guard.lock: expected true or false, got 'no'"),
    ('title = "t"\n[[operations.shelve.branches]]\nstep = "shelved"\nindex = 5\n',
     "p.toml: operations.shelve.branches[0].index: shelve.shelved.ok has branches 0 to 1, "
     "not 5"),
    ('title = "t"\n[[operations.shelve.branches]]\nstep = "api"\nthen = "shelved"\n',
     "p.toml: operations.shelve: shelve: steps never reached: "
     "['shelving_image_pending_upload', 'shelving_image_uploading']"),
    ('title = "t"\n[[operations.shelve.branches]]\nstep = "api"\nremove_alloc = ["NOPE"]\n',
     "p.toml: operations.shelve.branches[0].remove_alloc: unknown value 'NOPE'"),
    ('title = "t"\n[options]\nshelved_offload_time = "never"\n',
     "p.toml: options.shelved_offload_time: expected int, got str"),
    ('title = "t"\n', "p.toml: operations: the proposal changes nothing"),
    ('title = "t"\n[operations.rescue\n', "p.toml: invalid TOML"),
])
def test_a_bad_proposal_is_one_line_naming_the_file_and_field(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ProposalError) as error:
        load(path)
    assert str(error.value).startswith(f"{tmp_path}/{message}"), str(error.value)
    assert cli.main(["review", path, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"nova-model: error: {tmp_path}/{message}")
    assert not (tmp_path / "out").exists()
