"""Plain data shared by every part of the linter: a finding and its sort order.

This module imports nothing from the package, so everything else can stack on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Finding"]


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one place: ``path:line:col: CODE message`` plus a hint.

    ``line`` and ``col`` are 1-based, like ruff's. ``chain`` is the call path from the
    orchestration to the function holding the offending line (empty for file-level codes).
    """

    path: str
    line: int
    col: int
    code: str
    message: str = field(compare=False)
    hint: str = field(default="", compare=False)
    chain: tuple[str, ...] = field(default=(), compare=False)
    fixable: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of a finding (stable keys, used by ``--format json``)."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "chain": list(self.chain),
            "fixable": self.fixable,
        }
