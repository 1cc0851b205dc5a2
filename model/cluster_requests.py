"""The cluster's API: a request checked as Nova's API checks it, its API step run
through the lifecycle, its first asynchronous step queued (``Cluster.request``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from model import errors
from model.cluster_compat import has_group
from model.cluster_results import (
    create_counts, Result, vm_of as _vm_of, detached as _detached,
)
from model.cluster_state import (
    ApiError, InstanceInfo, Work, freeze_context as _freeze_context)
from model.lifecycle import USER, Context, Instance, rebuild_as_stopped
from model.operation import Branch, Operation, SchedulerUse, SpecFlavor, Where


def _microversion(text: Any) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in str(text).split("."))
    except ValueError:
        raise errors.InvalidRequest(f"microversion {text!r} is not MAJOR.MINOR") from None
    return major, minor


class Requests:
    """API requests: validation, the create, the API step and the first queued step."""

    def request(self, op: str, instance_uuid: str | None = None, ctx: Context = USER,
                **args: Any) -> Result:
        """An API call. A rejected request changes nothing."""
        self.decisions = []
        operation = self.lc.catalogue.get(op)
        try:
            if operation is not None and operation.creates_instance:
                return self._create(operation, ctx, **args)
            inst = self.instance(instance_uuid)  # type: ignore[arg-type]
            context = self._validate(op, operation, inst, args)
            before_host, before_vm, before_task = inst.host, _vm_of(inst), inst.task_state
            branch = self.lc.request(op, inst, ctx)
        except errors.NovaModelError as exc:
            return Result(False, _detached(exc), f"{op} rejected: {exc.message}",
                          instance_uuid)
        self.note_vm_change(inst, before_vm, op, "api", "ok", "api")
        if inst.task_state is not before_task:
            self.handler_lost.pop(inst.uuid, None)  # (its task now is this request's)
        stopped_from = operation.stopped_from_microversion if operation else None
        if (stopped_from is not None and "microversion" in args
                and _microversion(args["microversion"]) >= stopped_from):
            rebuild_as_stopped(inst)
        unaddressed = self.after_api(op, inst, branch, context, ctx, before_host)
        mig = inst.migration
        self.note_overlap(inst, op, "api", "ok",
                           mig.uuid if mig is not None and mig.in_progress else None)
        if unaddressed is not None:
            return Result(True, unaddressed, f"{op} accepted, then {unaddressed.message}",
                          inst.uuid, branch)
        return Result(True, None, f"{op} accepted" + (f" -> {branch.then}" if branch.then
                                                        else ""), inst.uuid, branch)

    def _create(self, operation: Operation, ctx: Context, flavor: str = "m1.small",
                image: str | None = None, group: str | None = None,
                availability_zone: str | None = None,
                hints: Mapping[str, Iterable[str]] | None = None,
                min_count: int | None = None, max_count: int | None = None) -> Result:
        """``API.create`` -> ``API._create_instance`` -> ``API._provision_instances``.

        A multi-create (``max_count`` > 1) makes its instances at once, each with its
        own uuid, in order (``vm3``, ``vm4``, ... here; Nova suffixes the display names
        ``-1``, ``-2``, ... in ``API._populate_instance_names``), all members of the
        group before anything is scheduled, and casts one
        ``schedule_and_build_instances`` for all of them: one work item carrying the
        batch (``batch`` in its context), delivered as one scheduling decision
        (``_deliver_batch``). The model has no quota, so
        ``compute_utils.check_num_instances_quota`` allows ``max_count`` and
        ``min_count`` changes nothing but what is checked: the scheduler must place
        all ``max_count`` (``RequestSpec.num_instances``) or none. The answer names
        the first instance (``ServersController.create`` returns ``instances[0]``, or
        the reservation id with ``return_reservation_id``).
        """
        _, count = create_counts(min_count, max_count)
        if flavor not in self.flavors:
            raise errors.InvalidRequest(f"unknown flavor {flavor!r}")
        if image is None:
            image = next(iter(self.images), None)  # the config's first image
        elif image not in self.images:
            raise errors.InvalidRequest(f"unknown image {image!r}")
        if group is not None and not has_group(self.config, group):
            raise errors.InvalidRequest(f"unknown server group {group!r}")
        if availability_zone is not None and availability_zone not in self.available_zones():
            # API.create: a zone no enabled compute service is in is refused (400)
            raise errors.InvalidRequest(
                f"The requested availability zone is not available: {availability_zone!r} "
                f"(available: {', '.join(sorted(self.available_zones()))})")
        made: list[tuple[Instance, Branch]] = []
        for index in range(count):
            uuid = f"vm{self.counters['vm'] + 1}"
            inst = self.lc.new_instance(uuid, self, flavor=flavor, image=image)
            try:
                branch = self.lc.request(operation.name, inst, ctx)
            except errors.NovaModelError:  # pragma: no cover - create has no guard
                self.lc.forget(inst)
                raise
            self.counters["vm"] += 1
            self.instances[uuid] = inst
            self.info[uuid] = InstanceInfo(
                group, availability_zone,
                tuple(sorted((k, tuple(v)) for k, v in (hints or {}).items())),
                self._min_disk(flavor, image))
            if group is not None:
                self.groups.setdefault(group, []).append(uuid)
            made.append((inst, branch))
        uuids = tuple(inst.uuid for inst, _ in made)
        head, head_branch = made[0]
        if (count > 1 and head_branch.then is not None
                and not operation.step(head_branch.then).schedules_batch):
            raise AssertionError(f"{operation.name}.{head_branch.then} does not schedule "
                                 f"a batch")
        for index, (inst, branch) in enumerate(made):
            # (one cast for the whole request: the first instance's work carries the batch)
            context = _freeze_context({"batch": uuids}) if count > 1 else ()
            self.after_api(operation.name, inst, branch, context, ctx, None,
                            enqueue=index == 0)
        words = ", ".join(uuids) if count <= 3 else f"{uuids[0]} .. {uuids[-1]}"
        return Result(True, None, f"{operation.name} accepted: {words}", head.uuid,
                      head_branch)

    def _min_disk(self, flavor: str, image: str | None) -> int:
        properties = self.images.get(image) or {}
        return max(int(properties.get("min_disk", 0) or 0), self.flavors[flavor].root_gb)

    def _validate(self, op: str, operation: Operation | None, inst: Instance,
                  args: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
        """Check the request's arguments (REST-layer checks, each operation's
        ``request_args``); return the work context. ``operation`` is None for a name the
        catalogue does not have (the lifecycle refuses it next)."""
        allowed = operation.request_args if operation is not None else frozenset()
        unknown = set(args) - allowed
        if unknown:
            raise errors.InvalidRequest(f"{op} takes no argument(s) {sorted(unknown)}")
        host = args.get("host")
        if host is not None:
            if host not in self.hosts:
                raise errors.ComputeHostNotFound(f"no compute host {host!r}")
            if host == inst.host:
                raise errors.InvalidRequest(f"{op}: the instance is already on {host}")
        if args.get("force") and host is None:
            raise errors.InvalidRequest(f"{op}: force needs a host")
        if operation is not None and operation.changes_flavor:
            new = args.get("flavor")
            if new not in self.flavors:
                raise errors.InvalidRequest(f"unknown flavor {new!r}")
            if new == inst.flavor:
                raise errors.InvalidRequest("resize to the same flavor (CannotResizeToSameFlavor)")
            # API.resize -> _validate_flavor_image_nostatus against the boot image's
            # system metadata (a root disk of 0 takes the image's size: not checked)
            root_gb, min_disk = self.flavors[new].root_gb, self.info[inst.uuid].min_disk
            if root_gb and root_gb < min_disk and not self.volume_backed(inst.image):
                raise errors.InvalidRequest(
                    f"{new}'s root disk ({root_gb} GB) is smaller than the image's "
                    f"min_disk ({min_disk} GB) (FlavorDiskSmallerThanMinDisk)")
        if "microversion" in args:
            version = _microversion(args["microversion"])
            if args.get("force") and version > (2, 67):
                raise errors.InvalidRequest(f"{op}: force is gone after microversion 2.67")
        if operation is not None and operation.replaces_image:
            image = args.get("image", inst.image)
            if image not in self.images:
                raise errors.InvalidRequest(f"unknown image {image!r}")
            if image != inst.image and self.volume_backed(inst.image):
                # API.rebuild: a volume-backed server keeps the image of its root volume
                # (reimage_boot_volume, 2.93, is not modelled)
                raise errors.InvalidRequest(
                    "Unable to rebuild with a different image for a volume-backed server "
                    "(ImageUnacceptable)")
            if self.volume_backed(image) and not self.volume_backed(inst.image):
                # A rebuild keeps the root disk the server was built with (its block
                # device mappings); the model reads the root disk off the instance's
                # image, so it cannot hold an image-backed server with this image.
                raise errors.InvalidRequest(
                    f"rebuilding an image-backed server from the volume-backed image "
                    f"{image!r} is outside the model")
        return _freeze_context(dict(args))

    def after_api(self, op: str, inst: Instance, branch: Branch,
                   context: tuple[tuple[str, Any], ...], ctx: Context,
                   before_host: str | None, enqueue: bool = True
                   ) -> errors.NovaModelError | None:
        """The API step's effects beyond the instance: allocations, migration, next step.

        Returns the error the API answers with after its writes, if any: a next step
        cast to the instance's host when it has none is not sent
        (``NoHostForInstance``); a call the API waits for on a compute that is down
        times out (``MessagingTimeout``) while its message stays queued."""
        if branch.migration is not None and branch.migration.create is not None:
            # evacuate: the migration is created by the API, status accepted.
            self.create_migration(inst, branch.migration.create, branch.migration.status,
                                   source=before_host, dest=dict(context).get("host"))
        self.apply_allocs(inst, branch, (), before_host)
        self.track(inst, branch, before_host, before_host, (op, "api"))
        if branch.migration is not None and branch.migration.create is None:
            self.set_migration_status(inst, branch.migration.status, op, "api", "ok")
        if (self.lc.operation(op).spec_flavor is SpecFlavor.RESTORES
                and inst.migration is not None):
            # API.revert_resize: reqspec.flavor = instance.old_flavor
            self.set_spec_flavor(inst, inst.migration.old_flavor)
        if self.lc.operation(op).replaces_image:
            context = _freeze_context({**dict(context), "old_image": inst.image})
            new_image = dict(context).get("image")
            changes: dict[str, Any] = {}
            if new_image:
                if new_image != inst.image:
                    changes["spec_image"] = new_image
                inst.image = new_image
            # API.rebuild -> _reset_image_metadata: system metadata from the image and
            # the current flavor
            self.info[inst.uuid] = dataclasses.replace(
                self.info[inst.uuid], min_disk=self._min_disk(inst.flavor, inst.image),
                **changes)
        if branch.then is not None and enqueue:
            new_image = dict(context).get("image")
            if (self.lc.operation(op).scheduler is SchedulerUse.CHECK_IF_NEW_IMAGE
                    and inst.host is None and new_image
                    and new_image != dict(context).get("old_image")):
                # API.rebuild asks the scheduler to check a new image on the instance's
                # own host (request_spec.force_hosts = [instance.host]), and the request
                # spec refuses None: ValueError after the API's writes, nothing cast
                # (Nova 34, seen by conformance)
                error = errors.UnexpectedAPIError(
                    "ValueError: Field `force_hosts[0]' cannot be None: the instance has "
                    "no host for the check of its new image; the API's writes stay and "
                    "it answers 500")
                self.api_errors[inst.uuid] = ApiError(op, error.message)
                return error
            if self.lc.operation(op).step(branch.then).where is Where.HOST and inst.host is None:
                error = errors.NoHostForInstance(
                    f"NovaException: Unable to find host for Instance {inst.uuid}: the "
                    f"task state stays and the API answers 500")
                self.api_errors[inst.uuid] = ApiError(op, error.message)
                return error
            work = self.enqueue(Work("", inst.uuid, op, branch.then, None, context, ctx))
            if (self.lc.operation(op).api_waits and work.target is not None
                    and not self.service_is_up(work.target)):
                return errors.MessagingTimeout(
                    f"MessagingTimeout: {work.target}'s compute service is down: the API "
                    f"answers 500 and its call waits in the queue")
        return None
