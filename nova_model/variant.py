"""A variant of the model, named on the command line (``--variant``).

A variant is a seeded fault or a proposal: a catalogue variant or a cluster subclass,
carried by a subclass of the search's ``ClusterMachine`` (its ``lifecycle`` and
``cluster_class``). ``nova-model check --variant SPEC`` searches it, and the
counterexample it finds names the command that replays it on the same variant
(``replay_command``), so ``nova-model simulate --variant SPEC`` shows the same
violation.

``SPEC`` is ``FILE.py:NAME`` or ``package.module:NAME``; ``NAME`` is the machine class
or a function of no arguments returning one (as the seeded faults of
``tests/search/test_seeded_faults.py`` are).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from model.cluster import Cluster
from model.lifecycle import Lifecycle


class VariantError(ValueError):
    """``--variant`` names nothing usable; ``str()`` is one line."""


@dataclass(frozen=True)
class Variant:
    spec: str
    machine: Any  # a ClusterMachine subclass

    @property
    def lifecycle(self) -> Lifecycle:
        return self.machine.lifecycle

    @property
    def cluster_class(self) -> type[Cluster]:
        return self.machine.cluster_class


def load(spec: str) -> Variant:
    """The variant ``spec`` names; VariantError if it names none."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise VariantError(f"--variant {spec!r}: expected FILE.py:NAME or module:NAME")
    module = _module(where, spec)
    target = getattr(module, name, None)
    if target is None:
        raise VariantError(f"--variant {spec!r}: {where} has no {name}")
    machine = target if isinstance(target, type) else _called(target, spec)
    if not (isinstance(getattr(machine, "lifecycle", None), Lifecycle)
            and isinstance(getattr(machine, "cluster_class", None), type)
            and issubclass(machine.cluster_class, Cluster)):
        raise VariantError(f"--variant {spec!r}: {name} is not a search machine (a "
                           f"ClusterMachine subclass, or a function returning one)")
    return Variant(spec, machine)


def _module(where: str, spec: str):
    if where.endswith(".py"):
        if not os.path.isfile(where):
            raise VariantError(f"--variant {spec!r}: no file {where}")
        # a stable module name per file, so that loading it twice reuses it
        key = "nova_model_variant_" + hashlib.sha256(
            os.path.abspath(where).encode()).hexdigest()[:16]
        if key in sys.modules:
            return sys.modules[key]
        found = importlib.util.spec_from_file_location(key, where)
        module = importlib.util.module_from_spec(found)  # type: ignore[arg-type]
        sys.modules[key] = module
        try:
            found.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:
            del sys.modules[key]
            raise VariantError(f"--variant {spec!r}: {where} failed to load: "
                               f"{type(exc).__name__}: {exc}") from None
        return module
    try:
        return importlib.import_module(where)
    except Exception as exc:
        raise VariantError(f"--variant {spec!r}: cannot import {where}: "
                           f"{type(exc).__name__}: {exc}") from None


def _called(factory: Any, spec: str) -> Any:
    if not callable(factory):
        raise VariantError(f"--variant {spec!r}: not a class or a function")
    try:
        return factory()
    except Exception as exc:
        raise VariantError(f"--variant {spec!r}: {type(exc).__name__}: {exc}") from None


def replay_command(scenario_path: str, variant: str | None = None) -> str:
    """The shell command that replays a scenario (on ``variant``, if one was searched)."""
    words = ["nova-model", "simulate", scenario_path]
    if variant is not None:
        words += ["--variant", variant]
    return shlex.join(words)
