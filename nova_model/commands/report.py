"""nova-model report: the design-review document, generated from the model."""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "report"
HELP = ("write the design-review document: guard matrix, operations, invariants, "
        "configuration, Nova's docs vs the model, capacity arithmetic")

_DEFAULT_OUT = {"markdown": "docs/lifecycle.md", "html": "docs/lifecycle.html"}


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="output file (default: docs/lifecycle.md, or "
                             "docs/lifecycle.html with --format html)")
    parser.add_argument("--format", choices=("markdown", "html"), default="markdown")
    parser.add_argument("--diagrams", default="diagrams", metavar="DIR",
                        help="where the diagrams are, for the Markdown links "
                             "(default: diagrams/)")


def run(args) -> int:
    from nova_model.commands import UsageError
    from nova_model.files import atomic_write, check_directory, make_directory
    from nova_model.render import raster, report
    from nova_model.render.derive import ModelView
    from nova_model.render.generate import build_all, source

    out = Path(args.out or _DEFAULT_OUT[args.format])
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name")
    check_directory(out.parent)  # before the document is built
    view = ModelView()
    if args.format == "markdown":
        text, disagreements = report.markdown(view, out, Path(args.diagrams))
    else:
        why = raster.unavailable()
        if why is not None:
            print(f"nova-model report: diagrams not inlined: {why}", file=sys.stderr)
            svgs = {}
        else:
            svgs = {d.name: d for d in build_all(view)}

        def svg_for(name: str) -> str | None:
            d = svgs.get(name)
            return None if d is None else raster.render(source(d, "dot"), "svg").decode("utf-8")

        text, disagreements = report.html_page(view, out, Path(args.diagrams), svg_for)
    make_directory(out.parent)
    atomic_write(out, text)
    print(f"wrote {out} ({args.format}; {disagreements} disagreements with Nova's "
          f"documentation)")
    return 0
