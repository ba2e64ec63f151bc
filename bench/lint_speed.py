"""orch-lint vs Fixit, side by side in one run, on the same files.

(a) a large real tree with no orchestrations (a sample of the standard library, copied to a
    temporary directory): orch-lint's textual prefilter should skip almost every file,
    target >= 20x Fixit's files/s;
(b) 300 generated orchestration modules (some with wall-clock reads): both tools parse every
    file, target >= 2x Fixit's files/s.

Fixit runs one comparable rule (flag ``datetime.now()`` and friends), resolving names with
libcst's QualifiedNameProvider as Fixit rules do. Both tools use a process pool over the
machine's cores. Run with ``make bench`` (installs the ``bench`` extra, which has Fixit).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

FIXIT_RULE = '''
import libcst as cst
from fixit import LintRule
from libcst.metadata import QualifiedNameProvider

BANNED = {"datetime.datetime.now", "datetime.datetime.utcnow", "time.time", "uuid.uuid4"}


class NoWallClock(LintRule):
    """Flag wall-clock reads, resolving names with QualifiedNameProvider."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider,)
    MESSAGE = "reads the wall clock"

    def visit_Call(self, node: cst.Call) -> None:
        for name in self.get_metadata(QualifiedNameProvider, node.func, set()):
            if name.name in BANNED:
                self.report(node)
'''

MODULE = '''\
"""Generated orchestration module {i}."""

import logging
from datetime import datetime, timedelta

from orchestrate import OrchestrationContext, Registry

reg = Registry()
log = logging.getLogger(__name__)


@reg.activity
def reserve_{i}(order: dict) -> str:
    log.info("reserving %s", order["id"])
    return f"r-{{order['id']}}-{{datetime.now().isoformat()}}"


@reg.activity
async def charge_{i}(order: dict) -> str:
    return "tx-{i}"


def price_for_{i}(order: dict) -> float:
    total = 0.0
    for line in order.get("lines", []):
        total += line["qty"] * line["price"]
    return round(total * (1.0 + order.get("tax", 0.2)), 2)


def _stamp_{i}() -> str:
    return {stamp}


@reg.orchestration
async def order_saga_{i}(ctx: OrchestrationContext, order: dict) -> dict:
    price = price_for_{i}(order)
    rid = await ctx.activity(reserve_{i}, order)
    tx = await ctx.activity(charge_{i}, {{"order": order, "price": price}})
    await ctx.sleep(timedelta(minutes=5))
    results = await ctx.all([ctx.activity(reserve_{i}, line) for line in order["lines"]])
    approval, timeout = ctx.event("Approval"), ctx.timer(timedelta(hours=24))
    winner = await ctx.any([approval, timeout])
    if winner is timeout:
        ctx.log.info("timed out")
        return {{"status": "timeout", "at": _stamp_{i}()}}
    ctx.set_status({{"phase": "paid", "progress": 0.6}})
    return {{"rid": rid, "tx": tx, "n": len(results), "at": _stamp_{i}(), "now": ctx.now()}}
'''


def stdlib_sample(count: int, dest: Path) -> list[Path]:
    """Copy ``count`` standard-library modules (no test suites) into ``dest``."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages", "lib2to3", "tkinter", "turtledemo"}
    candidates = sorted(
        p
        for p in stdlib.rglob("*.py")
        if not skip.intersection(p.relative_to(stdlib).parts) and p.stat().st_size < 200_000
    )
    step = max(1, len(candidates) // count)
    files = []
    for source in candidates[::step][:count]:
        target = dest / "stdlib" / source.relative_to(stdlib)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        files.append(target)
    return files


def generated_modules(count: int, dest: Path) -> list[Path]:
    """``count`` orchestration modules; every third reads the wall clock in a helper."""
    folder = dest / "flows"
    folder.mkdir(parents=True)
    files = []
    for i in range(count):
        stamp = "datetime.now().isoformat()" if i % 3 == 0 else '"2024-01-01T00:00:00"'
        path = folder / f"flow_{i:03d}.py"
        path.write_text(MODULE.format(i=i, stamp=stamp), encoding="utf-8")
        files.append(path)
    return files


def time_orch_lint(files: list[Path], root: Path, jobs: int) -> tuple[float, int]:
    from linter import Config, lint_paths

    start = time.perf_counter()
    result = lint_paths([str(f) for f in files], Config(root=str(root)), jobs=jobs)
    return time.perf_counter() - start, len(result.findings)


def time_fixit(files: list[Path], rule_dir: Path) -> tuple[float, int]:
    from fixit.api import fixit_paths
    from fixit.ftypes import Options, QualifiedRule

    options = Options(rules=[QualifiedRule("bench_fixit_rule", "NoWallClock")])
    start = time.perf_counter()
    results = list(fixit_paths(files, options=options, parallel=True))
    elapsed = time.perf_counter() - start
    errors = [r for r in results if r.error is not None]
    if errors:
        raise SystemExit(f"Fixit failed on {errors[0].path}: {errors[0].error}")
    return elapsed, sum(1 for r in results if r.violation is not None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdlib-files", type=int, default=300)
    parser.add_argument("--generated", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    try:
        import fixit  # noqa: F401
    except ImportError:
        print("Fixit is not installed: run `make bench` (installs the bench extra).")
        return 2
    with tempfile.TemporaryDirectory(prefix="orch-lint-bench-") as tmp:
        root = Path(tmp)
        (root / "bench_fixit_rule.py").write_text(textwrap.dedent(FIXIT_RULE), encoding="utf-8")
        sys.path.insert(0, str(root))
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p
        )
        suites = [
            ("(a) stdlib, no orchestrations", stdlib_sample(args.stdlib_files, root), 20.0),
            ("(b) generated orchestrations", generated_modules(args.generated, root), 2.0),
        ]
        print(
            f"{'suite':32} {'files':>5} {'orch-lint f/s':>14} {'Fixit f/s':>10} "
            f"{'ratio':>7} {'target':>7}"
        )
        failed = False
        for name, files, target in suites:
            ours, our_findings = time_orch_lint(files, root, args.jobs)
            theirs, their_findings = time_fixit(files, root)
            ratio = theirs / ours
            failed |= ratio < target
            print(
                f"{name:32} {len(files):5d} {len(files) / ours:14.1f} "
                f"{len(files) / theirs:10.1f} {ratio:6.1f}x {target:6.0f}x"
                f"   (findings: orch-lint {our_findings}, Fixit {their_findings})"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
