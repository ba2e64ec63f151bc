"""orch-lint's result cache: cold vs warm runs over the same tree, in one run.

For each tree: a run without the cache (today's cold run), a run with an empty cache (cold,
writing every entry), a warm run (nothing changed), and a run after one file changed (as in
pre-commit), each timed in-process (``lint_paths``). Then the ``orch-lint`` command end to
end (what a user waits for: interpreter start and imports included), cold (``--no-cache``)
and warm runs alternating so that a busy machine weighs on both alike, wall and CPU time
(user + system, the pool's workers included). Findings must be identical in every run, and
the warm command's output (stdout, stderr, exit code) the cold one's.

Target (issue 14): the warm command >= 10x faster than the cold one. A fully cached command
never imports libcst; what it still spends is printed from ``-X importtime`` and a timed
run of ``python -c pass``.

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
import re
import resource
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
from linter.files import collect_files
from linter.run import prefilter_for

TARGET = 10.0


def best(repeat: int, run: Callable[[], LintResult]) -> tuple[float, LintResult]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    assert result is not None
    return min(times), result


def _script() -> str:
    return str(Path(sys.executable).with_name("orch-lint"))


def _env(**extra: str) -> dict[str, str]:
    """The command's environment: bytecode may be written (as an installed package has it;
    with PYTHONDONTWRITEBYTECODE set, an editable checkout recompiles every module on every
    run, tens of milliseconds that no user of a wheel pays)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, tuple]:
    """Wall and CPU seconds (the process and its children) of one run, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, (done.returncode, done.stdout, done.stderr)


def command(args: list[str], cwd: Path, repeat: int, program: str = "") -> float:
    script = program or _script()
    return min(timed([script, *args], cwd, _env())[0] for _ in range(repeat))


def commands(flags: list[str], root: Path, cache: str, repeat: int) -> dict[str, float]:
    """The command cold (``--no-cache``) and warm, alternating; best wall and CPU of each."""
    cold_env, warm_env = _env(), _env(ORCH_LINT_CACHE_DIR=cache)
    cold_argv, warm_argv = [_script(), "--no-cache", *flags], [_script(), *flags]
    timed(warm_argv, root, warm_env)  # fill the cache (and write bytecode)
    best = dict.fromkeys(("cold", "cold_cpu", "warm", "warm_cpu"), float("inf"))
    for _ in range(repeat):
        wall, cpu, cold_out = timed(cold_argv, root, cold_env)
        best["cold"], best["cold_cpu"] = min(best["cold"], wall), min(best["cold_cpu"], cpu)
        wall, cpu, warm_out = timed(warm_argv, root, warm_env)
        best["warm"], best["warm_cpu"] = min(best["warm"], wall), min(best["warm_cpu"], cpu)
        assert warm_out == cold_out, "the warm command printed something else"
    best["python"] = min(
        timed([sys.executable, "-c", "pass"], root, _env())[0] for _ in range(repeat)
    )
    return best


def warm_imports(flags: list[str], root: Path, cache: str) -> tuple[float, list[str]]:
    """Milliseconds a warm run spends importing (``-X importtime``, modules after ``site``),
    and whether libcst is among them."""
    argv = [sys.executable, "-X", "importtime", "-c", "from linter.cli import main; main()"]
    done = subprocess.run(
        [*argv, *flags],
        cwd=root,
        env=_env(ORCH_LINT_CACHE_DIR=cache),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.endswith("| site")), -1) + 1
    total, heavy = 0, []
    for line in lines[start:]:
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| (\s*)(\S+)$", line)
        if match:
            total += int(match.group(1))
            if match.group(3).partition(".")[0] == "libcst":
                heavy.append(match.group(3))
    return total / 1000, heavy


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

        wants = prefilter_for(config).wants
        touched = Path(next(f for f in files if wants(Path(f).read_bytes())))
        original = touched.read_bytes()
        try:
            touched.write_bytes(original + b"\n# touched\n")
            one, changed = best(1, lambda: lint_paths(files, config, jobs=jobs, cache_dir=filled))
        finally:
            touched.write_bytes(original)

        flags = [f"--profile={p}" for p in profiles] + [f"--jobs={jobs}", "."]
        cli = commands(flags, root, str(cache / "command"), repeat)
        imports, heavy = warm_imports(flags, root, str(cache / "command"))
        other = command(["."], root, repeat, temporalint) if temporalint else None
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    ratio = cli["cold"] / cli["warm"]
    parsed = first.parsed
    print(f"\n{name}: {len(files)} files, {parsed} parsed, {len(plain.findings)} findings")
    print(f"  no cache          {nocache:7.3f} s  {parsed / nocache:7.1f} parsed files/s")
    print(f"  cold, empty cache {cold:7.3f} s  (writing {parsed} entries)")
    print(f"  warm, unchanged   {warm:7.3f} s  {cold / warm:6.1f}x faster than cold")
    print(f"  warm, 1 changed   {one:7.3f} s  ({changed.cached} of {parsed} from the cache)")
    print(
        f"  command, cold     {cli['cold']:7.3f} s  (CPU {cli['cold_cpu']:.3f} s)\n"
        f"  command, warm     {cli['warm']:7.3f} s  (CPU {cli['warm_cpu']:.3f} s)  "
        f"{ratio:6.1f}x faster than cold   (target {TARGET:.0f}x; CPU "
        f"{cli['cold_cpu'] / cli['warm_cpu']:.1f}x)\n"
        f"    of which: python -c pass {cli['python']:.3f} s, imports {imports / 1000:.3f} s "
        f"(libcst {'imported: ' + heavy[0] if heavy else 'not imported'})"
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
