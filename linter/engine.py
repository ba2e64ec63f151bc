"""Linting the files the cheap pass (``linter.run``) leaves: parse, find orchestrations,
follow helpers, turn hits into findings (located, suppressed by ``# noqa``, deduplicated) and
collect safe fixes.

Few files are linted in this process; many are spread over a process pool, each worker
keeping its own cache of parsed helper modules.
"""

from __future__ import annotations

import ast
import gc
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import libcst as cst

from linter.cache import dependencies
from linter.checker import Hit
from linter.config import Config
from linter.discovery import find_entries
from linter.finder import content_digest, import_roots
from linter.findings import Finding
from linter.fix import apply_fixes
from linter.modules import ModuleInfo, ModuleLoader, Reads
from linter.parse import parse_module
from linter.positions import locate
from linter.prefilter import wants_ignore_file
from linter.reach import check_entries
from linter.results import FileResult, display_path, finalize, prefilter_for
from linter.rules import Fixer, RuleSet, rule_by_code, star_names
from linter.rules.files import SyntaxErrorRule, UndecodableFile
from linter.source import DecodeProblem, Source, decode, noqa_codes

__all__ = ["Linter", "lint_files", "lint_source"]

PARALLEL_THRESHOLD = 8


class Linter:
    """The per-process linting state: enabled rules, markers and the module cache."""

    def __init__(self, config: Config, fix: bool = False, track: bool = False) -> None:
        self.config = config
        self.fix = fix
        self.track = track  # note each file's dependencies for the result cache
        self.codes = config.enabled_codes()
        self.rules = RuleSet(
            self.codes, config.allowed, dict(config.extra_banned), config.durable_calls
        )
        self.loader = ModuleLoader(star_names(), import_roots(config.root))
        self.prefilter = prefilter_for(config)

    def wants(self, data: bytes) -> bool:
        """The prefilter: could this file hold an orchestration?"""
        return self.prefilter.wants(data)

    def lint_file(self, path: str) -> FileResult:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror}"
            return FileResult(self._file_finding(UndecodableFile.CODE, path, 1, 1, reason))
        if not self.wants(data):
            return FileResult()
        if not self.track:
            return self.lint_bytes(path, data)
        digest = content_digest(data)
        self.loader.digests[os.path.abspath(path)] = digest
        self.loader.reads = reads = Reads()
        try:
            result = self.lint_bytes(path, data)
        finally:
            self.loader.reads = None
        result.deps = dependencies(self.loader, path, digest, reads)
        return result

    def lint_bytes(self, path: str, data: bytes) -> FileResult:
        source = decode(data)
        if isinstance(source, DecodeProblem):
            return FileResult(
                self._file_finding(UndecodableFile.CODE, path, source.line, 1, source.reason),
                parsed=False,
            )
        return self.lint_text(path, source)

    def lint_text(self, path: str, source: Source) -> FileResult:
        try:
            module = parse_module(source.text)
        except cst.ParserSyntaxError as exc:
            line, col, reason = _syntax_error(source.text, exc)
            return FileResult(self._file_finding(SyntaxErrorRule.CODE, path, line, col, reason))
        info = ModuleInfo.build(path, source, module, self.loader.star_names)
        self.loader.add(info)
        entries = find_entries(info, self.config.profiles, self.config.orchestration_decorators)
        if not entries:
            return FileResult(parsed=True)
        hits = check_entries(
            ((info, e) for e in entries),
            self.rules,
            self.loader,
            self.config.profiles,
            self.config.orchestration_decorators,
        )
        findings, fixers = self._findings(hits, info)
        result = FileResult(findings, parsed=True)
        if self.fix and fixers:
            new = apply_fixes(module, fixers)
            if new != source.text:
                result.fixed = (path, new, source.encoding)
                result.original = source.text
        return result

    def _file_finding(
        self, code: str, path: str, line: int, col: int, reason: str
    ) -> list[Finding]:
        """A file-level finding (ORC001/ORC002), or none if that code is switched off."""
        rule = rule_by_code(code)
        assert rule is not None
        if code not in self.codes or code in self.config.ignored_for(path):
            return []
        message = f"{rule.MESSAGE}: {reason}"
        return [Finding(display_path(path), line, col, code, message, rule.HINT)]

    def _findings(
        self, hits: Sequence[Hit], home: ModuleInfo
    ) -> tuple[list[Finding], dict[int, Fixer]]:
        by_module: dict[int, list[Hit]] = defaultdict(list)
        modules: dict[int, ModuleInfo] = {}
        for hit in hits:
            by_module[id(hit.info)].append(hit)
            modules[id(hit.info)] = hit.info
        findings: list[Finding] = []
        fixers: dict[int, Fixer] = {}
        for key, module_hits in by_module.items():
            info = modules[key]
            if info is not home and wants_ignore_file(info.source.text.encode("utf-8", "replace")):
                continue
            positions = locate(info.module, [h.node for h in module_hits])
            lines = info.source.lines
            ignored = self.config.ignored_for(info.path)
            shown = display_path(info.path)
            for hit in module_hits:
                code = hit.rule.CODE
                if code in ignored:
                    continue
                line, col = positions.get(id(hit.node), (1, 1))
                noqa = noqa_codes(lines[line - 1]) if 0 < line <= len(lines) else None
                if noqa is not None and (not noqa or code in noqa):
                    continue
                fixable = hit.fix is not None and info is home
                if hit.fix is not None and info is home:
                    fixers[id(hit.node)] = hit.fix
                findings.append(
                    Finding(
                        shown,
                        line,
                        col,
                        code,
                        _message(hit),
                        hit.rule.hint(hit.profile, hit.ctx_name),
                        hit.chain,
                        fixable,
                    )
                )
        return findings, fixers


def _syntax_error(text: str, exc: cst.ParserSyntaxError) -> tuple[int, int, str]:
    """Where and why the file does not parse. CPython's own parser (only run on this failure
    path) pinpoints the error better than libcst's message does."""
    try:
        compile(text, "<orch-lint>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        return error.lineno or 1, error.offset or 1, error.msg
    except ValueError:  # e.g. null bytes
        pass
    reason = str(exc.message).splitlines()[0].removeprefix("parser error: ")
    return exc.editor_line, exc.editor_column, reason


def _message(hit: Hit) -> str:
    text = f"{hit.subject} {hit.detail or hit.rule.MESSAGE}"
    replacement = (
        "" if hit.detail else hit.rule.replacement(hit.profile, hit.ctx_name, hit.is_async)
    )
    if replacement:
        text += f"; use {replacement}"
    if len(hit.chain) == 1:
        return f"{text} (in {hit.chain[0]})"
    return f"{text} (via {' -> '.join(hit.chain)})"


_WORKER: Linter | None = None
# Parsed trees are hundreds of thousands of small objects kept for the whole run (helpers
# are shared between files), almost none in cycles: at the default pace the cyclic
# collector re-scans them over and over, about a quarter of a cold run's time.
_GC_THRESHOLD = (100_000, 50, 100)


@contextmanager
def _rare_collections() -> Iterator[None]:
    old = gc.get_threshold()
    gc.set_threshold(*_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _init_worker(config: Config, fix: bool, track: bool) -> None:
    global _WORKER
    gc.set_threshold(*_GC_THRESHOLD)
    _WORKER = Linter(config, fix, track)


def _lint_in_worker(path: str) -> FileResult:
    assert _WORKER is not None
    return _WORKER.lint_file(path)


def lint_files(
    paths: Sequence[str], config: Config, fix: bool, jobs: int | None, track: bool
) -> list[FileResult]:
    """Lint each of ``paths`` (all past the prefilter): in this process when they are few,
    else spread over a pool of ``jobs`` workers (default: the CPUs, at most 8). With
    ``track``, each result carries its dependencies for the result cache."""
    with _rare_collections():
        workers = min(jobs or os.cpu_count() or 1, 8)
        if workers > 1 and len(paths) >= PARALLEL_THRESHOLD:
            from concurrent.futures import ProcessPoolExecutor

            chunk = max(1, len(paths) // (workers * 4))
            init = (config, fix, track)
            with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=init) as pool:
                return list(pool.map(_lint_in_worker, paths, chunksize=chunk))
        linter = Linter(config, fix, track)
        return [linter.lint_file(path) for path in paths]


def lint_source(
    text: str, path: str = "example.py", config: Config | None = None, *, fix: bool = False
) -> tuple[list[Finding], str]:
    """Lint source text held in memory (no prefilter); return findings and the fixed text."""
    linter = Linter(config or Config(), fix)
    result = linter.lint_text(path, Source(text, "utf-8"))
    fixed = result.fixed[1] if result.fixed is not None else text
    return finalize(result.findings), fixed
