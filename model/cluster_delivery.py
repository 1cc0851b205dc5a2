"""The cluster's queues and their delivery: each host's and the conductor's FIFO
queue of work, one step delivered with its outcome, settle, a step preempted by
another request, and the audit notes a delivery writes.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any, Iterator

from model import errors
from model.cluster_records import name_order as _num
from model.cluster_results import (
    SCHEDULING_ALLOCS, Result, vm_of as _vm_of, detached as _detached,
)
from model.cluster_state import (
    MISSING_GUEST, AllocationCause, DroppedStep, ErrorCause, Overlap,
    SharedMigration, VanishedGuest, Work,
    freeze_context as _freeze_context,
)
from model.lifecycle import (
    PREEMPTED, Instance, branch_taken, fault_reached, place, preempted_clean_up,
    preempted_guest, preempted_reaches, preempted_state,
)
from model.operation import (
    Alloc, Branch, Entered, OutcomeKind, SchedulerUse, SpecFlavor, Step, When, Where,
)
from model.scheduler import NoValidHost
from model.states import MigrationStatus as MS, VmState, task_label


class Delivery:
    """Queues, delivery of one step with its outcome, settle, preemption."""

    def _target(self, inst: Instance, step: Step, work: Work) -> str | None:
        if step.where is Where.HOST:
            return inst.host
        if step.where is Where.SOURCE:
            return inst.migration.source if inst.migration is not None else inst.host
        if step.where is Where.DEST:
            return work.get("dest") or (inst.migration.dest if inst.migration else None)
        return None

    def enqueue(self, template: Work) -> Work:
        inst = self.instances[template.instance]
        step = self.lc.operation(template.operation).step(template.step)
        context = template.context
        if (inst.migration is not None and inst.migration.in_progress
                and template.get("migration") is None):
            # The move this chain belongs to: a late clean-up must touch only it.
            context = template.with_context(migration=inst.migration.uuid)
        # (Work's own constructor: dataclasses.replace costs three times as much, and
        # every step of every chain passes here)
        work = Work(self.next_name("w"), template.instance, template.operation, template.step,
                    self._target(inst, step, template), context, template.caller)
        self.work[work.id] = work
        if work.target is None:
            self.conductor.append(work.id)
        else:
            self.hosts[work.target].queue.append(work.id)
        return work

    def dequeue(self, work: Work) -> None:
        del self.work[work.id]
        queue = self.conductor if work.target is None else self.hosts[work.target].queue
        queue.remove(work.id)

    def queued_work(self, deliverable: bool = False) -> Iterator[Work]:
        """The pending work items in delivery order (the conductor's queue, then each
        host's, FIFO); with ``deliverable``, only those whose target is up."""
        work = self.work
        for wid in self.conductor:
            yield work[wid]
        for name in sorted(self.hosts):
            record = self.hosts[name]
            if record.up or not deliverable:
                for wid in record.queue:
                    yield work[wid]

    def pending(self) -> list[Work]:
        """Every pending work item: the conductor's queue, then each host's, FIFO."""
        return list(self.queued_work())

    def deliverable(self) -> list[Work]:
        """The pending work whose target is up (or the conductor)."""
        return list(self.queued_work(deliverable=True))

    def next_deliverable(self, instance: str) -> Work | None:
        """The instance's first item of ``deliverable()`` (None if it has none)."""
        return next((w for w in self.queued_work(deliverable=True)
                     if instance in w.instances), None)

    def settle(self, limit: int | None = None, **outcomes: str) -> list[Result]:
        """Deliver deliverable work, oldest first, until none is left.

        ``outcomes`` maps ``"<operation>__<step>"`` to the outcome to inject the first
        time that step is delivered (default ``ok``). ``limit``: see ``deliveries``.
        """
        results: list[Result] = []
        for work in self.deliveries(limit=limit):
            outcome = outcomes.pop(f"{work.operation}__{work.step}", "ok")
            results.append(self.deliver(work.id, outcome))
        return results

    def deliveries(self, instance: str | None = None, limit: int | None = None
                   ) -> Iterator[Work]:
        """The oldest deliverable work item (of ``instance``, if given), and again after
        the caller delivered it, until none is left: the order a settle delivers in.

        Linear in the number of deliveries: the candidates wait in a heap by id, and
        after each delivery only the work created since joins it (listing all the
        deliverable work again after every delivery made settling n items quadratic).
        Only host events change which hosts are up, and none happens in between. An
        item the caller did not deliver (refused) comes back first. ``limit`` bounds
        the deliveries (default: 100 per item pending at the start, and 1,000 more):
        every chain of steps ends, so reaching it is a bug in the model.
        """
        def wanted(work: Work | None) -> bool:
            return work is not None and (instance is None or instance in work.instances) and (
                work.target is None or self.service_is_up(work.target))

        heap = [(_num(w.id)[1], w.id) for w in self.queued_work(deliverable=True)
                if wanted(w)]
        heapq.heapify(heap)
        limit = 1_000 + 100 * len(self.work) if limit is None else limit
        seen = self.counters["w"]
        for _ in range(limit):
            while heap and not wanted(self.work.get(heap[0][1])):
                heapq.heappop(heap)  # delivered, or dropped by another item's clean-up
            if not heap:
                return
            work = self.work[heap[0][1]]
            yield work
            if not wanted(self.work.get(work.id)):
                heapq.heappop(heap)
            created, seen = range(seen + 1, self.counters["w"] + 1), self.counters["w"]
            for n in created:
                new = self.work.get(f"w{n}")
                if wanted(new):
                    heapq.heappush(heap, (n, new.id))
        raise RuntimeError(f"work still pending after {limit} deliveries")

    def deliver(self, work_id: str, outcome: str = "ok") -> Result:
        """Run one pending step with the given outcome (a fault or env outcome injects it).

        A step acts on its own move's migration record: Nova passes each move's
        ``Migration`` along its chain of casts, so when two moves of one instance are
        in flight (a task_state cleared under a queued move lets a second one in),
        each chain updates its own record (two cold moves of one type may share one:
        ``Migration.reuses``). ``instance.migration`` follows the move
        that last acted, and goes back to the other one when that move has ended.
        Where Nova does not pass the record on, the step finds it or makes it first
        (``Step.record``, ``bind_record``).
        """
        work = self.work.get(work_id)
        if work is not None:
            work = self.bind_record(work, outcome)
        inst = self.instances.get(work.instance) if work is not None else None
        own = self.migrations.get(work.get("migration")) if work is not None else None
        previous = inst.migration if inst is not None else None
        if own is None or own is previous or not own.in_progress:
            return self._deliver(work_id, outcome)
        inst.migration = own
        try:
            return self._deliver(work_id, outcome)
        finally:
            if (inst.migration is own and not own.in_progress and previous is not None
                    and previous.in_progress):
                inst.migration = previous

    def _deliver(self, work_id: str, outcome: str) -> Result:
        work = self.work.get(work_id)
        if work is None:
            return Result(False, errors.InvalidRequest(f"no pending work {work_id!r}"),
                          f"no pending work {work_id}")
        if work.target is not None and not self.service_is_up(work.target):
            return Result(False, errors.ServiceUnavailable(f"{work.target} is down"),
                          f"{work.id} stays queued: compute service of {work.target} is down",
                          work.instance)
        op = self.lc.operation(work.operation)
        step = op.step(work.step)
        try:
            step.outcome(outcome)
        except KeyError:
            return Result(False, errors.InvalidRequest(
                f"{work.operation}.{work.step} has no outcome {outcome!r}"),
                f"unknown outcome {outcome!r}", work.instance)
        if work.get("batch"):
            return self._deliver_batch(work, outcome)
        inst = self.instances[work.instance]
        kw = self._kwargs(inst, work)
        if not self.lc.may(work.operation, work.step, outcome, inst, **kw):
            if outcome != "ok" and self.lc.may(work.operation, work.step, "ok", inst, **kw):
                # The step would run, but this outcome has no branch in the state it
                # finds (no_valid_host where nothing is scheduled): it cannot happen.
                err = errors.InvalidRequest(
                    f"{work.operation}.{work.step} cannot end in {outcome} for {inst.uuid} "
                    f"in {inst.vm_state.value}/{inst.task_state}")
                return Result(False, err, err.message, inst.uuid)
            self.dequeue(work)
            # (the step's record as the instance's latest move: a later move's record,
            # like the explorer's own_record, leaves it unfollowed)
            own = self.migrations.get(work.get("migration"))
            reaches = preempted_reaches(step, own.status if own is not None
                                        and inst.migration is own else None)
            cleanup = self._preempted(step, inst, work, reaches)
            self._note_dropped(inst, work, outcome)
            cleanup += self._errored_by_preemption(step, inst, work, reaches)
            cleanup += self._guest_before_check(step, inst)
            err = errors.UnexpectedTaskStateError(
                f"{work.operation}.{work.step}: {outcome} not possible for {inst.uuid} in "
                f"{inst.vm_state.value}/{inst.task_state}; work dropped{cleanup}")
            return Result(False, err, err.message, inst.uuid)
        trigger = "injected"
        if (not fault_reached(step, outcome, inst)
                and self.lc.may(work.operation, work.step, "ok", inst, **kw)):
            outcome = "ok"
        if (step.late_group_check and outcome == "ok"
                and self.group_policy_violated(inst, work.target or inst.host)):
            outcome, trigger = step.late_group_check, "late_group_check"
        if outcome == "no_valid_host" and work.get("old_image") is not None:
            # COND.rebuild_instance rolls the new image_ref back on NoValidHost, whoever
            # decided it (the scheduler below, or an outcome delivered as such).
            inst.image = work.get("old_image")
        branch = branch_taken(step, outcome, inst)
        before_host = inst.host
        migration_uuid: str | None = None
        if step.schedules and outcome == "ok" and (
                SCHEDULING_ALLOCS & set(branch.alloc) or self.lc.operation(
                    work.operation).scheduler is SchedulerUse.CHECK_IF_NEW_IMAGE):
            ledger_before = self.ledger.copy()  # restored on NoValidHost
            counters_before = dict(self.counters)
            try:
                work, migration_uuid = self.schedule(inst, work, branch)
                self.note_scheduled(inst, work, branch, migration_uuid, ledger_before)
            except NoValidHost as exc:
                self.ledger = ledger_before
                self.counters = counters_before
                if work.get("old_image") is not None:
                    # COND.rebuild_instance rolls the new image_ref back on NoValidHost.
                    inst.image = work.get("old_image")
                fallback = "no_valid_host"
                try:
                    step.outcome(fallback)
                except KeyError:  # pragma: no cover - every scheduling step declares it
                    raise
                if not self.lc.may(work.operation, work.step, fallback, inst, **kw):
                    self.dequeue(work)
                    err = errors.NoValidHost(exc.reason)
                    return Result(False, err, f"no valid host and no branch: {exc.reason}",
                                  inst.uuid)
                result = self._fire(work, fallback, inst, before_host, None, "scheduler")
                return dataclasses.replace(result, detail=f"no_valid_host: {exc.reason}")
            kw = self._kwargs(inst, work)
        return self._fire(work, outcome, inst, before_host, migration_uuid, trigger)

    def _deliver_batch(self, work: Work, outcome: str) -> Result:
        """A multi-create's ``COND.schedule_and_build_instances``: one scheduling
        decision for all the instances of the request (``_schedule_instances`` with
        every instance uuid), then each instance goes on alone: the conductor casts
        one ``build_and_run_instance`` per instance to its own host with its own
        alternates, and from there each build (its reschedules, its faults) is its
        own chain of steps. On NoValidHost every instance is buried in error with no
        host (``COND._bury_in_cell0``) and holds nothing: the scheduler has removed
        the claims it made for the earlier ones
        (``SchedulerManager._ensure_sufficient_hosts`` -> ``_cleanup_allocations``).

        An instance deleted while the request waited is left out (Nova schedules it
        too, then finds its build request gone and deletes its allocation: the same
        end); if all were, the item is dropped like any step whose task_state is gone.
        """
        step = self.lc.operation(work.operation).step(work.step)
        members = [self.instances[u] for u in work.get("batch")]
        live = [i for i in members
                if self.lc.may(work.operation, work.step, outcome, i, **self._kwargs(i, work))]
        self.dequeue(work)
        for inst in members:
            if inst not in live:
                self._note_dropped(inst, work, outcome)
        if not live:
            err = errors.UnexpectedTaskStateError(
                f"{work.operation}.{work.step}: {outcome} not possible for "
                f"{', '.join(work.get('batch'))}; work dropped")
            return Result(False, err, err.message, work.instance)
        base = {k: v for k, v in work.context if k != "batch"}
        branch = branch_taken(step, outcome, live[0])
        trigger, reason = "injected", None
        placed: list[dict[str, Any]] = [{} for _ in live]
        ledger_before = self.ledger.copy()
        if outcome == "ok" and SCHEDULING_ALLOCS & set(branch.alloc):
            counters_before = dict(self.counters)
            try:
                placed = self.schedule_batch(live, work, branch)
            except NoValidHost as exc:
                self.ledger = ledger_before
                self.counters = counters_before
                outcome, trigger, reason = "no_valid_host", "scheduler", exc.reason
        results = []
        for inst, changes in zip(live, placed):
            item = self.enqueue(Work("", inst.uuid, work.operation, work.step, None,
                                      _freeze_context({**base, **changes}), work.caller))
            if changes:
                self.note_scheduled(inst, item, branch, None, ledger_before)
            results.append(self._fire(item, outcome, inst, inst.host, None, trigger))
        uuids = ", ".join(i.uuid for i in live)
        detail = (f"no_valid_host for {uuids}: {reason}" if reason is not None
                  else f"{work.operation}.{work.step}.{outcome} for {uuids}: "
                       + "; ".join(r.detail for r in results))
        return Result(all(r.accepted for r in results), None, detail, live[0].uuid,
                      results[0].branch)

    def _errored_by_preemption(self, step: Step, inst: Instance, work: Work,
                               reaches: bool = True) -> str:
        """``Step.preempted``: the handler's ``_error_out_instance_on_exception`` saves
        vm_state error with the task_state it had set in memory (and the power_state it
        read, ``Preempted.power``), or with none when a check before the
        compare-and-swap failed first (``reverts_task_state`` clears that one)."""
        left = preempted_state(step, inst, work.target, reaches)
        if left is None:
            return ""
        vm, found = inst.vm_state, inst.task_state
        inst.state, power = left
        if power is not None:
            inst.power_state = power
        # (recorded even when the instance was in error already: this is what leaves it
        # in error with the task)
        outcome = next((o for o in step.outcomes if o.kind is not OutcomeKind.OK),
                       step.outcomes[0])
        self.error_causes[inst.uuid] = ErrorCause(
            work.operation, work.step, outcome.name, outcome.kind, PREEMPTED, vm.value,
            None if found is None else found.value)
        return f"; {inst.uuid} errored with task_state {task_label(inst.task_state)}"

    def _guest_before_check(self, step: Step, inst: Instance) -> str:
        """``Step.guest_before_check``: the driver acted on the guest before the lost
        check, and the guest stays as it left it (``lifecycle.preempted_guest``)."""
        guest = preempted_guest(step, inst)
        if guest is None:
            return ""
        inst.guest = guest
        return f"; its guest left {guest.label} by the driver before the check"

    def _preempted(self, step: Step, inst: Instance, work: Work, reaches: bool = True) -> str:
        """A step that lost its compare-and-swap still runs its failure path's clean-up
        of the move (``lifecycle.preempted_clean_up``): its allocation, record, host and
        flavor effects, and nothing else.

        The clean-up acts on what the work item carries, as Nova's handler acts on the
        ``migration`` and the node its RPC message names: the work's own migration
        record whatever its status now and whichever move the instance is in
        (``errors_out_migration``, ``_set_migration_status`` and ``_revert_allocation``
        write to the record passed in; ``CM.rebuild_instance`` removes its own
        ``scheduled_node`` from the instance's allocation), and its destination; but
        not a cancelled live migration's, whose handler the abort cancelled."""
        clean = preempted_clean_up(self.lc, work.operation, step, reaches)
        own = self.migrations.get(work.get("migration"))
        if clean is None or (inst.vm_state is VmState.DELETED if clean.declared
                             else own is None):
            return ""
        if own is not None and own.status is MS.CANCELLED:
            # A cancelled chain does not go on: CM.live_migration_abort cancels the queued
            # CM._do_live_migration (future.cancel()) or has the driver roll the running
            # one back, so no handler of it is left to clean up.
            return ""
        current = inst.migration
        inst.migration = own
        try:
            if clean.migration is not None and clean.migration.create is None:
                self.change_migration(inst, clean.migration, work, clean.outcome)
            self.apply_allocs(inst, clean.branch, SCHEDULING_ALLOCS, inst.host)
            kw = self._kwargs(inst, work)
            place(inst, clean.branch.host, kw["source"], kw["dest"])
            self.apply_flavor(inst, clean.branch)
            if clean.declared:  # (the tracker calls its handler made before the check)
                self.track(inst, clean.branch, work.target or inst.host, inst.host,
                           (work.operation, work.step))
            self._note_unmatched(inst, clean.branch, work, clean.outcome)
        finally:
            inst.migration = current
        return f"; its {clean.outcome} clean-up ran"

    def _kwargs(self, inst: Instance, work: Work) -> dict[str, Any]:
        source = inst.migration.source if inst.migration is not None else inst.host
        dest = work.get("dest") or (inst.migration.dest if inst.migration else None)
        return {"dest": dest, "source": source}

    def _fire(self, work: Work, outcome: str, inst: Instance, before_host: str | None,
              migration_uuid: str | None, trigger: str = "injected") -> Result:
        kw = self._kwargs(inst, work)
        before_vm = _vm_of(inst)
        try:
            branch = self.lc.deliver(work.operation, work.step, outcome, inst, **kw)
        except errors.UnexpectedTaskStateError as exc:
            self.dequeue(work)
            self._note_dropped(inst, work, outcome)
            return Result(False, _detached(exc), exc.message, inst.uuid)
        self.dequeue(work)
        self.note_overlap(inst, work.operation, work.step, outcome, work.get("migration"))
        # (a branch taken because the hypervisor has no guest: the world decided, as the
        # earlier failure that destroyed the guest left it; one taken because another
        # request confirmed the step's migration first: it lost that race, as a step
        # that loses its compare-and-swap does)
        kind = self.note_vm_change(inst, before_vm, work.operation, work.step, outcome,
                                    MISSING_GUEST if When.NO_GUEST in branch.when
                                    else PREEMPTED if When.MIGRATION_CONFIRMED in branch.when
                                    else trigger)
        if trigger == "injected" and kind is OutcomeKind.FAULT:
            self.injected_faults += 1
        change = branch.migration
        context = work.context
        reused = (None if change is None or change.create is None
                  else self.migrations.get(migration_uuid) if migration_uuid is not None
                  else self.reused_migration(inst, change))
        if reused is not None:
            # the record another move of the instance made (Migration.reuses): this chain
            # goes on with it, and so do its clean-ups
            inst.migration = reused
            self.change_migration(inst, change, work, outcome)
            context = work.with_context(migration=reused.uuid)
            shared = SharedMigration(work.operation, work.step, outcome)
            seen = self.shared_migrations.get(reused.uuid, ())
            if shared not in seen:
                self.shared_migrations[reused.uuid] = seen + (shared,)
        elif change is not None and change.create is not None:
            # (a record the conductor makes before it schedules names the host a forced
            # request gave it: COND._live_migrate's dest_compute; the API passes a
            # requested host on only when it is forced)
            dest = (work.get("dest") if change.records_dest else
                    work.get("host") if work.get("force") else None)
            record = self.create_migration(inst, change.create, change.status, before_host,
                                            dest, uuid=migration_uuid,
                                            new_flavor=work.get("flavor"))
            context = work.with_context(migration=record.uuid)  # the rest of the chain's
        elif change is not None:
            self.change_migration(inst, change, work, outcome)
        if (outcome == "ok" and self.lc.operation(work.operation).step(work.step).schedules
                and inst.migration is not None and inst.migration.in_progress
                and work.get("dest")):
            inst.migration.sent_to = work.get("dest")
        self.apply_allocs(inst, branch, SCHEDULING_ALLOCS, before_host)
        self.track(inst, branch, work.target or before_host, before_host,
                    (work.operation, work.step))
        if (inst.host is not None and inst.host != before_host and inst.host in self.trackers
                and not self.tracker_counts(self.trackers[inst.host], inst.uuid)):
            # (also an instance this tracker let go earlier and that comes back uncounted:
            # a move away from it, then a live migration back before its audit; one that
            # returns to the host it first arrived at uncounted keeps that first arrival)
            first = self.uncounted_arrivals.get(inst.uuid)
            if first is None or first[0] != inst.host:
                self.uncounted_arrivals[inst.uuid] = (inst.host, work.operation)
        self.apply_flavor(inst, branch)
        operation = self.lc.operation(work.operation)
        if (outcome == "ok" and operation.spec_flavor is SpecFlavor.SETS
                and operation.step(work.step).schedules):
            # COND._cold_migrate saves the RequestSpec once MigrationTask has cast
            self.set_spec_flavor(inst, self.requested_flavor(inst, work))
        if inst.host is not None and inst.host != before_host:
            self.arrivals[inst.uuid] = work.operation
        self._note_unmatched(inst, branch, work, outcome)
        if When.NO_GUEST in branch.when and branch.then is None and inst.task_state:
            gone = VanishedGuest(work.operation, work.step, inst.task_state.value)
            self.vanished_guests[inst.uuid] = tuple(
                g for g in self.vanished_guests.get(inst.uuid, ()) if g != gone) + (gone,)
        if branch.then is not None:
            # A step the same handler goes on with carries its handler: it dies with
            # the compute process (``service_down``); a message does not.
            entry = self.lc.operation(work.operation).step(branch.then).entry.after(work.step)
            within = entry.handler if entry.kind is Entered.HANDLER else None
            if within != work.get("within"):
                context = _freeze_context({**dict(context), "within": within})
            self.enqueue(Work(work.id, work.instance, work.operation, branch.then,
                               work.target, context, work.caller))
        return Result(True, None, f"{work.operation}.{work.step}.{outcome}"
                      + (f" -> {branch.then}" if branch.then else ""), inst.uuid, branch)

    def _note_unmatched(self, inst: Instance, branch: Branch, work: Work, outcome: str) -> None:
        """Remember the step whose clean-up left the instance's allocation unlike its host
        or flavor (the invariants name it, and an upstream finding may explain it)."""
        if ((Alloc.REMOVE_HOST_FROM_INSTANCE in branch.alloc or branch.old_flavor)
                and inst.host is not None):
            self.unmatched_allocations[inst.uuid] = AllocationCause(
                inst.host, work.operation, work.step, outcome)
        elif (work.get("dest") and SCHEDULING_ALLOCS & set(branch.alloc)
              and self.lc.operation(work.operation).step(work.step).claim_then_fails):
            # the claim the failed scheduling left, on a host the instance is not on
            self.unmatched_allocations[inst.uuid] = AllocationCause(
                work.get("dest"), work.operation, work.step, outcome)

    def _note_dropped(self, inst: Instance, work: Work, outcome: str) -> None:
        task = inst.task_state
        dropped = DroppedStep(work.operation, work.step, outcome,
                              None if task is None else task.value)
        self.dropped_steps[inst.uuid] = tuple(
            d for d in self.dropped_steps.get(inst.uuid, ()) if d != dropped) + (dropped,)

    def note_overlap(self, inst: Instance, operation: str, step: str, outcome: str,
                      migration: str | None) -> None:
        """Remember, on each move whose chain of steps is still queued, a step of another
        request (another operation, or another move) that ran meanwhile: the upstream
        findings about requests that overtake a move are keyed on it. A move whose next
        step went with a stopped compute process (``discarded_steps``: it was to go on
        inside a handler) has nothing queued but is still in flight, its record in
        progress: it counts as queued for another operation's step."""
        chains = {}
        for w in self.work.values():
            if w.instance == inst.uuid and w.get("migration") is not None:
                chains.setdefault(w.get("migration"), set()).add(w.operation)
        own = inst.migration
        if own is not None and own.in_progress and own.uuid not in chains:
            lost = next((d.operation for d in reversed(self.discarded_steps.get(inst.uuid, ()))
                         if own.migration_type in self.lc.operation(d.operation).migration_types),
                        None)
            if lost is not None and lost != operation:
                chains[own.uuid] = {lost}
        for mig, operations in chains.items():
            record = self.migrations.get(mig)
            if record is None:
                continue
            for chain in sorted(operations):
                if (chain, mig) == (operation, migration):
                    continue
                seen = self.overlaps.get(mig, ())
                overlap = Overlap(operation, step, outcome, record.migration_type.value,
                                  chain)
                if overlap not in seen:
                    self.overlaps[mig] = seen + (overlap,)

    def note_vm_change(self, inst: Instance, before: tuple[VmState, Any] | None,
                        operation: str, step: str, outcome: str, trigger: str) -> OutcomeKind:
        """Record why the instance came into error (or forget it once it left); returns
        the fired outcome's declared kind."""
        kind = self.lc.operation(operation).step(step).outcome(outcome).kind
        vm, task = before if before is not None else (None, None)
        after = inst.vm_state
        if after is not vm:
            if after is VmState.ERROR:
                self.error_causes[inst.uuid] = ErrorCause(
                    operation, step, outcome, kind, trigger,
                    None if vm is None else vm.value, None if task is None else task.value)
            elif vm is VmState.ERROR:
                self.error_causes.pop(inst.uuid, None)
        return kind
