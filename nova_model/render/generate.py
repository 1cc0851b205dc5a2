"""Build every diagram and write it in the requested formats.

``build_all(view)`` returns the diagrams as values; ``write_diagrams`` writes
each one as Graphviz source (``.dot``), Mermaid source (``.mmd``) and, through
pygraphviz, SVG / PNG rendered from exactly that DOT text. One exploration (the
``ModelView``'s) serves every diagram.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from nova_model.files import make_directory, write_files
from nova_model.render import allocations, operations, raster, scheduler, task_graph, vm_states
from nova_model.render.derive import ModelView
from nova_model.render.dot import to_dot
from nova_model.render.ir import Diagram
from nova_model.render.mermaid import to_mermaid

SOURCE_FORMATS = ("dot", "mmd")
FORMATS = SOURCE_FORMATS + raster.RENDERED
DEFAULT_FORMATS = ("dot", "mmd", "svg")

_WRITERS = {"dot": to_dot, "mmd": to_mermaid}


def build_all(view: ModelView) -> list[Diagram]:
    """Every diagram, in a fixed order."""
    diagrams = [vm_states.build(view)]
    diagrams += [operations.build(op) for op in view.operations]
    diagrams += [task_graph.build(view), scheduler.build(), allocations.build(view.lifecycle)]
    names = [d.name for d in diagrams]
    if len(set(names)) != len(names):
        raise ValueError("two diagrams share a name")
    return diagrams


def source(diagram: Diagram, fmt: str) -> str:
    return _WRITERS[fmt](diagram)


def _generated(path: Path) -> bool:
    return path.suffix.lstrip(".") in FORMATS


def write_diagrams(out: Path, formats: Iterable[str] = DEFAULT_FORMATS,
                   view: ModelView | None = None,
                   diagrams: list[Diagram] | None = None) -> list[Path]:
    """Write the diagrams into ``out``; returns the files written (sorted).

    Rendered formats need pygraphviz: the caller checks ``raster.unavailable()``
    first. Files of a generated kind that belong to no current diagram (an
    operation that left the catalogue) are removed.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s): {', '.join(unknown)}")
    if diagrams is None:
        diagrams = build_all(view or ModelView())
    make_directory(out)
    texts: dict[Path, str | bytes] = {}
    names = {d.name for d in diagrams}
    for diagram in diagrams:
        dot = to_dot(diagram)
        for fmt in formats:
            path = out / f"{diagram.name}.{fmt}"
            if fmt == "dot":
                texts[path] = dot
            elif fmt in _WRITERS:
                texts[path] = _WRITERS[fmt](diagram)
            else:
                texts[path] = raster.render(dot, fmt)
    write_files(texts)
    written = list(texts)
    for stale in sorted(out.iterdir()):
        if (stale.is_file() and _generated(stale) and stale.stem not in names
                and stale.stem.startswith(operations.PREFIX)):
            stale.unlink()
    return sorted(written)
