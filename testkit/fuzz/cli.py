"""``orch-fuzz path/to/module.py:orch``: fuzz an orchestration from the command line.

Exit codes: 0 every property held, 1 a finding (printed with its shrunk schedule), 2 usage or
an error in the setup (a missing module or orchestration, a bad config, an unreadable schedule).
Progress goes to stderr. Settings come from ``--config module:NAME`` (a dict of `fuzz` keyword
arguments, or a function returning one), else from a ``FUZZ`` dict in the orchestration's
module keyed by orchestration name; options given on the command line win.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from orchestrate import OrchestrateError, Registry

from .output_file import check_output_file
from .report import FuzzError, FuzzFailure, FuzzReport
from .runner import fuzz, replay_schedule
from .schedule import ScheduleError

__all__ = ["main"]

EXIT_PASSED, EXIT_FINDING, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A usage or setup problem: printed as one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orch-fuzz",
        description="Explore the schedules of a durable orchestration (completion orders, "
        "outcomes, crashes, duplicate deliveries, events) and check every one is replay-safe.",
    )
    parser.add_argument("target", help="path/to/module.py:orchestration (or module.name:orch)")
    parser.add_argument("--config", metavar="MODULE:NAME",
                        help="a dict of fuzz() keyword arguments (default: the module's FUZZ)")
    parser.add_argument("--examples", type=int, metavar="N", help="examples to run (default 100)")
    parser.add_argument("--seed", type=int, metavar="N", help="Hypothesis seed (reproduces a run)")
    parser.add_argument("--exhaustive", action="store_true",
                        help="enumerate every schedule instead of sampling")
    parser.add_argument("--max-schedules", type=int, default=10_000, metavar="N",
                        help="exhaustive mode's limit (default 10000)")
    parser.add_argument("--coverage", action="store_true",
                        help="report the module's lines and branches no example reached")
    parser.add_argument("--max-steps", type=int, metavar="N", help="steps per example (500)")
    parser.add_argument("--hash-seeds", type=int, metavar="N",
                        help="replay histories under N other PYTHONHASHSEED values (default 2)")
    parser.add_argument("--no-crashes", action="store_true", help="inject no worker crashes")
    parser.add_argument("--no-duplicates", action="store_true",
                        help="inject no duplicate deliveries")
    parser.add_argument("--save-failure", metavar="FILE",
                        help="write a failing schedule here (JSON) for --replay")
    parser.add_argument("--replay", metavar="FILE", help="re-run a saved schedule exactly")
    parser.add_argument("--format", choices=("text", "json", "github"), default="text")
    parser.add_argument("--html", metavar="FILE",
                        help="on a finding, also write it with every instance's timeline as one "
                             "self-contained HTML file (a CI artifact that opens anywhere)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _check_numbers(args)
        for path, option in ((args.html, "--html"), (args.save_failure, "--save-failure")):
            if path is not None:  # before the run: a bad path is not found only at the end
                check_output_file(path, option)
        module, registry, name = _load_target(args.target)
        options = _options(module, name, args)
        if args.replay:
            return _replay(registry, name, args, options)
        progress = _Progress(sys.stderr.isatty()) if args.format == "text" else None
        report = fuzz(registry, name, progress=progress, **options)
    except FuzzFailure as failure:
        _print_failure(failure, args)
        return EXIT_FINDING
    except (CliError, ScheduleError, OrchestrateError, TypeError, ValueError, FuzzError) as exc:
        print(f"orch-fuzz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print_report(report, args)
    return EXIT_PASSED


def _check_numbers(args: argparse.Namespace) -> None:
    for value, option, least in (
        (args.examples, "--examples", 1), (args.max_schedules, "--max-schedules", 1),
        (args.max_steps, "--max-steps", 1), (args.hash_seeds, "--hash-seeds", 0),
    ):
        if value is not None and value < least:
            raise CliError(f"{option} {value}: give a whole number of {least} or more")


class _Progress:
    """Progress on stderr: one line rewritten in place on a terminal; in a log (CI), a line
    every few seconds so a long run shows it is alive without flooding the log."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self.calls = 0

    def __call__(self, line: str) -> None:
        self.calls += 1
        if self.terminal:
            print(f"\r[orch-fuzz] {line}", end="", file=sys.stderr, flush=True)
        elif self.calls % 10 == 0:  # the fuzzer reports about twice a second
            print(f"[orch-fuzz] {line}", file=sys.stderr, flush=True)


def _replay(registry: Registry, name: str, args: argparse.Namespace,
            options: dict[str, Any]) -> int:
    allowed = {k: options[k] for k in ("invariant", "invariant_every_turn", "max_steps",
                                       "hash_seeds") if k in options}
    result = replay_schedule(registry, name, args.replay, **allowed)
    if args.format == "json":
        print(json.dumps({"result": "passed", "replayed": args.replay,
                          "status": str(result.status), "output": result.output}, default=str))
    else:
        print(f"{args.replay}: replayed {len(result.schedule.steps)} steps; every property held "
              f"({result.schedule.instance_id} ended {result.status})")
    return EXIT_PASSED


def _print_failure(failure: FuzzFailure, args: argparse.Namespace) -> None:
    saved = False
    try:  # the paths were checked before the run; this is the disk filling up or such
        if args.save_failure:
            failure.schedule.save(args.save_failure)
            saved = True
        if args.html:
            Path(args.html).write_text(failure.html(), encoding="utf-8")
            print(f"orch-fuzz: wrote the failure's timelines to {args.html}", file=sys.stderr)
    except OSError as exc:  # still print the finding below: it is not lost
        print(f"orch-fuzz: error: cannot write {exc.filename!r}: {exc.strerror or exc}",
              file=sys.stderr)
    if args.format == "json":
        print(json.dumps(failure.to_json(), indent=1, default=str))
        return
    if args.format == "github":
        first = str(failure).splitlines()[0]
        body = str(failure).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::error title=orch-fuzz: {first}::{body}")
        return
    print(f"FuzzFailure: {failure}")
    if saved:
        print(f"\nSaved the schedule to {args.save_failure}; re-run it with "
              f"orch-fuzz {args.target} --replay {args.save_failure}")


def _print_report(report: FuzzReport, args: argparse.Namespace) -> None:
    if args.format == "json":
        print(report.to_json())
    else:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(report)


# --- loading what the command line names -------------------------------------------------------


def _load_target(target: str) -> tuple[ModuleType, Registry, str]:
    where, sep, orch = target.rpartition(":")
    if not sep or not where or not orch:
        raise CliError(f"{target!r}: name the orchestration as path/to/module.py:orchestration")
    module = _import(where)
    registries = [v for v in vars(module).values() if isinstance(v, Registry)]
    for registry in registries:
        for name, odef in registry.orchestrations.items():
            if orch in (name, getattr(odef.fn, "__name__", None)):
                return module, registry, name
    known = sorted(n for r in registries for n in r.orchestrations)
    raise CliError(
        f"{where} has no orchestration named {orch!r} in a Registry at module level "
        f"(found: {', '.join(known) or 'none'})"
    )


def _import(where: str) -> ModuleType:
    """Import a module by file path (made a dotted name when it sits in a package below the
    working directory, so its relative imports work) or by dotted name."""
    path = Path(where)
    if where.endswith(".py") or path.exists():
        if not path.is_file():
            raise CliError(f"{where}: no such file")
        dotted = _dotted(path.resolve())
        if dotted is not None:
            return _import_name(dotted, where)
        sys.path.insert(0, str(path.resolve().parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise CliError(f"{where}: not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise CliError(f"{where}:{exc.lineno}: syntax error: {exc.msg}") from None
        return module
    return _import_name(where, where)


def _import_name(dotted: str, shown: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except SyntaxError as exc:
        raise CliError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    except ImportError as exc:
        raise CliError(f"cannot import {shown}: {exc}") from None


def _dotted(path: Path) -> str | None:
    """``pkg.sub.mod`` for a file inside packages under the working directory."""
    root = Path.cwd().resolve()
    try:
        relative = path.relative_to(root)
    except ValueError:
        return None
    parts = list(relative.with_suffix("").parts)
    if len(parts) < 2 or not all((root.joinpath(*parts[:i]) / "__init__.py").is_file()
                                 for i in range(1, len(parts))):
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return ".".join(parts)


def _options(module: ModuleType, name: str, args: argparse.Namespace) -> dict[str, Any]:
    options = dict(_config(module, name, args.config))
    flags = {
        "max_examples": args.examples, "seed": args.seed, "max_steps": args.max_steps,
        "hash_seeds": args.hash_seeds,
    }
    options.update({k: v for k, v in flags.items() if v is not None})
    if args.exhaustive:
        options["exhaustive"] = True
        options["max_schedules"] = args.max_schedules
    if args.coverage:
        options["coverage"] = True
    if args.no_crashes:
        options["crashes"] = False
    if args.no_duplicates:
        options["duplicates"] = False
    if args.save_failure:
        options.pop("save_failure", None)
    return options


def _config(module: ModuleType, name: str, spec: str | None) -> dict[str, Any]:
    if spec is None:
        table = getattr(module, "FUZZ", None)
        if isinstance(table, dict) and isinstance(table.get(name), dict):
            return dict(table[name])
        return {}
    where, sep, attr = spec.rpartition(":")
    if not sep:
        raise CliError(f"--config {spec!r}: write it as module:NAME (e.g. tests.fuzzing:ORDER)")
    source = _import(where)
    value: Any = getattr(source, attr, None)
    if value is None:
        raise CliError(f"--config {spec!r}: {where} has no {attr!r}")
    if callable(value):
        value = value()
    if isinstance(value, dict) and isinstance(value.get(name), dict):
        value = value[name]
    if not isinstance(value, dict):
        raise CliError(f"--config {spec!r} must be a dict of fuzz() keyword arguments, not "
                       f"{type(value).__name__}")
    return dict(value)
