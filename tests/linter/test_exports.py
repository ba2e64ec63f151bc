"""The public surface: ``linter.__all__`` is sorted and lists exactly the public names."""

from __future__ import annotations

import linter


def test_all_is_sorted_and_complete():
    """Through ``dir()``, as httpx checks it: some names are imported on first use."""
    assert linter.__all__ == sorted(linter.__all__)
    public = {
        name
        for name in dir(linter)
        if not name.startswith("_") and not isinstance(getattr(linter, name), type(linter))
    }
    assert public == set(linter.__all__)
    assert all(getattr(linter, name) is not None for name in linter.__all__)


def test_linter_never_imports_orchestrate():
    """Checked on the code, not by importing: the rule examples mention orchestrate in strings."""
    import ast
    from pathlib import Path

    forbidden = {"orchestrate", "testkit", "pytest_plugin"}
    offenders = []
    for path in Path(linter.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []
