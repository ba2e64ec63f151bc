"""orch-fuzz end to end (in-process): exit codes, output formats, saved and replayed failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.fuzz.cli import main

ROOT = Path(__file__).resolve().parents[2]
CASES = "tests/testkit/fuzz_cases.py"


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_a_passing_run_exits_0_with_a_summary(capsys):
    assert main([f"{CASES}:chain", "--hash-seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chain: passed: 10 examples")  # FUZZ in the module set 10


def test_a_finding_exits_1_and_the_saved_schedule_replays(capsys, tmp_path):
    saved = tmp_path / "f.json"
    args = [f"{CASES}:counted", "--seed", "3", "--hash-seeds", "0"]
    assert main([*args, "--save-failure", str(saved)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FuzzFailure: replay safety broke for counted")
    assert f"--replay {saved}" in out
    assert main([f"{CASES}:counted", "--replay", str(saved)]) == 1
    assert "replay safety broke" in capsys.readouterr().out


def test_json_and_github_formats(capsys):
    assert main([f"{CASES}:counted", "--seed", "3", "--hash-seeds", "0",
                 "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["result"] == "failed" and data["property"] == "replay safety"
    assert data["schedule"]["orchestration"] == "counted"
    assert main([f"{CASES}:counted", "--seed", "3", "--hash-seeds", "0",
                 "--format", "github"]) == 1
    assert capsys.readouterr().out.startswith("::error title=orch-fuzz: replay safety broke")
    assert main([f"{CASES}:chain", "--hash-seeds", "0", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == "passed"


def test_exhaustive_from_the_command_line(capsys):
    assert main([f"{CASES}:fan_out", "--exhaustive", "--hash-seeds", "0",
                 "--config", "tests.testkit.test_fuzz_cli:FAN_OUT"]) == 0
    assert "verified: all 6 schedules" in capsys.readouterr().out


FAN_OUT = {"input": 3}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nothing-here", "name the orchestration as path/to/module.py:orchestration"),
        ("missing.py:x", "missing.py: no such file"),
        (f"{CASES}:nope", "has no orchestration named 'nope'"),
        ("no.such.module:x", "cannot import no.such.module"),
    ],
)
def test_bad_targets_exit_2_with_one_line(capsys, target, message):
    assert main([target]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_bad_config_or_schedule_exits_2(capsys, tmp_path):
    assert main([f"{CASES}:chain", "--config", "nocolon"]) == 2
    assert "write it as module:NAME" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main([f"{CASES}:chain", "--replay", str(bad)]) == 2
    assert "not an orchestrate fuzz schedule" in capsys.readouterr().err


def test_a_syntax_error_in_the_module_is_one_line(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert main([f"{broken}:x"]) == 2
    assert "syntax error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--html", "{missing}/x.html"], "--html '{missing}/x.html' cannot be written: the "
         "directory '{missing}' does not exist; create it first"),
        (["--save-failure", "{missing}/f.json"], "--save-failure '{missing}/f.json' cannot be "
         "written: the directory '{missing}' does not exist"),
        (["--html", "{tmp}"], "--html '{tmp}' is a directory; name a file"),
        (["--examples", "-3"], "--examples -3: give a whole number of 1 or more"),
        (["--max-steps", "0"], "--max-steps 0: give a whole number of 1 or more"),
    ],
)  # fmt: skip
def test_bad_outputs_and_numbers_exit_2_before_any_example_runs(
    capsys, monkeypatch, tmp_path, argv, message
):
    def no_run(*args, **kwargs):
        raise AssertionError("fuzzed before the options were checked")

    monkeypatch.setattr("testkit.fuzz.cli.fuzz", no_run)
    fill = {"missing": str(tmp_path / "missing"), "tmp": str(tmp_path)}
    argv = [a.format(**fill) for a in argv]
    assert main([f"{CASES}:counted", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orch-fuzz: error: {message.format(**fill)}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_fuzz_checks_save_failure_and_max_examples_before_running(tmp_path):
    from testkit.fuzz import fuzz
    from tests.testkit.fuzz_cases import reg as registry

    with pytest.raises(ValueError, match=r"save_failure= '.*' cannot be written: the directory"):
        fuzz(registry, "counted", save_failure=tmp_path / "missing" / "f.json")
    with pytest.raises(ValueError, match=r"max_examples=-3: give how many examples to run, 1 or"):
        fuzz(registry, "counted", max_examples=-3)


NEVER = {"invariant": lambda run: False}


def test_an_invariant_that_never_ran_exits_2_and_says_why(capsys):
    assert main([f"{CASES}:wait_forever", "--hash-seeds", "0", "--examples", "5",
                 "--config", "tests.testkit.test_fuzz_cli:NEVER"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orch-fuzz: error: fuzz('wait_forever', invariant=...) never ran the "
                          "invariant: none of the 5 examples finished")
    assert err.count("\n") == 1
