"""Fixtures for the diagram and report tests: ONE exploration per session.

``model.graph.explore`` is the slow part (about a minute): the session explores the
catalogue once (``catalogue_exploration`` in ``tests/conftest.py``, shared with the
graph checks and the review's baseline), and every test here shares the session's
``view``. The diagrams are built and written once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model.lifecycle import Lifecycle
from nova_model.render import raster
from nova_model.render.derive import ModelView
from nova_model.render.generate import build_all, write_diagrams

ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = ROOT / "diagrams"
REPORT = ROOT / "docs" / "lifecycle.md"

REGENERATE = "regenerate with `nova-model diagram && nova-model report` (from the repository root)"


@pytest.fixture(scope="session")
def view(catalogue_exploration) -> ModelView:
    return ModelView(Lifecycle(), catalogue_exploration)


@pytest.fixture(scope="session")
def diagrams(view):
    return build_all(view)


@pytest.fixture(scope="session")
def rendering() -> bool:
    return raster.unavailable() is None


@pytest.fixture(scope="session")
def generated(tmp_path_factory, diagrams, rendering) -> Path:
    """Every diagram written once (sources, and SVG when pygraphviz is there)."""
    out = tmp_path_factory.mktemp("diagrams_first")
    write_diagrams(out, ("dot", "mmd", "svg") if rendering else ("dot", "mmd"),
                   diagrams=diagrams)
    return out
