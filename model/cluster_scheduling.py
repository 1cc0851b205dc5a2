"""The cluster's use of the scheduler: the RequestSpec and HostStates it builds from
its state, one scheduling decision (or a multi-create's batch) and the claims it
makes, the late group check, and the group races it notes.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from types import MappingProxyType
from typing import Any, Mapping

from model.cluster_compat import (
    Inventory, Ledger, ResourceClass, aggregates_of, group_policy, host_aggregates,
    host_attr, project_of,
)
from model.cluster_records import RESOURCE_CLASSES, name_order as _num
from model.cluster_results import FORCED_PAST_THE_FILTERS, SCHEDULING_ALLOCS
from model.cluster_state import AllocationCause, GroupRace, Work
from model.lifecycle import Instance
from model.operation import Alloc, Branch, HostChange, IgnoreHosts, SchedulerUse
from model.scheduler import (
    Destination, Flavor, HostState, InstanceGroup, NoValidHost, RequestSpec,
    select_destinations,
)
from model.scheduler.decision import (
    ALLOCATION_MOVE, ALTERNATE, FILTER, FORCED, REBUILD, SchedulingDecision,
)
from model.scheduler.filters import FilterError, SimpleCIDRAffinityFilter
from model.scheduler.pipeline import placement_resources
from model.scheduler.request_filter import map_az_to_placement_aggregate
from model.states import MIGRATION_FINAL, MigrationStatus as MS, PowerState, VmState


#: The zone Nova gives its control services (``internal_service_availability_zone``):
#: the API counts it as available, so a create asking for it reaches the scheduler.
INTERNAL_SERVICE_AVAILABILITY_ZONE = "internal"


#: What the scheduler sees of a resource class a host has no inventory of.
_NO_INVENTORY = Inventory(total=0)


#: the migration statuses the compute's late group check does not count as in progress
#: (``migration_get_in_progress_by_host_and_node``)
_SETTLED_FOR_THE_GROUP_CHECK = MIGRATION_FINAL | {MS.DONE}


class Scheduling:
    """Request specs, host states, scheduling and batches."""

    def schedule_batch(self, live: list[Instance], work: Work, branch: Branch
                        ) -> list[dict[str, Any]]:
        """One ``select_destinations`` for the instances of a multi-create; returns
        each one's ``dest`` (and ``alternates``). Placement claims are per instance
        (``SchedulerManager._claim_resources`` inside the loop of ``_schedule``); the
        caller restores the ledger on NoValidHost."""
        op = work.operation
        head = live[0]
        flavor = self.flavors[head.flavor]
        uuids = tuple(i.uuid for i in live)
        spec = dataclasses.replace(self.request_spec(head, work), instance_uuids=uuids,
                                   num_instances=len(live))
        legacy = self.scheduler_config.mode != "placement"
        hosts = self.host_states()
        #: per instance: Placement as its claims saw it, and the hosts that refused it
        seen: dict[int, tuple[Ledger, list[str]]] = {}
        chosen: list[str] = []

        def candidates(s: RequestSpec):
            wanted = {ResourceClass(rc): n for rc, n in placement_resources(s).items()}
            return list(self.ledger.candidates(wanted))

        def claim(host_state: HostState, s: RequestSpec, index: int) -> bool:
            ledger, refused = seen.setdefault(index, (self.ledger.copy(), []))
            if self._claim_effects(live[index], branch, host_state.host, flavor, None):
                return True
            refused.append(host_state.host)
            return False

        try:
            selections = select_destinations(
                hosts, spec, self.scheduler_config, rng=self.rng,
                placement_candidates=candidates, claim=claim,
                return_alternates=self._reschedules(op),
                on_choice=lambda index, host_state: chosen.append(host_state.host))
        except NoValidHost as exc:
            self._decided_batch(live, work, spec, hosts, chosen, seen, branch, exc.reason)
            raise
        if legacy:  # the legacy scheduler chose them all; now each is claimed in turn
            for index, host in enumerate(chosen):
                seen[index] = (self.ledger.copy(), [])
                if not self._claim_effects(live[index], branch, host, flavor, None):
                    seen[index][1].append(host)
                    reason = f"claim on {host} failed"
                    self._decided_batch(live, work, spec, hosts, chosen[:index + 1], seen,
                                        branch, reason, claim_failed=True)
                    raise NoValidHost(reason)
        self._decided_batch(live, work, spec, hosts, chosen, seen, branch, None)
        out = []
        for selection in selections:
            changes: dict[str, Any] = {"dest": selection.service_host}
            if self._reschedules(op):
                changes["alternates"] = tuple(a.host for a in selection.alternates)
            out.append(changes)
        return out

    def _decided_batch(self, live: list[Instance], work: Work, spec: RequestSpec,
                       hosts: list[HostState], chosen: list[str],
                       seen: Mapping[int, tuple[Ledger, list[str]]], branch: Branch,
                       reason: str | None, claim_failed: bool = False) -> None:
        """Write down a multi-create's decision as one decision per instance placed
        (and one for the instance no host was found for): each as the world stood for
        that instance, with the members placed before it in the same request counted
        as ``SchedulerManager._consume_selected_host`` counts them (the chosen host's
        state consumed and holding the member, the group's hosts with its host).
        Worked out here from the hosts chosen, not taken from the scheduler, so that
        a scheduler that forgets the earlier members is judged against them."""
        states = {h.host: h for h in hosts}
        order = [h.host for h in hosts]
        spec_i = spec
        now = self.ledger.copy()  # Placement once the earlier members were claimed
        last = len(chosen) if reason is None or claim_failed else len(chosen) + 1
        for index, inst in enumerate(live[:last]):
            spec_i = dataclasses.replace(spec_i, instance_uuid=inst.uuid)
            ledger, refused = seen.get(index, (now, []))
            shown = [states[h] for h in order]
            if index < len(chosen):
                host = chosen[index]
                failed = reason if claim_failed and index == len(chosen) - 1 else None
                self._decided(FILTER, inst, work, host, failed, spec_i, shown, ledger,
                              branch, refused)
                states[host] = states[host].consume_from_request(spec_i, inst.uuid)
                group = spec_i.instance_group
                if group is not None:
                    spec_i = dataclasses.replace(spec_i, instance_group=dataclasses.replace(
                        group, hosts=(*group.hosts, host)))
            else:
                self._decided(FILTER, inst, work, None, reason, spec_i, shown, ledger,
                              branch, refused)

    def group_policy_violated(self, inst: Instance, host: str | None) -> bool:
        """``CM._validate_instance_group_policy``: would ``host`` break a hard policy?

        Anti-affinity counts the other members on the host and those with a migration
        in progress from or to it, as its record says (Nova 24 and later:
        ``MigrationList.get_in_progress_by_host_and_node``, where done is not in
        progress); affinity looks at the other members' ``instance.host`` only
        (``InstanceGroup.get_hosts``).
        """
        group = self.info[inst.uuid].group if inst.uuid in self.info else None
        if group is None or host is None:
            return False
        policy, rules = group_policy(self.config, group)
        others = [self.instances[u] for u in self.groups.get(group, ())
                  if u != inst.uuid and u in self.instances
                  and self.instances[u].state != "new"
                  and self.instances[u].vm_state is not VmState.DELETED]
        if policy == "anti-affinity":
            moving = {m.instance_uuid for m in self.migrations.values()
                      if m.status not in _SETTLED_FOR_THE_GROUP_CHECK
                      and host in (m.source, m.dest)}
            here = sum(1 for o in others if o.host == host or o.uuid in moving)
            return here >= int(rules.get("max_server_per_host", 1))
        if policy == "affinity":
            return any(o.host is not None and o.host != host for o in others)
        return False

    def note_scheduled(self, inst: Instance, work: Work, branch: Branch,
                        migration_uuid: str | None, before: Ledger) -> None:
        """What a scheduling step took over that findings are keyed on: an allocation on
        a down host carried into the move's migration, and a group member placed while
        another member was still on its way."""
        mover = migration_uuid or (inst.migration.uuid if inst.migration else None)
        if Alloc.MOVE_SOURCE_TO_MIGRATION in branch.alloc and mover is not None:
            for host in before.allocations_view(inst.uuid):
                if (host != inst.host and not self.service_is_up(host)
                        and host in self.ledger.allocations_view(mover)):
                    self.carried_allocations[mover] = AllocationCause(
                        host, work.operation, work.step, "ok")
        if (SCHEDULING_ALLOCS & set(branch.alloc) and work.get("dest")
                and not (work.get("force") and work.get("host")) and not work.get("flavor")
                and self.requested_flavor(inst, work) != inst.flavor):
            # the RequestSpec still holds a failed resize's new flavor
            self.spec_flavor_claims[inst.uuid] = AllocationCause(
                work.get("dest"), work.operation, work.step, "ok")
        group = self.info[inst.uuid].group if inst.uuid in self.info else None
        if group is None:
            return
        members = set(self.groups.get(group, ())) - {inst.uuid}
        if work.get("force") and work.get("host"):
            # a forced destination skipped the scheduler's group filters: the member is
            # on its way there whatever its group's policy says, until the compute's
            # late check (if its move makes one) refuses it
            for other in sorted(members):
                race = GroupRace(work.operation, work.step, work.get("dest") or "", other,
                                 FORCED_PAST_THE_FILTERS)
                seen = self.group_races.get(inst.uuid, ())
                if race not in seen:
                    self.group_races[inst.uuid] = seen + (race,)
        # a member still being built has no instance.host for the group filters (nor,
        # for an alternate, is the move filtered again): a move scheduled meanwhile may
        # go where that member's build then breaks the policy
        moving = self.lc.operation(work.operation).host_change is HostChange.LEAVES
        for w in self.work.values():
            other_op = self.lc.operation(w.operation)
            if w.instance in members and (other_op.host_change is not HostChange.NONE
                                          or (moving and other_op.creates_instance)):
                for uuid, other in ((inst.uuid, w.instance), (w.instance, inst.uuid)):
                    race = GroupRace(work.operation, work.step, work.get("dest") or "",
                                     other, w.operation)
                    seen = self.group_races.get(uuid, ())
                    if race not in seen:
                        self.group_races[uuid] = seen + (race,)

    def host_states(self) -> list[HostState]:
        """What the scheduler sees: configured hosts, their flags, and each compute's
        last saved record (``HostState._update_from_compute_node``). Nothing the
        scheduler consumed for an earlier request is left in it: ``HostManager.
        _get_host_states`` builds a new map of HostStates for every request, so a host
        chosen before its compute saved a newer record looks as it did (only the
        instances of one multi-create see each other, ``_consume_selected_host``). The
        allocation ratios are the compute's own (an operator's change in Placement does
        not reach them)."""
        on_host: dict[str, dict[str, Mapping[str, Any]]] = {h: {} for h in self.hosts}
        images = self.images
        for uuid, inst in self.placed_instances():
            if inst.host in on_host and inst.vm_state is not VmState.DELETED:
                on_host[inst.host][uuid] = images.get(inst.image, {}) or {}
        states = []
        for name in sorted(self.hosts):
            rec = self.hosts[name]
            cpu, mem, disk = (self._inventory(name, rc) for rc in RESOURCE_CLASSES)
            base = self.base_inventories[name]
            own_cpu, own_mem, own_disk = (base.get(ResourceClass(rc), _NO_INVENTORY)
                                          for rc in RESOURCE_CLASSES)
            tracker = self.trackers[name]
            vcpus_used, memory_used, disk_used, instances, io_ops, failed = tracker.saved
            # (the hypervisor's own disk_available_least is taken to be no lower)
            free_ram_mb = own_mem.total - memory_used
            free_disk_mb = (own_disk.total - disk_used) * 1024
            states.append(HostState(
                host=name, nodename=name, uuid=name,
                total_usable_ram_mb=own_mem.total,
                free_ram_mb=free_ram_mb,
                total_usable_disk_gb=own_disk.total,
                free_disk_mb=free_disk_mb,
                disk_mb_used=disk_used * 1024,
                vcpus_total=own_cpu.total, vcpus_used=vcpus_used,
                num_instances=instances, num_io_ops=io_ops, failed_builds=failed,
                cpu_allocation_ratio=own_cpu.allocation_ratio,
                ram_allocation_ratio=own_mem.allocation_ratio,
                disk_allocation_ratio=own_disk.allocation_ratio,
                service_up=rec.up, service_disabled=not rec.enabled,
                hypervisor_hostname=name,
                instances=on_host[name],
                reserved_host_memory_mb=mem.reserved,
                reserved_host_disk_mb=disk.reserved * 1024,
                reserved_host_cpus=cpu.reserved,
                **self.host_static[name],
            ))
        return states

    def instance_placed(self, inst: Instance) -> None:
        """The lifecycle gave ``inst`` a host (``World.instance_placed``)."""
        if self.placed_uuids is not None:
            self.placed_uuids[inst.uuid] = None

    def placed_instances(self) -> list[tuple[str, Instance]]:
        """The instances that have a host, in creation order.

        Kept as an index of the instances a transition placed, pruned here of those
        that left their host since: every scheduling decision asks, and scanning all
        instances each time made creating n instances quadratic (most of a large
        cluster's failed boots have no host). Rebuilt by one scan after a restore."""
        instances = self.instances
        if self.placed_uuids is None:
            self.placed_uuids = dict.fromkeys(u for u, i in instances.items() if i.host is not None)
        placed = self.placed_uuids
        for uuid in [u for u in placed if u not in instances or instances[u].host is None]:
            del placed[uuid]
        return [(u, instances[u]) for u in sorted(placed, key=_num)]

    @cached_property
    def host_static(self) -> dict[str, dict[str, Any]]:
        """The HostState fields the configuration fixes (it is immutable): worked out
        once, not on every scheduling request."""
        out = {}
        for name, cfg in self.host_configs.items():
            zone = host_attr(cfg, "availability_zone", None)
            # with the zone's implicit aggregate already added (by HostState itself),
            # so that each HostState built from these need not add it again
            aggregates = HostState(host=name, nodename=name, availability_zone=zone,
                                   aggregates=host_aggregates(self.config, cfg)).aggregates
            out[name] = {
                "availability_zone": zone,
                "aggregates": aggregates,
                "stats": MappingProxyType(dict(host_attr(cfg, "stats", {}) or {})),
                "supported_instances": tuple(host_attr(cfg, "supported_instances", ()) or ()),
                "hypervisor_type": host_attr(cfg, "hypervisor_type", None),
                "hypervisor_version": host_attr(cfg, "hypervisor_version", None),
                "host_ip": host_attr(cfg, "host_ip", None),
                "metrics": MappingProxyType(dict(host_attr(cfg, "metrics", {}) or {}))}
        return out

    def _inventory(self, host: str, rc):
        """The host's inventory of ``rc``: the configured one plus the operator's changes.

        A host that reports none of a class (``local_gb = 0``: the libvirt driver
        reports no DISK_GB) offers none of it: the scheduler sees a total of 0, and
        Placement refuses any request for it (there is no inventory to change either).
        """
        base = self.base_inventories[host].get(ResourceClass(rc))
        if base is None:
            return _NO_INVENTORY
        changes = self.inventory_changes.get((host, str(rc)))
        if not changes:
            return base
        # (remembered per change: a replaced dataclass is re-validated, ~5 us)
        cached = self.changed_inventories.get((host, rc))
        if cached is None or cached[0] is not changes:
            cached = self.changed_inventories[(host, rc)] = (
                changes, dataclasses.replace(base, **dict(changes)))
        return cached[1]

    def _group(self, inst: Instance) -> InstanceGroup | None:
        """The group a request spec carries: ``scheduler_utils.setup_instance_group``
        fills its hosts from ``InstanceGroup.get_hosts()``, every member's host, the
        moving instance's own included (no ``exclude``), so an affinity group's only
        member can move nowhere once its source is ignored."""
        group = self.info[inst.uuid].group
        if group is None:
            return None
        policy, rules = group_policy(self.config, group)
        members = tuple(u for u in self.groups.get(group, ())
                        if self.instances[u].vm_state is not VmState.DELETED)
        hosts = tuple(sorted({self.instances[u].host for u in members
                              if self.instances[u].host is not None}))
        return InstanceGroup(policy=policy, rules=rules, hosts=hosts, members=members,
                             uuid=group)

    def request_spec(self, inst: Instance, work: Work) -> RequestSpec:
        op = work.operation
        operation = self.lc.operation(op)
        flavor = self.flavors[self.requested_flavor(inst, work)]
        info = self.info[inst.uuid]
        ignore: tuple[str, ...] = ()
        if operation.ignore_hosts is not IgnoreHosts.NONE and inst.host is not None:
            same_host_ok = (operation.ignore_hosts
                            is IgnoreHosts.SOURCE_UNLESS_RESIZE_TO_SAME_HOST
                            and self.config_option("allow_resize_to_same_host", False))
            if not same_host_ok:
                ignore = (inst.host,)
        if operation.step(work.step).same_or_newer_hypervisor:
            # (skipping each incompatible choice and asking again ends where leaving
            # them all out does)
            ignore += tuple(h for h in sorted(self.hosts)
                            if h not in ignore and self._older_hypervisor(inst.host, h))
        host = work.get("host")
        # a rebuild's check of a new image asks for the instance's own host
        rebuild = operation.scheduler is SchedulerUse.CHECK_IF_NEW_IMAGE
        destination = None
        if rebuild and inst.host is not None:
            destination = Destination(inst.host)
        elif host is not None:
            destination = Destination(host)
        image = info.spec_image or inst.image
        spec = RequestSpec(
            flavor=flavor,
            image_properties=dict(self.images.get(image, {}) or {}),
            image_id=image, project_id=project_of(self.config),
            availability_zone=info.availability_zone, instance_group=self._group(inst),
            scheduler_hints=dict(info.hints), ignore_hosts=ignore,
            requested_destination=destination,
            member_of=self._zone_aggregates(info.availability_zone),
            instance_uuid=inst.uuid, is_rebuild=rebuild, is_bfv=self.volume_backed(inst.image),
        )
        if "SimpleCIDRAffinityFilter" in self.scheduler_config.filters:
            # Nova's scheduler raises AddrFormatError on hints it cannot read and the
            # conductor fails the request as it does on NoValidHost
            try:
                SimpleCIDRAffinityFilter.affinity_network(spec)
            except FilterError as exc:
                raise NoValidHost(f"SimpleCIDRAffinityFilter: {exc}") from None
        return spec

    def _zone_aggregates(self, zone: str | None) -> tuple[str, ...]:
        """The aggregates a request for ``zone`` must be in (the scheduler's request
        filter ``map_az_to_placement_aggregate``; read by placement mode only)."""
        if not zone:
            return ()
        found = self.zone_aggregate_names.get(zone)
        if found is None:
            found = self.zone_aggregate_names[zone] = map_az_to_placement_aggregate(
                zone, aggregates_of(self.config))
        return found

    def available_zones(self) -> frozenset[str]:
        """The zones a create may ask for: the zone of every enabled compute service,
        and the internal zone of the control services (``get_availability_zones`` with
        ``get_only_available``; a disabled service's zone is not available, a down
        one's is)."""
        zones = {self.host_static[name]["availability_zone"]
                 for name, record in self.hosts.items() if record.enabled}
        return frozenset(zones | {INTERNAL_SERVICE_AVAILABILITY_ZONE})

    def _claim_effects(self, inst: Instance, branch: Branch, host: str, flavor: Flavor,
                       migration_uuid: str | None) -> bool:
        """The branch's declared claim effects on ``host``, in order; False if one fails."""
        wanted = self.resources(flavor, inst.image)
        for effect in branch.alloc:
            if effect is Alloc.CLAIM_DEST:
                if not self.ledger.claim_resources(inst.uuid, {host: wanted}):
                    return False
            elif effect is Alloc.CLAIM_DEST_DOUBLED:
                if not self.ledger.add_to_consumer(inst.uuid, host, wanted):
                    return False
        return True

    def schedule(self, inst: Instance, work: Work, branch: Branch) -> tuple[Work, str | None]:
        """Choose and claim a destination for a scheduling step; raise NoValidHost.

        Returns the work with ``dest`` (and ``alternates``) recorded in its context, and
        the uuid reserved for the migration the branch creates (if any). The caller
        restores the ledger on NoValidHost.
        """
        op = work.operation
        step = self.lc.operation(op).step(work.step)
        # The conductor's first checks (LiveMigrationTask._execute), before anything is
        # moved or claimed and whether or not the destination is forced; the scheduler
        # is never asked (nothing to write down).
        if (step.guest_must_run
                and inst.power_state not in (PowerState.RUNNING, PowerState.PAUSED)):
            raise NoValidHost(
                f"InstanceInvalidState: {inst.uuid} is in power_state "
                f"{inst.power_state.name.lower()}: cannot live migrate "
                f"(LiveMigrationTask._check_instance_is_active)")
        if step.source_must_be_up and inst.host is not None and not self.service_is_up(inst.host):
            raise NoValidHost(f"ComputeServiceUnavailable: the source {inst.host}'s compute "
                              f"service is down (LiveMigrationTask._check_host_is_up)")
        flavor = self.flavors[self.requested_flavor(inst, work)]
        claims = bool(SCHEDULING_ALLOCS & set(branch.alloc))
        if self.lc.operation(op).scheduler is SchedulerUse.CHECK_IF_NEW_IMAGE and not claims:
            # only a new image is checked, on the instance's own host
            if work.get("image") and work.get("image") != work.get("old_image"):
                spec = self.request_spec(inst, work)
                hosts = self.host_states()
                try:
                    select_destinations(hosts, spec, self.scheduler_config, rng=self.rng)
                except NoValidHost as exc:
                    self._decided(REBUILD, inst, work, None, exc.reason, spec, hosts)
                    raise
                self._decided(REBUILD, inst, work, inst.host, None, spec, hosts)
            return work, None
        migration_uuid = None
        if branch.migration is not None and branch.migration.create is not None:
            # (MigrationTask._preallocate_migration: the instance's record it reuses)
            reused = self.reused_migration(inst, branch.migration)
            migration_uuid = reused.uuid if reused is not None else self.next_name("mig")
        # (a reschedule moves onto the record the first scheduling created)
        mover = migration_uuid or (inst.migration.uuid if inst.migration else None)
        if Alloc.MOVE_SOURCE_TO_MIGRATION in branch.alloc and inst.host is None:
            # an instance offloaded while its move's prep_resize waited has no source
            # compute node: replace_allocation_with_migration raises ComputeHostNotFound
            # before anything is claimed, and the move ends as one with no host left
            # (Nova 34, seen by conformance)
            reason = ("ComputeHostNotFound: the instance has no host, so the conductor "
                      "finds no source compute node")
            if self.lc.operation(op).step(work.step).claims_alternate:
                self._decided(ALTERNATE, inst, work, None, reason)
            # (otherwise the scheduler is never asked: nothing to write down)
            raise NoValidHost(reason)
        if (Alloc.MOVE_SOURCE_TO_MIGRATION in branch.alloc
                and inst.host in self.ledger.allocations_view(inst.uuid)):
            # (an instance holding nothing on its own host has nothing moved: Nova
            # then goes on without a migration allocation)
            assert mover is not None
            # one POST /allocations (model.operation.BATCHED_WRITES)
            if not self.ledger.move_allocations(inst.uuid, mover):
                # AllocationMoveFailed aborts the move like no host; written down so
                # that the refusal can be judged against Placement's rule (a refused
                # batch writes nothing: the ledger is still as it was before it)
                before = self.ledger.copy()
                reason = ("AllocationMoveFailed: Placement refused to move the source "
                          "allocation to the migration")
                batch = ((inst.uuid, {}), (mover, before.allocations_view(inst.uuid)))
                self.decisions.append(SchedulingDecision(
                    ALLOCATION_MOVE, work.operation, work.step, inst.uuid,
                    self.scheduler_config, None, reason, ledger=before, batch=batch))
                raise NoValidHost(reason)
        if self.lc.operation(op).step(work.step).claims_alternate:
            # claim the next alternate the scheduler returned
            alternates = list(work.get("alternates", ()))
            tried: list[str] = []
            while alternates:
                host = alternates.pop(0)
                # Nova's conductor only claims the alternate; it does not ask whether
                # the compute service is up.
                if self._claim_effects(inst, branch, host, flavor, migration_uuid):
                    self._decided(ALTERNATE, inst, work, host, None, refused=tried)
                    return dataclasses.replace(work, context=work.with_context(
                        dest=host, alternates=tuple(alternates))), migration_uuid
                tried.append(host)
            reason = "no alternate host left (MaxRetriesExceeded)"
            self._decided(ALTERNATE, inst, work, None, reason, refused=tried)
            raise NoValidHost(reason)
        forced = work.get("force") and work.get("host")
        if forced:
            host = work.get("host")
            if (self.lc.operation(op).step(work.step).same_or_newer_hypervisor
                    and self._older_hypervisor(inst.host, host)):
                reason = (f"{host}'s hypervisor is of another type or older than "
                          f"{inst.host}'s (DestinationHypervisorTooOld)")
                self._decided(FORCED, inst, work, None, reason, refused=[host])
                raise NoValidHost(reason)
            # (a forced host is claimed what the instance holds on its source,
            # scheduler_utils.claim_resources_on_destination: not the RequestSpec's)
            if not self._claim_effects(inst, branch, host, self.flavors[
                    work.get("flavor") or inst.flavor], migration_uuid):
                reason = f"cannot claim on forced host {host}"
                self._decided(FORCED, inst, work, None, reason, refused=[host])
                raise NoValidHost(reason)
            self._decided(FORCED, inst, work, host, None)
            return dataclasses.replace(work, context=work.with_context(dest=host)), migration_uuid
        spec = self.request_spec(inst, work)
        if spec.is_rebuild:
            # (a rebuild that claims is scheduled as a plain request: no check hint)
            spec = dataclasses.replace(spec, is_rebuild=False)
        legacy = self.scheduler_config.mode != "placement"

        def candidates(s: RequestSpec):
            wanted = {ResourceClass(rc): n for rc, n in placement_resources(s).items()}
            return list(self.ledger.candidates(wanted))

        refused: list[str] = []

        def claim(host_state: HostState, s: RequestSpec, index: int) -> bool:
            if self._claim_effects(inst, branch, host_state.host, flavor, migration_uuid):
                return True
            refused.append(host_state.host)
            return False

        hosts = self.host_states()
        seen = self.ledger.copy()  # Placement as the scheduler is about to see it
        try:
            selections = select_destinations(
                hosts, spec, self.scheduler_config, rng=self.rng,
                placement_candidates=candidates, claim=claim,
                return_alternates=self._reschedules(op))
        except NoValidHost as exc:
            self._decided(FILTER, inst, work, None, exc.reason, spec, hosts, seen, branch,
                          refused)
            raise
        chosen = selections[0]
        host = chosen.service_host
        if legacy and not self._claim_effects(inst, branch, host, flavor, migration_uuid):
            reason = f"claim on {host} failed"
            self._decided(FILTER, inst, work, host, reason, spec, hosts, seen, branch, [host])
            raise NoValidHost(reason)
        self._decided(FILTER, inst, work, host, None, spec, hosts, seen, branch, refused)
        alternates = tuple(a.host for a in chosen.alternates)
        changes: dict[str, Any] = {"dest": host}
        if self._reschedules(op):
            changes["alternates"] = alternates
        return dataclasses.replace(work, context=work.with_context(**changes)), migration_uuid

    def _older_hypervisor(self, source: str | None, dest: str) -> bool:
        """Whether ``dest``'s hypervisor is of another type than ``source``'s, or older
        (``LiveMigrationTask._check_compatible_with_source_hypervisor``)."""
        if source is None or source not in self.hosts:
            return False
        src, dst = self.host_static[source], self.host_static[dest]
        if src["hypervisor_type"] != dst["hypervisor_type"]:
            return True
        return (src["hypervisor_version"] or 0) > (dst["hypervisor_version"] or 0)

    def _reschedules(self, op: str) -> bool:
        """Whether the operation can go on to its first scheduling's alternates."""
        return any(s.claims_alternate for s in self.lc.operation(op).steps)

    def _decided(self, kind: str, inst: Instance, work: Work, chosen: str | None,
                 reason: str | None, spec: RequestSpec | None = None,
                 hosts: list[HostState] | None = None, ledger: Ledger | None = None,
                 branch: Branch | None = None, refused: list[str] | None = None) -> None:
        """Write down one scheduling decision (``model/scheduler/decision.py``)."""
        claims = () if branch is None else tuple(
            a for a in branch.alloc if a in (Alloc.CLAIM_DEST, Alloc.CLAIM_DEST_DOUBLED))
        self.decisions.append(SchedulingDecision(
            kind, work.operation, work.step, inst.uuid, self.scheduler_config, chosen,
            reason, spec, tuple(hosts or ()), ledger, claims, tuple(refused or ())))
