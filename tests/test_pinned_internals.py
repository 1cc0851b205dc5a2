"""Other projects' internals the product still relies on, pinned so that a new version
fails here first (rather than silently changing what the search draws).

- Hypothesis: ``nova_model.search.run`` empties ``providers._get_local_constants`` (and
  its ``CONSTANTS_CACHE``) while the search runs, so that the derandomized ``ci``
  search draws the same runs under ``pytest`` (which has imported the test modules,
  whose literals Hypothesis would mix in) and under ``nova-model check``. Hypothesis
  has no public setting for it.
- oslo.messaging (the conformance harness, ``nova_model.conformance.nova_side``): its
  fake driver keeps the messages waiting for a service in ``FakeExchange._server_queues``
  (by topic and server) and ``_topic_queues`` (by topic and pool), which the harness
  reads to count Nova's work in flight. The driver has no public way to see them.
- ``transitions``: none. The lifecycle's machine overrides only public methods, and
  ``Lifecycle.may`` reads the compiled table instead of ``Machine._can_trigger``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import hypothesis
import pytest
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


#: run in a process of its own: oslo.messaging brings eventlet, which must not reach the
#: tests' process (as the conformance runner runs Nova in one)
_FAKE_TRANSPORT_CHECK = """
from oslo_messaging._drivers import impl_fake
exchange = impl_fake.FakeExchange("nova")
exchange.deliver_message("compute", {}, {"method": "m1"}, server="compute1")
exchange.deliver_message("conductor", {}, {"method": "m2"})
waiting = [m["method"] for _, m, _, _ in exchange._server_queues[("compute", "compute1")]]
waiting += [m["method"] for _, m, _, _ in exchange._topic_queues[("conductor", None)]]
assert waiting == ["m1", "m2"], waiting
"""


def test_the_fake_transport_keeps_waiting_messages_where_the_harness_counts_them():
    if importlib.util.find_spec("oslo_messaging") is None:
        pytest.skip("the conformance extra is not installed")
    done = subprocess.run([sys.executable, "-c", _FAKE_TRANSPORT_CHECK],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
