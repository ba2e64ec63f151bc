"""The cheap textual checks made on a file's bytes before parsing it: could it hold an
orchestration, and does it opt out with ``# orch-lint: ignore-file``."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Prefilter", "has_marker", "marker_pattern", "wants_ignore_file"]

_IGNORE_FILE = re.compile(rb"#\s*orch-lint:\s*ignore-file\b")


def marker_pattern(markers: Iterable[str]) -> re.Pattern[bytes]:
    """One compiled byte pattern that finds any of ``markers`` (plain substrings)."""
    alternatives = sorted({m for m in markers if m}, key=len, reverse=True)
    return re.compile(b"|".join(re.escape(m.encode()) for m in alternatives) or b"(?!)")


def has_marker(data: bytes, pattern: re.Pattern[bytes]) -> bool:
    """Whether the raw bytes could hold an orchestration: the prefilter before parsing."""
    return pattern.search(data) is not None


class Prefilter:
    """Which files could hold an orchestration, from their bytes alone.

    Each group is a set of markers (any one suffices) with the markers all of which must
    also be present; a file is wanted when one group matches and it does not opt out.
    """

    def __init__(self, groups: Iterable[tuple[Iterable[str], Iterable[str]]]) -> None:
        merged: dict[tuple[bytes, ...], list[str]] = {}
        for markers, required in groups:
            key = tuple(sorted({r.encode() for r in required if r}))
            merged.setdefault(key, []).extend(markers)
        self._groups = [(marker_pattern(m), key) for key, m in merged.items() if any(m)]

    def wants(self, data: bytes) -> bool:
        return any(
            all(r in data for r in required) and has_marker(data, pattern)
            for pattern, required in self._groups
        ) and not wants_ignore_file(data)


def wants_ignore_file(data: bytes) -> bool:
    """Whether the file opts out with ``# orch-lint: ignore-file``."""
    return _IGNORE_FILE.search(data) is not None
