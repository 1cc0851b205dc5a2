"""The product packages import one way, and use each other only through public names.

Read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` in ``model``, ``invariants`` and ``nova_model``, at module level or
inside a function (a lazy import is still a dependency), and the modules named by a
constant prefix in ``importlib.import_module(f"...{name}")``. Imports under
``if TYPE_CHECKING:`` are never executed (annotations only) and are left out.
"""

from __future__ import annotations

import ast
import pathlib

import networkx as nx

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("model", "invariants", "nova_model")

#: Underscore names that are a documented public interface (``namedtuple``'s methods).
PUBLIC_UNDERSCORE = frozenset({"_fields", "_replace", "_asdict", "_make",
                               "_field_defaults"})


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports(name: str, path: pathlib.Path):
    """(imported module, names imported from it, line) for each import of a product
    module in one module."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:  # a submodule
                    yield f"{base}.{alias.name}", (), node.lineno
                elif base in MODULES:
                    yield base, (alias.name,), node.lineno
        elif (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module")
              and node.args and isinstance(node.args[0], ast.JoinedStr)
              and isinstance(node.args[0].values[0], ast.Constant)):
            prefix = node.args[0].values[0].value
            for module in MODULES:
                if module.startswith(prefix):
                    yield module, (), node.lineno


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for name, path in MODULES.items():
        for module, _, _ in _imports(name, path):
            if module != name:
                graph.add_edge(name, module)
    return graph


def test_the_import_graph_is_read():
    graph = import_graph()
    assert graph.has_edge("model.graph", "model.lifecycle")
    assert graph.has_edge("nova_model.cli", "nova_model.commands.check")  # import_module
    assert graph.number_of_edges() > 200


def test_no_import_cycle_among_the_product_packages():
    """(The scheduler's configuration checks plugin names against
    ``model.scheduler.plugin_names``, which the filter and weigher registries are built
    from: it does not import the plugins that default to it.)"""
    cycles = sorted(sorted(c) for c in nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_scheduler_configuration_does_not_import_its_plugins():
    graph = import_graph()
    assert graph.has_edge("model.scheduler.filters", "model.scheduler.config")
    assert graph.has_edge("model.scheduler.config", "model.scheduler.plugin_names")
    assert not nx.has_path(graph, "model.scheduler.config", "model.scheduler.filters")
    assert not nx.has_path(graph, "model.scheduler.config", "model.scheduler.weighers")


def test_the_layers_point_one_way():
    """model/ imports neither invariants/ nor nova_model/; invariants/ not nova_model/."""
    below = {"model": ("invariants", "nova_model"), "invariants": ("nova_model",)}
    wrong = [(a, b) for a, b in import_graph().edges
             for lower, uppers in below.items()
             if a.split(".")[0] == lower and b.split(".")[0] in uppers]
    assert not wrong, wrong


def _private_uses(name: str, path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for module, names, line in _imports(name, path):
        for imported in names:
            if imported.startswith("_") and not imported.startswith("__"):
                found.append(f"{name}:{line}: from {module} import {imported}")
    # an attribute with a leading underscore that this module does not define itself
    # (``other._x`` where ``_x`` belongs to another module's class or to a library)
    defined = {n.name for n in ast.walk(tree)
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    defined |= {t.attr for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                if isinstance(t, ast.Attribute)}
    defined |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__") and node.attr not in defined
                and node.attr not in PUBLIC_UNDERSCORE):
            found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return found


#: Private names still used, each with its reason.
KNOWN_PRIVATE = {
    # Hypothesis mixes literals from every loaded module into its draws; the search
    # turns that off so that its derandomized runs draw the same in pytest and in
    # nova-model check. Hypothesis has no public switch for it; the version is pinned
    # and tests/test_pinned_internals.py fails when it changes.
    "nova_model.search.run": {"providers._get_local_constants"},
    # Nova's own functional-test base class and compute manager: the conformance
    # runner drives Nova 34 (pinned) through the helpers its own tests use.
    # oslo.messaging's fake driver, the transport of that environment, keeps the
    # messages waiting for a service in its exchange's queues with no public way to
    # see them: the harness counts them as Nova's work in flight (tests/
    # test_pinned_internals.py checks where the driver keeps them).
    "nova_model.conformance.nova_side": {"manager.ComputeManager._start_recorded_task",
                                         "self._start_compute",
                                         "self._get_provider_uuid_by_host",
                                         "exchange._server_queues",
                                         "exchange._topic_queues"},
}


def test_no_private_name_is_used_across_modules():
    found = []
    for name, path in MODULES.items():
        allowed = KNOWN_PRIVATE.get(name, set())
        found += [use for use in _private_uses(name, path)
                  if not any(use.endswith(f": {a}") for a in allowed)]
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_the_checks_see_a_private_import_and_a_cycle(tmp_path):
    """The two tests above would fail on the things they look for."""
    module = tmp_path / "example.py"
    module.write_text("from model.cluster import _hidden\n\ndef f(c):\n    return c._x\n")
    assert len(_private_uses("model.example", module)) == 2
    graph = import_graph()
    graph.add_edge("model.states", "model.graph")  # model.graph imports model.states
    assert list(nx.simple_cycles(graph))
