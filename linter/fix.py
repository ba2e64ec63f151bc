"""Applying the rules' safe rewrites to a module, and showing them as a diff."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import libcst as cst

from linter.rules._base import Fixer

__all__ = ["apply_fixes", "unified_diff"]


class _Rewriter(cst.CSTTransformer):
    def __init__(self, fixers: Mapping[int, Fixer]) -> None:
        super().__init__()
        self.fixers = fixers

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        fixer = self.fixers.get(id(original_node))
        return updated_node if fixer is None else fixer(updated_node)


def apply_fixes(module: cst.Module, fixers: Mapping[int, Fixer]) -> str:
    """The module's code with each fixer applied to the call it belongs to (keyed by id)."""
    return module.visit(_Rewriter(fixers)).code


def unified_diff(path: str, old: str, new: str) -> str:
    """A ``diff -u`` of one file, as ``--diff`` prints it."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
