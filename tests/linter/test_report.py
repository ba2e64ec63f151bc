"""Output formats: text, json, sarif (2.1.0 shape), github; statistics and the summary."""

from __future__ import annotations

import json

import pytest

from linter import ALL_RULES, Finding, main
from linter.report import format_findings, statistics, summary

FINDINGS = [
    Finding(
        "app/flow.py",
        7,
        5,
        "ORC103",
        "`time.sleep()` sleeps; use x (in saga)",
        "Hint 1.",
        ("saga",),
        True,
    ),
    Finding(
        "app/util.py",
        3,
        12,
        "ORC101",
        "`time.time()` reads, the clock: 100%",
        "Hint 2.",
        ("saga", "stamp"),
        False,
    ),
]


def test_text_format_is_ruff_like_with_a_hint_line():
    assert format_findings(FINDINGS, "text") == (
        "app/flow.py:7:5: ORC103 `time.sleep()` sleeps; use x (in saga)\n"
        "  hint: Hint 1.\n"
        "app/util.py:3:12: ORC101 `time.time()` reads, the clock: 100%\n"
        "  hint: Hint 2.\n"
    )
    assert format_findings([], "text") == ""


def test_json_format():
    data = json.loads(format_findings(FINDINGS, "json"))
    assert data[1] == {
        "path": "app/util.py",
        "line": 3,
        "col": 12,
        "code": "ORC101",
        "message": "`time.time()` reads, the clock: 100%",
        "hint": "Hint 2.",
        "chain": ["saga", "stamp"],
        "fixable": False,
    }


def test_github_format_escapes_properties_and_data():
    lines = format_findings(FINDINGS, "github").splitlines()
    assert lines[0] == (
        "::error file=app/flow.py,line=7,col=5,title=ORC103::`time.sleep()` sleeps; use x (in saga)"
    )
    assert lines[1].endswith("::`time.time()` reads, the clock: 100%25")


def test_sarif_has_the_required_2_1_0_structure():
    log = json.loads(format_findings(FINDINGS, "sarif"))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "orch-lint"
    assert [r["id"] for r in driver["rules"]] == [r.CODE for r in ALL_RULES]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
    assert len(run["results"]) == 2
    for result, finding in zip(run["results"], FINDINGS, strict=True):
        assert result["ruleId"] == finding.code
        assert driver["rules"][result["ruleIndex"]]["id"] == finding.code
        assert result["level"] == "error"
        assert result["message"]["text"].startswith(finding.message)
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == finding.path
        assert physical["region"] == {"startLine": finding.line, "startColumn": finding.col}


def test_statistics_and_summary():
    assert statistics(FINDINGS + FINDINGS[:1]) == (
        "    2  ORC103  sleep  (2 fixable)\n    1  ORC101  wall-clock\n"
    )
    assert summary(FINDINGS, 10, 4) == (
        "Found 2 findings in 2 files (10 files, 4 parsed). 1 fixable with `orch-lint --fix`."
    )
    assert summary([], 3, 1) == "All checks passed (3 files, 1 parsed)."


SAGA = """\
import time
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, x):
    time.sleep(1)
    return time.time()
"""


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_every_format_from_the_command_line(project, capsys, fmt):
    project({"flow.py": SAGA})
    assert main(["--format", fmt, "flow.py"]) == 1
    captured = capsys.readouterr()
    assert "ORC103" in captured.out and "ORC101" in captured.out
    assert captured.err.startswith("Found 2 findings in 1 file")
    if fmt in {"json", "sarif"}:
        json.loads(captured.out)


def test_statistics_flag(project, capsys):
    project({"flow.py": SAGA})
    assert main(["--statistics", "flow.py"]) == 1
    assert capsys.readouterr().out == (
        "    1  ORC101  wall-clock\n    1  ORC103  sleep  (1 fixable)\n"
    )
