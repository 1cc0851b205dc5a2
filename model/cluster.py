"""The cluster: many instances, hosts with queues, a conductor, the scheduler and Placement.

A ``Cluster`` is a value (no globals; several coexist). Everything it knows is in
the variables declared once in ``model/cluster_state.py`` (``VARIABLES``, each with its
role); ``snapshot()`` turns them into one canonical hashable value and
``Cluster.restore`` rebuilds a cluster from it; ``freeze()`` keeps them exactly, dict
order included, for ``Cluster.thaw`` to go on from (the search resumes runs this way).

Nothing completes atomically. ``request`` runs an operation's API step through
the shared ``Lifecycle`` (which writes the task_state) and enqueues the branch's
next step as a ``Work`` item; ``deliver(work_id, outcome)`` runs exactly one step.
Steps run where the catalogue says (``Where``): at the conductor, or at the
compute service of a host, which must be up for the work to be delivered.

The resource effects the catalogue declares (``Alloc``) are applied here, on the
Placement ledger:

* instance consumer = ``instance.uuid``; migration consumer = ``migration.uuid``;
* ``MOVE_SOURCE_TO_MIGRATION`` moves all of the instance's allocations to the
  migration, but only if the instance holds something on its own host
  (``replace_allocation_with_migration``; otherwise nothing moves and the move goes
  on without a migration allocation);
* ``CLAIM_DEST`` claims the (new) flavor for the instance on the chosen host the
  way the scheduler does (``claim_resources``): an instance that still holds
  allocations keeps them and gains only providers it did not use;
* ``CLAIM_DEST_DOUBLED`` adds the chosen host to the instance's allocation;
* a resize's migration consumer holds the OLD flavor on the source and the
  instance the NEW flavor on the destination; reverting gives the old flavor back.

Compute-start recovery (``CM._init_instance``) is the catalogue's ``init_instance``
record, fired through the lifecycle for each instance of a starting compute service;
that and the evacuation cleanup (``CM._destroy_evacuated_instances``) are driven from
``model/cluster_recovery.py``. Scenarios (``nova_model/scenario.py``) replay runs of a
cluster written down as JSON steps.

For the invariants to audit, the cluster also writes down what it cannot be asked
afterwards: each scheduling decision since the last API request (``decisions``, see
``model/scheduler/decision.py``; a record, not state), why each instance in error got
there (``error_causes``) and how many faults deliveries injected (``injected_faults``).
The causes the upstream findings are keyed on are recorded the same way, per instance or
migration, beside the state the invariants compare: ``migration_errors``,
``unmatched_allocations``, ``dropped_steps``, ``overlaps``, ``host_events``,
``carried_allocations``, ``spec_flavor_claims``, ``shared_migrations``, ``group_races``,
``arrivals``, ``vanished_guests`` and ``api_errors``.

``Cluster`` is assembled from one class per concern, each in its own module:

* ``model/cluster_requests.py`` (``Requests``): API requests: validation, the create,
  the API step and the first queued step.
* ``model/cluster_delivery.py`` (``Delivery``): Queues, delivery of one step with its
  outcome, settle, preemption.
* ``model/cluster_scheduling.py`` (``Scheduling``): Request specs, host states,
  scheduling and batches.
* ``model/cluster_resources.py`` (``Resources``): Migrations, allocations, flavors and
  the resource trackers.
* ``model/cluster_hosts.py`` (``HostEvents``): Host events, recovery, inventory changes,
  hypervisor events.
* ``model/cluster_periodic.py`` (``PeriodicTasks``): Periodic tasks.

What they share is in ``model/cluster_results.py``; the state is declared in
``model/cluster_state.py``; the text view is ``nova_model/render/cluster_table.py``.
"""

from __future__ import annotations

from typing import Any

from model import cluster_state, errors
from model.cluster_compat import (
    ClusterConfig, Ledger, ResourceClass, flavors_of, host_attr, host_name, hosts_of,
    image_volume_backed, images_of, option, provider_inventories, scheduler_of,
)
from model.cluster_delivery import Delivery
from model.cluster_hosts import HostEvents
from model.cluster_periodic import PeriodicTasks
from model.cluster_records import RESOURCE_CLASSES
from model.cluster_requests import Requests
from model.cluster_resources import Resources
from model.cluster_scheduling import Scheduling
from model.cluster_state import CountingRandom, FrozenCluster, HostRecord
from model.lifecycle import Instance, Lifecycle
from model.resource_tracker import Tracker
from model.scheduler import Flavor, RequestSpec
from model.scheduler.pipeline import placement_resources
# re-exported: the names the repository imports from model.cluster
from model.cluster_state import MISSING_GUEST, Work
from model.lifecycle import PREEMPTED
from model.cluster_results import (
    FORCED_PAST_THE_FILTERS, MAX_INSTANCES_PER_REQUEST, Result, create_counts,
)


class Cluster(Requests, Delivery, Scheduling, Resources, HostEvents, PeriodicTasks):
    """An executable Nova deployment: hosts, queues, instances, migrations, Placement."""

    #: Placement (a variant of the model may bring its own ledger, e.g. a seeded fault)
    ledger_class: type[Ledger] = Ledger

    def __init__(self, config=None, lifecycle: Lifecycle | None = None, seed: int = 0):
        self.config = config if config is not None else ClusterConfig.default()
        self.lc = lifecycle if lifecycle is not None else Lifecycle()
        self.scheduler_config = scheduler_of(self.config)
        self.flavors = flavors_of(self.config)
        self.images = images_of(self.config)
        self.host_configs = {host_name(h): h for h in hosts_of(self.config)}
        # --- the state: every variable is declared in ``model/cluster_state.py`` ---
        cluster_state.new_state(self)
        self.rng = CountingRandom(seed)
        inventories = {name: provider_inventories(h, self.config)
                       for name, h in self.host_configs.items()}
        self.base_inventories = {
            name: {ResourceClass(rc): inv for rc, inv in invs.items()}
            for name, invs in inventories.items()}
        for name, h in self.host_configs.items():
            self.hosts[name] = HostRecord(name, bool(host_attr(h, "service_up", True)),
                                          bool(host_attr(h, "enabled", True)))
            self.ledger.add_provider(name, inventories[name])
        for name in self.host_configs:
            self.trackers[name] = Tracker.empty(self.reserved_usage(name))

    def service_is_up(self, host: str) -> bool:
        record = self.hosts.get(host)
        return record is not None and record.up

    @property
    def shelved_offload_time(self) -> int:
        return int(option(self.config, "shelved_offload_time", 0))

    def next_name(self, kind: str) -> str:
        self.counters[kind] += 1
        return f"{kind}{self.counters[kind]}"

    def instance(self, uuid: str) -> Instance:
        try:
            return self.instances[uuid]
        except KeyError:
            raise errors.InstanceNotFound(f"instance {uuid} does not exist") from None

    def flavor_of(self, inst: Instance) -> Flavor:
        return self.flavors[inst.flavor]

    def resources(self, flavor: Flavor, image: str | None = None) -> dict:
        """What placement is asked for: the flavor, without root disk when volume-backed."""
        bfv = self.volume_backed(image)
        # (worked out once per flavor: every claim and every check of the
        # invariants asks, and building the request costs ~4 us)
        cached = self.resources_cache.get((flavor.name, bfv))
        if cached is None or cached[0] is not flavor:
            spec = RequestSpec(flavor=flavor, is_bfv=bfv)
            cached = self.resources_cache[(flavor.name, bfv)] = (flavor, {
                ResourceClass(rc): n for rc, n in placement_resources(spec).items()})
        return dict(cached[1])

    def is_volume_backed(self, image: str | None) -> bool:
        """Whether an instance of ``image`` boots from a volume (the world's answer to
        the lifecycle's ``When.VOLUME_BACKED``)."""
        return self.volume_backed(image)

    def volume_backed(self, image: str | None) -> bool:
        if image is None:
            return False
        # (the configuration is immutable: each image is looked up once)
        known = self.volume_backed_images.get(image)
        if known is None:
            known = self.volume_backed_images[image] = image_volume_backed(self.config, image)
        return known

    def config_option(self, name: str, default: Any) -> Any:
        return option(self.config, name, default)

    def snapshot(self, ledger: bool = True) -> tuple:
        """The whole cluster as one canonical hashable value (``cluster_state.snapshot``)."""
        return cluster_state.snapshot(self, ledger)

    def witness(self) -> tuple:
        """A value that compares equal before and after anything that changed
        nothing (``cluster_state.witness``)."""
        return cluster_state.witness(self)

    @classmethod
    def restore(cls, snapshot: tuple, config=None, lifecycle: Lifecycle | None = None
                ) -> "Cluster":
        return cluster_state.restore(cls(config, lifecycle), snapshot)

    def freeze(self, like: FrozenCluster | None = None) -> FrozenCluster:
        """Every variable as it is now, exactly, for ``thaw`` (``cluster_state.freeze``)."""
        return cluster_state.freeze(self, like)

    @staticmethod
    def thaw(frozen: FrozenCluster) -> "Cluster":
        """A live cluster in the state ``frozen`` holds (which stays as it was)."""
        return cluster_state.thaw(frozen)

    def close(self) -> None:
        """Detach the instances from the shared machine (frees them for the GC)."""
        for inst in self.instances.values():
            self.lc.forget(inst)
        self.instances.clear()

    def usage(self, host: str) -> dict[str, int]:
        return {str(rc): self.ledger.usage(host, rc) for rc in RESOURCE_CLASSES}

    def allocations(self) -> dict[str, dict[str, dict[str, int]]]:
        return {c: {p: {str(rc): n for rc, n in res.items()}
                    for p, res in self.ledger.allocations_of(c).items()}
                for c in self.ledger.consumers()}
