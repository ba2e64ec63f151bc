"""The README's tour is real code: it runs as written, so the first thing users copy works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def tour() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return str(blocks[0])


def test_the_tour_runs_and_prints_the_approved_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the tour uses the default store, ./orchestrate.db
    exec(compile(tour(), str(README), "exec"), {"__name__": "readme_tour"})
    assert "'status': 'approved'" in capsys.readouterr().out
    assert (tmp_path / "orchestrate.db").exists()
