"""The ``orch-lint`` command: ``main(argv) -> int`` with exit codes 0 clean, 1 findings, 2 error.

A run whose results all come from the cache never imports libcst: what parses or needs the
rule classes (the engine, ``--explain``, ``--diff``, SARIF output) is imported where used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from linter.cache import CACHE_ENV, cache_directory
from linter.config import OUTSIDE_MODES, Config, find_config, load_config, parse_codes
from linter.errors import LintError, UsageError
from linter.files import collect_files
from linter.findings import Finding
from linter.profiles import PROFILES
from linter.report import FORMATS, format_findings, statistics, summary
from linter.run import LintResult, display_path, lint_paths

__all__ = ["main"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil (and the compression
    modules it pulls in): argparse asks for it each time an option is added."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _formatter(*, prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=_columns() - 2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orch-lint",
        formatter_class=_formatter,
        description="Find non-deterministic code in durable orchestrations before it "
        "breaks replay.",
    )
    parser.add_argument("paths", nargs="*", help="files or directories (default: .)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument(
        "--statistics", action="store_true", help="print a count per rule instead of each finding"
    )
    parser.add_argument("--fix", action="store_true", help="apply the safe rewrites")
    parser.add_argument(
        "--diff", action="store_true", help="print the safe rewrites as a diff; change nothing"
    )
    parser.add_argument(
        "--select", help="comma-separated codes or prefixes to check (replaces the config's)"
    )
    parser.add_argument("--ignore", help="comma-separated codes or prefixes to skip")
    parser.add_argument(
        "--profile",
        action="append",
        metavar="NAME",
        help=f"framework profile, repeatable ({', '.join(PROFILES)})",
    )
    parser.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="read [tool.orch-lint] from this file instead of searching",
    )
    parser.add_argument(
        "--outside-findings",
        choices=OUTSIDE_MODES,
        help="findings in files outside the given paths (in helpers reached from them): "
        "mark them (default) or hide them",
    )
    parser.add_argument("--explain", metavar="CODE", help="explain a rule and exit")
    parser.add_argument("--jobs", "-j", type=int, help="worker processes (default: CPUs)")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help=f"neither read nor write the result cache (.orch_lint_cache; see {CACHE_ENV})",
    )
    return parser


def _split(value: str | None, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    return parse_codes(value.split(","), where)


def _config(args: argparse.Namespace, paths: Sequence[str]) -> Config:
    path = args.config or find_config(paths[0] if paths else ".")
    root = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    config = load_config(path, root)
    profiles = None
    if args.profile:
        for name in args.profile:
            if name not in PROFILES:
                raise UsageError(
                    f"--profile: unknown profile {name!r}; valid profiles are {', '.join(PROFILES)}"
                )
        profiles = tuple(dict.fromkeys(args.profile))
    select = _split(args.select, "--select")
    ignore = _split(args.ignore, "--ignore") or ()
    # --select states exactly what to check: the file's ignore list no longer applies.
    return config.with_overrides(
        select=select,
        ignore=ignore if select else config.ignore + ignore,
        profiles=profiles,
        outside_findings=args.outside_findings,
    )


def _explain(code: str) -> int:
    from linter.docs import explain
    from linter.rules import rule_by_code

    rule = rule_by_code(code.strip().upper())
    if rule is None:
        raise UsageError(
            f"--explain: unknown rule code {code!r}; see docs/rules.md or run "
            "`orch-lint --explain ORC101`"
        )
    sys.stdout.write(explain(rule))
    return EXIT_CLEAN


def _write_fixes(result: LintResult) -> None:
    for path, (_, new, encoding) in result.fixes.items():
        with open(path, "w", encoding=encoding, newline="") as handle:
            handle.write(new)


def _run(args: argparse.Namespace) -> int:
    if args.explain:
        return _explain(args.explain)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    paths = args.paths or ["."]
    config = _config(args, paths)
    files = collect_files(paths, config)
    cache_dir = cache_directory(config, enabled=not args.no_cache)
    result = lint_paths(
        files, config, fix=args.fix or args.diff, jobs=args.jobs, cache_dir=cache_dir
    )
    for warning in result.warnings:
        sys.stderr.write(f"orch-lint: warning: {warning}\n")
    if args.diff:
        from linter.fix import unified_diff

        diffs = [unified_diff(p, old, new) for p, (old, new, _) in sorted(result.fixes.items())]
        sys.stdout.write("".join(diffs))
        count = len(diffs)
        sys.stderr.write(f"{count} file{'s' if count != 1 else ''} would be fixed.\n")
        return EXIT_FINDINGS if diffs else EXIT_CLEAN
    findings = _outside(result.findings, files, config.outside_findings)
    if args.fix:
        _write_fixes(result)
        fixed = {display_path(path) for path in result.fixes}
        findings = [f for f in findings if not (f.fixable and f.path in fixed)]
    if args.statistics:
        sys.stdout.write(statistics(findings))
    else:
        sys.stdout.write(format_findings(findings, args.format))
    message = summary(findings, result.files, result.parsed)
    if args.fix and result.fixes:
        message = f"Fixed {len(result.fixes)} file(s). " + message
    sys.stderr.write(message + "\n")
    for line in _unchecked(result.unchecked):
        sys.stderr.write(line + "\n")
    return EXIT_FINDINGS if findings else EXIT_CLEAN


def _outside(findings: list[Finding], files: Sequence[str], mode: str) -> list[Finding]:
    """Mark (or drop) findings in files that were not among the files linted."""
    if not findings:
        return findings
    # Compared as absolute paths (a display path is one form of it), built without
    # os.path.abspath's getcwd() per file: the run may have thousands.
    here = os.path.join(os.getcwd(), "")
    linted = {
        os.path.abspath(path) if os.path.isabs(path) else os.path.normpath(here + path)
        for path in files
    }
    result = []
    for finding in findings:
        if os.path.abspath(finding.path) in linted:
            result.append(finding)
        elif mode == "mark":
            message = f"{finding.message} [outside the paths given]"
            result.append(finding.replace(message=message))
    return result


def _unchecked(unchecked: dict[str, int]) -> list[str]:
    """One line per framework used in the files whose profile is off: what to turn on."""
    lines = []
    for name, count in unchecked.items():
        package = PROFILES[name].packages[0]
        files = f"{count} files declare" if count != 1 else "1 file declares"
        lines.append(
            f"orch-lint: {files} {package} workflows but the {name} profile is off, so they "
            f'were not checked; add `--profile {name}` (or "{name}" to profiles in '
            "[tool.orch-lint])."
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run orch-lint; returns the exit code (0 clean, 1 findings, 2 usage or internal error)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        return _run(args)
    except LintError as exc:
        sys.stderr.write(f"orch-lint: error: {exc}\n")
        return EXIT_ERROR
    except ModuleNotFoundError as exc:
        if exc.name != "libcst":
            raise
        # orch-lint is installed without its one dependency (plain `pip install orchestrate`,
        # or a pre-commit hook without additional_dependencies): say how to get it.
        sys.stderr.write(
            "orch-lint: error: libcst is not installed; install orch-lint with its extra: "
            "pip install 'orchestrate[lint]' (in pre-commit: additional_dependencies: "
            "['libcst>=1.4'])\n"
        )
        return EXIT_ERROR
    except Exception as exc:  # an internal error must still exit 2, with what happened
        sys.stderr.write(
            f"orch-lint: internal error: {type(exc).__name__}: {exc}\n"
            "Please report this with the file that triggered it.\n"
        )
        return EXIT_ERROR
