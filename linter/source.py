"""Reading a file's text the way Python does, and ``# noqa`` comments.

Decoding follows PEP 263 (a BOM or a ``coding:`` cookie, else UTF-8) so that a Latin-1
module with a cookie lints like any other; a file that Python itself could not decode is
reported instead of crashing the run.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

__all__ = [
    "DecodeProblem",
    "Source",
    "decode",
    "noqa_codes",
]

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.I)


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
