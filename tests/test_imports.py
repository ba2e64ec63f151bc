"""No import cycle inside any of the four packages, and the arrows between them point one way.

Imports are read with `ast`, not by importing: every ``import``/``from ... import`` counts,
including those under ``if TYPE_CHECKING:`` and inside functions (a lazy import hides a cycle
from the interpreter, not from the reader). A cycle is reported as the loop of module names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchestrate", "linter", "testkit", "pytest_plugin")
# Which of our packages each package may import (docs/design.md: pytest_plugin -> testkit -> orchestrate).
ALLOWED = {
    "orchestrate": set(),
    "linter": set(),
    "testkit": {"orchestrate"},
    "pytest_plugin": {"testkit", "orchestrate"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours that module `name` imports (a ``from pkg import sub`` counts `sub`)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from pkg import sub`` imports the module `sub`; ``from pkg import name`` imports
            # `pkg` (its __init__) for `name`.
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # The deepest module of ours the name refers to (a package, or one of its modules).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imported(name, path, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]], nodes: set[str]) -> list[str] | None:
    """One import loop among `nodes` (as a list of modules, first repeated at the end)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node] & nodes):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (loop := visit(nxt)) is not None:
                return loop
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(nodes):
        if node not in state and (loop := visit(node)) is not None:
            return loop
    return None


GRAPH = _graph()


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_the_package(package: str) -> None:
    # A package's __init__ re-exports its modules; a module importing its own package's
    # __init__ would loop through it, so __init__ stays in the graph.
    nodes = {name for name in GRAPH if name == package or name.startswith(package + ".")}
    loop = _cycle(GRAPH, nodes)
    assert loop is None, "import cycle: " + " -> ".join(loop or [])


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_between_packages_point_one_way(package: str) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in ALLOWED[package] | {package}
    )
    assert wrong == []


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": set()}
    assert _cycle(graph, set(graph)) == ["p.a", "p.b", "p.c", "p.a"]
    assert _cycle({"p.a": {"p.b"}, "p.b": set()}, {"p.a", "p.b"}) is None


def test_the_graph_sees_relative_and_lazy_imports() -> None:
    assert "orchestrate.history" in GRAPH["orchestrate.replay"]  # from . import history as h
    assert "orchestrate" not in GRAPH["orchestrate.replay"]
    assert "orchestrate.replay_files" not in GRAPH  # only real modules are nodes
    assert "testkit.replay_files" in GRAPH["testkit.env"]  # imported inside a method


@pytest.mark.parametrize("package", ["testkit", "pytest_plugin"])
def test_no_private_names_imported_from_another_package(package: str) -> None:
    wrong = []
    for name, path in _modules().items():
        if name.split(".")[0] != package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                outside = node.module.split(".")[0] in set(PACKAGES) - {package}
                private = [a.name for a in node.names if a.name.startswith("_")]
                if outside and (private or any(p.startswith("_") for p in node.module.split("."))):
                    wrong.append(f"{name}: from {node.module} import {', '.join(private)}")
    assert wrong == []
