"""Expanding the command line's paths into the Python files to lint."""

from __future__ import annotations

import os
from collections.abc import Iterable

from linter.config import Config
from linter.errors import UsageError

__all__ = ["collect_files"]

_SKIP_DIRS = frozenset(
    {"__pycache__", "node_modules", "build", "dist", "site-packages", "venv", "env"}
)


def collect_files(paths: Iterable[str], config: Config) -> list[str]:
    """Files named directly, plus ``*.py`` under directories (hidden, virtualenv and build
    directories and ``exclude`` globs skipped), sorted and without duplicates."""
    found: dict[str, None] = {}
    excluded = config.is_excluded if config.exclude else _never
    for path in paths:
        if os.path.isfile(path):
            found[path] = None
        elif os.path.isdir(path):
            for directory, dirs, names in os.walk(path):
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if not d.startswith(".")
                    and d not in _SKIP_DIRS
                    and not excluded(os.path.join(directory, d))
                )
                for name in sorted(names):
                    if name.endswith(".py"):
                        full = os.path.join(directory, name)
                        if not excluded(full):
                            found[os.path.normpath(full)] = None
        else:
            raise UsageError(
                f"{path}: no such file or directory; pass files or directories to lint"
            )
    return list(found)


def _never(path: str) -> bool:
    return False
