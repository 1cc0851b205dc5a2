"""The cluster's state is declared once (``model/cluster_state.py``), and all of it.

Snapshot, restore, freeze and thaw are derived from ``VARIABLES``: a variable a cluster
module assigns without declaring it would be left out of them (a fork would share it,
a snapshot would not compare it). The first test reads the cluster's modules and fails
on such an attribute; the others check the declaration against a running cluster.
"""

from __future__ import annotations

import ast
import inspect
import pathlib

from model import cluster_state
from model.cluster import Cluster
from model.cluster_scenarios import LARGE, boot, small_config
from model.cluster_state import BY_NAME, ROW_NAMES, VARIABLES, Form, Role
from model.lifecycle import ADMIN

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _cluster_modules() -> list[pathlib.Path]:
    """The modules a cluster's methods and state functions are written in: those of
    ``Cluster`` and the classes it is made of, and every ``model/cluster*.py``."""
    paths = {pathlib.Path(inspect.getfile(c)) for c in Cluster.__mro__ if c is not object}
    paths |= set((ROOT / "model").glob("cluster*.py"))
    return sorted(paths)


def _cluster_classes() -> set[str]:
    return {c.__name__ for c in Cluster.__mro__ if c is not object}


def assigned_attributes(source: str, classes: set[str]) -> dict[str, int]:
    """The attributes assigned on a cluster in ``source``: ``self.x = ...`` in the
    methods of ``classes``, ``cluster.x = ...`` anywhere, ``setattr(self|cluster,
    "x", ...)`` and the cached properties of ``classes`` (each lands in the instance's
    attributes): name -> line."""
    tree = ast.parse(source)
    found: dict[str, int] = {}

    def targets(node: ast.AST, owners: tuple[str, ...]) -> None:
        for n in ast.walk(node):
            if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for t in n.targets if isinstance(n, ast.Assign) else [n.target]:
                    for e in ast.walk(t):
                        if (isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name)
                                and e.value.id in owners and isinstance(e.ctx, ast.Store)):
                            found.setdefault(e.attr, e.lineno)
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                  and n.func.id == "setattr" and len(n.args) >= 2
                  and isinstance(n.args[0], ast.Name) and n.args[0].id in owners
                  and isinstance(n.args[1], ast.Constant)):
                found.setdefault(n.args[1].value, n.lineno)

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in classes:
            targets(node, ("self", "cluster"))
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and any(
                        ast.unparse(d).endswith("cached_property") for d in item.decorator_list):
                    found.setdefault(item.name, item.lineno)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            targets(node, ("cluster",))
    return found


def test_every_attribute_a_cluster_module_assigns_is_declared():
    classes = _cluster_classes()
    missing = [f"{path.relative_to(ROOT)}:{line}: {name}"
               for path in _cluster_modules()
               for name, line in assigned_attributes(path.read_text(), classes).items()
               if name not in BY_NAME]
    assert not missing, ("cluster attributes not declared in model/cluster_state.py "
                         "(snapshot and freeze would leave them out):\n" + "\n".join(missing))


def test_the_check_sees_an_undeclared_attribute():
    source = ("class Cluster:\n"
              "    def f(self):\n        self.hosts = {}\n        self.forgotten = 1\n"
              "def g(cluster):\n    cluster.also_forgotten: int = 2\n"
              "    setattr(cluster, 'set_too', 3)\n")
    found = assigned_attributes(source, {"Cluster"})
    assert {n for n in found if n not in BY_NAME} == {"forgotten", "also_forgotten",
                                                      "set_too"}


def _busy() -> Cluster:
    c = Cluster(small_config(hosts=4), seed=7)
    first, second, third = boot(c), boot(c), boot(c)
    c.request("stop", second, ADMIN)
    c.settle()
    c.set_allocation_ratio("host3", "VCPU", 4.0)
    c.service_down(c.instances[second].host)
    c.request("pause", third, ADMIN)
    c.request("resize", first, ADMIN, flavor=LARGE.name)
    c.deliver(next(w for w in c.pending() if w.instance == first).id)
    c.host_states()  # fills the caches
    c.freeze()
    return c


def test_a_running_cluster_has_no_attribute_the_declaration_lacks():
    c = _busy()
    assert set(vars(c)) <= set(BY_NAME), set(vars(c)) - set(BY_NAME)
    # and every variable that is state is there
    assert {v.name for v in VARIABLES if v.role not in (Role.CACHE,)} <= set(vars(c))


def test_each_variable_is_declared_once_with_its_form():
    assert len(BY_NAME) == len(VARIABLES)
    for v in VARIABLES:
        assert (v.row is not None and v.back is not None) == (v.form is Form.ROWS), v.name
        if v.role in (Role.CONFIG, Role.CACHE):
            assert v.form is Form.NONE, v.name
    # the system's state first, the records apart after it
    roles = [v.role for v in VARIABLES]
    assert roles.index(Role.RECORD) > max(i for i, r in enumerate(roles) if r is Role.SYSTEM)


def test_the_snapshot_has_one_section_per_row_variable_then_the_ledger_and_the_rng():
    c = _busy()
    snap = c.snapshot()
    assert tuple(name for name, _ in snap) == ROW_NAMES + ("ledger", "rng")
    assert "decisions" not in dict(snap) and c.decisions
    restored = Cluster.restore(snap, c.config, c.lc)
    assert restored.snapshot() == snap
    assert Cluster.thaw(c.freeze()).snapshot() == snap
    # the module's functions are what the methods give
    assert cluster_state.snapshot(c) == snap
    assert cluster_state.witness(c) == c.witness()
