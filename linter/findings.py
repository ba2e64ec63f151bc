"""Plain data shared by every part of the linter: a finding and its sort order.

This module imports nothing from the package, so everything else can stack on it. It does
not use ``dataclasses`` either: that module (and the ``inspect`` it imports) is a tenth of
a fully cached run's time, so the classes a cached run builds are written out by hand.
"""

from __future__ import annotations

__all__ = ["Finding"]

_FIELDS = ("path", "line", "col", "code", "message", "hint", "chain", "fixable")


class Finding:
    """One problem at one place: ``path:line:col: CODE message`` plus a hint.

    ``line`` and ``col`` are 1-based, like ruff's. ``chain`` is the call path from the
    orchestration to the function holding the offending line (empty for file-level codes).
    Immutable; findings are equal, hashed and sorted by ``(path, line, col, code)``.
    """

    __slots__ = _FIELDS

    path: str
    line: int
    col: int
    code: str
    message: str
    hint: str
    chain: tuple[str, ...]
    fixable: bool

    def __init__(
        self,
        path: str,
        line: int,
        col: int,
        code: str,
        message: str,
        hint: str = "",
        chain: tuple[str, ...] = (),
        fixable: bool = False,
    ) -> None:
        values = (path, line, col, code, message, hint, chain, fixable)
        for name, value in zip(_FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Finding is immutable; use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a Finding is immutable")

    def replace(self, **changes: object) -> Finding:
        """A copy with some fields changed (as ``dataclasses.replace``)."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return Finding(**values)

    def _key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.col, self.code)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Finding:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Finding) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Finding) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Finding) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Finding) -> bool:
        return self._key() >= other._key()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Finding({fields})"

    def __reduce__(self) -> tuple[type[Finding], tuple[object, ...]]:
        return Finding, tuple(getattr(self, name) for name in _FIELDS)

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
