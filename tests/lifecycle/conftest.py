"""Fixtures for the lifecycle tests: one shared Lifecycle and an instance factory."""

from __future__ import annotations

import pathlib
import sys

import pytest

# The helper modules next to this file (nova_expected, lifecycle_support).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from lifecycle_support import make_instance  # noqa: E402
from model.lifecycle import Lifecycle  # noqa: E402


@pytest.fixture(scope="session")
def lc() -> Lifecycle:
    return Lifecycle()


@pytest.fixture
def make(lc):
    """``make(vm, task=None, **attrs)``: an instance placed directly in that state."""
    created = []

    def factory(vm, task=None, **attrs):
        inst = make_instance(lc, vm, task, **attrs)
        created.append(inst)
        return inst

    yield factory
    for inst in created:
        lc.forget(inst)
