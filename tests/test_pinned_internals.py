"""Other projects' internals the product still relies on, pinned so that a new version
fails here first (rather than silently changing what the search draws).

- Hypothesis: ``nova_model.search.run`` empties ``providers._get_local_constants`` (and
  its ``CONSTANTS_CACHE``) while the search runs, so that the derandomized ``ci``
  search draws the same runs under ``pytest`` (which has imported the test modules,
  whose literals Hypothesis would mix in) and under ``nova-model check``. Hypothesis
  has no public setting for it.
- ``transitions``: none. The lifecycle's machine overrides only public methods, and
  ``Lifecycle.may`` reads the compiled table instead of ``Machine._can_trigger``.
"""

from __future__ import annotations

import hypothesis
import transitions
from hypothesis.internal.conjecture import providers

from model.lifecycle import SharedMachine

#: the Hypothesis version pyproject.toml pins and the internal was checked against
HYPOTHESIS = "6.155.2"


def test_hypothesis_is_the_pinned_version_with_the_internal_the_search_empties():
    assert hypothesis.__version__ == HYPOTHESIS, (
        f"Hypothesis {hypothesis.__version__}, not {HYPOTHESIS}: check that "
        "providers._get_local_constants still feeds the draws, then re-pin")
    assert callable(providers._get_local_constants)
    assert hasattr(providers, "CONSTANTS_CACHE")


def test_the_lifecycle_machine_overrides_no_private_method_of_transitions():
    private = sorted(name for name in vars(SharedMachine)
                     if name.startswith("_") and not name.startswith("__"))
    assert private == []
    assert transitions.__version__.startswith("0.9.")
