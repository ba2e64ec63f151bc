"""The project's own examples are replay-safe by orch-lint's reading: no false alarms on real code."""

from __future__ import annotations

from pathlib import Path

import pytest

from linter.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder", ["examples", "orchestrate", "testkit"])
def test_project_code_lints_clean(folder: str, capsys: pytest.CaptureFixture[str]) -> None:
    # --no-cache: exercise the linter itself, and write nothing into the repository
    assert main(["--no-cache", str(ROOT / folder)]) == 0, capsys.readouterr().out
