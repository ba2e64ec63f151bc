"""The command line: exit codes, --explain, parallel runs, and the installed script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from linter import ALL_RULES, main
from linter.docs import explain

SAGA = """\
import time
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, x):
    return time.time()
"""
CLEAN = SAGA.replace("time.time()", "ctx.now()")


def test_exit_codes(project, capsys):
    project({"bad.py": SAGA, "good.py": CLEAN})
    assert main(["good.py"]) == 0
    assert capsys.readouterr().err.startswith("All checks passed")
    assert main(["bad.py", "good.py"]) == 1
    assert main(["missing.py"]) == 2
    assert "missing.py: no such file or directory" in capsys.readouterr().err
    assert main(["--format", "xml"]) == 2
    assert main(["--jobs", "0", "."]) == 2


def test_internal_error_exits_2_with_a_message(project, capsys, monkeypatch):
    project({"bad.py": SAGA})

    def boom(*args, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr("linter.cli.lint_paths", boom)
    assert main(["bad.py"]) == 2
    assert "internal error: RuntimeError: kaput" in capsys.readouterr().err


def test_missing_libcst_says_how_to_install_it(project, capsys, monkeypatch):
    """Installed without the `lint` extra (or by a pre-commit hook without libcst), orch-lint
    says what to install instead of reporting an internal error."""
    project({"bad.py": SAGA})

    def no_libcst(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'libcst'", name="libcst")

    monkeypatch.setattr("linter.cli.lint_paths", no_libcst)
    assert main(["--no-cache", "bad.py"]) == 2
    err = capsys.readouterr().err
    assert "libcst is not installed" in err and "orchestrate[lint]" in err
    assert "internal error" not in err


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.CODE)
def test_explain_prints_rationale_and_examples(capsys, rule):
    assert main(["--explain", rule.CODE.lower()]) == 0
    out = capsys.readouterr().out
    assert out == explain(rule)
    assert out.startswith(f"{rule.CODE} ({rule.NAME})\n")
    assert rule.RATIONALE in out
    for source in rule.VALID:
        assert source.rstrip("\n") in out


def test_explain_unknown_code(capsys):
    assert main(["--explain", "ORC999"]) == 2
    assert "--explain: unknown rule code 'ORC999'" in capsys.readouterr().err


def test_parallel_run_matches_serial_run(project, capsys):
    files = {f"m{i}.py": SAGA if i % 2 else CLEAN for i in range(12)}
    project(files)
    assert main(["--format", "json", "--no-cache", "-j", "1", "."]) == 1
    serial = capsys.readouterr().out
    assert main(["--format", "json", "--no-cache", "-j", "2", "."]) == 1
    assert capsys.readouterr().out == serial
    assert serial.count('"code": "ORC101"') == 6


def _script() -> str:
    script = Path(sys.executable).with_name("orch-lint")
    if not script.exists():
        pytest.skip("orch-lint script not installed in this environment")
    return str(script)


def test_installed_script_end_to_end(project):
    root = project({"flow.py": SAGA})
    done = subprocess.run(
        [_script(), "flow.py"], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stdout.startswith("flow.py:5:12: ORC101 `time.time()` reads the wall clock")
    assert done.stderr.startswith("Found 1 finding in 1 file")


def test_python_dash_m_linter(project):
    root = project({"flow.py": CLEAN})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "linter", "flow.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "")


TEMPORAL_FILE = """\
import time
from temporalio import workflow

@workflow.defn
class Greeting:
    @workflow.run
    async def run(self) -> float:
        return time.time()
"""


def test_a_framework_whose_profile_is_off_is_named(project, capsys):
    project({"wf.py": TEMPORAL_FILE, "other.py": "import os\n"})
    assert main(["."]) == 0
    err = capsys.readouterr().err
    assert "All checks passed" in err
    assert "1 file declares temporalio workflows but the temporal profile is off" in err
    assert "add `--profile temporal`" in err
    assert main([".", "--profile", "temporal"]) == 1
    assert "profile is off" not in capsys.readouterr().err


HELPER = """\
import time

def stamp() -> float:
    return time.time()
"""
USES_HELPER = """\
from orchestrate import OrchestrationContext
from app.helpers import stamp

async def saga(ctx: OrchestrationContext) -> float:
    return stamp()
"""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["app/helpers.py:4:12: ORC101", "[outside the paths given]"]),
        (["--outside-findings", "mark"], ["app/helpers.py:4:12: ORC101", "[outside the"]),
        (["--outside-findings", "hide"], []),
    ],
)
def test_findings_outside_the_given_paths(project, capsys, args, expected):
    project({"app/__init__.py": "", "app/helpers.py": HELPER, "app/flows.py": USES_HELPER})
    code = main(["app/flows.py", *args])
    out = capsys.readouterr().out
    assert code == (1 if expected else 0)
    for text in expected:
        assert text in out
    assert main(["app"]) == 1
    assert "[outside" not in capsys.readouterr().out
