"""The report's content and the two commands."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from nova_model import cli
from nova_model.render import generate, nova_docs, raster, report
from nova_model.render.compare import Comparison
from nova_model.render.doc import Document

from .conftest import DIAGRAMS, REPORT


def test_capacity_section_has_the_worked_numbers():
    doc = Document("t")
    report._capacity(doc)
    text = "\n".join(getattr(b, "text", "") for b in doc.blocks)
    assert "97,792" in text and "97,536" in text and "256 MiB" in text


def test_transcription_maps_onto_the_catalogue():
    assert len(nova_docs.REQUIREMENTS) == 20 and len(nova_docs.COMMANDS_BY_STATE) == 10
    for command, vms, _, target in nova_docs.REQUIREMENTS:
        assert command in nova_docs.COMMAND_WORDS
        for word in nova_docs.words(vms) + nova_docs.words(target):
            assert word in nova_docs.VM_WORDS
    for state, commands in nova_docs.COMMANDS_BY_STATE:
        assert state.lower() in nova_docs.VM_WORDS
        assert all(c in nova_docs.COMMAND_WORDS for c in nova_docs.words(commands))


def test_known_disagreements_are_flagged(view):
    rows = {r.command: r for r in Comparison(view).requirements()}
    assert not rows["pause"].vms_agree            # the page: Active, Shutoff, Rescued
    assert rows["unpause"].agrees
    assert not rows["confirm resize"].vms_agree   # the code: resized only
    states = {r.state_word: r for r in Comparison(view).states()}
    assert "pause" in states["Shutoff"].only_doc


def test_report_counts_disagreements(view):
    _, disagreements = report.markdown(view, REPORT, DIAGRAMS)
    assert disagreements > 0


def test_html_page_is_self_contained(view, generated, rendering):
    if not rendering:
        pytest.skip("pygraphviz unavailable")

    def svg_for(name):
        return (generated / f"{name}.svg").read_text(encoding="utf-8")

    page, _ = report.html_page(view, Path("docs/lifecycle.html"), DIAGRAMS, svg_for)
    assert page.count("<svg") == len(list(generated.glob("*.svg")))
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    parser = HTMLParser()
    parser.feed(page)
    parser.close()


# --- commands ---------------------------------------------------------------------------

@pytest.fixture
def shared_view(monkeypatch, view):
    """The commands build a ModelView(); give them the session's (no second exploration)."""
    monkeypatch.setattr(generate, "ModelView", lambda: view)
    import nova_model.render.derive as derive
    monkeypatch.setattr(derive, "ModelView", lambda *a, **k: view)
    return view


def test_diagram_rejects_a_bad_format(capsys):
    assert cli.main(["diagram", "--format", "gif"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown format" in err


def test_diagram_without_pygraphviz_writes_sources(shared_view, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(raster, "unavailable", lambda: "pygraphviz cannot be imported (test)")
    assert cli.main(["diagram", "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skipped SVG" in err
    assert sorted({p.suffix for p in (tmp_path / "a").iterdir()}) == [".dot", ".mmd"]
    assert cli.main(["diagram", "--out", str(tmp_path / "b"), "--format", "svg,png"]) == 1
    assert "skipped SVG, PNG" in capsys.readouterr().err
    assert sorted({p.suffix for p in (tmp_path / "b").iterdir()}) == [".dot", ".mmd"]


def test_report_command_writes_the_markdown(shared_view, tmp_path, capsys, monkeypatch):
    out = tmp_path / "docs" / "lifecycle.md"
    assert cli.main(["report", "--out", str(out), "--diagrams", str(DIAGRAMS)]) == 0
    assert "disagreements" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Nova instance lifecycle")
    assert str(Path("diagrams") / "vm_states.svg") in text or "vm_states.svg" in text


def test_report_html_without_pygraphviz(shared_view, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(raster, "unavailable", lambda: "pygraphviz cannot be imported (test)")
    out = tmp_path / "page.html"
    assert cli.main(["report", "--format", "html", "--out", str(out)]) == 0
    assert "not inlined" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
