"""Sequence diagrams of a scenario run: who asked whom, and what Placement held.

A run (a scenario replayed by ``nova-model simulate``, or a counterexample found by
``nova-model check``) is drawn as a Mermaid ``sequenceDiagram`` across the services a
Nova request crosses: the operator or API user, nova-api, nova-conductor,
nova-scheduler, Placement, and the nova-compute of every host of the configuration.
A Markdown document puts it above a table of each host's usage before the first step
and after the last.

The picture is drawn from what the run did, not from what the catalogue declares: a
:class:`Recorder`, passed to ``nova_model.scenario.run`` as its observer, looks at the
cluster around every step and every delivery, and writes down

* each request and its answer (the task_state it set, or the error it was refused with),
* the work each step queued, as an asynchronous cast to where the work will run,
* each delivered step, over the participant it ran on, with the outcome taken and the
  instance's task_state (or vm_state) afterwards,
* the scheduler's answer (``select_destinations`` -> the chosen host, or NoValidHost),
* the Placement changes, found by diffing the ledger's allocations before and after:
  a claim, a move between the instance and its migration consumer, a provider added
  or removed, a deletion, with the amount of each resource class on each host.

Nothing depends on dict order or the clock: the same scenario, configuration and seed
give byte-identical output.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass
from typing import Iterable, Mapping

from model import actions, errors
from model.cluster import Cluster, Result, Work
from model.cluster_records import RESOURCE_CLASSES, name_order
from model.config import ClusterConfig
from model.lifecycle import Lifecycle
from model.states import task_label
from nova_model import scenario as scenarios

# --- participants --------------------------------------------------------------------------

USER, API, CONDUCTOR, SCHEDULER, PLACEMENT = "user", "api", "conductor", "scheduler", "placement"

#: The fixed participants, in drawing order: (Mermaid id, the name shown).
SERVICES = ((USER, "Operator / API user"), (API, "nova-api"), (CONDUCTOR, "nova-conductor"),
            (SCHEDULER, "nova-scheduler"), (PLACEMENT, "Placement"))

#: Characters per drawn line of a message or note, and lines at most: a longer text is
#: cut with "…" (the text trace of ``nova-model simulate`` has every word).
WIDTH = 48
MOST_LINES = 5

#: The background of the step at which an invariant was found violated.
VIOLATION_FILL = "rgb(255, 228, 225)"

#: The catalogue's name of the outcome a scheduling step takes when no host fits.
NO_VALID_HOST = "no_valid_host"

Allocations = Mapping[str, Mapping[str, Mapping[str, int]]]


def host_order(hosts: Iterable[str]) -> list[str]:
    """Host names sorted as people count them (compute2 before compute10)."""
    return sorted(hosts, key=lambda h: (name_order(h), h))


def participant_ids(hosts: Iterable[str]) -> dict[str, str]:
    """A Mermaid identifier for each host (a host name may hold ``-`` or ``.``)."""
    ids: dict[str, str] = {}
    for host in host_order(hosts):
        base = "h_" + re.sub(r"\W", "_", host)
        ident, n = base, 1
        while ident in ids.values():
            n += 1
            ident = f"{base}_{n}"
        ids[host] = ident
    return ids


# --- diagram items -------------------------------------------------------------------------

#: Mermaid reads ``;`` as the end of a statement and ``#...;`` as an entity, and would
#: take ``<``/``>`` as HTML: each becomes an entity. A ``:`` inside a text is plain text
#: (only the first one on a line separates it), unless the text starts with Mermaid's
#: ``wrap:``/``nowrap:`` directive, whose colon is escaped then.
_ENTITIES = str.maketrans({"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;"})
_DIRECTIVE = re.compile(r"(?i)^(no)?wrap:")


def mermaid_text(text: str) -> str:
    """``text`` as drawn: wrapped at ``WIDTH``, cut after ``MOST_LINES``, escaped."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(paragraph, WIDTH, break_on_hyphens=False) or [""]
    if len(lines) > MOST_LINES:
        lines = lines[:MOST_LINES]
        lines[-1] = lines[-1][:WIDTH - 1] + "…"
    drawn = "<br>".join(line.translate(_ENTITIES) for line in lines)
    return _DIRECTIVE.sub(lambda m: m.group(0)[:-1] + "#58;", drawn)


@dataclass(frozen=True)
class Message:
    """An arrow: ``->>`` a call, ``-->>`` an answer, ``--x`` a refusal, ``-)`` a cast."""

    src: str
    dst: str
    text: str
    arrow: str = "->>"

    def source(self) -> str:
        return f"{self.src}{self.arrow}{self.dst}: {mermaid_text(self.text)}"


@dataclass(frozen=True)
class Note:
    over: tuple[str, ...]  # one participant, or the first and last of a span
    text: str

    def source(self) -> str:
        return f"Note over {','.join(self.over)}: {mermaid_text(self.text)}"


@dataclass(frozen=True)
class Frame:
    """Opens a frame (``opt`` with a label, ``rect`` with a colour); ``End`` closes it."""

    keyword: str
    label: str

    def source(self) -> str:
        label = self.label if self.keyword == "rect" else mermaid_text(self.label)
        return f"{self.keyword} {label}"


@dataclass(frozen=True)
class End:
    def source(self) -> str:
        return "end"


Item = Message | Note | Frame | End


# --- host usage ----------------------------------------------------------------------------

def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class HostUsage:
    """One host as the usage table shows it: Placement usage/capacity, service flags."""

    used: Mapping[str, int]
    capacity: Mapping[str, float]
    up: bool
    enabled: bool

    def cell(self, rc: str) -> str:
        return f"{_number(self.used[rc])}/{_number(self.capacity[rc])}"

    def service(self) -> str:
        return ("up" if self.up else "down") + ("" if self.enabled else ", disabled")


def host_usage(cluster: Cluster) -> dict[str, HostUsage]:
    """Every host's usage and capacity per resource class, from the Placement ledger."""
    return {name: HostUsage(
        {str(rc): cluster.ledger.usage(name, rc) for rc in RESOURCE_CLASSES},
        {str(rc): cluster.ledger.capacity(name, rc) for rc in RESOURCE_CLASSES},
        cluster.hosts[name].up, cluster.hosts[name].enabled)
        for name in host_order(cluster.hosts)}


# --- Placement changes ---------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One change to the allocations: ``kind`` is move, free, claim, add, remove,
    change (the amounts on one provider) or delete."""

    kind: str
    consumer: str
    text: str


def _amounts(resources: Mapping[str, int]) -> str:
    known = [str(rc) for rc in RESOURCE_CLASSES]
    order = [rc for rc in known if rc in resources] + sorted(set(resources) - set(known))
    return ", ".join(f"{rc} {resources[rc]}" for rc in order)


def _held(allocation: Mapping[str, Mapping[str, int]]) -> str:
    return " + ".join(f"{p} {_amounts(allocation[p])}" for p in host_order(allocation))


def _delta(old: Mapping[str, int], new: Mapping[str, int]) -> str:
    classes = sorted(set(old) | set(new), key=lambda rc: (rc not in RESOURCE_CLASSES, rc))
    return ", ".join(f"{rc} {old.get(rc, 0)} → {new.get(rc, 0)}" for rc in classes
                     if old.get(rc, 0) != new.get(rc, 0))


def _moves(before: Allocations, after: Allocations, owners: Mapping[str, str]
           ) -> list[tuple[str, str]]:
    """(from, to) consumers whose whole allocation moved between an instance and its
    migration (``move_allocations``): only that pair is looked at, so that one server
    deleted while another of the same flavor is claimed is not taken for a move."""
    found = []
    for migration in sorted(owners, key=name_order):
        instance = owners[migration]
        for src, dst in ((instance, migration), (migration, instance)):
            moved = before.get(src)
            if (moved and after.get(dst) == moved and before.get(dst) != moved
                    and after.get(src) != moved):
                found.append((src, dst))
    return found


def _consumer_changes(consumer: str, old: Mapping, new: Mapping) -> list[Change]:
    if old == new:
        return []
    if not old:
        return [Change("claim", consumer, f"claim {consumer} on {_held(new)}")]
    if not new:
        return [Change("delete", consumer, f"delete {consumer} on {_held(old)}")]
    out = []
    for provider in host_order(set(old) | set(new)):
        was, now = old.get(provider), new.get(provider)
        if was == now:
            continue
        if was is None:
            out.append(Change("add", consumer, f"add {provider} to {consumer} {_amounts(now)}"))
        elif now is None:
            out.append(Change("remove", consumer,
                              f"remove {provider} from {consumer} {_amounts(was)}"))
        else:
            out.append(Change("change", consumer, f"{consumer} on {provider} {_delta(was, now)}"))
    return out


def placement_changes(before: Allocations, after: Allocations,
                      owners: Mapping[str, str] | None = None) -> list[Change]:
    """What changed between two allocation maps (consumer -> provider -> class -> amount).

    ``owners`` maps each migration consumer to its instance: a move between the two is
    reported as one move (Nova's ``move_allocations``), then what else each consumer
    gained or lost. Moves come first, then consumers in natural order.
    """
    before = {c: a for c, a in before.items() if a}
    after = {c: a for c, a in after.items() if a}
    changes: list[Change] = []
    was = dict(before)
    for src, dst in _moves(before, after, owners or {}):
        moved = before[src]
        changes.append(Change("move", dst, f"move {src} → {dst} on {_held(moved)}"))
        if before.get(dst):
            # move_allocations replaces what the target held: say what that was.
            changes.append(Change("free", dst, f"free {dst}'s old {_held(before[dst])}"))
        was[src], was[dst] = {}, moved
    for consumer in sorted(set(was) | set(after), key=name_order):
        changes += _consumer_changes(consumer, was.get(consumer) or {},
                                     after.get(consumer) or {})
    return changes


def migration_owners(cluster: Cluster) -> dict[str, str]:
    return {m.uuid: m.instance_uuid for m in cluster.migrations.values()}


# --- what one observation says -------------------------------------------------------------

def _state(cluster: Cluster, uuid: str | None) -> str:
    inst = cluster.instances.get(uuid) if uuid is not None else None
    if inst is None:
        return ""
    if inst.task_state is not None:
        return f"task_state {task_label(inst.task_state)}"
    return f"vm_state {inst.vm_state.value}"


def _error(error: errors.NovaModelError | None, detail: str) -> str:
    return f"{type(error).__name__}: {error.message}" if error is not None else detail


def _outcome_taken(work: Work, requested: str, result: Result) -> str:
    """The outcome the cluster took, which may differ from the one asked for (the
    compute's late server-group check, or the scheduler finding no valid host)."""
    prefix = f"{work.operation}.{work.step}."
    if result.detail.startswith(prefix):
        return result.detail[len(prefix):].split(" ", 1)[0]
    if result.detail.startswith(NO_VALID_HOST):
        return NO_VALID_HOST
    return requested


def _no_valid_host(taken: str, result: Result) -> str | None:
    """The scheduler's reason when a scheduling step found no host, else None."""
    if isinstance(result.error, errors.NoValidHost):
        return result.error.message
    if taken != NO_VALID_HOST:
        return None
    _, _, reason = result.detail.partition(": ")
    return reason


# --- the recorder --------------------------------------------------------------------------

class Recorder:
    """An observer for ``nova_model.scenario.run`` that draws the run as it happens.

    ``items`` are the diagram's lines in order; ``before`` is the host usage before the
    first step; ``starts`` holds, per step, the index of its first item.
    """

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.hosts: dict[str, str] = {}
        self.before: dict[str, HostUsage] | None = None
        self.starts: list[int] = []
        self._allocations: dict = {}
        self._pending: set[str] = set()
        self._usage: dict[str, HostUsage] = {}
        self._start = 0

    def __call__(self, seen: scenarios.Observation) -> None:
        {"step": self._begin, "deliver": self._look, "delivered": self._delivered,
         "done": self._done}[seen.kind](seen)

    # -- bookkeeping

    def _begin(self, seen: scenarios.Observation) -> None:
        cluster = seen.cluster
        if self.before is None:
            self.hosts = participant_ids(cluster.hosts)
            self.before = host_usage(cluster)
        self._usage = host_usage(cluster)
        self._start = len(self.items)
        self._look(seen)

    def _look(self, seen: scenarios.Observation) -> None:
        """Remember the allocations and the pending work, to diff against later."""
        self._allocations = seen.cluster.allocations()
        self._pending = {w.id for w in seen.cluster.pending()}

    def _at(self, target: str | None) -> str:
        return CONDUCTOR if target is None else self.hosts[target]

    def _changes(self, cluster: Cluster) -> list[Change]:
        return placement_changes(self._allocations, cluster.allocations(),
                                 migration_owners(cluster))

    def _casts(self, cluster: Cluster, sender: str) -> list[Item]:
        """The work queued since the last look, cast from ``sender`` to where it runs.

        A step that queues the next one on its own host draws no arrow: the next note
        over that host is the next step."""
        new = sorted((w for w in cluster.pending() if w.id not in self._pending),
                     key=lambda w: name_order(w.id))
        return [Message(sender, self._at(w.target),
                        f"{w.id} {w.operation}.{w.step} {', '.join(w.instances)}",
                        "-)") for w in new if self._at(w.target) != sender]

    def _effects(self, cluster: Cluster, actor: str) -> list[Item]:
        """Placement changes and queued work since the last look, all by ``actor``."""
        items: list[Item] = [Message(actor, PLACEMENT, c.text) for c in self._changes(cluster)]
        return items + self._casts(cluster, actor)

    # -- deliveries

    def _delivered(self, seen: scenarios.Observation) -> None:
        cluster, work, result = seen.cluster, seen.work, seen.result
        assert work is not None and isinstance(result, Result)
        where = self._at(work.target)
        number = f"{seen.index}. " if isinstance(seen.step.action, actions.Deliver) else ""
        head = f"{number}{work.id} {work.operation}.{work.step} {', '.join(work.instances)}"
        taken = _outcome_taken(work, seen.outcome or "ok", result)
        if not result.accepted:
            ran = f"{head} not run\n{_error(result.error, result.detail)}"
        else:
            outcome = "" if taken == "ok" else f" {taken}"
            ran = f"{head}{outcome}\n→ {_state(cluster, work.instance)}"
        items: list[Item] = [Note((where,), ran)]
        scheduled = self._scheduling(cluster, work, taken, result, where)
        items += scheduled if scheduled is not None else self._effects(cluster, where)
        self.items += items
        self._look(seen)

    def _scheduling(self, cluster: Cluster, work: Work, taken: str, result: Result,
                    where: str) -> list[Item] | None:
        """The scheduler's part of a scheduling step, or None if it had none.

        Nova's conductor first moves the source allocation to the migration, then asks
        ``select_destinations``, which claims on the host it picks; a forced host or
        the next alternate of a reschedule is claimed by the conductor alone.
        """
        step = cluster.lc.operation(work.operation).step(work.step)
        if not step.schedules:
            return None
        reason = _no_valid_host(taken, result)
        # (a multi-create's one decision places every instance of the request)
        chosen = [w for w in cluster.pending()
                  if w.id not in self._pending and w.instance in work.instances
                  and w.get("dest")]
        if reason is None and not chosen:
            return None  # e.g. a rebuild on its own host: nothing was chosen
        changes = self._changes(cluster)
        casts = self._casts(cluster, where)
        if work.get("alternates") is not None or (work.get("force") and work.get("host")):
            how = ("claims the next alternate" if work.get("alternates") is not None
                   else "forced host: the scheduler is bypassed")
            return ([Note((where,), how)] + [Message(where, PLACEMENT, c.text) for c in changes]
                    + casts)
        inst = cluster.instances[work.instance]
        flavor = work.get("flavor") or inst.flavor
        items: list[Item] = [Message(where, PLACEMENT, c.text) for c in changes
                             if c.kind == "move"]
        items.append(Message(where, SCHEDULER,
                             f"select_destinations {', '.join(work.instances)} {flavor}"))
        items += [Message(SCHEDULER, PLACEMENT, c.text) for c in changes if c.kind != "move"]
        if reason is not None:
            items.append(Message(SCHEDULER, where, "NoValidHost", "--x"))
            if reason:
                items.append(Note((SCHEDULER,), reason))
        else:
            for placed in chosen:
                dest = placed.get("dest")
                alternates = tuple(placed.get("alternates", ()))
                extra = f" (alternates {', '.join(alternates)})" if alternates else ""
                who = f"{placed.instance}: " if len(work.instances) > 1 else ""
                items.append(Message(SCHEDULER, where, f"{who}{dest}{extra}", "-->>"))
        return items + casts

    # -- the step, once done

    def _done(self, seen: scenarios.Observation) -> None:
        result = seen.result
        assert isinstance(result, scenarios.StepResult)
        after = {actions.Request: self._after_api, actions.Deliver: self._after_deliver,
                 actions.Settle: self._after_settle, actions.HostEvent: self._after_event,
                 actions.GuestEvent: self._after_event, actions.Periodic: self._after_periodic,
                 actions.OperatorChange: self._after_operator}[type(seen.step.action)]
        items = after(seen, result)
        if seen.step.data.get("note"):
            items.append(Note((USER,), seen.step.data["note"]))
        self.items += items
        self.starts.append(self._start)
        self._look(seen)

    def _after_api(self, seen: scenarios.Observation, r: scenarios.StepResult) -> list[Item]:
        cluster = seen.cluster
        items: list[Item] = [Message(USER, API, f"{r.index}. {r.words}")]
        if r.accepted:
            uuid = seen.step.action.instance
            if uuid is None:  # create: the cluster named the new instance, the latest one
                uuid = max(cluster.instances, key=name_order)
            items.append(Message(API, USER, f"accepted, {uuid} {_state(cluster, uuid)}", "-->>"))
        else:
            items += [Message(API, USER, "rejected", "--x"),
                      Note((API,), _error(r.error, r.detail))]
        return items + self._effects(cluster, API)

    def _after_deliver(self, seen: scenarios.Observation, r: scenarios.StepResult) -> list[Item]:
        if len(self.items) > self._start:
            return []  # drawn when it was delivered
        return [Note((CONDUCTOR,), f"{r.index}. {r.words}\nnot run: {r.detail}")]

    def _after_settle(self, seen: scenarios.Observation, r: scenarios.StepResult) -> list[Item]:
        self.items.insert(self._start, Frame("opt", f"{r.index}. {r.words}"))
        delivered = len(self.items) - self._start - 1
        # The runner's detail says more than the count when work was left queued at a
        # host that is down or a listed outcome was never used; an empty frame says it.
        more = "," in r.detail or ";" in r.detail
        items: list[Item] = [Note((CONDUCTOR,), r.detail)] if more or not delivered else []
        return items + [End()]

    def _after_event(self, seen: scenarios.Observation, r: scenarios.StepResult) -> list[Item]:
        cluster, action = seen.cluster, seen.step.action
        if isinstance(action, actions.HostEvent):
            name, host = action.kind, self.hosts[action.host]
            if name in ("disable", "enable"):
                # os-services: the API updates the service record; nova-compute is not told
                items: list[Item] = [Message(USER, API, f"{r.index}. {r.words}"),
                                     Note((host,), f"service {name}d")]
            else:
                # The cluster's detail is "<host> compute service up; <what init_host
                # did>": the words already say the first part.
                _, _, recovered = r.detail.partition("; ")
                items = [Note((host,), f"{r.index}. {r.words}\n{recovered}".strip())]
            return items + self._effects(cluster, host)
        inst = cluster.instances.get(action.instance)
        where = self.hosts.get(inst.host, API) if inst is not None and inst.host else API
        said = (f"→ {_state(cluster, action.instance)}" if r.accepted
                else f"rejected {_error(r.error, r.detail)}")
        return [Note((where,), f"{r.index}. {r.words}\n{said}")] + self._effects(cluster, where)

    def _after_periodic(self, seen: scenarios.Observation, r: scenarios.StepResult
                        ) -> list[Item]:
        host = seen.step.action.host
        if host is not None:
            over: tuple[str, ...] = (self.hosts[host],)
            actor = over[0]
        else:
            # every compute runs it; what it changes goes through the compute API
            ids = list(self.hosts.values())
            over, actor = (ids[0], ids[-1]) if len(ids) > 1 else tuple(ids), API
        return [Note(over, f"{r.index}. {r.words}\n{r.detail}")] + self._effects(seen.cluster,
                                                                                 actor)

    def _after_operator(self, seen: scenarios.Observation, r: scenarios.StepResult
                        ) -> list[Item]:
        action = seen.step.action
        items: list[Item] = [Message(USER, PLACEMENT, f"{r.index}. {r.words}")]
        if not r.accepted:
            return items + [Message(PLACEMENT, USER, "rejected", "--x"),
                            Note((PLACEMENT,), _error(r.error, r.detail))]
        host, rc = action.host, action.resource_class
        was = _number(self._usage[host].capacity[rc])
        now = _number(host_usage(seen.cluster)[host].capacity[rc])
        return items + [Note((PLACEMENT,), f"{host} {rc} capacity {was} → {now}")]


# --- the document --------------------------------------------------------------------------

def _participants(hosts: Mapping[str, str]) -> list[str]:
    lines = [f"actor {USER} as {SERVICES[0][1]}"]
    lines += [f"participant {ident} as {name}" for ident, name in SERVICES[1:]]
    lines += [f"participant {ident} as {mermaid_text(host)}" for host, ident in hosts.items()]
    return lines


def _violated(violation: str) -> list[str]:
    """The invariants a search report names (its lines ``  name: promise``)."""
    import invariants
    return [name for name in invariants.BY_NAME if f"\n  {name}: " in f"\n{violation}"]


def diagram(recorder: Recorder, hosts: Mapping[str, str], violation: str | None = None
            ) -> list[str]:
    """The Mermaid source, one line per item, indented by frame."""
    items = list(recorder.items)
    if violation is not None:
        last = recorder.starts[-1] if recorder.starts else len(items)
        span = (USER, list(hosts.values())[-1] if hosts else PLACEMENT)
        names = ", ".join(_violated(violation)) or "see the violation below"
        steps = len(recorder.starts)
        items = (items[:last] + [Frame("rect", VIOLATION_FILL)] + items[last:]
                 + [Note(span, f"invariant violated after step {steps}\n{names}"), End()])
    lines = ["sequenceDiagram"] + ["  " + line for line in _participants(hosts)]
    depth = 1
    for item in items:
        depth -= isinstance(item, End)
        lines.append("  " * depth + item.source())
        depth += isinstance(item, Frame)
    return lines


def usage_table(before: Mapping[str, HostUsage], after: Mapping[str, HostUsage]) -> list[str]:
    """Markdown rows: used/capacity per class and the service, ``before → after``."""
    def cell(old: str, new: str) -> str:
        return old if old == new else f"{old} → {new}"

    classes = [str(rc) for rc in RESOURCE_CLASSES]
    lines = ["| host | " + " | ".join(classes) + " | nova-compute |",
             "|---" * (len(classes) + 2) + "|"]
    for host in host_order(after):
        old, new = before.get(host, after[host]), after[host]
        cells = [cell(old.cell(rc), new.cell(rc)) for rc in classes]
        cells.append(cell(old.service(), new.service()))
        lines.append(f"| {host} | " + " | ".join(cells) + " |")
    return lines


def _pending(cluster: Cluster) -> list[str]:
    out = []
    for w in cluster.pending():
        where = w.target or "nova-conductor"
        down = "" if w.target is None or cluster.service_is_up(w.target) else " (service down)"
        out.append(f"- `{w.id}` {w.operation}.{w.step} of {w.instance} at {where}{down}")
    return out


def document(run: scenarios.Run, recorder: Recorder, *, violation: str | None = None,
             title: str | None = None, replay: str | None = None) -> str:
    """The Markdown document: summary, the sequence diagram, host usage, pending work,
    and the violation (when a search found one). ``replay`` is the command that
    replays the run (by default ``nova-model simulate`` of the scenario's file)."""
    cluster, scenario = run.cluster, run.scenario
    config = cluster.config
    hosts = participant_ids(cluster.hosts)
    after = host_usage(cluster)
    heading = title or scenario.description or f"Scenario {os.path.basename(scenario.source)}"
    cluster_file = getattr(config, "source", None) or "(built in code)"
    described = f": {config.description}" if getattr(config, "description", "") else ""
    lines = [
        f"# {heading}", "",
        f"- replay: `{replay or 'nova-model simulate ' + scenario.source}`",
        f"- seed {scenario.seed}, {len(scenario.steps)} steps",
        f"- cluster `{cluster_file}`{described}", "",
        "Solid arrows are requests, dashed ones answers (a cross: refused), open-headed ones "
        "casts of queued work (`w7` is the work id); a note over a service is a step it ran, "
        "with the instance's state afterwards.", "",
        "```mermaid", *diagram(recorder, hosts, violation), "```", "",
        "## Host usage", "",
        "Placement usage/capacity per resource class and the nova-compute service, before "
        "the first step → after the last (one value when unchanged).", "",
        *usage_table(recorder.before or after, after),
    ]
    pending = _pending(cluster)
    if pending:
        lines += ["", "## Work still queued after the last step", "", *pending]
    if violation is not None:
        lines += ["", "## Violation", "", "```text", violation.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def render(scenario: scenarios.Scenario, config: ClusterConfig | None = None, *,
           violation: str | None = None, title: str | None = None,
           lifecycle: Lifecycle | None = None, cluster_class: type | None = None,
           replay: str | None = None) -> str:
    """Run ``scenario`` and draw it (raises ScenarioError like ``scenario.run``)."""
    recorder = Recorder()
    extra = {} if cluster_class is None else {"cluster_class": cluster_class}
    run = scenarios.run(scenario, config, lifecycle=lifecycle, observer=recorder, **extra)
    try:
        return document(run, recorder, violation=violation, title=title, replay=replay)
    finally:
        run.close()

