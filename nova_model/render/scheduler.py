"""``scheduler``: the scheduling pipeline as configured, for placement and legacy mode.

Built from ``SchedulerConfig`` values and the filter/weigher registries: the
enabled filters in order (each with its own one-line rule and flags), the
weighers with the multiplier each applies, and the claim and alternates rules
the configuration selects (``model/scheduler/pipeline.py``).
"""

from __future__ import annotations

from model.scheduler.config import SchedulerConfig
from model.scheduler.filters import BaseHostFilter, make_filters
from model.scheduler.host_state import HostState
from model.scheduler.weighers import make_weighers
from nova_model.render.ir import Cluster, Diagram, Edge, Layout, Look, Node, Shape, ident, wrap

NAME = "scheduler"

#: The two configurations drawn: today's default and the seeds-era scheduler.
CONFIGS: tuple[tuple[str, SchedulerConfig], ...] = (
    ("SchedulerConfig() — placement mode (default)", SchedulerConfig()),
    ('SchedulerConfig(mode="legacy")', SchedulerConfig(mode="legacy")),
)

_PROBE = HostState(host="probe", nodename="probe")  # no aggregates: the config multiplier


def first_line(obj) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def is_capacity_filter(flt: BaseHostFilter) -> bool:
    """A filter that decides capacity (it leaves ``limits`` for the compute claim)."""
    return type(flt).limits is not BaseHostFilter.limits


def _fmt(value: float) -> str:
    """1.0 -> "1", -1000000.0 -> "-1,000,000", 1.5 -> "1.5"."""
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pipeline(prefix: str, config: SchedulerConfig) -> tuple[list[Node], list[Edge]]:
    cluster = prefix
    placement = config.mode == "placement"
    nodes: list[Node] = []
    chain: list[str] = []

    def add(key: str, label: str, shape=Shape.BOX, look=Look.PLAIN) -> None:
        node_id = ident(prefix, key)
        nodes.append(Node(node_id, label, shape, look, cluster))
        chain.append(node_id)

    add("request", "RequestSpec\nflavor, image, group, hints,\nrequested/ignored/forced hosts",
        Shape.ELLIPSE, Look.START)
    filters = make_filters(config)
    capacity = [f.name for f in filters if is_capacity_filter(f)]
    if placement:
        add("placement", "Placement: GET /allocation_candidates\n"
            "capacity = (total − reserved) × allocation_ratio\nnone → NoValidHost",
            Shape.CYLINDER, Look.PLACEMENT)
    else:
        add("placement", wrap("no Placement query: capacity is judged by the "
                              + ", ".join(capacity or ["(no capacity filter enabled)"]), 34),
            Shape.BOX, Look.MUTED)
    add("narrow", "requested_destination, ignore_hosts,\nforce_hosts / force_nodes\n"
        "(forced hosts skip the filters)")
    for index, flt in enumerate(filters, 1):
        flags = []
        if flt.run_filter_once_per_request:
            flags.append("once per request")
        if flt.RUN_ON_REBUILD:
            flags.append("runs on rebuild")
        look = Look.PLACEMENT if is_capacity_filter(flt) else Look.HOST
        text = f"{index}. {flt.name}\n{wrap(first_line(type(flt)), 40)}"
        if is_capacity_filter(flt):
            text += "\ncapacity: limit = total × ratio − used (incl. reserved)"
        if flags:
            text += "\n(" + ", ".join(flags) + ")"
        add(f"filter_{index}", text, Shape.BOX, look)
    weighers = make_weighers(config)
    lines = ["weighers (normalised, × multiplier, summed)"]
    for w in weighers:
        lines.append(f"{w.name} × {_fmt(w.weight_multiplier(_PROBE))}")
    add("weighers", "\n".join(lines), Shape.BOX, Look.CONDUCTOR)
    shuffle = "shuffle ties" if config.shuffle_best_same_weighed_hosts else "no shuffle of ties"
    add("choose", f"sort by weight ({shuffle});\nrandom choice among the best "
        f"host_subset_size = {config.host_subset_size}", Shape.HEXAGON, Look.PLAIN)
    if placement:
        add("claim", "claim_resources: PUT /allocations/{instance}\n"
            "on each sorted host in turn; first success wins\nnone → NoValidHost",
            Shape.CYLINDER, Look.PLACEMENT)
    else:
        add("claim", "no claim in the scheduler: the compute's\nresource tracker claims "
            "against Selection.limits", Shape.BOX, Look.MUTED)
    add("alternates", f"alternates (boot, cold migrate/resize only):\n"
        f"up to max_attempts − 1 = {config.max_attempts - 1} more hosts, same cell",
        Shape.BOX, Look.PLAIN)
    add("result", "Selection(host, alternates, limits)", Shape.ELLIPSE, Look.OK)
    edges = [Edge(a, b) for a, b in zip(chain, chain[1:])]
    return nodes, edges


def build() -> Diagram:
    nodes: list[Node] = []
    edges: list[Edge] = []
    clusters = []
    for index, (label, config) in enumerate(CONFIGS):
        prefix = f"cfg{index}"
        clusters.append(Cluster(prefix, label, Look.MUTED))
        n, e = _pipeline(prefix, config)
        nodes += n
        edges += e
    title = ("The scheduler pipeline as configured (SchedulerManager.select_destinations): "
             "filters in order, then weighers, then the claim")
    return Diagram(NAME, title, tuple(nodes), tuple(edges), tuple(clusters),
                   Layout(direction="TB", nodesep=0.6, ranksep=0.3, fontsize=10,
                          edge_fontsize=9))
