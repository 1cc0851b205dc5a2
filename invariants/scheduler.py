"""Scheduler soundness: every answer the filter scheduler gave agrees with a brute force.

The cluster writes down each scheduling decision (``model/scheduler/decision.py``):
the request spec, the host states the scheduler was handed, Placement's ledger at
that moment, the configuration and the answer. This module re-decides each one
independently of ``model/scheduler/pipeline.py``: it instantiates the enabled filters
itself from the registry (``model/scheduler/filters.py``), calls each one's
``host_passes`` on every host, and checks capacity with its own arithmetic of
Placement's rule, ``(total - reserved) * allocation_ratio``. The isolation an operator
configures (isolated hosts and images, tenant-restricted aggregates) is re-stated here
from the options themselves, so that a filter that lets a host through wrongly is
caught by more than its own verdict.
"""

from __future__ import annotations

import math

from model.operation import Alloc
from model.placement import Ledger
from model.scheduler.decision import ALLOCATION_MOVE, FILTER, SchedulingDecision
from model.scheduler.filters import FILTERS, FilterError

_MEMO = "scheduler_decisions_sound"


def scheduler_decisions_sound(cluster) -> list[str]:
    """Every host the filter scheduler chose passes every enabled filter at the moment of choice, and NoValidHost is only answered when a brute force over all hosts agrees.

    For each decision of ``SchedulerManager.select_destinations`` recorded since the
    last API request, every host the scheduler was shown is judged again: it must not
    be in ``ignore_hosts`` and must be the ``requested_destination`` if there is one
    (``HostManager.get_filtered_hosts``); in placement mode it must be in one of the
    aggregates of the zone asked for (``map_az_to_placement_aggregate``), and the
    request must fit it by
    Placement's rule (``_check_capacity_exceeded``, min_unit/max_unit/step_size), with
    the claim Nova's conductor then makes (``SU.claim_resources`` replaces what the
    instance holds; an evacuation's doubled allocation keeps the source, which
    Placement re-checks); and every enabled filter's ``host_passes`` must accept it.
    With IsolatedHostsFilter enabled, an image of ``isolated_images`` goes only to a
    host of ``isolated_hosts``, and (``restrict_isolated_hosts_to_isolated_images``)
    such a host takes only those images; with AggregateMultiTenancyIsolation enabled,
    a host whose aggregates name tenants under ``filter_tenant_id*`` keys takes only
    their instances. These two are judged from the options and the aggregates, not by
    the filters.
    The chosen host must be such a host; NoValidHost means none is.

    In placement mode a claim can still be refused after the filters passed (Nova
    then tries the next host, ``SchedulerManager._schedule``); a refused host counts
    as unfit only because the recorded ledger cannot fit it, never merely because its
    claim failed, and a refusal the ledger does not explain is reported. The legacy
    scheduler decides capacity with the Ram/Disk/Core filters and claims after
    choosing; a failed claim there is not the scheduler's answer (the choice is still
    judged by the filters, the refusal by the ledger). A host where the consumer already
    holds an allocation is only a candidate if ``GET /allocation_candidates``, which
    counts that allocation as used, offers it.

    Not judged here: forced hosts (``force=True``: the conductor claims on the host
    without asking the scheduler), reschedules to alternates
    (``ComputeTaskManager.build_instances`` claims the alternates the checked decision
    returned, without filtering again) and a rebuild's check of a new image on the
    instance's own host (``_nova_check_type=['rebuild']``: no Placement, only the
    filters that run on rebuild, so "every enabled filter" is not the promise there).
    A move's hand-over of its source allocation to the migration (one POST
    /allocations, ``SchedulerReportClient.move_allocations``) that Placement refused is
    judged too: the batch's cumulative effect never adds usage to a provider, so
    Placement's rule (old allocations of every consumer in the batch removed first;
    a write that leaves usage no higher is accepted) does not refuse it for capacity.
    Each verdict is computed once per decision (kept in the decision's memo).
    """
    decisions = cluster.decisions
    if not decisions:
        return []
    out: list[str] = []
    for decision in decisions:
        if decision.kind not in _JUDGES:
            continue
        verdict = decision.memo.get(_MEMO)
        if verdict is None:
            verdict = decision.memo[_MEMO] = tuple(_JUDGES[decision.kind](decision))
        out.extend(verdict)
    return out


def _judge(d: SchedulingDecision) -> list[str]:
    spec = d.spec
    assert spec is not None
    filters = [FILTERS[name](d.config) for name in d.config.filters]
    placement = d.config.mode == "placement"
    wanted = _resources(spec)
    what = f"{d.operation}.{d.step} for {d.consumer}"
    out: list[str] = []

    def unfit(host) -> list[str]:
        """Every reason the host cannot take the request (empty: it can)."""
        reasons = _placement_reasons(host, spec)
        if placement:
            if spec.member_of and not any(a.name in spec.member_of for a in host.aggregates):
                reasons.append(f"is in none of availability zone {spec.availability_zone}'s "
                               f"aggregates ({', '.join(spec.member_of)})")
            why = _capacity(d, host.host, wanted)
            if why is not None:
                reasons.append(why)
            elif (d.ledger is not None and host.host in d.ledger.allocations_of(d.consumer)
                  and host.host not in d.ledger.candidates(wanted)):
                # (GET /allocation_candidates counts what the consumer already holds
                # there as used: a claim would replace it, but the scheduler never gets
                # to claim a host Placement did not offer)
                reasons.append("is not among Placement's allocation candidates (the "
                               "consumer's own allocation there counts as used)")
        if not (spec.force_hosts or spec.force_nodes) or spec.has_check_type:
            reasons.extend(_filter_reasons(host, spec, filters))
            reasons.extend(_isolation_reasons(host, spec, d.config))
        return reasons

    by_name = {h.host: h for h in d.hosts}
    named: set[str] = set()
    if d.chosen is not None:
        host = by_name.get(d.chosen)
        if host is None:
            out.append(f"{what}: the scheduler chose {d.chosen}, a host it was never shown")
        else:
            reasons = unfit(host)
            if reasons:
                out.append(f"{what}: the scheduler chose {d.chosen}, but it "
                           + "; it ".join(reasons))
    else:
        for host in d.hosts:
            if not unfit(host):
                refused = (" (its claim was refused)" if host.host in d.claim_failed
                           else "")
                out.append(f"{what}: NoValidHost ({d.reason}) although {host.host} "
                           f"passes every enabled filter and fits the request{refused}")
                named.add(host.host)
                break
    for name in d.claim_failed:
        if name not in named and _capacity(d, name, wanted) is None:
            out.append(f"{what}: the claim on {name} was refused although Placement "
                       f"could fit it")
    return out


def _judge_allocation_move(d: SchedulingDecision) -> list[str]:
    if Ledger.why_not_post(d.ledger, dict(d.batch)) is not None:
        return []
    return [f"{d.operation}.{d.step} for {d.consumer}: Placement refused to move the source "
            "allocation to the migration, though the batch fits by Placement's rule "
            "(POST /allocations checks the batch's cumulative effect)"]


_JUDGES = {FILTER: _judge, ALLOCATION_MOVE: _judge_allocation_move}


def _placement_reasons(host, spec) -> list[str]:
    """``HostManager.get_filtered_hosts`` before the filters."""
    out = []
    dest = spec.requested_destination
    if dest is not None and (host.host != dest.host
                             or (dest.node is not None and host.nodename != dest.node)):
        out.append(f"is not the requested destination {dest.host}")
    if host.host.lower() in {h.lower() for h in spec.ignore_hosts}:
        out.append("is in ignore_hosts")
    if spec.force_hosts and host.host.lower() not in {h.lower() for h in spec.force_hosts}:
        out.append("is not a forced host")
    if spec.force_nodes and host.nodename not in set(spec.force_nodes):
        out.append("is not a forced node")
    return out


def _filter_reasons(host, spec, filters) -> list[str]:
    out = []
    for flt in filters:
        if not flt.run_filter_for_index(0):
            continue
        try:
            passed = flt.host_passes(host, spec)
        except FilterError as exc:
            out.append(f"makes {flt.name} raise {exc}")
            continue
        if not passed:
            out.append(f"is rejected by {flt.name}")
    return out


def _isolation_reasons(host, spec, config) -> list[str]:
    """Where the host breaks the isolation the options configure (the documented
    contract of IsolatedHostsFilter and AggregateMultiTenancyIsolation)."""
    out = []
    enabled = config.filters
    if "IsolatedHostsFilter" in enabled:
        host_isolated = host.host in config.isolated_hosts
        image_isolated = spec.image_id is not None and spec.image_id in config.isolated_images
        if image_isolated and not host_isolated:
            out.append(f"is not in isolated_hosts, where image {spec.image_id} must run")
        if (host_isolated and not image_isolated
                and config.restrict_isolated_hosts_to_isolated_images):
            out.append(f"is an isolated host, and image {spec.image_id} is not isolated")
    if "AggregateMultiTenancyIsolation" in enabled:
        tenants = {tenant.strip() for agg in host.aggregates
                   for key, value in agg.metadata.items() if key.startswith("filter_tenant_id")
                   for tenant in value.split(",")}
        if tenants and spec.project_id not in tenants:
            out.append(f"admits only projects {', '.join(sorted(tenants))}, "
                       f"not {spec.project_id}")
    return out


def _resources(spec) -> dict[str, int]:
    """What Nova asks Placement for (``SU.resources_from_request_spec``)."""
    flavor = spec.flavor
    disk = flavor.ephemeral_gb + math.ceil(flavor.swap / 1024)
    if not spec.is_bfv:
        disk += flavor.root_gb
    amounts = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.memory_mb, "DISK_GB": disk}
    return {rc: n for rc, n in amounts.items() if n > 0}


def _capacity(d: SchedulingDecision, host: str, wanted: dict[str, int]) -> str | None:
    """Why Placement would refuse the decision's claim on ``host`` (None: it fits).

    Each claim is a PUT of the consumer's whole allocation: the consumer's old
    allocation is not counted as used, every amount written is checked, and one that
    adds no usage to a provider is accepted there even over its capacity. The
    scheduler's claim (``claim_resources``) keeps what a consumer still holds and
    adds only providers it does not use yet.
    """
    ledger = d.ledger
    if ledger is None or not ledger.has_provider(host):
        return "is not a resource provider in Placement"
    held = ledger.allocations_of(d.consumer)  # a copy, and only read
    current = held
    for effect in d.claims or (Alloc.CLAIM_DEST,):
        if effect is Alloc.CLAIM_DEST_DOUBLED:
            new = {p: dict(r) for p, r in current.items()}
            target = new.setdefault(host, {})
            for rc, n in wanted.items():
                target[rc] = target.get(rc, 0) + n
        elif host in current:
            new = {p: dict(r) for p, r in current.items()}
        else:
            new = {**{p: dict(r) for p, r in current.items()}, host: dict(wanted)}
        for provider, amounts in new.items():
            if not ledger.has_provider(provider):
                return f"needs {provider}, which is not a resource provider in Placement"
            for rc, amount in amounts.items():
                if amount == 0:
                    continue
                inv = ledger.inventory(provider, rc)
                if inv is None:
                    return f"needs {rc} on {provider}, which has no {rc} inventory"
                if amount < inv.min_unit or amount > inv.max_unit or amount % inv.step_size:
                    return (f"needs {rc}={amount}, outside {provider}'s min_unit {inv.min_unit}, "
                            f"max_unit {inv.max_unit}, step_size {inv.step_size}")
                before = ledger.usage(provider, rc)
                others = before - held.get(provider, {}).get(rc, 0)
                capacity = (inv.total - inv.reserved) * inv.allocation_ratio
                # (a write that leaves the provider no fuller than it was is accepted
                # even over capacity: Placement's _check_capacity_exceeded)
                if others + amount > capacity and others + amount > before:
                    where = "" if provider == host else f" (on {provider})"
                    return (f"cannot fit {rc}={amount}{where}: {others} used of "
                            f"capacity {capacity:g}")
        current = new
    return None
