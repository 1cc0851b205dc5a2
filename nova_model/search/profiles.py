"""Hypothesis settings profiles for the search: ``ci``, ``dev`` and ``thorough``.

Choose one with pytest's ``--hypothesis-profile NAME`` (or ``HYPOTHESIS_PROFILE``).
``ci`` is derandomized so that CI is reproducible; the others keep Hypothesis's
example database (``.hypothesis/``), so a failure found once is replayed first
on the next run.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck))

PROFILES = {
    # fits the CI budget: about half a minute per search on two cores; large enough that
    # the rarest "sometimes" events (a force-completed live migration, an unshelve onto
    # another host: a handful each per thousand runs) do not hang on one sample
    "ci": settings(max_examples=2000, stateful_step_count=60, derandomize=True,
                   database=None, **_COMMON),
    "dev": settings(max_examples=300, stateful_step_count=50, **_COMMON),
    "thorough": settings(max_examples=20_000, stateful_step_count=100, **_COMMON),
}

for _name, _profile in PROFILES.items():
    settings.register_profile(_name, _profile)
