"""What linting produces, shared by the cheap pass (`linter.run`) and the engine: one file's
result, a run's result, and the small helpers both need. A leaf below both, so neither has to
import the other to agree on these."""

from __future__ import annotations

import os
from collections.abc import Iterable

from linter.cache import Dependencies
from linter.config import Config
from linter.findings import Finding
from linter.prefilter import Prefilter
from linter.profiles import PROFILES

__all__ = ["FileResult", "LintResult", "display_path", "finalize", "prefilter_for"]


# Written out rather than dataclasses (see linter.findings): built on every run.
class FileResult:
    """What linting one file produced: findings (possibly in helper modules), whether it
    parsed, its fix ``(path, new text, encoding)`` with the original text, and what the
    findings depend on (when caching)."""

    __slots__ = ("deps", "findings", "fixed", "original", "parsed")

    def __init__(
        self,
        findings: list[Finding] | None = None,
        parsed: bool = False,
        fixed: tuple[str, str, str] | None = None,
        original: str | None = None,
        deps: Dependencies | None = None,
    ) -> None:
        self.findings = [] if findings is None else findings
        self.parsed = parsed
        self.fixed = fixed
        self.original = original
        self.deps = deps

    def __reduce__(self) -> tuple[type[FileResult], tuple[object, ...]]:
        return FileResult, (self.findings, self.parsed, self.fixed, self.original, self.deps)


class LintResult:
    """The outcome of a run over many files: the findings, files seen and parsed, fixes
    (path -> old, new, encoding), frameworks used in files whose profile is off (profile ->
    files), files whose result came from the cache, and warnings (a cache not written)."""

    def __init__(
        self,
        findings: list[Finding],
        files: int,
        parsed: int,
        fixes: dict[str, tuple[str, str, str]] | None = None,
        unchecked: dict[str, int] | None = None,
        cached: int = 0,
        warnings: list[str] | None = None,
    ) -> None:
        self.findings = findings
        self.files = files
        self.parsed = parsed
        self.fixes = {} if fixes is None else fixes
        self.unchecked = {} if unchecked is None else unchecked
        self.cached = cached
        self.warnings = [] if warnings is None else warnings

    def __repr__(self) -> str:
        return (
            f"LintResult({len(self.findings)} findings, files={self.files}, "
            f"parsed={self.parsed}, cached={self.cached})"
        )


def display_path(path: str) -> str:
    """A path as users typed it: relative to the working directory when under it."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative


def prefilter_for(config: Config) -> Prefilter:
    """The prefilter of a run: the enabled profiles' markers, and the configured decorators."""
    groups: list[tuple[Iterable[str], Iterable[str]]] = [
        (PROFILES[p].markers, PROFILES[p].required_markers) for p in config.profiles
    ]
    groups.append(([d.rsplit(".", 1)[-1] for d in config.orchestration_decorators], ()))
    return Prefilter(groups)


def finalize(findings: Iterable[Finding]) -> list[Finding]:
    """Sort, and keep one finding per place and code (the one with the shortest chain)."""
    best: dict[tuple[str, int, int, str], Finding] = {}
    for finding in findings:
        key = (finding.path, finding.line, finding.col, finding.code)
        current = best.get(key)
        if current is None or (len(finding.chain), finding.chain) < (
            len(current.chain),
            current.chain,
        ):
            best[key] = finding
    return sorted(best.values())
