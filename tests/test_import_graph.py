"""No import cycles between modules, including imports hidden inside functions or behind
``TYPE_CHECKING``: a cycle means two modules are one design and should say so.

import-linter checks the layers (pyproject.toml); this test checks what it cannot,
every module against every other, with the same import graph (grimp).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp

PACKAGES = ("workflow", "bgcheck", "api")
ROOT = Path(__file__).resolve().parent.parent
# What the HTTP layer may take from the database libraries: handles to pass to bgcheck.
API_MAY_IMPORT = {"sqlalchemy": {"Engine"}, "sqlmodel": {"Session"}, "sqlalchemy.exc": None}


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_code_has_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "modules that import each other: " + "; ".join(map(", ".join, found))


def test_the_check_finds_a_cycle_however_deep() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_http_layer_builds_no_sql() -> None:
    """Queries live in bgcheck (next to the rule they serve), never in a route or page."""
    found = []
    for path in sorted((ROOT / "api").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [(node.module, alias.name) for alias in node.names]
            else:
                continue
            for module, name in names:
                if module.split(".")[0] not in ("sqlalchemy", "sqlmodel"):
                    continue
                allowed = API_MAY_IMPORT.get(module, set())
                if allowed is not None and name not in allowed:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {module} {name}")
    assert found == []
