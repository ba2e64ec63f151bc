"""Reading a file's text the way Python does, and the cheap textual checks made before parsing.

Decoding follows PEP 263 (a BOM or a ``coding:`` cookie, else UTF-8) so that a Latin-1
module with a cookie lints like any other; a file that Python itself could not decode is
reported instead of crashing the run.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DecodeProblem",
    "Prefilter",
    "Source",
    "decode",
    "has_marker",
    "marker_pattern",
    "noqa_codes",
    "wants_ignore_file",
]

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.I)
_IGNORE_FILE = re.compile(rb"#\s*orch-lint:\s*ignore-file\b")


@dataclass(frozen=True)
class Source:
    """A decoded module: its text, the encoding to write it back with, and its lines."""

    text: str
    encoding: str

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


@dataclass(frozen=True)
class DecodeProblem:
    """Why a file's bytes are not Python source text (reported as ORC002)."""

    reason: str
    line: int = 1


def decode(data: bytes) -> Source | DecodeProblem:
    """Decode ``data`` with its BOM or PEP 263 cookie (UTF-8 by default)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # unknown codec named in the cookie, or a BOM/cookie clash
        return DecodeProblem(f"{exc.msg}; fix the coding cookie (PEP 263)", exc.lineno or 1)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return DecodeProblem(
            f"byte 0x{data[exc.start]:02x} is not valid {encoding}; save the file as UTF-8 "
            "or declare its encoding with a '# -*- coding: ... -*-' line (PEP 263)",
            line,
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return Source(text, "utf-8-sig" if encoding == "utf-8-sig" else encoding)


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


def noqa_codes(line: str) -> frozenset[str] | None:
    """The codes a ``# noqa`` comment on ``line`` suppresses: None if there is none,
    an empty set for a bare ``# noqa`` (suppresses everything)."""
    if "noqa" not in line.lower():
        return None
    match = _NOQA.search(line)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return frozenset()
    return frozenset(c.strip().upper() for c in codes.split(","))
