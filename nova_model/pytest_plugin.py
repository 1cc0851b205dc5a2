"""The pytest plugin (entry point ``pytest11``): the model in one's own test suite.

Fixtures:

``nova_config``
    The cluster configuration: ``--nova-config FILE``, else the ``nova`` marker's
    ``config=`` (a path, relative to the test file), else the embedded default.
``nova_lifecycle``
    The catalogue in force (``model.lifecycle.Lifecycle``), or a variant: the
    ``nova`` marker's ``lifecycle=``, or a parameter (``indirect=True``).
``nova_cluster``
    A fresh ``model.cluster.Cluster`` of that configuration and catalogue.
``nova_search``
    ``nova_search(cluster=None, lifecycle=None, *, promises=(), hold_ratios=False)``
    runs the stateful search (on ``nova_cluster``'s configuration and catalogue unless
    given) under the loaded Hypothesis profile and returns its report; a
    counterexample's scenario file is written into the test's ``tmp_path``.

Budget: ``--nova-examples`` / ``--nova-steps`` on the command line, else the marker's
``examples=`` / ``steps=``, else the Hypothesis profile's ``max_examples`` /
``stateful_step_count`` (the project's profiles ``ci``, ``dev`` and ``thorough`` are
registered: ``--hypothesis-profile ci``).
"""

from __future__ import annotations

import os

import pytest

import nova_model.search.profiles  # noqa: F401  (registers ci / dev / thorough)

MARKER = ("nova(config=None, lifecycle=None, examples=None, steps=None): a test of the "
          "Nova lifecycle model; the arguments set its cluster file, catalogue variant "
          "and search budget")


def pytest_addoption(parser) -> None:
    group = parser.getgroup("nova", "the Nova lifecycle model (nova-lifecycle-model)")
    group.addoption("--nova-config", metavar="FILE", default=None,
                    help="cluster TOML file for the nova_* fixtures (default: the "
                         "embedded cluster)")
    group.addoption("--nova-examples", metavar="N", type=int, default=None,
                    help="runs per nova_search (default: the marker's examples=, else "
                         "the Hypothesis profile's max_examples)")
    group.addoption("--nova-steps", metavar="M", type=int, default=None,
                    help="steps per run of nova_search (default: the marker's steps=, "
                         "else the profile's stateful_step_count)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", MARKER)
    for name in ("nova_examples", "nova_steps"):
        value = config.getoption(name)
        if value is not None and value < 1:
            raise pytest.UsageError(f"--{name.replace('_', '-')} must be at least 1, "
                                    f"got {value}")


def _marker(request, name: str):
    """The closest ``nova`` marker's ``name=`` (a test's own, then its class's, module's)."""
    for marker in request.node.iter_markers("nova"):
        if name in marker.kwargs:
            return marker.kwargs[name]
    return None


@pytest.fixture
def nova_config(request):
    from model.config import ClusterConfig, ConfigError

    path = request.config.getoption("nova_config")
    if path is None:
        path = _marker(request, "config")
        if path is not None and not os.path.isabs(path):
            path = os.path.join(os.path.dirname(str(request.node.path)), path)
    if path is None:
        return ClusterConfig.default()
    try:
        return ClusterConfig.load(path)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def nova_lifecycle(request):
    from nova_model.search.machine import SPEC

    chosen = getattr(request, "param", None)
    if chosen is None:
        chosen = _marker(request, "lifecycle")
    return SPEC if chosen is None else chosen


@pytest.fixture
def nova_cluster(nova_config, nova_lifecycle):
    from model.cluster import Cluster

    cluster = Cluster(nova_config, lifecycle=nova_lifecycle)
    yield cluster
    cluster.close()


@pytest.fixture
def nova_search(request, nova_config, nova_lifecycle, tmp_path):
    from nova_model import testing

    def budget(name: str):
        given = request.config.getoption(f"nova_{name}")
        return given if given is not None else _marker(request, name)

    def run(cluster=None, lifecycle=None, *, promises=(), hold_ratios: bool = False):
        config = getattr(cluster, "config", cluster)  # a Cluster, or a ClusterConfig
        if lifecycle is None:
            lifecycle = getattr(cluster, "lc", None) or nova_lifecycle
        return testing.search(config if config is not None else nova_config, lifecycle,
                              promises=promises, hold_ratios=hold_ratios,
                              examples=budget("examples"), steps=budget("steps"),
                              out=str(tmp_path))
    return run
