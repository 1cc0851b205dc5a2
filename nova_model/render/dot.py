"""Graphviz DOT source for a :class:`~nova_model.render.ir.Diagram` (the only DOT writer)."""

from __future__ import annotations

from nova_model.render.ir import Cluster, Diagram, Edge, Line, Node, Shape
from nova_model.render.style import EDGE_COLOUR, FILL, FONT, FONT_COLOUR, STROKE

_SHAPE = {
    Shape.BOX: ("box", "filled"),
    Shape.ROUNDED: ("box", "rounded,filled"),
    Shape.ELLIPSE: ("ellipse", "filled"),
    Shape.DIAMOND: ("diamond", "filled"),
    Shape.NOTE: ("note", "filled"),
    Shape.CYLINDER: ("cylinder", "filled"),
    Shape.HEXAGON: ("hexagon", "filled"),
    Shape.CIRCLE: ("circle", "filled"),
    Shape.TEXT: ("plaintext", ""),
}

_LINE = {Line.SOLID: "solid", Line.DASHED: "dashed", Line.DOTTED: "dotted", Line.BOLD: "bold"}


def quote(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` in ``text`` becomes a centred line break."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _attrs(pairs: list[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{k}={quote(v)}" for k, v in pairs) + "]"


def _node(n: Node, indent: str) -> str:
    shape, style = _SHAPE[n.shape]
    pairs = [("label", n.label), ("shape", shape)]
    if style:
        pairs += [("style", style), ("fillcolor", FILL[n.look])]
    pairs += [("color", STROKE[n.look]), ("fontcolor", FONT_COLOUR[n.look])]
    if n.shape is Shape.CIRCLE:
        pairs += [("fixedsize", "true"), ("width", "0.3"), ("fontsize", "8")]
    return f"{indent}{quote(n.id)} {_attrs(pairs)};"


def _edge(e: Edge) -> str:
    pairs = [("label", e.label)] if e.label else []
    pairs += [("style", _LINE[e.line]), ("color", EDGE_COLOUR[e.look]),
              ("fontcolor", EDGE_COLOUR[e.look])]
    if not e.constraint:
        pairs.append(("constraint", "false"))
    return f"  {quote(e.src)} -> {quote(e.dst)} {_attrs(pairs)};"


def _cluster(c: Cluster, d: Diagram, depth: int) -> list[str]:
    indent = "  " * depth
    out = [f"{indent}subgraph {quote('cluster_' + c.id)} {{",
           f"{indent}  graph {_attrs([('label', c.label), ('style', 'rounded,filled'), ('fillcolor', FILL[c.look]), ('color', STROKE[c.look]), ('fontcolor', FONT_COLOUR[c.look])])};"]
    for child in d.clusters:
        if child.parent == c.id:
            out += _cluster(child, d, depth + 1)
    out += [_node(n, indent + "  ") for n in d.nodes if n.cluster == c.id]
    out.append(f"{indent}}}")
    return out


def to_dot(d: Diagram) -> str:
    lay = d.layout
    lines = [
        f"digraph {quote(d.name)} {{",
        "  graph " + _attrs([
            ("label", d.title), ("labelloc", "t"), ("fontname", FONT), ("fontsize", "14"),
            ("rankdir", lay.direction), ("nodesep", f"{lay.nodesep:g}"),
            ("ranksep", f"{lay.ranksep:g}"), ("splines", lay.splines), ("newrank", "true"),
            ("bgcolor", "white"), ("pad", "0.2"),
        ]) + ";",
        "  node " + _attrs([("fontname", FONT), ("fontsize", str(lay.fontsize)),
                            ("margin", "0.12,0.06"), ("penwidth", "1")]) + ";",
        "  edge " + _attrs([("fontname", FONT), ("fontsize", str(lay.edge_fontsize)),
                            ("arrowsize", "0.7"), ("penwidth", "1")]) + ";",
    ]
    for c in d.clusters:
        if c.parent is None:
            lines += _cluster(c, d, 1)
    lines += [_node(n, "  ") for n in d.nodes if n.cluster is None]
    for rank, ids in d.ranks:
        lines.append(f"  {{ rank={rank}; " + " ".join(f"{quote(i)};" for i in ids) + " }")
    lines += [_edge(e) for e in d.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"
