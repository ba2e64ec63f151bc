"""`coverage=True`: which lines and branches of the orchestration's module no example reached.

Measured with coverage.py (branch coverage) while the examples run. The module was imported
before measuring began, so only lines inside function bodies count: a ``def`` line or a
decorator ran at import, not during the fuzz run.
"""

from __future__ import annotations

import ast
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .report import CoverageGaps

__all__ = ["Measurement", "measure"]


class Measurement:
    """Filled in when the `measure` block ends: `result` is None when not measuring."""

    result: CoverageGaps | None = None


@contextmanager
def measure(module: str, *, enabled: bool) -> Iterator[Measurement]:
    found = Measurement()
    source = getattr(sys.modules.get(module), "__file__", None)
    if not enabled or source is None:
        yield found
        return
    import coverage

    cov = coverage.Coverage(data_file=None, branch=True, include=[source])
    cov.start()
    try:
        yield found
    finally:
        cov.stop()
    found.result = _gaps(cov, source)


def _gaps(cov: object, source: str) -> CoverageGaps:
    import coverage

    assert isinstance(cov, coverage.Coverage)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "coverage.json"
        cov.json_report(outfile=str(out), include=[source])
        data = json.loads(out.read_text())
    files = data.get("files", {})
    entry: dict[str, Any] = next(iter(files.values()), {})
    bodies = _body_lines(Path(source))
    missing = sorted(n for n in entry.get("missing_lines", []) if n in bodies)
    executed = [n for n in entry.get("executed_lines", []) if n in bodies]
    branches = sorted(
        (int(a), int(b)) for a, b in entry.get("missing_branches", []) if int(a) in bodies
    )
    reached = len(executed) + sum(
        1 for a, _ in entry.get("executed_branches", []) if int(a) in bodies
    )
    total = reached + len(missing) + len(branches)
    percent = 100.0 * reached / total if total else 100.0
    return CoverageGaps(_relative(source), missing, branches, percent)


def _body_lines(path: Path) -> set[int]:
    """Line numbers inside function bodies (not the def line, decorators or docstring)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            for stmt in body:
                lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def _relative(source: str) -> str:
    try:
        return str(Path(source).resolve().relative_to(Path.cwd()))
    except ValueError:
        return source
