"""Output formats: text (like ruff), json, github annotations, and ``--statistics``.

SARIF lives in ``sarif.py``. Every formatter takes the sorted findings and returns the text
for stdout; the one-line summary goes to stderr (see ``cli``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from linter.codes import RULE_NAMES
from linter.findings import Finding

__all__ = ["FORMATS", "format_findings", "statistics", "summary"]

FORMATS = ("text", "json", "sarif", "github")


def _text(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}")
        if f.hint:
            lines.append(f"  hint: {f.hint}")
    return "\n".join(lines) + ("\n" if lines else "")


def _json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(findings: Sequence[Finding]) -> str:
    lines = [
        f"::error file={_escape_property(f.path)},line={f.line},col={f.col},"
        f"title={_escape_property(f.code)}::{_escape_data(f.message)}"
        for f in findings
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def format_findings(findings: Sequence[Finding], fmt: str) -> str:
    """Render ``findings`` in ``fmt`` (one of ``FORMATS``)."""
    if fmt == "text":
        return _text(findings)
    if fmt == "json":
        return _json(findings)
    if fmt == "github":
        return _github(findings)
    from linter.sarif import to_sarif

    return json.dumps(to_sarif(findings), indent=2) + "\n"


def statistics(findings: Sequence[Finding]) -> str:
    """One line per code, most frequent first: count, code, rule name (like ruff)."""
    counts = Counter(f.code for f in findings)
    lines = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        fixable = sum(1 for f in findings if f.code == code and f.fixable)
        mark = f"  ({fixable} fixable)" if fixable else ""
        lines.append(f"{count:5d}  {code}  {RULE_NAMES.get(code, '')}{mark}")
    return "\n".join(lines) + ("\n" if lines else "")


def summary(findings: Sequence[Finding], files: int, parsed: int) -> str:
    """The closing line on stderr."""
    if not findings:
        return f"All checks passed ({files} files, {parsed} parsed)."
    places = len({f.path for f in findings})
    fixable = sum(f.fixable for f in findings)
    noun = "finding" if len(findings) == 1 else "findings"
    text = f"Found {len(findings)} {noun} in {places} file{'s' if places != 1 else ''}"
    text += f" ({files} files, {parsed} parsed)."
    if fixable:
        text += f" {fixable} fixable with `orch-lint --fix`."
    return text
