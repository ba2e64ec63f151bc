"""A run over many files: the cheap pass every run makes, then the engine for what is left.

Each file is read once here: the prefilter and the framework-usage count look at its bytes,
and the result cache answers for the files whose results it still holds. Only if some file
is left does the run import the engine (and libcst with it) to lint those: a run in which
nothing changed neither parses nor imports the parser.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from linter.cache import ResultCache
from linter.config import Config
from linter.finder import import_roots, read_bytes
from linter.profiles import frameworks_used
from linter.results import FileResult, LintResult, display_path, finalize, prefilter_for

__all__ = ["FileResult", "LintResult", "display_path", "finalize", "lint_paths", "prefilter_for"]


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
