"""Mermaid flowchart source for a :class:`~nova_model.render.ir.Diagram` (the only Mermaid writer).

Mermaid renders on code hosts; it has no clusters-as-edge-ends or layout knobs,
so only the direction, shapes, subgraphs, edge kinds and colours carry over.
"""

from __future__ import annotations

from nova_model.render.ir import Cluster, Diagram, Edge, Line, Look, Node, Shape
from nova_model.render.style import EDGE_COLOUR, FILL, FONT_COLOUR, STROKE

_BRACKETS = {
    Shape.BOX: ("[", "]"),
    Shape.ROUNDED: ("(", ")"),
    Shape.ELLIPSE: ("([", "])"),
    Shape.DIAMOND: ("{", "}"),
    Shape.NOTE: (">", "]"),
    Shape.CYLINDER: ("[(", ")]"),
    Shape.HEXAGON: ("{{", "}}"),
    Shape.CIRCLE: ("((", "))"),
    Shape.TEXT: ("[", "]"),
}

_ARROW = {Line.SOLID: "-->", Line.DASHED: "-.->", Line.DOTTED: "-.->", Line.BOLD: "==>"}


def text(label: str) -> str:
    """A quoted Mermaid label: entity-escaped, line breaks as ``<br>``."""
    out = label.replace("#", "#35;").replace("&", "#amp;").replace('"', "#quot;")
    out = out.replace("<", "#lt;").replace(">", "#gt;")
    return '"' + out.replace("\n", "<br>") + '"'


def _yaml(title: str) -> str:
    """The front-matter title: one line, a YAML double-quoted string."""
    flat = " ".join(title.split("\n"))
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _node(n: Node, indent: str) -> str:
    left, right = _BRACKETS[n.shape]
    return f"{indent}{n.id}{left}{text(n.label or ' ')}{right}"


def _cluster(c: Cluster, d: Diagram, depth: int) -> list[str]:
    indent = "  " * depth
    out = [f"{indent}subgraph c_{c.id}[{text(c.label)}]"]
    for child in d.clusters:
        if child.parent == c.id:
            out += _cluster(child, d, depth + 1)
    out += [_node(n, indent + "  ") for n in d.nodes if n.cluster == c.id]
    out.append(f"{indent}end")
    return out


def _edge(e: Edge) -> str:
    arrow = _ARROW[e.line]
    if e.label:
        return f"  {e.src} {arrow}|{text(e.label)}| {e.dst}"
    return f"  {e.src} {arrow} {e.dst}"


def to_mermaid(d: Diagram) -> str:
    direction = "LR" if d.layout.direction == "LR" else "TB"
    lines = ["---", f"title: {_yaml(d.title)}", "---", f"flowchart {direction}"]
    used = sorted({n.look for n in d.nodes}, key=list(Look).index)
    for look in used:
        border = "none" if look is Look.PLAIN else STROKE[look]
        lines.append(f"  classDef {look.value} fill:{FILL[look]},stroke:{border},"
                     f"color:{FONT_COLOUR[look]}")
    for c in d.clusters:
        if c.parent is None:
            lines += _cluster(c, d, 1)
    lines += [_node(n, "  ") for n in d.nodes if n.cluster is None]
    lines += [_edge(e) for e in d.edges]
    by_look: dict[tuple[Look, Line], list[int]] = {}
    for index, e in enumerate(d.edges):
        by_look.setdefault((e.look, e.line), []).append(index)
    for (look, line), indices in sorted(by_look.items(),
                                        key=lambda kv: (list(Look).index(kv[0][0]),
                                                        list(Line).index(kv[0][1]))):
        dash = ",stroke-dasharray:2 3" if line is Line.DOTTED else ""
        lines.append(f"  linkStyle {','.join(map(str, indices))} "
                     f"stroke:{EDGE_COLOUR[look]},color:{EDGE_COLOUR[look]}{dash}")
    for look in used:
        members = [n.id for n in d.nodes if n.look is look]
        if members:
            lines.append(f"  class {','.join(members)} {look.value}")
    for c in d.clusters:
        lines.append(f"  style c_{c.id} fill:{FILL[c.look]},stroke:{STROKE[c.look]},"
                     f"color:{FONT_COLOUR[c.look]}")
    return "\n".join(lines) + "\n"
