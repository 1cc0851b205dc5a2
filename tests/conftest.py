import os

from hypothesis import settings

import nova_model.search.profiles  # noqa: F401  (registers ci / dev / thorough)

# The README's `pytest` runs the `ci` profile; `--hypothesis-profile` overrides it.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--conformance-corpus", action="store_true",
                     help="compare the whole conformance corpus with Nova 34 "
                          "(200 seeded walks; about an hour) instead of the fast subset")
