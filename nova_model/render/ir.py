"""The format-neutral description of a diagram.

Every diagram is built once as a :class:`Diagram` value; :mod:`.dot` and
:mod:`.mermaid` each turn that value into source text, and :mod:`.raster`
renders the DOT text (SVG, PNG). Nothing here knows what a diagram shows.

Labels are plain text; ``"\\n"`` separates lines. Styles are a small closed
vocabulary (:class:`Look`) so that each writer maps them in exactly one place.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Iterable


class Shape(StrEnum):
    BOX = "box"
    ROUNDED = "rounded"
    ELLIPSE = "ellipse"
    DIAMOND = "diamond"
    NOTE = "note"
    CYLINDER = "cylinder"
    HEXAGON = "hexagon"
    CIRCLE = "circle"
    TEXT = "plaintext"


class Look(StrEnum):
    """Node and edge colouring, by meaning (both writers map these)."""

    PLAIN = "plain"
    STATE = "state"          # a stable state
    START = "start"          # where a flow begins
    GUARD = "guard"          # an API guard
    API = "api"              # a step run by nova-api
    CONDUCTOR = "conductor"  # a step run by nova-conductor
    HOST = "host"            # a step run by the instance's compute host
    SOURCE = "source"        # a step run by the source compute host
    DEST = "dest"            # a step run by the destination compute host
    SCHEDULER = "scheduler"  # the scheduler
    PLACEMENT = "placement"  # the Placement ledger
    OK = "ok"                # success
    ENV = "env"              # the world decided (no valid host)
    FAULT = "fault"          # a failure
    ERROR = "error_state"    # the error vm_state, an error end state
    MUTED = "muted"          # secondary information


class Line(StrEnum):
    SOLID = "solid"
    DASHED = "dashed"
    DOTTED = "dotted"
    BOLD = "bold"


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    shape: Shape = Shape.BOX
    look: Look = Look.PLAIN
    cluster: str | None = None


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str = ""
    line: Line = Line.SOLID
    look: Look = Look.PLAIN
    #: layout hint only: the edge does not pull its ends into rank order
    constraint: bool = True


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str
    look: Look = Look.PLAIN
    parent: str | None = None


@dataclass(frozen=True)
class Layout:
    """Fixed Graphviz layout attributes (Mermaid uses only ``direction``)."""

    direction: str = "TB"       # TB or LR
    nodesep: float = 0.35
    ranksep: float = 0.5
    fontsize: int = 11
    edge_fontsize: int = 9
    splines: str = "spline"


@dataclass(frozen=True)
class Diagram:
    name: str
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...] = ()
    layout: Layout = field(default_factory=Layout)
    #: Graphviz rank constraints: ("min" | "max" | "same", node ids)
    ranks: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: duplicate node ids")
        known, clusters = set(ids), {c.id for c in self.clusters}
        for e in self.edges:
            if e.src not in known or e.dst not in known:
                raise ValueError(f"{self.name}: edge {e.src}->{e.dst} names an unknown node")
        for n in self.nodes:
            if n.cluster is not None and n.cluster not in clusters:
                raise ValueError(f"{self.name}: node {n.id} in unknown cluster {n.cluster}")


def ident(*parts: object) -> str:
    """A node id safe in DOT and Mermaid: letters, digits and underscores only."""
    text = "_".join(str(p) for p in parts)
    out = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in text)
    return "n_" + out


def wrap(text: str, width: int = 32) -> str:
    """Wrap each line of ``text`` at ``width`` characters (break on spaces only)."""
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(textwrap.wrap(line, width, break_long_words=False,
                                   break_on_hyphens=False) or [""])
    return "\n".join(lines)


def join_wrapped(items: Iterable[str], width: int = 30, sep: str = ", ") -> str:
    """Join ``items`` with ``sep``, starting a new line before ``width`` is passed."""
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current}{sep}{item}" if current else item
        if current and len(candidate) > width:
            lines.append(current + sep.rstrip())
            current = item
        else:
            current = candidate
    if current:
        lines.append(current)
    return "\n".join(lines)
