"""Checking a file the fuzzer will write (``--html``, ``--save-failure``) before it runs, so a
bad path is one line at once instead of a traceback after the whole run."""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

__all__ = ["check_output_file"]


def check_output_file(path: str | PathLike[str], what: str) -> Path:
    """`path` if a file can be written there; else `ValueError` naming `what`, the cause and
    the fix. Nothing is created."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        problem = "is a directory; name a file (in it, or elsewhere)"
    elif not folder.exists():
        problem = f"cannot be written: the directory {str(folder)!r} does not exist; create it first"
    elif not folder.is_dir():
        problem = f"cannot be written: {str(folder)!r} is a file, not a directory"
    elif not os.access(folder, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        problem = "cannot be written: permission denied; give a path you can write to"
    else:
        return target
    raise ValueError(f"{what} {str(target)!r} {problem}")
