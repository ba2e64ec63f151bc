"""Database files: created private (0600), and a read-only or locked file reported as what it is,
never as "not SQLite or corrupt, restore it from a backup"."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from orchestrate import Client, StoreError
from orchestrate.stores.sqlite import SqliteStore
from orchestrate.stores.sqlite_db import Database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    store = SqliteStore(str(db))
    Client(store).start("flow", {"card": "4111"}, instance_id="a")
    assert mode(db) == 0o600
    for extra in ("new.db-wal", "new.db-shm"):
        if (tmp_path / extra).exists():
            assert mode(tmp_path / extra) == 0o600, extra
    store.close()


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    SqliteStore(str(db)).close()
    db.chmod(0o640)
    SqliteStore(str(db)).close()
    assert mode(db) == 0o640


def deny_writes(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """Take write permission on `paths` away: chmod, and for root (who writes anyway) the
    permission check this process makes, so the test reads the same as a user's run."""
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    if os.geteuid() != 0:
        return
    denied = {str(p) for p in paths}
    real = os.access

    def access(path: str, mode: int, **kw: object) -> bool:
        if str(path) in denied and mode & os.W_OK:
            return False
        return real(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("orchestrate.stores.sqlite_db.os.access", access)


def test_a_read_only_file_is_reported_as_read_only_not_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "ro.db"
    SqliteStore(str(db)).close()
    deny_writes(monkeypatch, db)
    with pytest.raises(StoreError) as raised:
        Client(SqliteStore(str(db))).start("flow", 1, instance_id="b")
    message = str(raised.value)
    assert "ro.db' is read-only" in message and "writable copy" in message
    assert "corrupt" not in message and "backup" not in message


def test_a_read_only_directory_is_reported_as_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    SqliteStore(str(folder / "ro.db")).close()
    deny_writes(monkeypatch, folder)
    try:
        with pytest.raises(StoreError, match=r"is read-only: .* -shm and -wal files in"):
            SqliteStore(str(folder / "ro.db"))
    finally:
        folder.chmod(0o755)


def test_a_write_refused_as_read_only_says_so(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "q.db"))
    conn = sqlite3.connect(str(tmp_path / "q.db"))
    conn.execute("PRAGMA query_only = ON")
    with pytest.raises(sqlite3.Error) as raised:
        conn.execute("INSERT INTO orchestrate_meta (key, value) VALUES ('x', 'y')")
    conn.close()
    message = str(db.error(raised.value))
    assert "is read-only" in message and "permissions" in message and "backup" not in message
    db.close()


def test_a_locked_database_says_it_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    SqliteStore(str(path)).close()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE orchestrate_meta SET value = value")
    try:
        with pytest.raises(StoreError) as raised:
            SqliteStore.from_url(f"sqlite:///{path}?busy_timeout=0.05")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(raised.value)
    assert "is locked" in message and "busy_timeout" in message
    assert "corrupt" not in message and "backup" not in message
