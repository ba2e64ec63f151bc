"""The SQLite store's file format: schema, version check, and connection setup.

A database is ours when its `PRAGMA application_id` is `APPLICATION_ID` and its
`orchestrate_meta` table holds a `schema_version` this code understands. Anything else is refused
with a `StoreError` before a single byte is written: a file from a newer orchestrate, another
application's database, or a file that is not SQLite at all (a corrupt one included).

Times are stored as integer microseconds since the Unix epoch (exact, and ordered by plain integer
comparison); payloads and events as compact JSON text, never pickle.
"""

from __future__ import annotations

import os
import sqlite3

from ..errors import StoreError
from .times import from_micros, to_micros

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "SYNCHRONOUS_MODES",
    "connect",
    "from_micros",
    "prepare",
    "to_micros",
]

APPLICATION_ID = 0x4F524348  # "ORCH": marks the file as ours for `file(1)` and for `prepare`
SCHEMA_VERSION = 2
SYNCHRONOUS_MODES = ("FULL", "NORMAL")

# Every index costs pages in each commit's WAL frames, so there are few: instances and history
# are clustered on their keys (WITHOUT ROWID), queue rows append by rowid, and the activity
# queue, which stays short, has no per-instance index (purging an instance scans it). Queue ids
# are AUTOINCREMENT: a new id is above every id ever used, not just every live one, so an id is
# never reused after the highest row is deleted, and a stale completion, consumed id or lease
# can never name a newer row. Turn locks live in their own small table (only instances being
# worked on have a row), so taking a lock does not rewrite the instance's page a second time in
# the same round.
# Queues are scanned through (due, id) indexes: a due timer or an expired lease is found by a
# range read on its due time, never by scanning every row. `due` is 0 for "workable now".
_DDL = """
CREATE TABLE orchestrate_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE instances (
    instance_id       TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL,
    input             TEXT NOT NULL,
    output            TEXT NOT NULL,
    error             TEXT,
    custom_status     TEXT NOT NULL,
    created_at        INTEGER,
    updated_at        INTEGER,
    generation        INTEGER NOT NULL,
    parent_instance   TEXT,
    parent_generation INTEGER,
    parent_task       INTEGER,
    history_len       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX instances_status ON instances (status);
CREATE TABLE locks (
    instance_id TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    expires     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE history (
    instance_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    generation  INTEGER,
    due         INTEGER NOT NULL,
    event       TEXT NOT NULL
);
CREATE INDEX messages_due ON messages (due, id);
CREATE INDEX messages_instance ON messages (instance_id, id);
CREATE TABLE activities (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    task_id     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    input       TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    call_id     INTEGER NOT NULL,
    lease_token TEXT,
    due         INTEGER NOT NULL
);
CREATE INDEX activities_due ON activities (due, id);
CREATE TABLE heartbeats (
    instance_id TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    call_id     INTEGER NOT NULL,
    details     TEXT NOT NULL,
    PRIMARY KEY (instance_id, generation, call_id)
) WITHOUT ROWID;
"""

# How a file of an older version is brought to the next: `_MIGRATIONS[v]` takes version v to
# v + 1. A file is migrated in place when this code opens it, in one transaction per step; an
# older orchestrate then refuses it (its version is newer than that code reads).
_MIGRATIONS: dict[int, list[str]] = {
    # 2: the last heartbeat details of each activity call, for its next attempt (a re-lease
    # after a crash, or a retry): `ActivityWork.heartbeat_details`
    1: [
        """CREATE TABLE heartbeats (
    instance_id TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    call_id     INTEGER NOT NULL,
    details     TEXT NOT NULL,
    PRIMARY KEY (instance_id, generation, call_id)
) WITHOUT ROWID"""
    ],
}


def connect(path: str, *, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    """Open one connection in autocommit mode (transactions are explicit `BEGIN IMMEDIATE`).

    `check_same_thread` is off because connections live in a pool and move between threads; the
    pool guarantees one user at a time.
    """
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=512,  # the multi-row statement shapes of `sqlite_batch` stay prepared
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


def _describe_failure(path: str, exc: sqlite3.Error) -> StoreError:
    return StoreError(
        f"cannot open {path!r} as an orchestrate database: {exc}. The file is not SQLite or is "
        "corrupt; it was left untouched. Restore it from a backup, or point --db / the store URL "
        "at another file to start fresh"
    )


def prepare(path: str, *, busy_timeout: float) -> None:
    """Check that `path` is an orchestrate database of a version we read; create it when new.

    Reads only until the file is known to be ours (or empty): a foreign, newer or corrupt file
    raises `StoreError` and is never modified.
    """
    if os.path.isdir(path):
        raise StoreError(f"{path!r} is a directory; give the path of a database file instead")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StoreError(
            f"cannot create the database {path!r}: the directory {parent!r} does not exist; "
            "create it first or choose another path"
        )
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as handle:
            header = handle.read(16)
        if header != b"SQLite format 3\x00":
            raise StoreError(
                f"{path!r} is not an SQLite database (its header is {header[:16]!r}); it was left "
                "untouched. Point --db / the store URL at an orchestrate database or a new file"
            )
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise _describe_failure(path, exc) from None
    try:
        version = _check(conn, path)
        if version == SCHEMA_VERSION:
            return
        if version is not None:
            _migrate(conn, path)
            return
        # A new, empty file: create the schema. BEGIN IMMEDIATE serializes two processes that
        # open the same new file at once; the loser re-checks and finds the schema in place.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        if _check(conn, path) is not None:
            conn.execute("ROLLBACK")
            _migrate(conn, path)
            return
        for statement in _DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO orchestrate_meta (key, value) VALUES ('schema_version', ?), "
            "('application', 'orchestrate')",
            (str(SCHEMA_VERSION),),
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise _describe_failure(path, exc) from None
    finally:
        conn.close()


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring our file at an older schema version up to `SCHEMA_VERSION`, one step per
    transaction (two processes opening it at once: the second finds the step done)."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        version = _check(conn, path)
        if version is None or version >= SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            return
        for statement in _MIGRATIONS[version]:
            conn.execute(statement)
        conn.execute(
            "UPDATE orchestrate_meta SET value = ? WHERE key = 'schema_version'",
            (str(version + 1),),
        )
        conn.execute("COMMIT")


def _check(conn: sqlite3.Connection, path: str) -> int | None:
    """Our schema version when the file holds our schema at a readable version; None when it
    is empty."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if app_id == 0 and not tables:
        return None
    if app_id != APPLICATION_ID or "orchestrate_meta" not in tables:
        raise StoreError(
            f"{path!r} is an SQLite database of another application (application_id {app_id:#x}, "
            f"tables {', '.join(sorted(tables)) or 'none'}); it was left untouched. Point --db / "
            "the store URL at an orchestrate database or a new file"
        )
    row = conn.execute("SELECT value FROM orchestrate_meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row is not None and str(row[0]).isdigit() else None
    if version is None or version > SCHEMA_VERSION or version < 1:
        raise StoreError(
            f"{path!r} has orchestrate schema version {version!r}, but this orchestrate reads up "
            f"to version {SCHEMA_VERSION}; it was left untouched. Upgrade orchestrate to open it"
        )
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    return version
