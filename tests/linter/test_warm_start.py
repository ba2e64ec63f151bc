"""A run whose results all come from the cache never imports libcst, nor the machinery that
parses and checks (that start-up was most of a warm run's time), nor dataclasses, and prints
what the run that filled the cache printed, byte for byte.

Each run is a fresh interpreter (``python -c``) that calls ``linter.cli.main`` and then
writes, after a marker on stderr, which of the heavy modules it had imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = (
    "dataclasses",  # with the inspect module it loads, a tenth of a cached run
    "libcst",
    "linter.checker",
    "linter.discovery",
    "linter.engine",
    "linter.fix",
    "linter.modules",
    "linter.positions",
    "linter.reach",
    "linter.rules",
)
MARK = "\n--modules--\n"
RUN = f"""
import sys
from linter.cli import main

code = main(sys.argv[1:])
sys.stdout.flush()
heavy = sorted(m for m in sys.modules if m.partition(".")[0] == "libcst" or m in {HEAVY!r})
sys.stderr.write({MARK!r} + " ".join(heavy))
sys.exit(code)
"""
FILES = {
    "pyproject.toml": """\
        [tool.orch-lint]
        per-file-ignores = {"tests/*" = ["ORC1"]}
        """,
    "app/__init__.py": "",
    "app/pricing.py": """\
        from datetime import datetime

        def price_for(order):
            return datetime.now()
        """,
    "app/saga.py": """\
        import random
        from orchestrate import OrchestrationContext

        from app.pricing import price_for

        async def order_saga(ctx: OrchestrationContext, order):
            print(price_for(order))
            return random.random()
        """,
    "app/plain.py": "def helper():\n    return 1\n",
    "wf/temporal_flow.py": """\
        from temporalio import workflow

        @workflow.defn
        class Flow:
            @workflow.run
            async def run(self) -> None:
                pass
        """,
}


def _run(root: Path, cache: Path, *args: str) -> tuple[int, str, str, list[str]]:
    env = {**os.environ, "ORCH_LINT_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    stderr, marked, modules = done.stderr.partition(MARK)
    assert marked, done.stderr  # missing only if the interpreter crashed
    return done.returncode, done.stdout, stderr, modules.split()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "args",
    [
        (".",),
        ("app/saga.py", "wf"),  # a finding outside the paths given, marked
        ("--format", "json", "."),
        ("--format", "github", "."),
        ("--statistics", "."),
        ("--select", "ORC101,ORC106", "--ignore", "ORC106", "."),
    ],
)
def test_a_cached_run_imports_no_libcst_and_prints_the_same(tree, tmp_path, args):
    cache = tmp_path / "cache"
    first = _run(tree, cache, *args)
    second = _run(tree, cache, *args)
    assert "libcst" in first[3], "the first run lints: it must import libcst"
    assert second[3] == [], f"a cached run imported {second[3]}"
    assert second[:3] == first[:3]
    assert first[0] == 1 and first[1]
    assert "the temporal profile is off" in first[2]  # the notice survives the cache


def test_the_outside_mark_and_the_profile_notice_come_back_from_the_cache(tree, tmp_path):
    cache = tmp_path / "cache"
    cold = _run(tree, tmp_path / "unused", "--no-cache", "app/saga.py", "wf")
    _run(tree, cache, "app/saga.py", "wf")
    warm = _run(tree, cache, "app/saga.py", "wf")
    assert warm[3] == []
    assert warm[:3] == cold[:3]
    assert "[outside the paths given]" in cold[1]
    assert "1 file declares temporalio workflows but the temporal profile is off" in cold[2]


def test_one_changed_file_lints_that_file_and_prints_as_a_cold_run(tree, tmp_path):
    cache = tmp_path / "cache"
    _run(tree, cache, ".")
    saga = tree / "app" / "saga.py"
    saga.write_text(saga.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    warm = _run(tree, cache, ".")
    cold = _run(tree, tmp_path / "unused", "--no-cache", ".")
    assert "libcst" in warm[3]
    assert warm[:3] == cold[:3]


def test_sarif_and_explain_still_work_after_a_cached_run(tree, tmp_path):
    """Output that needs the rule classes imports them, cache or not."""
    cache = tmp_path / "cache"
    first = _run(tree, cache, "--format", "sarif", ".")
    second = _run(tree, cache, "--format", "sarif", ".")
    assert second[:3] == first[:3]
    assert '"ruleId": "ORC101"' in second[1]
    explained = _run(tree, cache, "--explain", "ORC101")
    assert explained[0] == 0 and "wall-clock" in explained[1]
