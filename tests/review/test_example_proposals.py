"""``nova-model review`` on each example proposal in ``proposals/``: what each must show.

The baseline is explored and searched once for the module (the exploration is the
slow part: about a minute per catalogue); every review uses the command's default
budget, so these are the documents ``nova-model review proposals/X.toml`` writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model.config import ClusterConfig
from nova_model import cli
from nova_model.commands import review as command
from nova_model.review import compare
from nova_model.review.compare import Cell
from nova_model.review.proposal import load
from nova_model.search.machine import SPEC

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES, STEPS = 1000, 60  # the command's defaults


@pytest.fixture(scope="module")
def baseline(catalogue_exploration):
    return compare.examine(SPEC, ClusterConfig.default(), EXAMPLES, STEPS,
                           exploration=catalogue_exploration)


@pytest.fixture(scope="module")
def reviews(baseline):
    made: dict = {}
    review = compare.review  # (the command's test replaces compare.review with this)

    def get(name: str):
        if name not in made:
            made[name] = review(load(ROOT / "proposals" / f"{name}.toml"),
                                examples=EXAMPLES, steps=STEPS, baseline=baseline)
        return made[name]
    return get


def _document(result, tmp_path, fmt="markdown") -> str:
    return command.write(result, tmp_path, fmt).read_text(encoding="utf-8")


def test_every_example_proposal_is_pinned():
    assert sorted(p.stem for p in (ROOT / "proposals").glob("*.toml")) == sorted(PINNED)


@pytest.mark.parametrize("name", ["rescue_stopped", "revert_resize_source_down"])
def test_what_nova_already_does_is_no_change(reviews, name, tmp_path):
    # Nova 34 (and so the model) already admits a stopped instance to rescue and accepts
    # a revert whose source compute is down (the revert then waits for the source)
    r = reviews(name)
    assert r.unchanged and r.cells == [] and r.graph.empty and r.broken == []
    assert r.search.new_violations == [] and r.search.coverage_lost == []
    text = _document(r, tmp_path)
    assert "\nVerdict: no change: the baseline already behaves as proposed" in text
    assert "No operation's declaration changes." in text


def test_rescue_of_a_resized_instance_breaks_the_migration_promise(reviews, tmp_path):
    r = reviews("rescue_resized")
    assert r.cells == [Cell("rescue", "resized", "·", "✓")]
    assert r.graph.states_added == ["resized/rescuing/running", "resized/rescuing/shutdown"]
    assert "resized/None/running -> resized/rescuing/running (rescue.api.ok)" in (
        r.graph.transitions_added)
    assert r.graph.states_removed == [] and r.graph.checks_broken == []
    assert "migrations_agree_with_instances" in r.search.new_violations
    assert r.broken and all(b.startswith("search: ") for b in r.broken)
    text = _document(r, tmp_path)
    assert "\nVerdict: the proposal BREAKS a promise the baseline keeps: search: " in text
    assert "| ◆ rescue | ✓ |" in text and "◆ · → ✓" in text
    # the counterexample: its trace in the document, its scenario and picture beside it
    assert "Trace (each step as an operator would describe it):" in text
    assert "rescue vm" in text and (tmp_path / "nova-model-counterexample.json").exists()
    assert "sequenceDiagram" in (tmp_path / "nova-model-counterexample.md").read_text()
    svg = (tmp_path / "review-op_rescue.svg").read_text()
    assert "resized" in svg and "#c62828" in svg  # the changed guard, in the highlight


def test_shelve_without_its_snapshot_makes_the_upload_states_unreachable(reviews, tmp_path):
    r = reviews("shelve_without_snapshot")
    assert r.cells == []
    removed = set(r.graph.states_removed)
    assert removed and all("shelving_image" in s for s in removed)
    assert {"active/shelving_image_pending_upload/running",
            "active/shelving_image_uploading/running"} <= removed
    # without the snapshot (which fails with no guest, LibvirtDriver.snapshot) an
    # instance whose guest is gone can be shelved: its power-off passes and the record
    # takes NOSTATE (CM._get_power_state), so the shelved states with NOSTATE are new
    assert set(r.graph.states_added) == {
        f"shelved/{task}/pending" for task in ("None", "deleting", "powering-on",
                                               "shelving_offloading", "soft-deleting",
                                               "unshelving")}
    assert r.graph.dead_ends_added == []
    assert any("(shelve.shelved.ok)" in t for t in r.graph.transitions_added)
    assert r.search.new_violations == [] and r.broken == []
    text = _document(r, tmp_path)
    assert "\nVerdict: the proposal keeps every promise the baseline keeps (0 guard cells" in text
    svg = (tmp_path / "review-op_shelve.svg").read_text()
    assert "− ok" in svg and "+ ok" in svg  # the removed and the added edge


PINNED = ("rescue_stopped", "revert_resize_source_down", "rescue_resized",
          "shelve_without_snapshot")


def test_the_document_is_the_same_for_the_same_input(reviews, tmp_path):
    # (the exploration's own determinism is tests/render/test_in_sync.py's: it is reused)
    r = reviews("rescue_resized")
    first = _document(r, tmp_path / "a")
    again = compare.review(load(r.proposal.source), examples=EXAMPLES, steps=STEPS,
                           baseline=r.baseline, explorer=lambda _: r.proposed.exploration)
    assert _document(again, tmp_path / "b") == first.replace(str(tmp_path / "a"),
                                                             str(tmp_path / "b"))
    html = _document(r, tmp_path / "c", "html")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "Verdict: the" in html


def test_the_command_exits_1_when_a_promise_breaks_and_0_otherwise(reviews, monkeypatch,
                                                                   tmp_path, capsys):
    for name, code in (("rescue_resized", 1), ("shelve_without_snapshot", 0),
                       ("rescue_stopped", 0)):
        monkeypatch.setattr(compare, "review", lambda *a, _n=name, **k: reviews(_n))
        out = tmp_path / name
        assert cli.main(["review", str(ROOT / "proposals" / f"{name}.toml"), "--out",
                         str(out)]) == code
        printed = capsys.readouterr().out
        assert printed.startswith("Verdict: ") and f"review: {out / 'review.md'}" in printed
        assert (out / "review.md").read_text().splitlines()[2] == printed.splitlines()[0]
