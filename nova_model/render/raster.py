"""SVG and PNG through pygraphviz (the bundled Graphviz ``dot`` layout; no binary needed)."""

from __future__ import annotations

#: The formats rendered from DOT source (the others are source text).
RENDERED = ("svg", "png")


def unavailable() -> str | None:
    """Why pygraphviz cannot render, or None when it can."""
    try:
        import pygraphviz  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the machine
        return f"pygraphviz cannot be imported ({exc})"
    return None


def render(dot_source: str, fmt: str) -> bytes:
    """Lay out ``dot_source`` with ``dot`` and return the ``fmt`` bytes."""
    if fmt not in RENDERED:
        raise ValueError(f"not a rendered format: {fmt}")
    import pygraphviz

    graph = pygraphviz.AGraph(string=dot_source)
    return graph.draw(format=fmt, prog="dot")
