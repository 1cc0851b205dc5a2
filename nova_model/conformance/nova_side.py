"""Running Nova 34, in-process, driven by a conformance plan.

This module is the only one that imports Nova. It runs in its own process (``python -m
nova_model.conformance.nova_side``): Nova's functional environment monkey-patches the
interpreter with eventlet, which must not leak into the model or the search. It reads
one JSON request on stdin (the cluster and a list of plans, see ``runner``) and writes
one JSON line per planned action on stdout; everything Nova logs goes to stderr.

The environment is Nova's own functional-test base
(``nova.tests.functional.integrated_helpers.ProviderUsageBaseTestCase``): the real
REST API (wsgi-intercept), conductor, scheduler and one compute service per host,
the in-process Placement, sqlite and fake messaging. Each host runs
``ConformanceDriver``, Nova's fake virt driver sized and described as the cluster file
says, reporting power states as the libvirt driver does (the model follows libvirt).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import unittest
from typing import Any

# Nova's functional base needs its WSGI paste file; the wheel installs it under the
# environment's prefix, not next to the package where the fixture looks.
_PASTE = os.path.join(sys.prefix, "etc", "nova", "api-paste.ini")

from nova import context as nova_context  # noqa: E402
from nova import exception as nova_exception  # noqa: E402 (faults name it)
from nova import objects  # noqa: E402
from nova.compute import power_state  # noqa: E402
from nova.conf import CONF  # noqa: E402
from nova.tests.functional import integrated_helpers  # noqa: E402
from nova.tests.functional.api import client as api_client  # noqa: E402
from nova.virt import event as virtevent  # noqa: E402
from nova.virt import fake  # noqa: E402
from oslo_messaging._drivers import impl_fake  # noqa: E402
from oslo_messaging.rpc import dispatcher as rpc_dispatcher  # noqa: E402

from nova_model.conformance.work import Work, wait_for_rest  # noqa: E402

#: The compute API microversion of every request that states none (one with ``force``
#: uses 2.67, the last that accepts it on live migration and evacuate). 2.94 is the last
#: before evacuate's target_state stopped (2.95), which a request asks for by stating
#: its microversion.
MICROVERSION = "2.94"
#: the size of a boot volume the harness makes for a volume-backed server (GB): the
#: volume, not the flavor, is the root disk, so any size the image fits in will do
_BOOT_VOLUME_GB = 10
FORCE_MICROVERSION = "2.67"
#: Migration statuses during which Nova is still working on a move.
TRANSIENT_MIGRATION = frozenset({
    "accepted", "pre-migrating", "migrating", "post-migrating", "queued", "preparing",
    "running", "reverting", "confirming"})
#: How long a settle (or the wait before a racing step) waits for Nova's work in flight
#: to end; work still in flight then is a harness error naming it. A step's work ends in
#: seconds even on a loaded machine; the runner takes a silent Nova for hung only after
#: ``runner.SILENCE_LIMIT_S``, well beyond this.
SETTLE_TIMEOUT_S = 120.0
#: The admin's own project. The model's admin is not the owner: ``API.lock`` records
#: ``locked_by`` "owner" for a caller in the instance's project, admin or not, and
#: ``API.is_expected_locked_by`` compares the caller's project with the instance's.
ADMIN_PROJECT = "61646d696e2070726f6a656374000000"


#: the fake driver's destroy as Nova ships it (a fault on destroy replaces the attribute)
_FAKE_DESTROY = fake.FakeDriver.destroy
#: the fake driver's confirm as Nova ships it (a fault on confirm replaces the attribute)
_FAKE_CONFIRM = fake.FakeDriver.confirm_migration
#: the fake driver's power_off as Nova ships it (a fault on power_off replaces the attribute)
_FAKE_POWER_OFF = fake.FakeDriver.power_off


#: Nova's work in flight in this process (``nova_model.conformance.work``), fed by
#: ``_track_work`` below; each cluster starts a new epoch of it.
WORK = Work()
#: The fake transport's listeners of the running cluster (a stopped service's stays
#: here, stopped: what waits in its queues waits for its next start, not in flight).
_LISTENERS: list[Any] = []


def _queued():
    """The messages waiting in a queue some running service listens to (the fake
    driver's ``FakeExchange.poll`` takes them from these queues)."""
    seen = set()
    for listener in _LISTENERS:
        if listener.harness_stopped:
            continue
        for target in listener.harness_targets:
            exchange = listener.harness_exchanges.get_exchange(target.exchange)
            queue = (exchange._server_queues.get((target.topic, target.server))
                     if target.server else
                     exchange._topic_queues.get((target.topic, listener.harness_pool)))
            if not queue or id(queue) in seen:
                continue
            seen.add(id(queue))
            for _, message, _, _ in list(queue):
                yield f"{message.get('method')} to {target.topic}.{target.server or '*'}"


#: How often a service's fake RPC listener looks at its queues (``_track_work``).
POLL_S = 0.005


def _track_work() -> None:
    """Count Nova's work where it passes in its functional environment (once per process).

    A message is in flight from its delivery to a listened queue (``_queued``) through
    the fake listener's poll, which takes it, to the end of the RPC dispatcher's call of
    the endpoint's method (``RPCDispatcher.dispatch``; a call's caller, itself in flight,
    waits on for the reply). A task
    from the moment a service submits it (``thread_pool_factory.spawn_on``: a build, a
    live migration, a scatter-gather) until its future is done, run or cancelled.
    """
    from nova import thread_pool_factory
    if getattr(thread_pool_factory.spawn_on, "counted", False):
        return
    listener_init = impl_fake.FakeListener.__init__
    listener_poll = impl_fake.FakeListener.poll
    listener_stop = impl_fake.FakeListener.stop
    dispatch = rpc_dispatcher.RPCDispatcher.dispatch
    spawn_on = thread_pool_factory.spawn_on

    def init(listener, exchange_manager, targets, pool=None):
        listener_init(listener, exchange_manager, targets, pool)
        listener.harness_exchanges, listener.harness_targets = exchange_manager, targets
        listener.harness_pool, listener.harness_stopped = pool, False
        _LISTENERS.append(listener)

    def stop(listener):
        listener.harness_stopped = True
        listener_stop(listener)

    def poll(listener, timeout=None, batch_size=1, batch_timeout=None):
        # The fake transport looks at its queues every 50 ms, so each cast of a chain
        # waited up to that long to be taken (and each RPC server as long to stop):
        # it is asked every POLL_S instead, as long as it would have waited.
        limit = batch_timeout or timeout
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            taken = listener_poll(listener, timeout=POLL_S, batch_size=batch_size)
            if (taken or listener.harness_stopped
                    or (deadline is not None and time.monotonic() >= deadline)):
                break
        first = listener.harness_targets[0]
        for message in taken or ():
            message.harness_unit = WORK.begin(
                f"{message.message.get('method')} on {first.topic}.{first.server or '*'}")
        return taken

    def counted_dispatch(dispatcher, incoming):
        unit = getattr(incoming, "harness_unit", None)
        if unit is None:
            return dispatch(dispatcher, incoming)
        try:
            with WORK.running(unit):
                return dispatch(dispatcher, incoming)
        finally:
            WORK.end(unit)

    def counted_spawn_on(executor_type, func, *args, **kwargs):
        unit = WORK.begin(f"{getattr(func, '__name__', func)} on the "
                          f"{executor_type.value} executor")

        def run(*a, **kw):
            with WORK.running(unit):
                return func(*a, **kw)

        try:
            future = spawn_on(executor_type, functools.wraps(func)(run), *args, **kwargs)
        except BaseException:
            WORK.end(unit)
            raise
        future.add_done_callback(lambda _: WORK.end(unit))
        return future

    counted_spawn_on.counted = True
    impl_fake.FakeListener.__init__ = init
    impl_fake.FakeListener.poll = poll
    impl_fake.FakeListener.stop = stop
    rpc_dispatcher.RPCDispatcher.dispatch = counted_dispatch
    thread_pool_factory.spawn_on = counted_spawn_on


class ConformanceDriver(fake.FakeDriver):
    """The fake driver with the resources and capabilities the cluster file gives a host."""

    HOSTS: dict[str, dict[str, Any]] = {}

    def __init__(self, virtapi, read_only=False):
        spec = self.HOSTS[CONF.host]
        self.vcpus, self.memory_mb, self.local_gb = (
            spec["vcpus"], spec["memory_mb"], spec["local_gb"])
        super().__init__(virtapi, read_only)
        self.spec = spec
        self.host_status_base.update(
            hypervisor_type=spec["hypervisor_type"],
            hypervisor_version=spec["hypervisor_version"],
            supported_instances=[tuple(t) for t in spec["supported_instances"]],
            # (the fake driver reports 0, which would make every host's free disk 0
            # to the scheduler; the model takes the hypervisor to have its whole disk)
            disk_available_least=spec["local_gb"])

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        spec = self.HOSTS[nodename]
        known = provider_tree.data(nodename).inventory
        inventory = {}
        for rc, total in (("VCPU", spec["vcpus"]), ("MEMORY_MB", spec["memory_mb"]),
                          ("DISK_GB", spec["local_gb"])):
            if total <= 0:
                continue
            # Nova's rule (ComputeDriver._get_allocation_ratios): with no *_allocation_ratio
            # option set, a ratio already in Placement is kept, else the initial_* value.
            ratio = (known[rc]["allocation_ratio"] if rc in known
                     else spec["initial_ratio"][rc])
            inventory[rc] = {"total": total, "min_unit": 1, "max_unit": total,
                             "step_size": 1, "allocation_ratio": ratio,
                             "reserved": spec["reserved"][rc]}
        provider_tree.update_inventory(nodename, inventory)

    # The fake driver leaves the guest as it was for these; the catalogue follows what
    # the libvirt driver reports afterwards (``LibvirtDriver.<method>``).

    def _set_power(self, instance, state) -> None:
        guest = self.instances.get(instance.uuid)
        if guest is not None:
            guest.state = state

    def _guest(self, instance) -> None:
        """libvirt's ``Host.get_guest``: InstanceNotFound when the hypervisor has no
        domain for the instance (the fake driver's pause, unpause and suspend pass
        whether or not it has a guest, and its soft reboot powers on; libvirt's resume
        and power-on make the domain again)."""
        if instance.uuid not in self.instances:
            raise nova_exception.InstanceNotFound(instance_id=instance.uuid)

    def pause(self, instance):
        self._guest(instance)                             # LibvirtDriver.pause
        super().pause(instance)
        self._set_power(instance, power_state.PAUSED)     # virDomainSuspend

    def unpause(self, instance):
        self._guest(instance)
        super().unpause(instance)
        self._set_power(instance, power_state.RUNNING)

    def suspend(self, context, instance):
        self._guest(instance)                             # LibvirtDriver.suspend
        super().suspend(context, instance)
        self._set_power(instance, power_state.SHUTDOWN)   # managedSave shuts the domain off

    def power_on(self, context, instance, network_info, block_device_info=None,
                 accel_info=None, share_info=None):
        if instance.uuid not in self.instances:
            # LibvirtDriver.power_on is LibvirtDriver._hard_reboot, which defines the
            # domain again from the instance's own data when the hypervisor has none
            # (the fake driver raises InstanceNotFound; its own hard reboot spawns).
            self.spawn(context, instance, instance.image_meta, None, None, None,
                       block_device_info=block_device_info, power_on=False)
        super().power_on(context, instance, network_info, block_device_info,
                         accel_info, share_info)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        if reboot_type.upper() == "SOFT":
            self._guest(instance)     # LibvirtDriver._soft_reboot: Host.get_guest
        super().reboot(context, instance, network_info, reboot_type, block_device_info,
                       bad_volumes_callback, accel_info, share_info)

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        super().resume(context, instance, network_info, block_device_info, share_info)
        self._set_power(instance, power_state.RUNNING)

    def power_off(self, instance, timeout=0, retry_interval=0):
        # LibvirtDriver.power_off: _clean_shutdown and _destroy take a missing domain as
        # already off (the fake driver raises InstanceNotFound). A fault armed on the fake
        # driver's power_off replaces it: call it then, so that it raises.
        power_off = fake.FakeDriver.power_off
        if instance.uuid in self.instances or power_off is not _FAKE_POWER_OFF:
            power_off(self, instance, timeout, retry_interval)

    def rescue(self, context, instance, network_info, image_meta, rescue_password,
               block_device_info, share_info):
        super().rescue(context, instance, network_info, image_meta, rescue_password,
                       block_device_info, share_info)
        if instance.uuid not in self.instances:
            # LibvirtDriver.rescue builds the domain's XML afresh when there is none
            # (_get_existing_domain_xml) and creates the rescue domain (the fake
            # driver's rescue leaves the hypervisor as it was).
            self.spawn(context, instance, instance.image_meta, None, None, None,
                       block_device_info=block_device_info)
        self._set_power(instance, power_state.RUNNING)    # the rescue domain boots

    #: Instances whose next live migration the driver holds running until an abort or
    #: force-complete request reaches it (as Nova's own FakeLiveMigrateDriver does); the
    #: plan asks for it when a scenario acts on a running live migration.
    HOLD: set[str] = set()
    RELEASE: dict[str, str] = {}
    HOLDING: set[str] = set()   # the instances whose migration the driver holds now
    HOLD_LIMIT_S = 30.0

    @classmethod
    def finish(cls, uuid: str) -> None:
        """Let a held migration end as the driver's own would (the model delivered its
        post_live_migration): only one still held, and not one an abort or
        force-complete already released."""
        if uuid in cls.HOLDING:
            cls.RELEASE.setdefault(uuid, "complete")

    def confirm_migration(self, context, migration, instance, network_info):
        # libvirt's confirm undefines the source domain (LibvirtDriver._cleanup_resize)
        # without calling destroy; the fake driver's calls self.destroy, so a fault
        # armed on destroy for a delete's terminate fired in the confirm that
        # API._confirm_resize_on_deleting asks for first. Forget the guest through the
        # fake driver's own destroy as it was before any fault was armed.
        # A fault armed on the fake driver's confirm (the catalogue's confirm_resize.confirm
        # driver_error) replaces it: call it then, so that it raises.
        confirm = fake.FakeDriver.confirm_migration
        if confirm is not _FAKE_CONFIRM:
            return confirm(self, context, migration, instance, network_info)
        if migration.source_compute != migration.dest_compute:
            _FAKE_DESTROY(self, context, instance, network_info)

    #: Guests a live migration carries paused to the destination, by instance.
    CARRIED_PAUSED: set[str] = set()

    def live_migration(self, context, instance, dest, post_method, recover_method,
                       block_migration=False, migrate_data=None):
        # libvirt's peer-to-peer migration leaves a guest paused on the destination when
        # it was paused on the source; the fake driver spawns it running there
        # (FakeDriver.post_live_migration_at_destination).
        guest = self.instances.get(instance.uuid)
        if guest is not None and guest.state == power_state.PAUSED:
            self.CARRIED_PAUSED.add(instance.uuid)
        else:
            self.CARRIED_PAUSED.discard(instance.uuid)
        given_post = post_method

        def post_method(*args, **kwargs):
            # libvirt's migration undefines the source's domain (VIR_MIGRATE_UNDEFINE_
            # SOURCE), and the fake driver's cleanup forgets nothing: once the instance
            # is on its destination, the source has no guest for it (a later move back
            # there finds none, as under libvirt)
            given_post(*args, **kwargs)
            self.instances.pop(instance.uuid, None)

        if instance.uuid not in self.HOLD:
            return super().live_migration(context, instance, dest, post_method,
                                          recover_method, block_migration, migrate_data)
        self.HOLD.discard(instance.uuid)
        deadline = time.monotonic() + self.HOLD_LIMIT_S

        def holding() -> bool:
            return instance.uuid not in self.RELEASE and time.monotonic() < deadline

        self.HOLDING.add(instance.uuid)
        with WORK.holding(holding):
            while holding():
                time.sleep(0.05)   # a green sleep: the abort request is served meanwhile
        release = self.RELEASE.pop(instance.uuid, None)
        self.HOLDING.discard(instance.uuid)
        if release == "killed":
            # its compute service stopped (a restart): the migration ends with the
            # process, which neither completes nor rolls it back
            return None
        if release == "abort":
            # what the libvirt driver's migration monitor does when the job is aborted
            recover_method(context, instance, dest, migrate_data,
                           migration_status="cancelled")
        else:
            post_method(context, instance, dest, block_migration, migrate_data)

    def post_live_migration_at_destination(self, context, instance, network_info,
                                           block_migration=False, block_device_info=None):
        super().post_live_migration_at_destination(
            context, instance, network_info, block_migration, block_device_info)
        if instance.uuid in self.CARRIED_PAUSED:
            self.CARRIED_PAUSED.discard(instance.uuid)
            self._set_power(instance, power_state.PAUSED)

    def live_migration_abort(self, instance):
        self.RELEASE[instance.uuid] = "abort"

    def live_migration_force_complete(self, instance):
        self.RELEASE[instance.uuid] = "complete"

    def soft_delete(self, instance):
        # libvirt has no soft_delete: CM.soft_delete_instance then powers the guest off.
        raise NotImplementedError()

    def restore(self, instance):
        raise NotImplementedError()


def _resolve(path: str) -> Any:
    """A dotted path to a module attribute or a class attribute."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


class _Armed:
    """A fault in force: ``target`` raises on its first ``times`` calls."""

    def __init__(self, fault: dict[str, Any]):
        self.key = fault.get("key", fault["target"])
        owner_path, self.attr = fault["target"].rsplit(".", 1)
        self.owner = _resolve(owner_path)
        # restored as it was declared (a staticmethod stays one); called bound, below
        self.original = self.owner.__dict__[self.attr] if isinstance(self.owner, type) \
            else getattr(self.owner, self.attr)
        self.remaining = int(fault.get("times", 1))
        self.fired = 0
        exc_cls = _resolve(fault["raises"])
        kwargs = dict(fault.get("kwargs") or {})
        wraps = fault.get("wraps")
        guest = (power_state.SHUTDOWN if fault.get("guest_off", False) else
                 power_state.RUNNING if fault.get("guest_on", False) else None)
        original = getattr(self.owner, self.attr)

        def replacement(*args, **kw):
            if self.remaining > 0:
                self.remaining -= 1
                self.fired += 1
                if guest is not None:
                    _set_guest(args, kw, guest)
                if wraps:
                    raise exc_cls(inner_exception=_resolve(wraps)(), **kwargs)
                raise exc_cls(**kwargs)
            return original(*args, **kw)

        setattr(self.owner, self.attr, replacement)

    def disarm(self) -> None:
        setattr(self.owner, self.attr, self.original)


def _set_guest(args, kwargs, state) -> None:
    """The fake guest of the call's instance is left in power ``state`` (the driver is
    ``args[0]``)."""
    driver = args[0] if args else None
    for value in (*args[1:], *kwargs.values()):
        uuid = getattr(value, "uuid", None)
        guests = getattr(driver, "instances", {})
        if uuid in guests:
            guests[uuid].state = state


class _Holds:
    """Nova held before a step of a chain (``nova_model.conformance.holds``).

    A hold names the Nova method that receives the step's cast and the instance (the
    scenario's name); the method is wrapped once per target, and its first call for
    that instance after the hold was armed waits, before any of the method's own code
    runs, until the hold is released (a green sleep: Nova's other services, and the
    racing request, run meanwhile). A hold never released passes after ``LIMIT_S``.

    A held cast is, for the model, a message still in its queue. When the compute it
    waits on stops (a restart, a service going down), the process that took it ends
    without running it (``detach``) and the message goes back to its queue, to be
    taken by the compute's next start (``redeliver``), which waits at the same hold.
    """

    LIMIT_S = 90.0

    def __init__(self, env: "NovaCluster"):
        self.env = env
        self.wrapped: set[str] = set()
        self.holds: list[dict[str, Any]] = []

    def arm(self, hold: dict[str, Any]) -> None:
        target = hold["target"]
        if target not in self.wrapped:
            self.wrapped.add(target)
            owner_path, attr = target.rsplit(".", 1)
            original = getattr(_resolve(owner_path), attr)
            self.env.stub_out(target, self._wrap(target, original))
        self.holds.append(dict(hold, reached=False, released=False, passed=False,
                               call=None, detached=False))

    def _wrap(self, target: str, original):
        def held(*args, **kwargs):
            uuid = getattr(kwargs.get("instance"), "uuid", None) or next(
                (a.uuid for a in args[1:] if isinstance(a, objects.Instance)), None)
            hold = next((h for h in self.holds if h["target"] == target and not h["reached"]
                         and self.env.names.get(h["instance"]) == uuid), None)
            if hold is not None:
                hold.update(reached=True, call=(held, args, kwargs), detached=False)
                deadline = time.monotonic() + self.LIMIT_S

                def holding() -> bool:
                    return (not hold["released"] and not hold["detached"]
                            and time.monotonic() < deadline)

                with WORK.holding(holding):
                    while holding():
                        time.sleep(0.02)   # a green sleep
                if hold["detached"]:
                    return None   # (a cast: nobody waits for a reply)
                hold["passed"] = True
                hold["expired"] = not hold["released"]
            return original(*args, **kwargs)
        return held

    def _waiting_on(self, host: str) -> list[dict[str, Any]]:
        return [h for h in self.holds if h["reached"] and not h["passed"]
                and not h["released"] and h["call"] is not None
                and getattr(h["call"][1][0], "host", None) == host]

    def detach(self, host: str) -> None:
        """The compute on ``host`` stops: the casts held in its handlers go back to
        its queue (they end in this process without running)."""
        for hold in self._waiting_on(host):
            hold["detached"] = True

    def redeliver(self, host: str, manager) -> None:
        """The compute on ``host`` started again as ``manager``: it takes the casts
        that went back to its queue, and each waits at its hold again."""
        for hold in self.holds:
            if not hold["detached"]:
                continue
            held, args, kwargs = hold["call"]
            if getattr(args[0], "host", None) != host:
                continue
            hold.update(reached=False, detached=False, call=None)
            unit = WORK.begin(f"{hold['target']} taken again on {host}")

            def run(held=held, args=(manager, *args[1:]), kwargs=kwargs, unit=unit):
                try:
                    with WORK.running(unit):
                        held(*args, **kwargs)
                finally:
                    WORK.end(unit)

            threading.Thread(target=run, daemon=True).start()

    def expired(self) -> list[str]:
        """The holds that let their cast go after ``LIMIT_S`` instead of at their
        release: Nova waited for something the scenario never did."""
        return [h["key"] for h in self.holds if h.get("expired")]

    def _named(self, key: str) -> dict[str, Any]:
        return next(h for h in self.holds if h["key"] == key)

    def wait_until_reached(self, keys) -> list[dict[str, str]]:
        """Wait until Nova waits at every hold of ``keys``; the ones it never reached
        (with no work of its own left in flight, Nova will not reach them by itself)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        pending = [self._named(k) for k in keys]
        while any(not h["reached"] for h in pending) and time.monotonic() < deadline:
            if not WORK.in_flight():
                break
            time.sleep(0.02)
        return [{"key": h["key"], "target": h["target"]} for h in pending if not h["reached"]]

    def release(self, keys) -> None:
        for key in keys:
            self._named(key)["released"] = True

    def release_all(self) -> None:
        for h in self.holds:
            h["released"] = True


class NovaCluster(integrated_helpers.ProviderUsageBaseTestCase):
    """One cluster of the plan, as Nova's functional environment runs it."""

    # Nova loads drivers only from nova.virt; each compute is given ConformanceDriver
    # by replacing the loader (see setUp).
    compute_driver = "fake.FakeDriver"
    microversion = MICROVERSION

    def __init__(self, cluster: dict[str, Any], plan: dict[str, Any], emit):
        super().__init__("runTest")
        self.cluster, self.plan, self.emit = cluster, plan, emit
        self.names: dict[str, str] = {}      # vmN -> server uuid
        self.volumes: dict[str, str] = {}    # boot volume id -> the image it was made from
        self.booted_from_volume: dict[str, str] = {}   # server uuid -> that image
        self.armed: list[_Armed] = []
        self.held: set[str] = set()          # servers whose live migration is held
        self.holds = _Holds(self)            # Nova held before a step of a chain

    # -- set-up: the cluster file as Nova configuration and API objects ---------------

    def setUp(self):
        self.flags(api_paste_config=_PASTE, group="wsgi")
        c = self.cluster
        for key, value in c["options"].items():
            self.flags(**{key: value})
        # the same on every host (unsupported_config refuses a cluster where it is not)
        if c["hosts"]:
            self.flags(**c["hosts"][0]["reserved_host"])
        s = c["scheduler"]
        self.flags(enabled_filters=s["enabled_filters"],
                   host_subset_size=s["host_subset_size"], group="filter_scheduler")
        self.flags(max_attempts=s["max_attempts"], group="scheduler")
        ConformanceDriver.HOSTS = {h["name"]: h for h in c["hosts"]}
        ConformanceDriver.HOLD.clear()
        ConformanceDriver.RELEASE.clear()
        ConformanceDriver.HOLDING.clear()
        ConformanceDriver.CARRIED_PAUSED.clear()
        _track_work()
        _LISTENERS.clear()
        WORK.reset(_queued)
        super().setUp()
        # (after the test base, which sets build_failure_weight_multiplier to 0)
        self.flags(**s["multipliers"], group="filter_scheduler")
        # Nova's fixture keeps its log in the test's details; warnings and errors (with
        # their tracebacks) also go to stderr, which the runner keeps with --nova-log.
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        self.addCleanup(logging.getLogger().removeHandler, handler)
        self.stub_out("nova.virt.driver.load_compute_driver",
                      lambda virtapi, compute_driver=None: ConformanceDriver(virtapi))
        self._pin_tie_break([h["name"] for h in c["hosts"]])
        self._run_snapshot_inline()
        # Nova's tests make an unlisted legacy notification fatal (force_delete sends
        # some); a running Nova only warns.
        self.stub_out("nova.rpc.LegacyValidatingNotifier.fatal", False)
        self.owner_api = self.api_fixture.api
        self.owner_api.microversion = MICROVERSION
        # (Nova's fixture puts its admin in the owner's project)
        self.admin_api = api_client.TestOpenStackClient(
            "admin", self.api_fixture.base_url, project_id=ADMIN_PROJECT,
            roles=["reader", "member", "admin"])
        self.admin_api.microversion = MICROVERSION
        # The model's instances all belong to the cluster's project, whoever asked for
        # them; a server takes the project of the token that creates it, so an admin's
        # create is sent by an admin of the owner's project (from the admin's own
        # project the owner could not see the server, and Nova answers 404).
        self.admin_in_owner_project = api_client.TestOpenStackClient(
            "admin", self.api_fixture.base_url, project_id=self.owner_api.project_id,
            roles=["reader", "member", "admin"])
        self.admin_in_owner_project.microversion = MICROVERSION
        self.ctx = nova_context.get_admin_context()
        aggregates = {}
        for agg in c["aggregates"]:
            body = {"name": agg["name"]}
            if agg.get("availability_zone"):
                body["availability_zone"] = agg["availability_zone"]
            made = self.admin_api.post_aggregate({"aggregate": body})
            if agg.get("metadata"):
                self.admin_api.post_aggregate_action(
                    made["id"], {"set_metadata": {"metadata": dict(agg["metadata"])}})
            aggregates[agg["name"]] = made["id"]
        self.rp = {}
        for h in c["hosts"]:
            # The compute node record the scheduler's HostState reads takes its ratios
            # from the initial_* options when the compute first creates it
            # (RT._copy_resources), Placement's inventory from update_provider_tree above:
            # both start at the host's ratios, as the model's do.
            self.flags(initial_cpu_allocation_ratio=h["initial_ratio"]["VCPU"],
                       initial_ram_allocation_ratio=h["initial_ratio"]["MEMORY_MB"],
                       initial_disk_allocation_ratio=h["initial_ratio"]["DISK_GB"])
            self._start_compute(h["name"])
            for agg in h["aggregates"]:
                self.admin_api.add_host_to_aggregate(aggregates[agg], h["name"])
            self.rp[h["name"]] = self._get_provider_uuid_by_host(h["name"])
        self.host_of_rp = {v: k for k, v in self.rp.items()}
        self.flavors = {}
        # Nova's test database comes with m1.* flavors of its own: the cluster's replace them.
        for existing in self.admin_api.get_flavors():
            self.admin_api.delete_flavor(existing["id"])
        for f in c["flavors"]:
            made = self.admin_api.post_flavor({"flavor": {
                "name": f["name"], "ram": f["memory_mb"], "vcpus": f["vcpus"],
                "disk": f["root_gb"], "OS-FLV-EXT-DATA:ephemeral": f["ephemeral_gb"],
                "swap": f["swap"]}})
            if f["extra_specs"]:
                self.admin_api.post_extra_spec(made["id"], {"extra_specs": f["extra_specs"]})
            self.flavors[f["name"]] = made["id"]
        self.images = {}
        for index, image in enumerate(c["images"]):
            meta = {"id": f"00000000-0000-4000-8000-{index:012d}", "name": image["name"],
                    "status": "active", "container_format": "bare", "disk_format": "raw",
                    "size": 1024, "min_ram": 0, "min_disk": 0, "visibility": "public",
                    "properties": dict(image["properties"])}
            self.images[image["name"]] = self.glance.create(None, meta)["id"]
        self.image_names = {v: k for k, v in self.images.items()}
        self._describe_boot_volumes()
        self.groups = {}
        for g in c["server_groups"]:
            body = {"name": g["name"], "policy": g["policy"]}
            if g["rules"]:
                body["rules"] = dict(g["rules"])
            self.owner_api.microversion = "2.64"
            self.groups[g["name"]] = self.owner_api.post_server_groups(body)["id"]
            self.owner_api.microversion = MICROVERSION
        for h in c["hosts"]:
            if not h["enabled"]:
                self._host_event("disable", h["name"])
            if not h["service_up"]:
                self._host_event("service_down", h["name"])

    def _describe_boot_volumes(self) -> None:
        """The boot volume of a volume-backed server is made from a cluster image.

        Nova's Cinder fixture answers any volume id with a small volume and no image
        metadata; a boot volume the harness made also says it is bootable and carries
        its image's properties (``volume_image_metadata``), which the API reads as the
        server's image (``utils.get_image_metadata_from_volume``) for the scheduler's
        filters, as Cinder does for a volume created from an image.
        """
        from nova.volume import cinder
        fixture_get = cinder.API.get
        images = {i["name"]: i for i in self.cluster["images"]}

        def get(context, volume_id, microversion=None):
            volume = fixture_get(context, volume_id, microversion=microversion)
            image = self.volumes.get(volume_id)
            if image is not None:
                volume = dict(volume, bootable=True, size=_BOOT_VOLUME_GB,
                              volume_image_metadata={
                                  "image_id": self.images[image], "image_name": image,
                                  **{k: str(v) for k, v in
                                     images[image]["properties"].items()}})
            return volume

        self.stub_out("nova.volume.cinder.API.get", staticmethod(get))

    def _pin_tie_break(self, hosts: list[str]) -> None:
        """Hosts of equal weight are tried in the cluster file's order.

        Nova sorts the weighed hosts by weight only (a stable sort), so among equal
        weights it keeps the order it was given, which depends on Placement's candidate
        order: any order of tied hosts is one Nova can produce. The model keeps the
        cluster file's order; handing Nova's weigher the hosts in that order makes Nova
        choose the tied host the model chooses, and changes nothing else.
        """
        from nova.scheduler import weights
        order = {name: i for i, name in enumerate(hosts)}
        weigh = weights.HostWeightHandler.get_weighed_objects

        def in_cluster_order(handler, weighers, host_states, spec):
            ranked = sorted(host_states, key=lambda h: order.get(h.host, len(order)))
            return weigh(handler, weighers, ranked, spec)

        self.stub_out("nova.scheduler.weights.HostWeightHandler.get_weighed_objects",
                      in_cluster_order)

    def _run_snapshot_inline(self) -> None:
        """A snapshot runs to its end in the RPC handler that starts it.

        In this environment a snapshot spawned on the long-task pool never shows its end
        through the API (the instance stays image_snapshot); running that one task inline
        gives the real code path without the pool. Other long tasks (a build, a live
        migration) keep the pool: they call other services and must not block the
        handler.
        """
        from nova.compute import manager
        start = manager.ComputeManager._start_recorded_task

        def inline_snapshot(cm, executor_type, task_name, instance, context, func,
                            *args, **kwargs):
            if task_name != "snapshot_instance":
                return start(cm, executor_type, task_name, instance, context, func,
                             *args, **kwargs)
            func(*args, **kwargs)
            return None

        self.stub_out("nova.compute.manager.ComputeManager._start_recorded_task",
                      inline_snapshot)

    def runTest(self):
        for index, action in enumerate(self.plan["actions"]):
            try:
                reply = self._act(action)
            except Exception as exc:  # a harness failure is reported, never hidden
                reply = {"harness_error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc(limit=6)}
            expired = self.holds.expired()
            if expired and "harness_error" not in reply:
                reply["harness_error"] = (f"held for {self.holds.LIMIT_S:.0f} s and never "
                                          f"released: {', '.join(expired)}")
            if action.get("observe") and "unreached" not in reply:
                reply["observed"] = self._settle_and_observe()
                reply["faults"] = self._disarm()
                still = reply["observed"]["settled"]["in_flight"]
                if still and "harness_error" not in reply:
                    # Nova never came to rest: what it shows is no quiescent point
                    reply["harness_error"] = _never_at_rest(still)
            reply["index"] = index
            self.emit(reply)
            if "harness_error" in reply or "unreached" in reply:
                break   # (Nova did not get where the model's chain is: nothing later compares)
        self.holds.release_all()
        # Nova's work still in flight (a plan that stops before its chains end) runs to
        # its end before the services stop: stopping a service waits for its RPC
        # handlers, and a handler waiting on a call to a compute already stopped would
        # wait for the call's whole timeout.
        self._settle_and_observe()

    # -- actions -------------------------------------------------------------------

    def _act(self, a: dict[str, Any]) -> dict[str, Any]:
        kind = a["kind"]
        for fault in a.get("faults", ()):
            self.armed.append(_Armed(fault))
        for hold in a.get("holds", ()):
            self.holds.arm(hold)
        unreached = self.holds.wait_until_reached(a.get("await", ()))
        if unreached:
            return {"unreached": unreached}
        for instance in a.get("complete", ()):
            ConformanceDriver.finish(self.names[instance])
        if a.get("steady"):
            self._steady()
        self.holds.release(a.get("release", ()))
        if kind == "api":
            if a.get("hold"):
                self.held.add(self.names[a["instance"]])
                ConformanceDriver.HOLD.add(self.names[a["instance"]])
            return self._api(a["operation"], a.get("instance"), a.get("as", "owner"),
                             a.get("args") or {})
        if kind == "host_event":
            return self._host_event(a["event"], a["host"])
        if kind == "periodic":
            return self._periodic(a["task"], a.get("host"))
        if kind == "instance_event":
            return self._instance_event(a["event"], a["instance"])
        if kind == "operator":
            return self._operator(a)
        if kind == "wait":
            return {}
        raise ValueError(f"unknown action kind {kind!r}")

    def _client(self, who: str):
        return self.admin_api if who == "admin" else self.owner_api

    def _api(self, op: str, instance: str | None, who: str, args: dict) -> dict:
        client = self._client(who)
        if op == "create":
            return self._create(self.admin_in_owner_project if who == "admin" else client,
                                args)
        server = self.names[instance]
        version = args.get("microversion") or (
            FORCE_MICROVERSION if "force" in args else MICROVERSION)
        request = _REQUESTS[op](self, server, args)
        if request is None:
            return {"accepted": False, "status": None,
                    "error": "no migration in progress to act on"}
        method, path, body = request
        saved, client.microversion = client.microversion, version
        try:
            response = client.api_request(path, method=method,
                                          body=None if body is None else json.dumps(body))
        finally:
            client.microversion = saved
        return _verdict(response)

    def _create(self, client, args: dict) -> dict:
        """``POST /servers`` (microversion 2.94). A multi-create sends ``min_count``,
        ``max_count`` and ``return_reservation_id`` (all in the 2.1 base schema), then
        lists the request's servers by ``reservation_id``; Nova names them
        ``vmN-1``, ``vmN-2``, ... in creation order (``API._populate_instance_names``),
        which gives the model's names vmN, vmN+1, ..."""
        flavor = args.get("flavor", "m1.small")
        image = args.get("image") or self.cluster["default_image"]
        server = {"name": f"vm{len(self.names) + 1}", "flavorRef": self.flavors[flavor],
                  "imageRef": self.images[image], "networks": "none"}
        volume = None
        if next(i for i in self.cluster["images"] if i["name"] == image)["volume_backed"]:
            # boot from a volume made from the image: no image, the volume is the root
            # disk (Nova then claims no DISK_GB for it: RequestSpec.is_bfv)
            volume = f"00000000-0000-4000-9000-{len(self.volumes) + 1:012d}"
            self.volumes[volume] = image
            server["imageRef"] = ""
            server["block_device_mapping_v2"] = [{
                "boot_index": 0, "uuid": volume, "source_type": "volume",
                "destination_type": "volume", "delete_on_termination": False}]
        counts = {k: args[k] for k in ("min_count", "max_count") if k in args}
        if counts:
            server.update(counts, return_reservation_id=True)
        if args.get("availability_zone"):
            server["availability_zone"] = args["availability_zone"]
        body: dict[str, Any] = {"server": server}
        hints = dict(args.get("hints") or {})
        if args.get("group"):
            hints["group"] = self.groups[args["group"]]
        if hints:
            body["os:scheduler_hints"] = hints
        response = client.api_request("/servers", method="POST", body=json.dumps(body))
        verdict = _verdict(response)
        if verdict["accepted"] and counts:
            count = counts.get("max_count", counts.get("min_count"))
            for uuid in self._reserved(client, response.json()["reservation_id"], count):
                self.names[f"vm{len(self.names) + 1}"] = uuid
        elif verdict["accepted"]:
            uuid = response.json()["server"]["id"]
            self.names[f"vm{len(self.names) + 1}"] = uuid
            if volume is not None:
                self.booted_from_volume[uuid] = image
        return verdict

    @staticmethod
    def _reserved(client, reservation: str, count: int) -> list[str]:
        """The servers of one multi-create, in creation order (by their name's index)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            servers = client.api_request(
                f"/servers?reservation_id={reservation}").json()["servers"]
            if len(servers) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        ordered = sorted(servers, key=lambda s: int(s["name"].rsplit("-", 1)[1]))
        return [s["id"] for s in ordered]

    def _service(self, host: str) -> dict:
        return self.admin_api.get_services(binary="nova-compute", host=host)[0]

    def _host_event(self, event: str, host: str) -> dict:
        self.admin_api.microversion = "2.53"
        try:
            service = self._service(host)
            if event == "service_down":
                self.holds.detach(host)
                self.computes[host].stop()
                self.admin_api.put_service(service["id"], {"forced_down": True})
            elif event in ("service_up", "restart"):
                if event == "restart":
                    # a live migration the driver holds running on this host ends with
                    # the process (CM._init_instance then finds it running)
                    killed = [uuid for uuid in self.held if self.admin_api.get_server(
                        uuid)["OS-EXT-SRV-ATTR:host"] == host]
                    for uuid in killed:
                        ConformanceDriver.RELEASE[uuid] = "killed"
                    # (the held migration ends before the new process starts: its
                    # init_host aborts a running migration, _reset_live_migration, and
                    # that abort must not reach the driver's call the restart ended)
                    deadline = time.monotonic() + SETTLE_TIMEOUT_S
                    while (any(u in ConformanceDriver.HOLDING for u in killed)
                           and time.monotonic() < deadline):
                        time.sleep(0.01)   # a green sleep
                    self.holds.detach(host)
                    self.computes[host].stop()
                # Started first: Nova refuses to unset forced_down while the host still
                # has `done` evacuations, which the restarted compute's init_host
                # (_destroy_evacuated_instances) moves to `completed`.
                self.computes[host] = self._start_again(host)
                self.holds.redeliver(host, self.computes[host].manager)
                if service["forced_down"]:
                    self.admin_api.put_service(service["id"], {"forced_down": False})
            elif event == "disable":
                self.admin_api.put_service(service["id"], {"status": "disabled"})
            elif event == "enable":
                self.admin_api.put_service(service["id"], {"status": "enabled"})
            else:
                raise ValueError(f"unknown host event {event!r}")
        finally:
            self.admin_api.microversion = MICROVERSION
        return {"accepted": True}

    def _start_again(self, host: str):
        """A new compute service on ``host`` over the same hypervisor (init_host runs)."""
        from unittest import mock
        old_driver = self.computes[host].manager.driver
        with mock.patch("nova.virt.driver.load_compute_driver", return_value=old_driver):
            return self.start_service("compute", host=host)

    def _managers(self, host: str | None):
        hosts = [host] if host else sorted(self.computes)
        return [self.computes[h].manager for h in hosts]

    def _periodic(self, task: str, host: str | None) -> dict:
        method = {"update_available_resource": "update_available_resource",
                  "poll_unconfirmed_resizes": "_poll_unconfirmed_resizes",
                  "poll_shelved_instances": "_poll_shelved_instances",
                  "reclaim_queued_deletes": "_reclaim_queued_deletes",
                  "sync_power_states": "_sync_power_states"}[task]
        for manager in self._managers(host):
            getattr(manager, method)(nova_context.get_admin_context())
        if task == "update_available_resource" and host:
            return {"accepted": True, "audit": self._audited(host)}
        return {"accepted": True}

    def _audited(self, host: str) -> dict:
        """The host's ComputeNode record as its audit saved it, and Placement's usage of
        its provider."""
        [node] = objects.ComputeNodeList.get_all_by_host(nova_context.get_admin_context(),
                                                         host)
        usages = self.placement.get(f"/resource_providers/{self.rp[host]}/usages").body
        return {"host": host,
                "compute_node": {"vcpus_used": node.vcpus_used,
                                 "memory_mb_used": node.memory_mb_used,
                                 "local_gb_used": node.local_gb_used},
                "placement": usages["usages"]}

    def _instance_event(self, event: str, instance: str) -> dict:
        if event != "guest_stopped":
            raise ValueError(f"unknown instance event {event!r}")
        uuid = self.names[instance]
        host = self.admin_api.get_server(uuid)["OS-EXT-SRV-ATTR:host"]
        manager = self.computes[host].manager
        manager.driver.instances[uuid].state = power_state.SHUTDOWN
        manager.handle_events(virtevent.LifecycleEvent(uuid, virtevent.EVENT_LIFECYCLE_STOPPED))
        return {"accepted": True}

    def _operator(self, a: dict) -> dict:
        rp = self.rp[a["host"]]
        inventories = self.placement.get(f"/resource_providers/{rp}/inventories").body
        rc = a["resource_class"]
        record = dict(inventories["inventories"][rc])
        record["resource_provider_generation"] = inventories["resource_provider_generation"]
        record[a["field"]] = a["value"]
        response = self.placement.put(f"/resource_providers/{rp}/inventories/{rc}", record)
        return {"accepted": response.status == 200, "status": response.status}

    def _disarm(self) -> list[dict]:
        """Restore every armed callable; say how often each fault raised."""
        fired = []
        while self.armed:
            armed = self.armed.pop()
            armed.disarm()
            fired.append({"key": armed.key, "fired": armed.fired})
        return fired

    # -- what Nova shows -----------------------------------------------------------

    def _settle_and_observe(self) -> dict:
        """What Nova shows once its work in flight is done (``WORK``). An instance still
        in a task then is one Nova leaves there (a chain the scenario holds, or a task
        Nova never ends): ``busy`` names them. ``in_flight`` names the work that had
        not ended when the settle gave up (``SETTLE_TIMEOUT_S``): no quiescent point."""
        seen, waited, still = wait_for_rest(WORK, self._observe, timeout=SETTLE_TIMEOUT_S)
        seen["settled"] = {"busy": sorted(_busy(seen)), "in_flight": still,
                           "seconds": round(waited, 3)}
        return seen

    def _steady(self) -> None:
        """Wait until the work Nova runs by itself is done (its held chains wait at
        their holds meanwhile, which is not work in flight), before a racing step or a
        release."""
        _, _, still = wait_for_rest(WORK, lambda: None, timeout=SETTLE_TIMEOUT_S)
        if still:
            raise RuntimeError(_never_at_rest(still))

    def _observe(self) -> dict:
        by_uuid = {v: k for k, v in self.names.items()}
        servers = {s["id"]: s for s in self.admin_api.get_servers(
            detail=True, search_opts={"all_tenants": 1})}
        instances = {}
        for name, uuid in self.names.items():
            s = servers.get(uuid)
            if s is None:
                # The listing leaves soft-deleted servers out: ask for this one.
                response = self.admin_api.api_request(f"/servers/{uuid}", method="GET")
                s = response.json()["server"] if response.status_code == 200 else None
            if s is None:
                instances[name] = {"vm_state": "deleted"}
                continue
            instances[name] = {
                "vm_state": s["OS-EXT-STS:vm_state"],
                "task_state": s["OS-EXT-STS:task_state"],
                "power_state": s["OS-EXT-STS:power_state"],
                "host": s["OS-EXT-SRV-ATTR:host"],
                "flavor": s["flavor"]["original_name"],
                # (a volume-backed server has no image: it is named by the image its
                # boot volume was made from)
                "image": self.booted_from_volume.get(uuid) or self.image_names.get(
                    (s.get("image") or {}).get("id")),
                "locked": s["locked"],
            }
        migrations = {}
        consumer_names = dict(by_uuid)
        # (from the database: the API hides the migrations instance_destroy soft-deleted
        # with their instance, and their creation order still names the later ones)
        listed = objects.MigrationList.get_by_filters(
            nova_context.get_admin_context(read_deleted="yes"), {})
        for n, m in enumerate(sorted(listed, key=lambda m: m.id), 1):
            name = f"mig{n}"
            consumer_names[m.uuid] = name
            if m.deleted:
                migrations[name] = {"instance": by_uuid.get(m.instance_uuid), "deleted": True}
                continue
            migrations[name] = {"instance": by_uuid.get(m.instance_uuid),
                                "type": m.migration_type, "status": m.status,
                                "source": m.source_compute, "dest": m.dest_compute}
        allocations: dict[str, dict[str, dict[str, int]]] = {}
        hosts = {}
        for host, rp in sorted(self.rp.items()):
            held = self.placement.get(f"/resource_providers/{rp}/allocations").body
            usages: dict[str, int] = {}
            for consumer, alloc in held["allocations"].items():
                name = consumer_names.get(consumer, consumer)
                allocations.setdefault(name, {})[host] = dict(alloc["resources"])
                # (a provider's usage is the sum of its allocations, as Placement's
                # GET /resource_providers/{uuid}/usages adds them up)
                for rc, amount in alloc["resources"].items():
                    usages[rc] = usages.get(rc, 0) + amount
            inventories = self.placement.get(
                f"/resource_providers/{rp}/inventories").body["inventories"]
            hosts[host] = {rc: {"used": usages.get(rc, 0),
                                "capacity": (inv["total"] - inv["reserved"])
                                * inv["allocation_ratio"]}
                           for rc, inv in inventories.items()}
        return {"instances": instances, "migrations": migrations,
                "allocations": allocations, "hosts": hosts}


def _never_at_rest(still: list[str]) -> str:
    shown = ", ".join(still[:6]) + (f" and {len(still) - 6} more" if len(still) > 6 else "")
    return f"Nova still at work after {SETTLE_TIMEOUT_S:.0f} s: {shown}"


def _busy(seen: dict) -> list[str]:
    busy = [f"{name} {i['vm_state']}/{i.get('task_state')}"
            for name, i in seen["instances"].items()
            if i.get("task_state") or i["vm_state"] == "building"]
    busy += [f"{name} {m['status']}" for name, m in seen["migrations"].items()
             if m.get("status") in TRANSIENT_MIGRATION]
    return busy


def _verdict(response) -> dict:
    status = response.status_code
    if status < 400:
        return {"accepted": True, "status": status}
    try:
        body = response.json()
        error = next(iter(body.values())).get("message", response.text)
    except Exception:
        error = response.text
    return {"accepted": False, "status": status, "error": " ".join(str(error).split())}


def _action(body: dict):
    return lambda env, server, args: ("POST", f"/servers/{server}/action", body)


def _in_progress_migration(env: NovaCluster, server: str):
    migrations = env.admin_api.get_active_migrations(server)
    return migrations[0]["id"] if migrations else None


def _running_migration(env: NovaCluster, server: str):
    """The live migration of a held driver once it runs (the model's request comes then).
    One another service ended meanwhile (the resource audit errors a record that is not
    the one the instance's migration context names) is no longer in progress: it is
    named all the same, and Nova's API judges the request on it."""
    deadline = time.monotonic() + ConformanceDriver.HOLD_LIMIT_S
    while server in env.held and time.monotonic() < deadline:
        if server in ConformanceDriver.HOLDING:
            listed = objects.MigrationList.get_by_filters(
                nova_context.get_admin_context(),
                {"instance_uuid": server, "migration_type": "live-migration"})
            return max(m.id for m in listed)
        migrations = env.admin_api.get_active_migrations(server)
        if migrations and migrations[0]["status"] == "running":
            break
        time.sleep(0.05)
    return _in_progress_migration(env, server)


def _force_complete(env, server, args):
    mig = _running_migration(env, server)
    return None if mig is None else (
        "POST", f"/servers/{server}/migrations/{mig}/action", {"force_complete": None})


def _abort(env, server, args):
    mig = _running_migration(env, server)
    return None if mig is None else ("DELETE", f"/servers/{server}/migrations/{mig}", None)


def _rebuild(env, server, args):
    image = args.get("image")
    ref = env.images[image] if image else env.admin_api.get_server(server)["image"]["id"]
    return ("POST", f"/servers/{server}/action", {"rebuild": {"imageRef": ref}})


def _move(key: str, base: dict, empty: dict | None = None):
    def build(env, server, args):
        body = dict(base)
        if args.get("host"):
            body["host"] = args["host"]
        if "force" in args:
            body["force"] = bool(args["force"])
        return ("POST", f"/servers/{server}/action", {key: body or empty})
    return build


_REQUESTS = {
    "start": _action({"os-start": None}),
    "stop": _action({"os-stop": None}),
    "reboot_soft": _action({"reboot": {"type": "SOFT"}}),
    "reboot_hard": _action({"reboot": {"type": "HARD"}}),
    "pause": _action({"pause": None}),
    "unpause": _action({"unpause": None}),
    "suspend": _action({"suspend": None}),
    "resume": _action({"resume": None}),
    "rescue": _action({"rescue": {}}),
    "unrescue": _action({"unrescue": None}),
    "snapshot": _action({"createImage": {"name": "snapshot"}}),
    # A rotation this large never deletes: Nova's _rotate_backups would otherwise ask the
    # image fixture for old backups, which lists every image, the cluster's included.
    "backup": _action({"createBackup": {"name": "backup", "backup_type": "daily",
                                        "rotation": 1000}}),
    "rebuild": _rebuild,
    "resize": lambda env, server, args: (
        "POST", f"/servers/{server}/action",
        {"resize": {"flavorRef": env.flavors[args["flavor"]]}}),
    "migrate": _move("migrate", {}),
    "confirm_resize": _action({"confirmResize": None}),
    "revert_resize": _action({"revertResize": None}),
    "live_migrate": _move("os-migrateLive", {"block_migration": "auto", "host": None}),
    "live_migrate_force_complete": _force_complete,
    "live_migrate_abort": _abort,
    "evacuate": _move("evacuate", {}, {}),
    "shelve": _action({"shelve": None}),
    "shelve_offload": _action({"shelveOffload": None}),
    "unshelve": _action({"unshelve": None}),
    "soft_delete": lambda env, server, args: ("DELETE", f"/servers/{server}", None),
    "delete": lambda env, server, args: ("DELETE", f"/servers/{server}", None),
    "force_delete": _action({"forceDelete": None}),
    "restore": _action({"restore": None}),
    "lock": _action({"lock": None}),
    "unlock": _action({"unlock": None}),
    "set_admin_password": _action({"changePassword": {"adminPass": "conformance"}}),
    "trigger_crash_dump": _action({"trigger_crash_dump": None}),
    "reset_state_error": _action({"os-resetState": {"state": "error"}}),
    "reset_state_active": _action({"os-resetState": {"state": "active"}}),
}
#: Operations the API layer above can send.
OPERATIONS = frozenset(_REQUESTS) | {"create"}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"


def main() -> int:
    request = json.load(sys.stdin)
    # stdout carries only the JSON lines the runner reads: anything else Nova or its
    # libraries print goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    def emit(record: dict) -> None:
        out.write(json.dumps(record, sort_keys=True) + "\n")
        out.flush()

    for plan in request["plans"]:
        emit({"plan": plan["name"], "begin": True})
        case = NovaCluster(plan["cluster"], plan, emit)
        result = unittest.TestResult()
        case.run(result)
        problems = [f"{kind}: {_last_line(text)}"
                    for kind, items in (("error", result.errors),
                                        ("failure", result.failures))
                    for _, text in items]
        emit({"plan": plan["name"], "end": True, "problems": problems})
    return 0


if __name__ == "__main__":
    sys.exit(main())
