"""Fixtures for the `orchestrate ui` tests: the demo database, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import demo


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """(path, ids): the demo database (`demo.build`) and its instances' ids by kind. Tests that
    change it copy it first (`writable_db`)."""
    path = str(tmp_path_factory.mktemp("demo") / "demo.db")
    return path, demo.build(path)


@pytest.fixture
def writable_db(demo_db: tuple[str, dict[str, str]], tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fresh copy of the demo database for a test that acts on it."""
    import sqlite3

    path = str(tmp_path / "demo.db")
    with sqlite3.connect(demo_db[0]) as source, sqlite3.connect(path) as target:
        source.backup(target)
    source.close()
    target.close()
    return path, demo_db[1]
