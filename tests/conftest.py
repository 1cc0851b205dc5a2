import os

import pytest

from hypothesis import settings

import nova_model.search.profiles  # noqa: F401  (registers ci / dev / thorough)

# The README's `pytest` runs the `ci` profile; `--hypothesis-profile` overrides it.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--conformance-corpus", action="store_true",
                     help="compare the whole conformance corpus with Nova 34 "
                          "(200 seeded walks; about an hour) instead of the fast subset")


@pytest.fixture(scope="session")
def catalogue_exploration():
    """The unmodified catalogue's single-instance graph, explored once for the session
    (about 20 s): the graph checks, the diagrams and the review's baseline read it."""
    from model.graph import explore
    from model.lifecycle import Lifecycle
    return explore(Lifecycle())
