"""nova-model diagram: write every diagram derived from the model."""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "diagram"
HELP = ("write the lifecycle, operation, task-graph, scheduler and allocation diagrams "
        "(Graphviz .dot, Mermaid .mmd, SVG/PNG)")


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="diagrams", metavar="DIR",
                        help="output directory (default: diagrams/)")
    parser.add_argument("--format", default=None, metavar="FORMATS",
                        help="comma-separated formats among dot, mmd, svg, png "
                             "(default: dot,mmd,svg)")


def parse_formats(text: str | None) -> tuple[tuple[str, ...], bool]:
    """(formats, explicit) from ``--format``; raises UsageError on a bad list."""
    from nova_model.commands import UsageError
    from nova_model.render.generate import DEFAULT_FORMATS, FORMATS

    if text is None:
        return DEFAULT_FORMATS, False
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    if not formats:
        raise UsageError("--format needs at least one of " + ", ".join(FORMATS))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown format {unknown[0]!r} (choose from {', '.join(FORMATS)})")
    return formats, True


def run(args) -> int:
    from nova_model.files import check_directory
    from nova_model.render import raster
    from nova_model.render.generate import SOURCE_FORMATS, write_diagrams

    formats, explicit = parse_formats(args.format)
    out = Path(args.out)
    check_directory(out)  # before every diagram is built
    rendered = [f for f in formats if f in raster.RENDERED]
    status = 0
    if rendered:
        why = raster.unavailable()
        if why is not None:
            print(f"nova-model diagram: skipped {', '.join(f.upper() for f in rendered)}: "
                  f"{why}; wrote the sources only", file=sys.stderr)
            formats = tuple(f for f in formats if f in SOURCE_FORMATS) or SOURCE_FORMATS
            status = 1 if explicit else 0
    written = write_diagrams(out, formats) if formats else []
    names = sorted({p.stem for p in written})
    print(f"wrote {len(written)} files for {len(names)} diagrams to {out}/ "
          f"({', '.join(formats) or 'nothing'})")
    return status
