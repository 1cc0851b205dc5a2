"""No operation is named in the product code outside the modules that declare it.

What an operation does (the arguments its request takes, the host its scheduling
ignores, how it comes onto another host, the periodic task that requests it, ...) is
declared on its record in ``model/catalogue.py``; the cluster, the explorer, recovery and
the invariants read those attributes rather than testing ``op == "rebuild"``. Read from
the source with ``ast`` (nothing is imported): every string constant that is exactly a
catalogue operation's name, docstrings left out (comments are not in the tree).
"""

from __future__ import annotations

import ast
import pathlib

from model.catalogue import CATALOGUE

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("model", "invariants")

#: The modules where operations are declared, so named: the catalogue, the vocabulary it
#: is written in, the state names (Nova's ``task_states.py`` headings, which are Nova's
#: method names, and its ``migration_type`` values) and the upstream findings (each
#: finding's cause names the requests that show it, as data).
DECLARATIONS = frozenset({"model/catalogue.py", "model/operation.py", "model/states.py",
                          "invariants/findings.py"})

#: Strings that are an operation's name by coincidence, each with what it is instead.
COINCIDENCES = {
    ("model/graph.py", "start"): "the label of the exploration's root edge",
    ("model/scheduler/request.py", "rebuild"): (
        "Nova's scheduler hint value _nova_check_type=rebuild "
        "(nova/scheduler/utils.py: request_is_rebuild)"),
    ("model/scheduler/decision.py", "rebuild"): (
        "the kind of scheduling decision named after that check"),
}


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def named_operations(source: str, names=frozenset(CATALOGUE)) -> list[tuple[int, str]]:
    """(line, name) of each string constant in ``source`` that is an operation's name."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and node.value in names and id(node) not in skip)


def test_the_reader_finds_a_name_in_code_and_not_in_a_docstring_or_comment():
    source = ('"""A module about create."""\n'
              'def f(op):\n'
              '    """Unless op is "rebuild"."""\n'
              '    # op == "resize"\n'
              '    return op == "rebuild" or op in {"evacuate"} or f"{op}" == "create x"\n')
    assert named_operations(source) == [(5, "evacuate"), (5, "rebuild")]


def test_no_operation_is_named_outside_its_declarations():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in DECLARATIONS:
                continue
            for line, name in named_operations(path.read_text()):
                if (relative, name) not in COINCIDENCES:
                    found.append(f"{relative}:{line}: {name!r}")
    assert not found, ("operations named outside the catalogue (declare what the code "
                       "decides as an attribute of the operation): " + "; ".join(found))


def test_the_coincidences_are_still_there():
    """A coincidence that is gone is taken off the list."""
    gone = [key for key in COINCIDENCES
            if key[1] not in {name for _, name in
                              named_operations((ROOT / key[0]).read_text())}]
    assert not gone, gone
