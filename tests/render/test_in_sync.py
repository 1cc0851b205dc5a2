"""The committed diagrams/ and docs/lifecycle.md are what the generator produces now."""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nova_model.render import report
from nova_model.render.derive import ModelView
from nova_model.render.generate import SOURCE_FORMATS, build_all, source, write_diagrams

from .conftest import DIAGRAMS, REGENERATE, REPORT, ROOT

SVG_NS = "{http://www.w3.org/2000/svg}"


def _diff(expected: str, actual: str, name: str) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                      f"committed {name}", f"generated {name}", lineterm=""))
    return "\n".join(lines[:40])


def test_every_diagram_source_is_committed_and_in_sync(diagrams):
    stale = []
    for d in diagrams:
        for fmt in SOURCE_FORMATS:
            path = DIAGRAMS / f"{d.name}.{fmt}"
            if not path.exists():
                stale.append(f"missing {path.name}")
                continue
            committed = path.read_text(encoding="utf-8")
            if committed != source(d, fmt):
                stale.append(_diff(committed, source(d, fmt), path.name))
    assert not stale, f"diagrams/ is out of date ({REGENERATE}):\n" + "\n".join(stale[:5])


def test_no_committed_source_without_a_diagram(diagrams):
    names = {d.name for d in diagrams}
    extra = sorted(p.name for fmt in (*SOURCE_FORMATS, "svg") for p in DIAGRAMS.glob(f"*.{fmt}")
                   if p.stem not in names)
    assert not extra, f"diagrams/ holds files of no current diagram: {extra} ({REGENERATE})"


def test_generated_sources_match_the_committed_ones(generated):
    """The writer (not only ``source``) writes what is committed."""
    for path in sorted(generated.iterdir()):
        if path.suffix.lstrip(".") in SOURCE_FORMATS:
            assert path.read_bytes() == (DIAGRAMS / path.name).read_bytes(), path.name


def test_committed_svgs_are_well_formed_and_current(diagrams):
    for d in diagrams:
        path = DIAGRAMS / f"{d.name}.svg"
        assert path.exists(), f"missing {path.name} ({REGENERATE})"
        root = ET.parse(path).getroot()
        assert root.tag == f"{SVG_NS}svg"
        # Graphviz writes every node's id as the <title> of its group: the SVG was
        # rendered from the current diagram (fonts and layout may differ by machine).
        titles = {g.findtext(f"{SVG_NS}title") for g in root.iter(f"{SVG_NS}g")
                  if g.get("class") == "node"}
        assert titles == {n.id for n in d.nodes}, f"{path.name} is stale ({REGENERATE})"


def test_report_is_in_sync(view):
    text, _ = report.markdown(view, REPORT, DIAGRAMS)
    committed = REPORT.read_text(encoding="utf-8") if REPORT.exists() else ""
    assert committed == text, (f"docs/lifecycle.md is out of date ({REGENERATE}):\n"
                               + _diff(committed, text, "lifecycle.md"))


def test_report_links_resolve(view):
    text, _ = report.markdown(view, REPORT, DIAGRAMS)
    for d in build_all(view):
        if d.name.startswith("op_") or d.name in ("vm_states", "task_graph", "scheduler",
                                                    "allocations"):
            link = f"../diagrams/{d.name}.svg"
            assert link in text, f"no link to {link}"
            assert (REPORT.parent / link).resolve() == (DIAGRAMS / f"{d.name}.svg").resolve()


def test_generation_is_deterministic(view, generated, rendering, tmp_path):
    """A second, independent build (fresh derived data, same exploration) is byte-identical,
    SVG included."""
    again = ModelView(view.lifecycle, view.exploration)
    out = tmp_path / "second"
    formats = ("dot", "mmd", "svg") if rendering else ("dot", "mmd")
    write_diagrams(out, formats, diagrams=build_all(again))
    first = sorted(p.name for p in generated.iterdir())
    assert first == sorted(p.name for p in out.iterdir())
    different = [name for name in first
                 if (generated / name).read_bytes() != (out / name).read_bytes()]
    assert not different, f"not byte-identical on regeneration: {different}"
    one, _ = report.markdown(view, REPORT, DIAGRAMS)
    two, _ = report.markdown(again, REPORT, DIAGRAMS)
    assert one == two


@pytest.mark.parametrize("limit_edges, limit_chars", [(500, 50_000)])
def test_mermaid_sources_fit_code_host_limits(limit_edges, limit_chars, diagrams):
    """Code hosts render Mermaid with its default limits (maxEdges 500, maxTextSize 50 000)."""
    for d in diagrams:
        text = source(d, "mmd")
        assert len(d.edges) <= limit_edges, f"{d.name}: {len(d.edges)} edges"
        assert len(text) <= limit_chars, f"{d.name}: {len(text)} characters"
