"""orch-lint's result cache: cold vs warm runs over the same tree, in one run.

For each tree: a run without the cache (today's cold run), a run with an empty cache (cold,
writing every entry), a warm run (nothing changed), and a run after one file changed (as in
pre-commit). Each is timed in-process (``lint_paths``) and, for the cold and warm runs, as
the ``orch-lint`` command (what a user waits for, interpreter start and imports included).
Findings must be identical in every run. Target: warm >= 10x faster than cold, in-process.

``--temporalint PROGRAM`` also times that executable on the real tree (it is not a
dependency: install it in a throwaway venv, ``python3 -m venv /tmp/tl && /tmp/tl/bin/pip
install temporalint``).

Trees: 300 generated orchestration modules (``bench/lint_speed.py``'s), and a real tree if
given with ``--tree PATH`` or ``ORCH_LINT_BENCH_TREE`` (e.g. Temporal's samples, with
``--profile temporal``). Timings are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lint_speed import generated_modules
from linter import Config, LintResult, lint_paths
from linter.engine import Linter
from linter.files import collect_files

TARGET = 10.0


def best(repeat: int, run: Callable[[], LintResult]) -> tuple[float, LintResult]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    assert result is not None
    return min(times), result


def command(args: list[str], cwd: Path, repeat: int, program: str = "") -> float:
    script = program or str(Path(sys.executable).with_name("orch-lint"))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([script, *args], cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def bench_tree(
    name: str,
    root: Path,
    profiles: tuple[str, ...],
    jobs: int,
    repeat: int,
    temporalint: str = "",
) -> tuple[str, float]:
    config = Config(root=str(root), profiles=profiles)
    files = collect_files([str(root)], config)
    cache = Path(tempfile.mkdtemp(prefix="orch-lint-cache-"))
    try:
        # Interleaved, so that a busy machine weighs on both alike.
        nocache = cold = float("inf")
        for index in range(repeat):
            start = time.perf_counter()
            plain = lint_paths(files, config, jobs=jobs)
            nocache = min(nocache, time.perf_counter() - start)
            start = time.perf_counter()  # a new, empty cache directory each time
            first = lint_paths(files, config, jobs=jobs, cache_dir=str(cache / f"cold{index}"))
            cold = min(cold, time.perf_counter() - start)
        filled = str(cache / "cold0")
        warm, again = best(repeat, lambda: lint_paths(files, config, jobs=jobs, cache_dir=filled))
        assert first.findings == plain.findings == again.findings, "cache changed the findings"
        assert again.cached > 0 and again.warnings == [], again.warnings

        wants = Linter(config).wants
        touched = Path(next(f for f in files if wants(Path(f).read_bytes())))
        original = touched.read_bytes()
        try:
            touched.write_bytes(original + b"\n# touched\n")
            one, changed = best(1, lambda: lint_paths(files, config, jobs=jobs, cache_dir=filled))
        finally:
            touched.write_bytes(original)

        flags = [f"--profile={p}" for p in profiles] + [f"--jobs={jobs}", "."]
        cli_cold = command(["--no-cache", *flags], root, repeat)
        os.environ["ORCH_LINT_CACHE_DIR"] = filled
        command(flags, root, 1)  # fill the cache used by the command
        cli_warm = command(flags, root, repeat)
        other = command(["."], root, repeat, temporalint) if temporalint else None
        del os.environ["ORCH_LINT_CACHE_DIR"]
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    ratio = cold / warm
    parsed = first.parsed
    print(f"\n{name}: {len(files)} files, {parsed} parsed, {len(plain.findings)} findings")
    print(f"  no cache          {nocache:7.3f} s  {parsed / nocache:7.1f} parsed files/s")
    print(f"  cold, empty cache {cold:7.3f} s  (writing {parsed} entries)")
    print(
        f"  warm, unchanged   {warm:7.3f} s  {cold / warm:6.1f}x faster than cold   (target {TARGET:.0f}x)"
    )
    print(f"  warm, 1 changed   {one:7.3f} s  ({changed.cached} of {parsed} from the cache)")
    print(
        f"  orch-lint command: cold {cli_cold:.3f} s, warm {cli_warm:.3f} s, {cli_cold / cli_warm:.1f}x"
    )
    if other is not None:
        print(f"  temporalint command (same tree): {other:.3f} s")
    return name, ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=300)
    parser.add_argument("--tree", default=os.environ.get("ORCH_LINT_BENCH_TREE"))
    parser.add_argument("--profile", action="append", help="profiles for --tree (repeatable)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--temporalint",
        metavar="PROGRAM",
        default="",
        help="also time this temporalint executable on --tree (install it in a throwaway venv)",
    )
    args = parser.parse_args(argv)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="orch-lint-bench-") as tmp:
        root = Path(tmp)
        generated_modules(args.generated, root)
        ratios.append(bench_tree("generated", root, ("orchestrate",), args.jobs, args.repeat))
    if args.tree:
        profiles = tuple(args.profile or ("orchestrate",))
        tree = Path(args.tree).resolve()
        ratios.append(
            bench_tree(str(tree), tree, profiles, args.jobs, args.repeat, args.temporalint)
        )
    failed = [name for name, ratio in ratios if ratio < TARGET]
    print("\n" + ("FAILED: " + ", ".join(failed) if failed else f"all warm runs >= {TARGET:.0f}x"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
