"""nova-model review PROPOSAL: what would change if the model (and Nova) did this instead."""

from __future__ import annotations

import os
import sys
from pathlib import Path

NAME = "review"
HELP = ("compare a proposed change to the model (a TOML or Python proposal) with the "
        "baseline: guard cells, state graph, search, diagrams; exit 1 when it breaks a "
        "promise the baseline keeps")

#: The review document's file name in --out, per format.
DOCUMENT = {"markdown": "review.md", "html": "review.html"}


def add_arguments(parser) -> None:
    parser.add_argument("proposal", help="the proposal: a .toml file (or a .py module)")
    parser.add_argument("--out", default="review", metavar="DIR",
                        help="where the document, its diagrams and any counterexample go "
                             "(default: review/)")
    parser.add_argument("--format", choices=("markdown", "html"), default="markdown")
    parser.add_argument("--examples", type=int, default=1000,
                        help="search budget per side: runs (default 1000)")
    parser.add_argument("--steps", type=int, default=60, help="rules per run (default 60)")


def run(args) -> int:
    from nova_model.commands import UsageError
    from nova_model.review import compare, proposal

    for name in ("examples", "steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1, got {getattr(args, name)}")
    try:
        loaded = proposal.load(args.proposal)
    except proposal.ProposalError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is not a directory")
    result = compare.review(loaded, examples=args.examples, steps=args.steps)
    path = write(result, out, args.format)
    from nova_model.review.document import verdict

    print(verdict(result))
    print(f"review: {path}")
    return 1 if result.broken else 0


def write(result, out: Path, fmt: str) -> Path:
    """Write the document, the changed operations' SVGs and any new counterexample into
    ``out``; the document's path."""
    from model.catalogue import CATALOGUE
    from nova_model.files import atomic_write
    from nova_model.render import raster
    from nova_model.render.doc import svg_fragment, to_html, to_markdown
    from nova_model.render.dot import to_dot
    from nova_model.review.document import build, changed_diagram
    from nova_model.search import counterexample

    out.mkdir(parents=True, exist_ok=True)
    picture = None
    if result.search.new_violations:
        result.counterexample = counterexample.write(str(out), result.proposed.report,
                                                     "nova-model review")
        picture = os.path.basename(counterexample.picture_path(str(out)))
    diagrams = [changed_diagram(CATALOGUE[name], result.proposed.lifecycle.catalogue[name])
                for name in result.proposal.changed
                if result.proposed.lifecycle.catalogue[name] != CATALOGUE[name]]
    svgs = {}
    if raster.unavailable() is None:
        for d in diagrams:
            svgs[d.name] = raster.render(to_dot(d), "svg").decode("utf-8")
            atomic_write(out / f"{d.name}.svg", svgs[d.name])
    else:
        print(f"nova-model review: diagrams not rendered: {raster.unavailable()}",
              file=sys.stderr)
    doc = build(result, diagrams, picture)
    path = out / DOCUMENT[fmt]
    if fmt == "markdown":
        text = to_markdown(doc, lambda name: f"{name}.svg")
    else:
        text = to_html(doc, lambda name: svg_fragment(svgs[name]) if name in svgs else None)
    atomic_write(path, text)
    return path
