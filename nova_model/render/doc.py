"""A tiny document model and its two writers (Markdown, one self-contained HTML page).

Inline text uses two Markdown constructs only, which both writers understand:
```code``` spans and ``[text](href)`` links.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Callable, Union


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[Union[str, tuple[str, "Bullets"]], ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    """A diagram: a link (Markdown) or the inlined SVG (HTML)."""

    diagram: str
    caption: str
    embed: bool = False  # Markdown: show the image, not only link to it


@dataclass(frozen=True)
class Code:
    text: str


Block = Union[Heading, Para, Bullets, Table, Figure, Code]


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


# --- Markdown ---------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _md_bullets(b: Bullets, depth: int) -> list[str]:
    out = []
    for item in b.items:
        if isinstance(item, tuple):
            text, sub = item
            out.append("  " * depth + f"- {text}")
            out += _md_bullets(sub, depth + 1)
        else:
            out.append("  " * depth + f"- {item}")
    return out


def to_markdown(doc: Document, diagram_href: Callable[[str], str]) -> str:
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += [f'<a id="{block.anchor}"></a>', "", f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Para):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += _md_bullets(block, 0) + [""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
            lines.append("|" + "|".join("---" for _ in block.header) + "|")
            for row in block.rows:
                lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            lines.append("")
        elif isinstance(block, Figure):
            href = diagram_href(block.diagram)
            if block.embed:
                lines += [f"[![{block.caption}]({href})]({href})", ""]
            else:
                lines += [f"Diagram: [{block.caption}]({href})", ""]
        elif isinstance(block, Code):
            lines += ["```", block.text.rstrip("\n"), "```", ""]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


# --- HTML -------------------------------------------------------------------------------

_INLINE = re.compile(r"`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)")


def inline_html(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]).replace("&lt;br&gt;", "<br>"))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1))}</code>")
        else:
            out.append(f'<a href="{html.escape(m.group(3))}">{inline_html(m.group(2))}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]).replace("&lt;br&gt;", "<br>"))
    return "".join(out).replace("\n", "<br>")


def _html_bullets(b: Bullets) -> str:
    parts = ["<ul>"]
    for item in b.items:
        if isinstance(item, tuple):
            text, sub = item
            parts.append(f"<li>{inline_html(text)}{_html_bullets(sub)}</li>")
        else:
            parts.append(f"<li>{inline_html(item)}</li>")
    parts.append("</ul>")
    return "".join(parts)


_STYLE = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #111; line-height: 1.4; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #eef2f7; }
code { background: #f3f3f3; padding: 0 0.2em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
figure { margin: 1em 0; overflow-x: auto; border: 1px solid #ddd; padding: 0.5em; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #555; }
""".strip()


def to_html(doc: Document, diagram_svg: Callable[[str], str | None]) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(doc.title)}</title>", f"<style>\n{_STYLE}\n</style>",
             "</head>", "<body>", f"<h1>{html.escape(doc.title)}</h1>"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(f'<h{block.level} id="{block.anchor}">{inline_html(block.text)}'
                         f"</h{block.level}>")
        elif isinstance(block, Para):
            parts.append(f"<p>{inline_html(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append(_html_bullets(block))
        elif isinstance(block, Table):
            head = "".join(f"<th>{inline_html(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>"
                           for row in block.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Figure):
            svg = diagram_svg(block.diagram)
            if svg is None:
                parts.append(f"<p>Diagram {html.escape(block.diagram)}: not rendered "
                             "(pygraphviz unavailable).</p>")
            else:
                parts.append(f'<figure id="diagram-{html.escape(block.diagram)}">{svg}'
                             f"<figcaption>{inline_html(block.caption)}</figcaption></figure>")
        elif isinstance(block, Code):
            parts.append(f"<pre>{html.escape(block.text)}</pre>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def svg_fragment(svg: str) -> str:
    """An SVG document without its XML prolog, doctype and comments, for inlining."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    return re.sub(r"<!--.*?-->", "", body, flags=re.S).strip()
