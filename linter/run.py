"""A run over many files: the cheap pass every run makes, then the engine for what is left.

Each file is read once here: the prefilter and the framework-usage count look at its bytes,
and the result cache answers for the files whose results it still holds. Only if some file
is left does the run import the engine (and libcst with it) to lint those: a run in which
nothing changed neither parses nor imports the parser.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence

from linter.cache import Dependencies, ResultCache
from linter.config import Config
from linter.finder import import_roots, read_bytes
from linter.findings import Finding
from linter.prefilter import Prefilter
from linter.profiles import PROFILES, frameworks_used

__all__ = ["FileResult", "LintResult", "display_path", "finalize", "lint_paths", "prefilter_for"]


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


def lint_paths(
    files: Sequence[str],
    config: Config,
    *,
    fix: bool = False,
    jobs: int | None = None,
    cache_dir: str | None = None,
) -> LintResult:
    """Lint ``files`` (already expanded from directories) under ``config``.

    With ``cache_dir`` (see ``linter.cache.cache_directory``), results still valid there are
    reused and fresh ones stored; ``fix`` bypasses the cache, since it needs the trees.
    """
    track = cache_dir is not None and not fix
    cache = (
        ResultCache(cache_dir, config, import_roots(config.root)) if cache_dir and track else None
    )
    wants = prefilter_for(config).wants
    candidates: list[str] = []
    done: dict[str, FileResult] = {}
    enabled = frozenset(config.profiles)
    unchecked: Counter[str] = Counter()
    for path in files:
        try:
            data = read_bytes(path)
        except OSError:
            candidates.append(path)  # reported by the engine
            continue
        unchecked.update(frameworks_used(data, besides=enabled))
        if wants(data):
            candidates.append(path)
            hit = cache.get(path, data) if cache is not None else None
            if hit is not None:
                done[path] = FileResult(*hit)
    cached = len(done)
    todo = [path for path in candidates if path not in done]
    if todo:
        from linter.engine import lint_files  # imports libcst: only when something is left

        for path, result in zip(todo, lint_files(todo, config, fix, jobs, track), strict=True):
            done[path] = result
            if cache is not None and result.deps is not None:
                cache.put(path, result.findings, result.parsed, result.deps)
    if cache is not None:
        cache.flush()
    results = [done[path] for path in candidates]
    fixes = {}
    for result in results:
        if result.fixed is not None and result.original is not None:
            path, new, encoding = result.fixed
            fixes[path] = (result.original, new, encoding)
    findings = finalize(f for r in results for f in r.findings)
    parsed = sum(r.parsed for r in results)
    warnings = cache.warnings if cache is not None else []
    return LintResult(
        findings, len(files), parsed, fixes, dict(sorted(unchecked.items())), cached, warnings
    )
