"""The project's own banned names, from ``extra-banned`` in ``[tool.orch-lint]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import libcst as cst

from linter.rules._base import CallRule, Context, subject

__all__ = ["ExtraBanned"]


class ExtraBanned(CallRule):
    CODE = "ORC199"
    NAME = "extra-banned"
    MESSAGE = "is banned in orchestrations by this project's [tool.orch-lint] extra-banned"
    HINT = "See the hint configured for it in extra-banned."
    RATIONALE = (
        "Projects know their own non-deterministic helpers (a feature-flag client, a clock "
        "wrapper). List their qualified names under `extra-banned` with a hint, and "
        "orch-lint reports calls to them (and other uses) like the built-in rules, through "
        "aliases and helper functions."
    )
    VALID: ClassVar[tuple[str, ...]] = ()
    hints: Mapping[str, str]

    def __init__(self, hints: Mapping[str, str]) -> None:
        self.hints = dict(hints)
        self.calls = frozenset(self.hints)

    def check_call(self, call: cst.Call, qualname: str, cx: Context) -> None:
        cx.report(
            self, call, subject(call.func, qualname, call=True), detail=self._detail(qualname)
        )

    def check_access(self, node: cst.BaseExpression, qualname: str, cx: Context) -> None:
        cx.report(self, node, subject(node, qualname, call=False), detail=self._detail(qualname))

    def _detail(self, qualname: str) -> str:
        key = (
            qualname
            if qualname in self.hints
            else next(
                (k for k in self.hints if k.endswith(".*") and qualname.startswith(k[:-1])),
                qualname,
            )
        )
        return f"{self.MESSAGE}; {self.hints.get(key, '')}".rstrip("; ")
