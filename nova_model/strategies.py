"""Hypothesis strategies for properties about one's own cloud (public interface).

Everything drawn here is the project's own data: ``flavors`` and ``hosts`` draw the
records a cluster file declares, ``cluster_configs`` a whole ``ClusterConfig`` (a
file ``ClusterConfig.load`` would accept), ``request_sequences`` the steps of a
scenario on a given cluster (API requests as owner or admin, deliveries, faults a
step declares, host events, periodic tasks) and ``scenarios`` a whole scenario
document that ``nova-model simulate`` replays. Check one with
``nova_model.testing.first_broken_promise``::

    from hypothesis import given
    from nova_model import strategies as nova_st
    from nova_model.testing import first_broken_promise

    @given(nova_st.scenarios(my_config))
    def test_my_cloud(scenario):
        assert first_broken_promise(scenario, my_config) is None
"""

from __future__ import annotations

from hypothesis import strategies as st

from model.catalogue import API_OPERATIONS, CATALOGUE
from model.config import AllocationRatios, ClusterConfig, HostConfig, ServerGroupConfig
from model.scheduler.request import Flavor
from nova_model import scenario as scenario_format

#: Requests a sequence draws (create aside): every API operation but admin reset-state,
#: which writes any vm_state by design.
REQUESTS = tuple(sorted(op.name for op in API_OPERATIONS
                        if not op.creates_instance and not op.name.startswith("reset_state")))
#: Every (operation.step, outcome) a settle can inject instead of ``ok``.
FAULTS = tuple(sorted((f"{op.name}.{step.name}", outcome.name)
                      for op in CATALOGUE.values() for step in op.steps
                      for outcome in step.outcomes if outcome.name != "ok"))
POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def flavors(*, name: str | None = None, max_vcpus: int = 8, max_ram_mb: int = 16384,
            max_disk_gb: int = 160) -> st.SearchStrategy[Flavor]:
    """A flavor (vcpus, ram in MB, root disk in GB), named ``name`` or ``f<vcpus>-<ram>``."""
    def build(vcpus: int, ram: int, disk: int) -> Flavor:
        return Flavor(name=name or f"f{vcpus}-{ram}-{disk}", vcpus=vcpus, memory_mb=ram,
                      root_gb=disk)
    return st.builds(build, st.integers(1, max_vcpus),
                     st.sampled_from([r for r in (512, 1024, 2048, 4096, 8192, 16384)
                                      if r <= max_ram_mb] or [max_ram_mb]),
                     st.integers(0, max_disk_gb))


def hosts(*, name: str = "compute1", max_vcpus: int = 32, max_memory_mb: int = 65536,
          max_local_gb: int = 1000) -> st.SearchStrategy[HostConfig]:
    """A compute host of the given name, up and enabled, its sizes drawn."""
    return st.builds(lambda vcpus, memory, disk: HostConfig(
        name=name, vcpus=vcpus, memory_mb=memory, local_gb=disk),
        st.integers(1, max_vcpus), st.integers(1024, max_memory_mb), st.integers(10, max_local_gb))


def allocation_ratios() -> st.SearchStrategy[AllocationRatios]:
    """Cluster-wide ratios: cpu 1 to 16, ram and disk 1 to 2, no reservation."""
    return st.builds(lambda cpu, ram, disk: AllocationRatios(
        profile="nova", cpu_allocation_ratio=cpu, ram_allocation_ratio=ram,
        disk_allocation_ratio=disk, reserved_host_memory_mb=0),
        st.sampled_from([1.0, 2.0, 4.0, 8.0, 16.0]), st.sampled_from([1.0, 1.5, 2.0]),
        st.sampled_from([1.0, 1.5, 2.0]))


@st.composite
def cluster_configs(draw, *, hosts_count: tuple[int, int] = (2, 4),
                    flavors_count: tuple[int, int] = (1, 4),
                    ratios: st.SearchStrategy[AllocationRatios] | None = None,
                    flavor_strategy=None, group_policies=POLICIES) -> ClusterConfig:
    """A cluster of 2 to 4 hosts, 1 to 4 flavors and one server group per policy in
    ``group_policies`` (named after it), with the default cluster's images and options."""
    n_hosts = draw(st.integers(*hosts_count))
    drawn_hosts = tuple(draw(hosts(name=f"compute{i}")) for i in range(1, n_hosts + 1))
    n_flavors = draw(st.integers(*flavors_count))
    drawn_flavors = tuple(draw(flavor_strategy(name=f"flavor{i}") if flavor_strategy
                               else flavors(name=f"flavor{i}"))
                          for i in range(1, n_flavors + 1))
    groups = tuple(ServerGroupConfig(name=policy, policy=policy) for policy in group_policies)
    default = ClusterConfig.default()
    return default.replace(
        hosts=drawn_hosts, aggregates=(), flavors=drawn_flavors, server_groups=groups,
        allocation_ratios=draw(ratios if ratios is not None else allocation_ratios()),
        description="drawn by nova_model.strategies.cluster_configs")


@st.composite
def request_sequences(draw, config: ClusterConfig, *, max_steps: int = 20,
                      operations: tuple[str, ...] = REQUESTS) -> list[dict]:
    """Scenario steps on ``config``: it starts with a create, then each step is a
    request (create, or one of ``operations`` on an instance created before), a
    settle of everything or of one instance (sometimes with a fault some step
    declares), one delivery, a host event or a periodic task."""
    flavor_names = sorted(f.name for f in config.flavors)
    group_names = [None, *sorted(g.name for g in config.server_groups)]
    host_names = sorted(h.name for h in config.hosts)
    steps: list[dict] = []
    created = 0
    requested = {"create"}

    def create() -> dict:
        nonlocal created
        created += 1
        group = draw(st.sampled_from(group_names))
        args = {"flavor": draw(st.sampled_from(flavor_names))}
        if group is not None:
            args["group"] = group
        return {"api": "create", "args": args}

    steps.append(create())
    for _ in range(draw(st.integers(0, max_steps - 1))):
        kind = draw(st.sampled_from(("request", "request", "request", "settle", "settle",
                                     "deliver", "host", "periodic", "create")))
        instance = f"vm{draw(st.integers(1, created))}"
        if kind == "create":
            steps.append(create())
        elif kind == "request":
            op = draw(st.sampled_from(operations))
            requested.add(op)
            step = {"api": op, "instance": instance,
                    "as": draw(st.sampled_from(("owner", "admin")))}
            if op == "resize":
                step["args"] = {"flavor": draw(st.sampled_from(flavor_names))}
            steps.append(step)
        elif kind == "settle":
            step = {"settle": True}
            if draw(st.booleans()):
                step["instance"] = instance
            # a fault of an operation requested so far (one of any other would never fire)
            faults = [f for f in FAULTS if f[0].split(".")[0] in requested]
            if faults and draw(st.integers(0, 2)) == 0:
                key, outcome = draw(st.sampled_from(faults))
                step["outcomes"] = {key: outcome}
            steps.append(step)
        elif kind == "deliver":
            steps.append({"deliver": "next"})
        elif kind == "host":
            steps.append({"event": draw(st.sampled_from(scenario_format.HOST_EVENTS)),
                          "host": draw(st.sampled_from(host_names))})
        else:
            task = draw(st.sampled_from(scenario_format.PERIODIC))
            step = {"periodic": task}
            if task == "update_available_resource":
                step["host"] = draw(st.sampled_from(host_names))
            steps.append(step)
    return steps


def scenarios(config: ClusterConfig, **sequence_options) -> st.SearchStrategy[dict]:
    """A scenario document on ``config`` (``{"seed": N, "steps": [...]}``): what
    ``nova-model simulate`` replays and ``first_broken_promise`` checks."""
    return st.builds(lambda seed, steps: {"seed": seed, "steps": steps},
                     st.integers(0, 2**16), request_sequences(config, **sequence_options))
