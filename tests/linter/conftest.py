"""Helpers shared by the linter tests: lint a snippet in memory, write a small project."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from linter import Config, lint_source


def lint(code: str, config: Config | None = None) -> list[tuple[int, int, str]]:
    """(line, col, code) of every finding in a dedented snippet."""
    findings, _ = lint_source(textwrap.dedent(code), config=config)
    return [(f.line, f.col, f.code) for f in findings]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write files (dedented) under a temporary project root and chdir into it."""
    monkeypatch.chdir(tmp_path)

    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return tmp_path

    return write
