"""Upstream findings: violations the model reproduces because Nova's code does them.

The model is faithful to Nova, so where Nova itself breaks a promise the search
breaks it too. Each finding names the promise it breaks and the cause it explains,
with the Nova code that does it; the search reports a violation as a finding only
when the cluster recorded that cause for the violation's subjects (the instances,
migrations or consumers it concerns, ``invariants.subjects.Violation``), never by
the violation's text: a new mistake with the same symptom stays a failure.

A cause is declared as data (``Cause``): the name of one of the cluster's cause
records and the values its fields must have. The records are the cluster's audit
of what happened, beside its state: ``migration_errors`` (the step that put a
migration in error), ``unmatched_allocations`` (a failed step's clean-up that left
an allocation unlike its host or flavor), ``dropped_steps`` (a step dropped by its
compare-and-swap on task_state), ``overlaps`` (another request's step that ran while
a move's chain was queued), ``host_events`` (the evacuation clean-up of a starting
compute service), ``carried_allocations`` (a down host's allocation a move took
over), ``spec_flavor_claims`` (a scheduling that claimed the RequestSpec's flavor,
unlike the instance's), ``group_races`` (a member scheduled while another was on its way),
``arrivals`` (the operation that last put an instance on a host) and
``uncounted_drops`` (a resource tracker's drop of an instance it never counted, with
the operation that put the instance there unclaimed), ``flavor_drops`` (a resource
tracker's removal of an instance at another flavor than the one it counted it at,
``counted_flavors``), ``discarded_steps`` (a step
that was to go on inside an RPC handler of a compute whose process stopped) and
``handler_lost`` (the same, for the instance's current task), ``api_errors`` (a
request whose API raised after its writes), ``error_causes`` (the step outcome that
last put an instance in error, and what triggered it).
``tests/search/test_findings.py`` reproduces each finding with a scripted run and
checks that its cause explains exactly that run's violations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from invariants.accounting import (
    LIVE_DRIVER_FAILED, MOVE_BACK_REFUSED, REVERT, REVERT_ON_DEST, TAKE_A_REVERT,
)
from model.catalogue import CATALOGUE, INIT_INSTANCE
from model.cluster import FORCED_PAST_THE_FILTERS, PREEMPTED
from model.cluster_resources import AUDIT_ERROR
from model.operation import HostChange, Kind, Where


@dataclass(frozen=True)
class Cause:
    """A recorded cause: the cluster record ``record`` (a dict by subject of one
    cause, or of a tuple of them) holds, for one of the violation's subjects, a
    cause whose fields have the values ``fields`` allows (any value when left out)."""

    record: str
    fields: tuple[tuple[str, frozenset], ...] = ()

    def matches(self, cluster, subjects: Iterable[str]) -> bool:
        return any(self._fits(c) for c in records(cluster, self.record, subjects))

    def _fits(self, recorded: Any) -> bool:
        return all(getattr(recorded, name) in allowed for name, allowed in self.fields)


def cause(record: str, **fields: Any) -> Cause:
    """``Cause(record, ...)`` with each field's allowed values given as one value or a set."""
    return Cause(record, tuple(sorted(
        (name, frozenset(v) if isinstance(v, (set, frozenset)) else frozenset({v}))
        for name, v in fields.items())))


class _Arrival(tuple):
    """``Cluster.arrivals`` holds the operation name itself."""

    @property
    def operation(self) -> str:
        return self[0]


def records(cluster, record: str, subjects: Iterable[str]) -> list:
    """The causes ``record`` holds for ``subjects``."""
    table = getattr(cluster, record)
    out = []
    for subject in subjects:
        value = table.get(subject)
        if value is None:
            continue
        if isinstance(value, str):
            out.append(_Arrival((value,)))
        elif isinstance(value, tuple) and not hasattr(value, "_fields"):
            out.extend(value)
        else:
            out.append(value)
    return out


@dataclass(frozen=True)
class Finding:
    name: str
    invariant: str | tuple[str, ...]  # the promise(s) it breaks
    cause: Cause | tuple[Cause, ...]  # what must have been recorded (all of them)
    summary: str
    nova: str

    @property
    def invariants(self) -> tuple[str, ...]:
        return (self.invariant,) if isinstance(self.invariant, str) else self.invariant

    @property
    def causes(self) -> tuple[Cause, ...]:
        return (self.cause,) if isinstance(self.cause, Cause) else self.cause

    def explains(self, invariant: str, violation: str, cluster) -> bool:
        subjects = getattr(violation, "subjects", ())
        return (invariant in self.invariants and bool(subjects)
                and all(c.matches(cluster, subjects) for c in self.causes))


#: the operations, outcomes and steps the causes name (those read off the catalogue:
#: ``invariants.accounting``)
_LIVE_MIGRATION, _LIVE_DRIVER_FAILED, _ = LIVE_DRIVER_FAILED
_DELETES = {"delete", "force_delete"}
_MOVE_OPERATIONS = {"resize", "migrate", "live_migrate"}
#: the moves whose conductor takes an existing record (``Migration.reuses``)
_COLD_MOVE_OPERATIONS = frozenset(
    op.name for op in CATALOGUE.values() for s in op.all_steps.values()
    for o in s.outcomes for b in o.branches
    if b.migration is not None and b.migration.reuses is not None)
_MOVES = {"resize", "migration", "live-migration"}
_FINISH_RESIZE = "finished"
#: the operations a member may be on its way to a host in: a move, an unshelve, a build
_ARRIVING = {op.name for op in CATALOGUE.values()
             if op.host_change is not HostChange.NONE or op.creates_instance}
#: the requests whose API casts their first step to the instance's compute
_CAST_TO_THE_HOST = frozenset(
    op.name for op in CATALOGUE.values() if op.kind is Kind.API
    and any(b.then is not None and op.step(b.then).where is Where.HOST
            for o in op.api.outcomes for b in o.branches))
#: a cold move's conductor steps that go on to the next alternate
_MOVE_RESCHEDULES = frozenset(s.name for op in _COLD_MOVE_OPERATIONS
                              for s in CATALOGUE[op].steps if s.claims_alternate)
_RESIZE_MIGRATING = "resize_migrating"
#: the task_states a cold or live move's chain writes (a step of one move that finds
#: one of them was overtaken by another move)
_MOVE_TASKS = frozenset(t.value for op in _MOVE_OPERATIONS
                        for t in CATALOGUE[op].task_states_written if t is not None)

UPSTREAM: tuple[Finding, ...] = (
    Finding(
        name="delete racing a soft delete leaves the instance stuck in deleting",
        invariant=("nothing_stuck", "tracker_audit_agrees_with_placement"),
        cause=cause("dropped_steps", operation={"soft_delete", "delete", "force_delete"},
              task={"deleting", "soft-deleting"}),
        summary=("API._delete saves the new task_state (no expected_task_state) before it "
                 "sees that a delete or soft delete was already in flight and returns "
                 "without casting; the compute's soft_delete_instance (or the first "
                 "request's step) then fails its compare-and-swap, which reverts_task_state "
                 "leaves alone. Nothing is queued any more, and every later delete is "
                 "ignored the same way: only reset-state (or a local delete while the host "
                 "is down) gets the instance out. Stuck so in the middle of a cold move, "
                 "the instance is no longer one its destination's resource audit counts "
                 "(ResourceTracker._update_usage_from_migrations skips the migration of an "
                 "instance that is not resizing), while Placement still holds its claim "
                 "there. Replayed on Nova 34 by nova-model conform "
                 "(scenarios/delete_racing_soft_delete.json; "
                 "scenarios/delete_stuck_in_the_middle_of_a_cold_migration.json, the move's "
                 "next cast still queued, where the destination's ComputeNode counts "
                 "nothing after its audit while Placement holds the claim, as the model's "
                 "tracker says)."),
        nova="nova/compute/api.py: API._delete (original_task_state check after "
             "instance.save()); nova/compute/manager.py: ComputeManager.soft_delete_instance; "
             "nova/compute/resource_tracker.py: ResourceTracker._update_usage_from_migrations",
    ),
    Finding(
        name="deleting an instance during a move leaks the migration's allocation",
        invariant="allocations_have_live_consumers",
        cause=cause("overlaps", operation=_DELETES | {"soft_delete"}),
        summary=("While a resize, cold or live migration is in flight the source "
                 "allocation belongs to the migration consumer. Deleting the instance "
                 "(or soft-deleting it while its host is down, which API._delete turns "
                 "into a local delete) then deletes only the instance consumer's allocation "
                 "(ComputeManager._complete_deletion / API._local_delete_cleanup); only a "
                 "resized (finished) instance is confirmed first. The resource audit never "
                 "removes migration consumers, so the source capacity stays taken until an "
                 "operator runs `nova-manage placement audit --delete`. If the move's own "
                 "step then fails its task_state check, its clean-up "
                 "(ComputeManager._revert_allocation) hands the allocation back to the "
                 "deleted instance, where it stays until the resource audit of that host. "
                 "A move whose next step went with a stopped compute process (a running "
                 "live migration's end, inside ComputeManager.live_migration) is still in "
                 "flight, its migration running: a delete then leaks it the same way."),
        nova="nova/compute/manager.py: ComputeManager._complete_deletion; "
             "nova/compute/api.py: API._local_delete_cleanup, API._confirm_resize_on_deleting; "
             "nova/compute/resource_tracker.py: ResourceTracker._remove_deleted_instances_allocations",
    ),
    Finding(
        name="the scheduler does not count group members that are still arriving",
        invariant="server_group_policies",
        cause=cause("group_races", moving=_ARRIVING),
        summary=("ServerGroupAntiAffinityFilter reads the group's hosts from the members' "
                 "instance.host. A member being evacuated or migrated keeps its source host "
                 "until the move finishes, so another member can be scheduled onto its "
                 "destination meanwhile (anti-affinity), or onto its source while it leaves "
                 "(affinity). The compute's late check "
                 "(ComputeManager._validate_instance_group_policy) counts, for "
                 "anti-affinity, the members on the host and those with a migration in "
                 "progress from or to it; a move's record names its destination only once "
                 "the destination's claim has run (ResourceTracker._claim_existing_migration). "
                 "So a member built on the destination before that claim passes, and the "
                 "mover's own late check then fails it (an evacuation ends in a failed "
                 "migration, a cold move goes to its next alternate); once the claim has run, "
                 "the late check refuses the other member instead. For affinity the late "
                 "check reads instance.host only, so whichever arrives second can stay apart. "
                 "An offloaded member being unshelved has no host at all until its compute "
                 "claims one, and ComputeManager._unshelve_instance makes no late check. "
                 "A member still being built has no instance.host yet, so a move "
                 "scheduled meanwhile (or sent on to an alternate, "
                 "MigrationTask._reschedule, which is not filtered again) may go where "
                 "that member's build then breaks the policy, until the mover's late "
                 "check there refuses it."),
        nova="nova/scheduler/filters/affinity_filter.py: _GroupAntiAffinityFilter.host_passes; "
             "nova/compute/manager.py: ComputeManager._validate_instance_group_policy, "
             "ComputeManager._unshelve_instance; "
             "nova/objects/instance_group.py: InstanceGroup.get_hosts",
    ),
    Finding(
        name="a move forced onto a host skips the group filters until the late check",
        invariant="server_group_policies",
        cause=cause("group_races", moving=FORCED_PAST_THE_FILTERS),
        summary=("A live migration or an evacuation forced onto a named host (force, up to "
                 "microversion 2.67) does not go through the scheduler: the conductor "
                 "claims the host directly (LiveMigrationTask._execute, "
                 "ConductorManager.rebuild_instance, "
                 "scheduler_utils.claim_resources_on_destination), so "
                 "ServerGroupAffinityFilter and ServerGroupAntiAffinityFilter never see "
                 "the move. Between that claim and the destination compute's late check "
                 "(ComputeManager._validate_instance_group_policy, from pre_live_migration "
                 "or rebuild_instance), which then fails the move, the member is on its way "
                 "to a host its group's hard policy forbids."),
        nova="nova/conductor/tasks/live_migrate.py: LiveMigrationTask._execute; "
             "nova/conductor/manager.py: ComputeTaskManager.rebuild_instance; "
             "nova/compute/manager.py: ComputeManager._validate_instance_group_policy",
    ),
    Finding(
        name="a reverted resize returns a member to a host another member was given",
        invariant="server_group_policies",
        cause=cause("arrivals", operation="revert_resize"),
        summary=("While a member of an anti-affinity group is resized (or cold migrated) and "
                 "not yet confirmed, its instance.host is the destination; its source keeps "
                 "only the migration's allocation. ServerGroupAntiAffinityFilter reads the "
                 "group's hosts from the members' instance.host, so it lets another member "
                 "onto the source. A member built or moved there is refused by the compute's "
                 "late check, which counts the migration in progress from that host (Nova 24 "
                 "and later), but an offloaded member being unshelved is not checked "
                 "(ComputeManager._unshelve_instance makes no late check). Reverting the "
                 "resize then moves the first member back to its source, and neither "
                 "API.revert_resize nor ComputeManager.finish_revert_resize checks the group "
                 "policy: two members end up on one host. For affinity the late check reads "
                 "instance.host only, so a member scheduled next to the resized one is left "
                 "behind by the revert."),
        nova="nova/scheduler/filters/affinity_filter.py: _GroupAntiAffinityFilter.host_passes; "
             "nova/objects/instance_group.py: InstanceGroup.get_hosts; "
             "nova/compute/manager.py: ComputeManager.finish_revert_resize",
    ),
    Finding(
        name="a source host that comes back during an evacuation gives the instance up",
        # (an evacuation whose rebuild then stops with its destination's compute stays
        # on its source's list: that host's resource audit counts what Placement no
        # longer holds there)
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement", "tracker_usage_never_negative"),
        cause=cause("host_events", event="service_up",
                    evacuation={"in flight", "preempted", "stopped"}, removed=True),
        summary=("ComputeManager._destroy_evacuated_instances runs when a compute service "
                 "starts and treats evacuation migrations still 'accepted' or "
                 "'pre-migrating' like finished ones: it destroys the local guest and "
                 "removes the host from the instance's allocation. If the evacuation then "
                 "fails (no valid host, a failed rebuild) or another request preempts it "
                 "(a soft delete, say), the instance is left on its original host, which "
                 "no longer has its guest or its allocation. If the rebuild stops with "
                 "its destination's compute process (an RPC handler goes with it), the "
                 "instance stays on its original host's list, stuck in its task, and "
                 "that host's resource audit counts what Placement no longer holds. "
                 "When the clean-up marked the 'accepted' record completed before the "
                 "conductor's rebuild_instance looked it up "
                 "(Migration.get_by_instance_and_status), the conductor passes none and "
                 "the destination's claim makes a new record (ResourceTracker._move_claim "
                 "-> _create_migration) that ComputeManager.rebuild_instance never holds: "
                 "the failed rebuild leaves it pre-migrating (until a later move's claim "
                 "gives the instance a migration context naming another record and the "
                 "source's resource audit marks it error: "
                 "ResourceTracker._update_usage_from_migrations). The clean-up also marks "
                 "the evacuation's record completed, so the destination's resource audit "
                 "no longer counts its claim (a completed record is not in progress, and "
                 "the instance is still on its source); a rebuild that then fails there "
                 "aborts the claim (MoveClaim.abort -> ResourceTracker.drop_move_claim with "
                 "the flavor), which takes off what was not counted: the destination's "
                 "ComputeNode record shows less than nothing used until its next audit."),
        nova="nova/compute/manager.py: ComputeManager._destroy_evacuated_instances "
             "(status filter 'accepted', 'pre-migrating', 'done'; the record then "
             "'completed'), "
             "ComputeManager.rebuild_instance; "
             "nova/conductor/manager.py: ComputeTaskManager.rebuild_instance; "
             "nova/compute/resource_tracker.py: ResourceTracker._move_claim",
    ),
    Finding(
        name="two evacuations of one instance at once leave its allocations wrong",
        invariant="instances_hold_what_their_state_implies",
        cause=cause("overlaps", operation="evacuate", move="evacuation"),
        summary=("API.evacuate accepts any task_state and saves task_state rebuilding "
                 "without expected_task_state, so two evacuations of one instance can be "
                 "in flight. Each claims a destination on top of the instance's allocation "
                 "(the scheduler's claim merges with what the instance holds). When the "
                 "first finishes, the second's rebuild fails its task_state check and its "
                 "clean-up (ResourceTracker.delete_allocation_for_evacuated_instance -> "
                 "remove_provider_tree_from_instance_allocation) removes its whole "
                 "destination from the instance's allocation: if both chose the same host, "
                 "the instance runs there and holds nothing for it. Both conductors take "
                 "the first evacuation's record (ComputeTaskManager.rebuild_instance looks "
                 "up the instance's first 'accepted' migration), so the second's claim "
                 "takes that record again and its failure marks it failed after the first "
                 "marked it done; the second evacuation's own record stays accepted."),
        nova="nova/compute/api.py: API.evacuate (save without expected_task_state); "
             "nova/conductor/manager.py: ComputeTaskManager.rebuild_instance "
             "(Migration.get_by_instance_and_status(..., 'accepted')); "
             "nova/compute/manager.py: ComputeManager.rebuild_instance; "
             "nova/compute/resource_tracker.py: "
             "ResourceTracker.delete_allocation_for_evacuated_instance; "
             "nova/scheduler/client/report.py: SchedulerReportClient.claim_resources"    ),
    Finding(
        name="an evacuation in the middle of a cold migration or resize tangles their allocations",
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("overlaps", operation="evacuate", move=_MOVES),
        summary=("API.evacuate accepts any task_state, so an instance whose source host goes "
                 "down in the middle of a cold migration or resize can be evacuated while "
                 "the move still holds the source allocation in its migration consumer and "
                 "a claim on its destination (the scheduler reads only saved records, so the "
                 "evacuation may go to that very destination). ComputeManager.prep_resize "
                 "checks no task_state: the move's queued prep_resize claims its destination "
                 "after the evacuation and casts resize_instance to the instance's new host, "
                 "where ComputeManager._resize_instance fails its task_state check (the "
                 "instance goes to error) and ComputeManager._revert_allocation moves the "
                 "migration's source allocation back onto the instance, replacing what the "
                 "evacuation claimed: the instance runs on the evacuation's destination "
                 "while Placement holds it on the down source, so that destination's "
                 "resource audit counts an instance Placement does not."),
        nova="nova/compute/api.py: API.evacuate (task_state=None in check_instance_state); "
             "nova/compute/manager.py: ComputeManager.prep_resize, "
             "ComputeManager._prep_resize, ComputeManager.resize_instance, "
             "ComputeManager._revert_allocation",
    ),
    Finding(
        name="a revert that fails on the destination leaves the source with the migration",
        invariant="allocations_have_live_consumers",
        cause=cause("migration_errors", operation=REVERT.name, step=REVERT_ON_DEST),
        summary=("ComputeManager.revert_resize runs on the destination before "
                 "finish_revert_resize gives the source allocation back to the instance "
                 "(ComputeManager._finish_revert_resize -> _revert_allocation). If it "
                 "fails there, errors_out_migration marks the migration error and the "
                 "instance goes to error on the destination, but nothing moves or "
                 "deletes the migration consumer's allocation on the source: the "
                 "resource audit never removes migration consumers, so the capacity "
                 "stays taken until `nova-manage placement audit --delete`."),
        nova="nova/compute/manager.py: ComputeManager.revert_resize, errors_out_migration, "
             "ComputeManager._finish_revert_resize; "
             "nova/compute/resource_tracker.py: ResourceTracker._update_usage_from_migrations",
    ),
    Finding(
        name="a revert whose move back Placement fails leaks the migration's allocation",
        invariant=("allocations_have_live_consumers", "instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("migration_errors", operation=REVERT.name, outcome=MOVE_BACK_REFUSED),
        summary=("ComputeManager._finish_revert_resize saves the instance on the source "
                 "with its old flavor, then _revert_allocation moves the migration "
                 "consumer's source allocation back to the instance. If Placement fails "
                 "that write (the report client raises AllocationMoveFailed, e.g. on a "
                 "consumer generation conflict it gives up on), Nova logs that the "
                 "allocation held by the migration is leaked and puts the instance in "
                 "error. The instance then runs on the source while its own allocation is "
                 "still on the destination, and the migration, in error, keeps the "
                 "source's; the resource audit never removes migration consumers. (A "
                 "lowered capacity on the source does not cause it: Placement accepts a "
                 "write that adds no usage to a provider over capacity.)"),
        nova="nova/compute/manager.py: ComputeManager._finish_revert_resize, "
             "ComputeManager._revert_allocation; "
             "nova/scheduler/client/report.py: SchedulerReportClient.move_allocations",
    ),
    Finding(
        name="a revert whose task another request takes leaves the migration holding the "
             "source and the instance the destination",
        invariant=("allocations_have_live_consumers", "instances_hold_what_their_state_implies"),
        cause=cause("overlaps", chain=REVERT.name, operation=TAKE_A_REVERT),
        summary=("ComputeManager.revert_resize checks no task_state (the save in "
                 "ResourceTracker.drop_move_claim_at_dest writes only the instance's extra "
                 "fields, which skips its expected_task_state): when an admin resets the "
                 "instance while the revert is queued, the destination still destroys "
                 "its guest, marks the migration reverted and casts finish_revert_resize. "
                 "There ComputeManager._revert_instance_flavor_host_node puts the old "
                 "flavor and the source host on the instance and fails its "
                 "expected_task_state=[RESIZE_REVERTING] save before _revert_allocation: "
                 "_error_out_instance_on_exception saves the instance in error on the "
                 "source with the old flavor, errors_out_migration fails the migration, "
                 "and nothing moves the allocations. The migration keeps the source's "
                 "(the resource audit never removes migration consumers) and the "
                 "instance, on the source, holds its new flavor on the destination. "
                 "Replayed on Nova 34 by nova-model conform "
                 "(scenarios/revert_preempted_by_reset_state.json)."),
        nova="nova/compute/manager.py: ComputeManager.revert_resize, "
             "ComputeManager._finish_revert_resize, "
             "ComputeManager._revert_instance_flavor_host_node, "
             "ComputeManager._error_out_instance_on_exception; "
             "nova/compute/resource_tracker.py: ResourceTracker.drop_move_claim_at_dest; "
             "nova/objects/instance.py: Instance.save",
    ),
    Finding(
        name="a move that starts before an evacuated host comes back keeps its allocation",
        invariant="instances_hold_what_their_state_implies",
        cause=(cause("carried_allocations"),
           cause("host_events", event="service_up", removed=False)),
        summary=("An evacuated instance keeps its allocation on the source until that "
                 "host's compute service starts again and "
                 "ComputeManager._destroy_evacuated_instances removes the source from the "
                 "instance's allocation. If the instance is resized, cold migrated or live "
                 "migrated before then, the conductor's replace_allocation_with_migration "
                 "moves all of the instance's allocations, the down source's included, to "
                 "the migration consumer. When the source comes back its clean-up finds "
                 "nothing of the instance there (Nova logs a warning and marks the "
                 "evacuation completed), so the migration keeps the source's capacity. "
                 "Confirming the move deletes it, but a revert or a live-migration "
                 "rollback (ComputeManager._revert_allocation) hands it back to the "
                 "instance, which then holds a host it left for good; no later clean-up "
                 "looks again, and the resource audit leaves allocations of instances that "
                 "moved away alone."),
        nova="nova/conductor/tasks/migrate.py: replace_allocation_with_migration; "
             "nova/compute/manager.py: ComputeManager._destroy_evacuated_instances, "
             "ComputeManager._revert_allocation; "
             "nova/scheduler/client/report.py: "
             "SchedulerReportClient.remove_provider_tree_from_instance_allocation; "
             "nova/compute/resource_tracker.py: "
             "ResourceTracker._remove_deleted_instances_allocations",
    ),
    Finding(
        name="a failed rebuild frees the instance's allocation on the host it stays on",
        # (the compute's own count still has it: once the instance is being deleted,
        # and so holds nothing by its state, the audit is where the difference shows)
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("unmatched_allocations", operation="rebuild",
                    step={"rebuilding", "spawned", "power_off"}),
        summary=("ComputeManager.rebuild_instance sets scheduled_node to the instance's "
                 "own node when no node was scheduled (a plain rebuild on the same host), "
                 "and its except-Exception clean-up, written for evacuation, then calls "
                 "ResourceTracker.delete_allocation_for_evacuated_instance with that node: "
                 "a rebuild whose spawn fails (or whose inline power-off of a stopped "
                 "instance fails, or that rolls back with InstanceFaultRollback, or whose "
                 "task_state check another request, such as a reset-state, made fail) "
                 "removes the "
                 "instance's whole allocation on the host where it stays, in error or "
                 "active. The host's usage in Placement no longer counts it, so the "
                 "scheduler can fill the host beyond its allocation ratio; the resource "
                 "audit heals only allocations of instances that are gone, not missing "
                 "ones. A later move of the instance then finds nothing on its source to "
                 "hand to its migration. Replayed on Nova 34 by nova-model conform."),
        nova="nova/compute/manager.py: ComputeManager.rebuild_instance (scheduled_node = "
             "instance.node; except Exception); nova/compute/resource_tracker.py: "
             "ResourceTracker.delete_allocation_for_evacuated_instance",
    ),
    Finding(
        name="a live migration whose driver fails leaks both allocations",
        invariant=("allocations_have_live_consumers", "instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("migration_errors", operation=_LIVE_MIGRATION, step=_LIVE_DRIVER_FAILED,
              outcome="driver_error"),
        summary=("When driver.live_migration raises, ComputeManager._do_live_migration's "
                 "except block sets the migration to error and the instance to error "
                 "(_set_instance_obj_error_state) and re-raises: no rollback runs, so the "
                 "source's allocation stays with the migration consumer and the "
                 "destination's claim with the instance, which is still on its source. "
                 "The resource audit never removes migration consumers, and nothing moves "
                 "the instance's claim back. Replayed on Nova 34 by nova-model conform."),
        nova="nova/compute/manager.py: ComputeManager._do_live_migration, "
             "ComputeManager._set_instance_obj_error_state",
    ),
    Finding(
        name="a resize whose finish_migration fails keeps the new flavor's claim",
        invariant=("instances_hold_what_their_state_implies", "tracker_usage_never_negative",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("unmatched_allocations", operation={"resize", "migrate"}, step=_FINISH_RESIZE),
        summary=("ComputeManager._finish_resize puts the new flavor on the instance, then "
                 "calls driver.finish_migration; if that fails, its except block puts the "
                 "old flavor back (_set_instance_info) and re-raises. The instance is left "
                 "in error on the destination with its old flavor, while its allocation "
                 "there is the scheduler's claim for the new flavor and the source's "
                 "allocation is deleted (_delete_allocation_after_move): Placement counts "
                 "the new flavor's resources for an instance of the old one until someone "
                 "resizes, rebuilds or heals it. Replayed on Nova 34 by nova-model conform. "
                 "The destination's resource tracker counted the new flavor (its move "
                 "claim) for an instance that now has the old one: a later move away "
                 "confirmed before that host's resource audit drops the old flavor there "
                 "(ResourceTracker.drop_move_claim_at_source takes instance.old_flavor), "
                 "and the tracker counts less than nothing."),
        nova="nova/compute/manager.py: ComputeManager._finish_resize, "
             "ComputeManager.finish_resize, ComputeManager._delete_allocation_after_move",
    ),
    Finding(
        name="a move after a failed resize claims the resize's new flavor",
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("spec_flavor_claims"),
        summary=("ComputeTaskManager._cold_migrate sets the RequestSpec's flavor to the "
                 "resize's new flavor and saves it once MigrationTask has cast; only "
                 "API.revert_resize puts instance.old_flavor back. A resize that fails "
                 "before ComputeManager._finish_resize (resize_instance's driver failure) "
                 "leaves the instance with its old flavor and the RequestSpec with the new "
                 "one. A later live migration (LiveMigrationTask._find_destination), "
                 "evacuation (ComputeTaskManager.rebuild_instance) or unshelve "
                 "(ComputeTaskManager.unshelve_instance) schedules with that RequestSpec: "
                 "the scheduler filters and claims the new flavor in Placement "
                 "(utils.claim_resources), while the destination's resource tracker "
                 "counts instance.flavor. Placement then holds the new flavor's resources "
                 "for an instance of the old one until it is resized. Replayed on Nova 34 "
                 "by nova-model conform (scenarios/"
                 "live_migration_after_failed_resize_claims_the_new_flavor.json)."),
        nova="nova/conductor/manager.py: ComputeTaskManager._get_request_spec_for_cold_migrate, "
             "ComputeTaskManager._cold_migrate (request_spec.save); nova/compute/api.py: "
             "API.revert_resize (reqspec.flavor = instance.old_flavor); "
             "nova/conductor/tasks/live_migrate.py: LiveMigrationTask._find_destination; "
             "nova/scheduler/utils.py: resources_from_request_spec, claim_resources",
    ),
    Finding(
        name="a compute restart during a running live migration leaks both allocations",
        invariant=("allocations_have_live_consumers", "instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("migration_errors", operation=INIT_INSTANCE),
        summary=("When the source's nova-compute starts with an instance in task_state "
                 "migrating, ComputeManager._init_instance calls _reset_live_migration: "
                 "it looks the migration up by status 'running', asks the driver to abort "
                 "it, sets the migration to error and clears the task_state. Nothing runs "
                 "_rollback_live_migration, so the source's allocation stays with the "
                 "migration consumer and the destination's claim with the instance, "
                 "which is idle on its source. The resource audit never removes migration "
                 "consumers, and nothing moves the instance's claim back."),
        nova="nova/compute/manager.py: ComputeManager._init_instance (MIGRATING), "
             "ComputeManager._reset_live_migration",
    ),
    Finding(
        name="a compute restart between a live migration's pre-check and its run leaks both "
             "allocations and leaves the migration preparing",
        invariant=("instances_hold_what_their_state_implies", "migrations_agree_with_instances",
                   "allocations_have_live_consumers", "tracker_audit_agrees_with_placement"),
        cause=cause("discarded_steps", operation="live_migrate", step="live_migration"),
        summary=("The source's ComputeManager._do_live_migration calls the destination's "
                 "pre_live_migration (the migration is 'preparing') and then goes on to "
                 "the driver in the same thread; a stop or restart of the source's "
                 "nova-compute in between ends it. ComputeManager._init_instance's "
                 "_reset_live_migration looks the migration up by status 'running' only, "
                 "finds none, and clears the task: the migration stays 'preparing' for "
                 "good, its consumer keeps the source's allocation and the instance, idle "
                 "on its source, keeps the destination's claim; no rollback runs."),
        nova="nova/compute/manager.py: ComputeManager._do_live_migration, "
             "ComputeManager._init_instance (MIGRATING), "
             "ComputeManager._reset_live_migration",
    ),
    Finding(
        name="a compute restart during a resize's migration leaks both allocations",
        invariant=("instances_hold_what_their_state_implies", "migrations_agree_with_instances",
                   "allocations_have_live_consumers", "tracker_audit_agrees_with_placement"),
        cause=cause("discarded_steps", operation={"resize", "migrate"},
                    task=_RESIZE_MIGRATING),
        summary=("ComputeManager._resize_instance runs on the source from resize_migrating "
                 "to migrate_disk_and_power_off in one RPC handler; a restart of the "
                 "source's nova-compute in between ends the handler, and no message is "
                 "left for the rest. ComputeManager._init_instance then finds task_state "
                 "resize_migrating, calls driver.finish_revert_migration and clears the "
                 "task: the instance is idle on its source, but the migration stays "
                 "'migrating' with the source's allocation and the instance keeps the "
                 "destination's claim (and the destination's tracker its move claim). "
                 "Nothing gives either back: the resource audit never removes migration "
                 "consumers, and the migration in progress keeps counting."),
        nova="nova/compute/manager.py: ComputeManager._init_instance (RESIZE_MIGRATING), "
             "ComputeManager.resize_instance, ComputeManager._resize_instance",
    ),
    Finding(
        name="a compute that stops during a resize's migration after a request cleared its "
             "task leaves the instance holding its destination",
        invariant=("instances_hold_what_their_state_implies", "migrations_agree_with_instances"),
        cause=cause("discarded_steps", operation={"resize", "migrate"},
                    handler="CM._resize_instance", task=None),
        summary=("The opening of the finding above (the source's nova-compute stops inside "
                 "ComputeManager._resize_instance, and nothing is left to run the rest), "
                 "after another request took the instance's task and cleared it while the "
                 "handler ran: a force delete, say, which API.force_delete accepts in "
                 "resize_migrating, whose terminate fails on the source "
                 "(ComputeManager.terminate_instance: _set_instance_obj_error_state, then "
                 "reverts_task_state clears the task). The instance is then in error with "
                 "no task, which ComputeManager._init_instance leaves alone when the compute "
                 "starts again (only an instance in error in resize_migrating or deleting "
                 "is looked at), so nothing reverts the move: the migration stays "
                 "'migrating' with the source's allocation, and the instance, in error on "
                 "its source, holds the destination's claim."),
        nova="nova/compute/manager.py: ComputeManager._resize_instance, "
             "ComputeManager.terminate_instance, reverts_task_state, "
             "ComputeManager._init_instance (vm_state error); nova/compute/api.py: "
             "API.force_delete",
    ),
    Finding(
        name="a compute restart during a resize's finish leaves its migration holding the "
             "source",
        invariant=("migrations_agree_with_instances", "tracker_audit_agrees_with_placement",
                   "instances_hold_what_their_state_implies",
                   "allocations_have_live_consumers"),
        # (the handler's last step, whatever task the instance had when it went: a
        # soft delete may have taken resize_finish first)
        cause=cause("discarded_steps", operation={"resize", "migrate"},
                    step=_FINISH_RESIZE),
        summary=("ComputeManager.finish_resize runs on the destination from resize_finish "
                 "to the migration's 'finished' in one RPC handler (_finish_resize sets the "
                 "migration post-migrating, finish_migration spawns, then the instance is "
                 "saved resized); a restart of the destination's nova-compute in between "
                 "ends the handler and leaves the instance in resize_finish, for which "
                 "ComputeManager._init_instance has no case (the finding above). A request "
                 "that takes any task state and clears it (a soft delete or delete whose "
                 "driver fails, reverts_task_state; an admin's reset-state) then leaves the "
                 "instance idle and active on its destination with the migration "
                 "post-migrating: the migration consumer keeps the source's allocation, "
                 "which no confirm or revert can reach (both need vm_state resized), and "
                 "the source's resource audit does not count it (the instance is in no "
                 "resize state, ResourceTracker._update_usage_from_migrations). A soft "
                 "delete accepted while the handler still runs (API.soft_delete takes any "
                 "task state) leaves the same migration when the destination's compute "
                 "stops before the handler ends: the instance is soft-deleted on its "
                 "destination, and its migration keeps the source."),
        nova="nova/compute/manager.py: ComputeManager.finish_resize, "
             "ComputeManager._finish_resize, ComputeManager._init_instance; "
             "nova/compute/resource_tracker.py: "
             "ResourceTracker._update_usage_from_migrations",
    ),
    Finding(
        name="an evacuation whose destination's compute stops mid-rebuild leaks its claim",
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("discarded_steps", operation="evacuate"),
        summary=("The conductor's claim on the evacuation's destination joins the "
                 "instance's allocation on its (down) source. A restart of the "
                 "destination's nova-compute in the middle of ComputeManager."
                 "rebuild_instance ends the handler, and no message is left for its "
                 "remaining steps; the instance's host is still the source, so the "
                 "destination's ComputeManager._init_instance never sees it. Whatever ends "
                 "the stuck rebuild (a reset-state by an admin, or a second evacuation, "
                 "which API.evacuate accepts in any task_state, failing or going "
                 "elsewhere) leaves the first destination's claim in the instance's "
                 "allocation, and nothing removes it: the destination's resource audit "
                 "(ResourceTracker._remove_deleted_instances_allocations) only warns "
                 "about an instance that lives on another host."),
        nova="nova/compute/manager.py: ComputeManager.rebuild_instance, "
             "ComputeManager._init_instance; nova/compute/api.py: API.evacuate; "
             "nova/compute/resource_tracker.py: "
             "ResourceTracker._remove_deleted_instances_allocations",
    ),
    Finding(
        name="a compute restart in the middle of a handler leaves the instance in its task",
        invariant="nothing_stuck",
        cause=cause("handler_lost"),
        summary=("Several steps run one after another inside one RPC handler of a "
                 "compute (a shelve's snapshot, upload and offload in "
                 "ComputeManager.shelve_instance, a backup's upload in "
                 "_snapshot_instance, a resize's finish_migration in finish_resize, an "
                 "evacuation's rebuild on its destination in rebuild_instance, ...). A "
                 "restart of nova-compute ends the handler, and no message is left for its "
                 "remaining steps. ComputeManager._init_instance recovers only the "
                 "task_states it knows (a build or a rebuild of an instance on this host "
                 "errors, a snapshot's and a resize_prep's task is cleared, a reboot, "
                 "stop or start is retried, resize_migrating reverted); it has no case for "
                 "shelving, image_backup, resize_finish, and an evacuated instance is not "
                 "on its destination's list until its rebuild finishes: the instance "
                 "keeps its task with nothing left to run it, until an admin resets its "
                 "state."),
        nova="nova/compute/manager.py: ComputeManager.init_host, "
             "ComputeManager._init_instance",
    ),
    Finding(
        name="two cold moves of one instance at once share one migration record, and the "
             "loser's clean-up takes back the winner's destination",
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=(cause("shared_migrations", operation=_COLD_MOVE_OPERATIONS),
               cause("migration_errors")),
        summary=("The same opening as the finding below (a compute restart or a failed "
                 "request clears a queued move's task_state, and API.resize accepts a "
                 "second move), for two cold moves of the same type (two resizes, or two "
                 "cold migrations): MigrationTask._preallocate_migration looks up the "
                 "instance's 'pre-migrating' record of that type before it creates one, "
                 "so while the first move's record is still pre-migrating the second "
                 "move's conductor takes it, with the source allocation the first moved "
                 "into it, and the scheduler's claim_resources adds the second's "
                 "destination to what the instance holds. Both chains then act on one "
                 "record. The loser fails a task_state check (CM._resize_instance, inside "
                 "_error_out_instance_on_exception: the instance goes to error) and its "
                 "clean-up, errors_out_migration and _revert_allocation, puts the shared "
                 "record in error and moves its source allocation back to the instance, "
                 "replacing the destination claims: the winner's chain goes on, or fails "
                 "its own check next, with the instance on the destination in the new "
                 "flavor holding only the source in the old one. Nova 34 shows it: "
                 "nova-model conform scenarios/second_resize_while_first_queued.json."),
        nova="nova/conductor/tasks/migrate.py: MigrationTask._preallocate_migration, "
             "replace_allocation_with_migration; nova/compute/manager.py: "
             "ComputeManager._resize_instance, ComputeManager._revert_allocation, "
             "ComputeManager._finish_resize; nova/scheduler/client/report.py: "
             "SchedulerReportClient.claim_resources",
    ),
    Finding(
        name="a second move while the first is still queued leaks its destination claim",
        # (an instance the lost race left in error is held to less: the destination's
        # resource audit then shows the leaked claim)
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=(cause("overlaps", operation=_MOVE_OPERATIONS, move=_MOVES), cause("migration_errors")),
        summary=("API.resize and API.live_migrate only ask for task_state None, and a "
                 "queued move's task_state can be cleared under it: "
                 "ComputeManager._init_instance clears resize_prep (and resets a live "
                 "migration, _reset_live_migration) when the source's compute service "
                 "starts, and reverts_task_state clears it when a request that preempted "
                 "it (a soft delete, say) fails. A second move is then accepted while the "
                 "first one's conductor task still runs. A move of another type (a cold "
                 "migration after a resize, a live migration) gets its own record (two "
                 "cold moves of one type share the first one's, the finding above), and "
                 "finds the source "
                 "allocation already "
                 "moved to the first one's migration, so replace_allocation_with_migration "
                 "moves nothing into its own, and the scheduler's claim_resources adds its "
                 "destination to what the instance holds. The loser fails a task_state "
                 "check (a resize at ComputeManager._resize_instance, whose "
                 "_error_out_instance_on_exception also puts the instance in error, as "
                 "ComputeManager.prep_resize checks none; a live migration at "
                 "pre_live_migration), and its clean-up's _revert_allocation finds nothing "
                 "in its migration to give back: the destination claim stays with the "
                 "instance."),
        nova="nova/compute/api.py: API.resize; nova/compute/manager.py: "
             "ComputeManager._init_instance (RESIZE_PREP, MIGRATING), reverts_task_state, "
             "ComputeManager._resize_instance, ComputeManager._revert_allocation; "
             "nova/conductor/tasks/migrate.py: replace_allocation_with_migration; "
             "nova/scheduler/client/report.py: SchedulerReportClient.claim_resources",
    ),
    Finding(
        name="a queued move overtaken by a second move takes its allocations back",
        invariant="instances_hold_what_their_state_implies",
        cause=(cause("overlaps", operation=_MOVE_OPERATIONS, move=_MOVES),
               cause("dropped_steps", operation=_MOVE_OPERATIONS, task=_MOVE_TASKS)),
        summary=("The same opening as the finding above (a compute restart, "
                 "ComputeManager._init_instance, or a failed request's reverts_task_state "
                 "clears a queued move's task_state, and API.resize or API.live_migrate "
                 "accepts a second move while the first one's chain is still queued), "
                 "with the first move losing: its next step finds the second move's task "
                 "and fails, and its failure path's clean-up "
                 "(ComputeManager._revert_allocation, _rollback_live_migration) moves what "
                 "its migration holds, the source, back to the instance, replacing the "
                 "instance's allocations, the second move's destination claim among them; "
                 "the second move then goes on with its migration holding nothing. (For a "
                 "live migration whose source restarted, Nova's own source thread "
                 "(ComputeManager._do_live_migration) ends with the restart and nothing is "
                 "rolled back: the first migration keeps the source and the instance both "
                 "destinations, which breaks the same promise, and so does the model: a "
                 "live migration's source step after pre_live_migration goes on inside "
                 "that handler and goes with the process.)"),
        nova="nova/compute/api.py: API.resize, API.live_migrate; nova/compute/manager.py: "
             "ComputeManager._init_instance, reverts_task_state, "
             "ComputeManager._revert_allocation, ComputeManager._rollback_live_migration; "
             "nova/scheduler/client/report.py: SchedulerReportClient.move_allocations",
    ),
    Finding(
        name="a failed move's migration context outlives it, and the resource audit errors "
             "a later move's record",
        invariant=("allocations_have_live_consumers", "instances_hold_what_their_state_implies"),
        # (the audit is no operation of the catalogue: its cause has an outcome of its own)
        cause=cause("migration_errors", outcome=AUDIT_ERROR.outcome),
        summary=("A cold move that fails before its end (a revert whose destination "
                 "fails in ComputeManager.revert_resize, a resize_instance that fails) "
                 "leaves instance.migration_context naming its record: only the confirm, "
                 "the revert's finish, RT.finish_evacuation and the claim's abort drop it. "
                 "When the instance moves again (a live migration), its resource audit "
                 "(ResourceTracker._update_usage_from_migrations) finds the new record "
                 "the latest of the instance's at the host, not the one the context "
                 "names, marks it error and counts nothing for it; an abort or "
                 "force-complete of the running migration is then refused "
                 "(InvalidMigrationState), and once the move is reset (CM._init_instance: "
                 "_reset_live_migration finds no running record) the record in error "
                 "keeps the source's allocation and the instance holds its destination "
                 "while it stays on its source (a migration the driver completes writes "
                 "completed over the error). Replayed on Nova 34 by nova-model conform "
                 "(scenarios/audit_errors_a_later_live_migration.json)."),
        nova="nova/compute/resource_tracker.py: ResourceTracker._update_usage_from_migrations, "
             "ResourceTracker.drop_move_claim_at_dest; nova/compute/manager.py: "
             "ComputeManager.revert_resize",
    ),
    Finding(
        name="a live migration's destination counts the instance only at its resource audit",
        invariant="tracker_usage_never_negative",
        cause=cause("uncounted_drops", arrived_by="live_migrate"),
        summary=("A live migration claims on its destination's resource tracker only for "
                 "a NUMA-aware move (ComputeManager._live_migration_claim, from "
                 "check_can_live_migrate_destination, when the source driver supports "
                 "it), and post_live_migration_at_destination moves instance.host without "
                 "telling the tracker: the destination counts the instance from its next "
                 "resource audit on. A cold move away from it before that audit ends in "
                 "ResourceTracker.drop_move_claim_at_source, which takes the old flavor "
                 "off although it was never added (the flavor is passed in, so the "
                 "tracked-migration check does not stop it; a resize on that same host "
                 "too, whose claim, ResourceTracker._move_claim, counted only the new "
                 "flavor): the host's ComputeNode "
                 "record shows less than nothing used, and the scheduler's weighers see "
                 "that much more free capacity, until update_available_resource counts "
                 "again (every 60 s by default)."),
        nova="nova/compute/manager.py: ComputeManager.check_can_live_migrate_destination, "
             "ComputeManager._live_migration_claim, "
             "ComputeManager.post_live_migration_at_destination; "
             "nova/compute/resource_tracker.py: ResourceTracker.drop_move_claim_at_source, "
             "ResourceTracker._drop_move_claim",
    ),
    Finding(
        name="a resource tracker takes an instance off at the flavor it has then, not the "
             "one it counted",
        invariant="tracker_usage_never_negative",
        cause=cause("flavor_drops"),
        summary=("The ResourceTracker keeps no usage per instance: tracked_instances is a "
                 "set of uuids, and _update_usage_from_instance adds, and later takes off, "
                 "_get_usage_dict of the instance's flavor at that moment. A cold move whose "
                 "finish fails on the destination (ComputeManager._finish_resize has put the "
                 "new flavor on the instance) leaves the source's tracker counting the "
                 "instance at its old flavor, for nothing drops the source's claim "
                 "(drop_move_claim_at_source runs only at the confirm). A live migration "
                 "back to that host before its resource audit adds nothing "
                 "(_update_usage_from_migration skips an incoming instance already tracked, "
                 "and post_live_migration_at_destination does not tell the tracker), and a "
                 "delete there (ComputeManager._complete_deletion -> update_usage) takes the "
                 "new flavor off: the host's ComputeNode record shows less than nothing used "
                 "(m1.tiny counted, m1.small taken off: -1536 MB, -19 GB), and the "
                 "scheduler's weighers see that much more free capacity, until "
                 "update_available_resource counts again. Replayed on Nova 34 by nova-model "
                 "conform (scenarios/delete_after_failed_resize_and_live_migration_back.json "
                 "agrees on every compared field; the harness compares no tracker, and the "
                 "source's ComputeNode, read from Nova's in-process ResourceTracker, ends "
                 "at memory_mb_used -1536, local_gb_used -19)."),
        nova="nova/compute/resource_tracker.py: ResourceTracker.update_usage, "
             "ResourceTracker._update_usage_from_instance, ResourceTracker._get_usage_dict, "
             "ResourceTracker._update_usage_from_migration; nova/compute/manager.py: "
             "ComputeManager._finish_resize, ComputeManager.finish_resize, "
             "ComputeManager.post_live_migration_at_destination, "
             "ComputeManager._complete_deletion",
    ),
    Finding(
        name="a snapshot of an instance whose guest is gone stays in its task",
        invariant="nothing_stuck",
        cause=cause("vanished_guests"),
        summary=("A rebuild whose spawn fails has already destroyed the guest "
                 "(ComputeManager._rebuild_default_impl calls driver.destroy before "
                 "driver.spawn), and a cold move whose finish fails on the destination "
                 "leaves no guest there; the instance stays active, stopped or in error "
                 "on that host. A later snapshot or backup gets InstanceNotRunning from "
                 "driver.snapshot (LibvirtDriver.snapshot finds no domain), which "
                 "_snapshot_instance takes for an instance that disappeared: it returns "
                 "without clearing the task_state (reverts_task_state sees no exception), "
                 "with power_state NOSTATE saved, and the server stays in image_snapshot "
                 "until an admin resets its state. Replayed on Nova 34 by nova-model "
                 "conform (scenarios/snapshot_after_failed_rebuild_stays_in_image_snapshot"
                 ".json). A later rebuild does not stay: the libvirt driver's power_off "
                 "and destroy pass with no domain and the spawn makes the guest again "
                 "(scenarios/rebuild_after_failed_rebuild_spawns_again.json)."),
        nova="nova/compute/manager.py: ComputeManager._rebuild_default_impl, "
             "ComputeManager._snapshot_instance (except InstanceNotRunning); "
             "nova/virt/libvirt/driver.py: LibvirtDriver.snapshot, LibvirtDriver.power_off",
    ),
    Finding(
        name="a rebuild of an instance with no host claims a host and stays in rebuilding",
        invariant=("nothing_stuck", "tracker_audit_agrees_with_placement",
                   "instances_hold_what_their_state_implies"),
        cause=cause("unmatched_allocations", operation="rebuild", step="check_image"),
        summary=("API.rebuild accepts an instance in error, and one that was "
                 "shelved_offloaded before an admin reset it to error has no host. The API "
                 "passes instance.host (None) to ComputeTaskManager.rebuild_instance, which "
                 "then schedules it as a plain request: the scheduler claims the flavor on "
                 "the host it picks (utils.claim_resources) and then raises TypeError on "
                 "the request spec's requested_resources, which the conductor fills only "
                 "for an evacuation. The conductor handles no TypeError: the server stays "
                 "in error/rebuilding with no host until an admin resets it, and the claim "
                 "stays on a host that does not count the instance. Replayed on Nova 34 by "
                 "nova-model conform (scenarios/rebuild_without_host_claims_and_stays.json)."),
        nova="nova/compute/api.py: API.rebuild (host = instance.host); "
             "nova/conductor/manager.py: ComputeTaskManager.rebuild_instance; "
             "nova/scheduler/manager.py: SchedulerManager._schedule (claim_resources, "
             "then spec_obj.requested_resources)",
    ),
    Finding(
        name="a rebuild with a new image of an instance with no host fails in the API "
             "and stays in rebuilding",
        invariant="nothing_stuck",
        cause=cause("api_errors", operation="rebuild"),
        summary=("With a new image, API.rebuild saves task_state rebuilding and the new "
                 "image, then asks the scheduler to check the image on the instance's own "
                 "host (request_spec.force_hosts = [instance.host]); an instance with no "
                 "host (shelved_offloaded, then reset to error) makes the request spec "
                 "refuse None (ValueError): the API answers 500, nothing is cast, and the "
                 "server stays in rebuilding with the new image until an admin resets it. "
                 "Replayed on Nova 34 by nova-model conform "
                 "(scenarios/rebuild_new_image_without_host_fails_in_api.json)."),
        nova="nova/compute/api.py: API.rebuild (instance.save, then "
             "request_spec.force_hosts = [instance.host])",
    ),
    Finding(
        name="a request cast to the compute of an instance with no host fails in the API "
             "and stays in its task",
        invariant="nothing_stuck",
        cause=cause("api_errors", operation=_CAST_TO_THE_HOST),
        summary=("A hard reboot or a stop is accepted in vm_state error, and a launched "
                 "instance in error can have no host: it was shelved_offloaded before an "
                 "admin reset it, or a move queued across its offload errored it (the "
                 "finding below). The API saves the request's "
                 "task_state (API.reboot, API.stop) and then casts to instance.host: the "
                 "compute RPC API's _compute_host raises NovaException ('Unable to find "
                 "host for Instance'), the API answers 500, and the server stays in "
                 "rebooting_hard or powering-off, with nothing queued, until an admin "
                 "resets it. Replayed on Nova 34 by nova-model conform "
                 "(scenarios/resize_queued_across_an_offload.json, its last step)."),
        nova="nova/compute/api.py: API.reboot, API.stop (instance.save, then the cast); "
             "nova/compute/rpcapi.py: _compute_host",
    ),
    Finding(
        name="a cold move queued across a shelve offload ends in error holding its source "
             "with no host",
        invariant=("instances_hold_what_their_state_implies",
                   "tracker_audit_agrees_with_placement"),
        cause=cause("error_causes", operation=_COLD_MOVE_OPERATIONS, step=_MOVE_RESCHEDULES,
                    vm_before="shelved_offloaded"),
        summary=("A compute restart clears a queued resize's or cold migration's "
                 "resize_prep (ComputeManager._init_instance) and leaves its migration "
                 "holding the source; a shelve (or shelve_offload) is then accepted and "
                 "offloads the instance, deleting its own allocations and its host. The "
                 "queued prep_resize checks no task_state: it claims the destination, "
                 "cannot cast resize_instance to an instance with no host, gives the "
                 "migration's source allocation back to the instance "
                 "(ComputeManager._revert_allocation) and asks the conductor to "
                 "reschedule. MigrationTask._preallocate_migration looks up the source "
                 "compute node of an instance with no host (replace_allocation_with_"
                 "migration: ComputeHostNotFound), the conductor puts the migration in "
                 "error and the compute's _error_out_instance_on_exception puts the "
                 "instance in error: it holds the source's allocation in the old flavor "
                 "with no host, and the source's resource audit does not count it. "
                 "Replayed on Nova 34 by nova-model conform "
                 "(scenarios/resize_queued_across_an_offload.json)."),
        nova="nova/compute/manager.py: ComputeManager._init_instance (RESIZE_PREP), "
             "ComputeManager._do_prep_resize, ComputeManager._revert_allocation, "
             "ComputeManager._reschedule_resize_or_reraise; "
             "nova/conductor/tasks/migrate.py: MigrationTask._preallocate_migration, "
             "replace_allocation_with_migration",
    ),
    Finding(
        name="a step that loses its task_state check inside the error handler leaves the "
             "instance in error in that task",
        invariant="nothing_stuck",
        cause=cause("error_causes", trigger=PREEMPTED),
        summary=("A compute step sets its task_state in memory and saves it with "
                 "expected_task_state inside _error_out_instance_on_exception; when another "
                 "request changed the task first (an admin's reset-state, a second "
                 "evacuation, a move overtaken by another), the save raises "
                 "UnexpectedTaskStateError and _set_instance_obj_error_state saves vm_state "
                 "error with the in-memory task_state (it does not clean it), which "
                 "reverts_task_state leaves alone for that exception ('task possibly "
                 "preempted'). Nothing is queued any more: the server stays in error with "
                 "resize_migrating, resize_migrated, resize_finish or rebuilding until an "
                 "admin resets it. Replayed on Nova 34 by nova-model conform "
                 "(scenarios/second_resize_while_first_queued.json ends in error with "
                 "resize_finish)."),
        nova="nova/compute/manager.py: ComputeManager._error_out_instance_on_exception, "
             "ComputeManager._set_instance_obj_error_state, reverts_task_state, "
             "ComputeManager._resize_instance, ComputeManager._finish_resize, "
             "ComputeManager._do_rebuild_instance",
    ),
    Finding(
        name="an unshelve whose task another request takes keeps its host and claim while "
             "offloaded",
        invariant=("instances_hold_what_their_state_implies", "host_set_exactly_when_required"),
        cause=cause("dropped_steps", operation="unshelve", step="spawned", outcome="ok"),
        summary=("ComputeManager._unshelve_instance saves spawning, claims the host "
                 "(ResourceTracker.instance_claim, which saves instance.host and node), "
                 "spawns the guest, and only then saves the instance active with "
                 "expected_task_state spawning. A request that takes the task meanwhile (a "
                 "soft delete: API.soft_delete admits any task_state) makes that last save "
                 "fail (UnexpectedTaskStateError, which reverts_task_state leaves alone): "
                 "the record stays shelved_offloaded, but with its host, its claim on the "
                 "tracker and its allocation in Placement. A soft delete whose driver then "
                 "fails clears the task (reverts_task_state) and leaves the instance so: "
                 "offloaded, on a host, holding that host."),
        nova="nova/compute/manager.py: ComputeManager._unshelve_instance, "
             "ComputeManager.unshelve_instance, reverts_task_state, "
             "ComputeManager.soft_delete_instance; nova/compute/resource_tracker.py: "
             "ResourceTracker.instance_claim; nova/compute/api.py: API.soft_delete",
    ),
)


def split(found: dict[str, list[str]], cluster
          ) -> tuple[dict[str, list[str]], list[tuple[Finding, str]]]:
    """Separate the violations an upstream finding explains (by the causes ``cluster``
    recorded for their subjects) from the real ones."""
    unexplained: dict[str, list[str]] = {}
    explained: list[tuple[Finding, str]] = []
    for invariant, messages in found.items():
        for message in messages:
            finding = next((f for f in UPSTREAM if f.explains(invariant, message, cluster)),
                           None)
            if finding is None:
                unexplained.setdefault(invariant, []).append(message)
            else:
                explained.append((finding, message))
    return unexplained, explained
