"""``task_graph``: the (vm_state, task_state) graph of the single-instance exploration.

Nodes are the (vm_state, task_state) pairs the exploration reached (power_state is
projected out), clustered by vm_state. An edge carries the operations with a step
that moves between two pairs; it is dashed red when every such step is a failure
outcome. When an operation goes to one target from (nearly) every pair of a
cluster, the edges are folded into one edge from the cluster's "any task_state"
node, which names the pairs it does not come from.
"""

from __future__ import annotations

from collections import defaultdict

from model.lifecycle import preempted_step_of
from model.operation import OutcomeKind
from model.states import Task, VmState, task_label
from nova_model.render.common import hub_collapse, hub_label, ops_label
from nova_model.render.derive import TASK_ORDER, VM_ORDER, ModelView, pair_key
from nova_model.render.ir import Cluster, Diagram, Edge, Layout, Line, Look, Node, Shape, ident

NAME = "task_graph"
#: the pairs a hub edge may leave out: more than the other diagrams' ``HUB_MAX_EXCEPTIONS``
#: (a move's queued prep_resize, which checks no task_state, takes an instance in error
#: through the cold-move tasks, and an unshelve, which checks none either, takes an
#: active, stopped, error or soft-deleted one through spawning: the extra pairs otherwise
#: take the edges past the code hosts' Mermaid limit of 500)
TASK_GRAPH_HUB_EXCEPTIONS = 6
#: the one node the steps delivered after another request took their task_state come
#: from (their source is any pair the operation leaves, in whatever vm_state)
TASK_TAKEN = "task_taken"

Pair = tuple[VmState, Task]


# Short ids (enum positions), so that the Mermaid source stays within the code hosts'
# text limit: every edge names two of them.

def pair_id(pair: Pair) -> str:
    vm, task = pair
    return ident("p", VM_ORDER[vm], TASK_ORDER[task] + 1)


def hub_id(vm: VmState) -> str:
    return ident("h", VM_ORDER[vm])


def cluster_id(vm: VmState) -> str:
    return f"v{VM_ORDER[vm]}"


def build(view: ModelView) -> Diagram:
    pairs = view.task_pairs
    by_vm: dict[VmState, list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_vm[pair[0]].append(pair)
    ops_by_edge: dict[tuple[Pair, Pair], set[str]] = {}
    failing: dict[tuple[Pair, Pair], bool] = {}
    # A step delivered after another operation took its task_state can come from any
    # pair that operation leaves: one dotted edge per target pair, from one node.
    preempted: dict[Pair, set[str]] = defaultdict(set)
    for (a, b), triggers in view.task_edges.items():
        lost = {t for t in triggers if preempted_step_of(t) is not None}
        for t in lost:
            preempted[b].add(t.split(".")[0])
        if triggers - lost:
            ops_by_edge[(a, b)] = {t.split(".")[0] for t in triggers - lost}
            failing[(a, b)] = all(view.outcome_kind(t) is not OutcomeKind.OK
                                  for t in triggers - lost)
    remaining, hubs = hub_collapse(ops_by_edge, by_vm, lambda p: p[0],
                                   max_exceptions=TASK_GRAPH_HUB_EXCEPTIONS)

    clusters = tuple(Cluster(cluster_id(vm), vm.value,
                             Look.ERROR if vm is VmState.ERROR else Look.STATE)
                     for vm in sorted(by_vm, key=VM_ORDER.__getitem__))
    cluster_of = {vm: cluster_id(vm) for vm in by_vm}
    nodes = [Node(pair_id(p), task_label(p[1]), Shape.ROUNDED,
                  Look.OK if p[1] is None else Look.PLAIN, cluster_of[p[0]]) for p in pairs]
    hub_vms = sorted({vm for vm, _ in hubs}, key=VM_ORDER.__getitem__)
    nodes += [Node(hub_id(vm), "any task_state", Shape.TEXT, Look.MUTED, cluster_of[vm])
              for vm in hub_vms]
    if preempted:
        nodes.append(Node(TASK_TAKEN, "its task_state taken by another request",
                          Shape.TEXT, Look.MUTED))

    edges = []
    for (a, b), names in sorted(remaining.items(), key=lambda kv: (pair_key(kv[0][0]),
                                                                   pair_key(kv[0][1]))):
        bad = failing[(a, b)]
        edges.append(Edge(pair_id(a), pair_id(b), ops_label(names, 24),
                          Line.DASHED if bad else Line.SOLID, Look.FAULT if bad else Look.PLAIN))
    for (vm, b), by_op in sorted(hubs.items(), key=lambda kv: (VM_ORDER[kv[0][0]],
                                                               pair_key(kv[0][1]))):
        label = hub_label(by_op, lambda p: task_label(p[1]), lambda p: TASK_ORDER[p[1]], 24)
        edges.append(Edge(hub_id(vm), pair_id(b), label, Line.SOLID, Look.MUTED))
    for b, names in sorted(preempted.items(), key=lambda kv: pair_key(kv[0])):
        edges.append(Edge(TASK_TAKEN, pair_id(b), ops_label(names, 24) + " (task taken)",
                          Line.DOTTED, Look.FAULT))
    title = ("(vm_state, task_state) pairs reached by the single-instance exploration, "
             f"clustered by vm_state: {len(pairs)} pairs, {len(view.task_edges)} moves "
             f"drawn as {len(edges)} edges\n"
             "edge label: operations with a step between the two pairs · dashed red: only "
             "failure outcomes · grey: from every other pair of the cluster (but those named) · "
             "dotted red: a step delivered after another operation took its task_state "
             "(from any pair that operation leaves: Step.preempted)")
    return Diagram(NAME, title, tuple(nodes), tuple(edges), clusters,
                   Layout(direction="LR", nodesep=0.12, ranksep=0.9, fontsize=10,
                          edge_fontsize=8))
