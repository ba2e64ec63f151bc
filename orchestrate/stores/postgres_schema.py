"""The PostgreSQL store's schema: tables, indexes, version check and migrations.

A database is ours when it holds the table `orchestrate_meta` with ``application = orchestrate``
and a `schema_version` this code reads. A database of a newer version is refused with a
`StoreError` before anything is written; so is one whose tables have our names but no meta table
(another application's). An empty database gets the schema; an older version is migrated in
place, one version per transaction, under an advisory lock, so many workers starting at once
against one database create or migrate it exactly once.

Rows are encoded as the SQLite store encodes them (`rows`, `times`): payloads and events as
compact JSON text, times as integer microseconds since the epoch (``due = 0``: workable now).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..errors import StoreError

__all__ = ["SCHEMA_VERSION", "TABLES", "ddl", "prepare"]

SCHEMA_VERSION = 2
# The tables a store holds, in the order an instance's rows are dropped.
TABLES = ("instances", "history", "messages", "activities", "locks", "heartbeats")
_LOG = logging.getLogger("orchestrate.store")
_LOCK_KEY = 0x4F524348  # "ORCH": the advisory lock serializing schema creation and migration

# The claim queries walk `messages_due` and `activities_due` (a due timer or an expired lease is
# a range read on its due time), a turn reads its inbox through `messages_instance`, and purging
# or withdrawing finds an instance's items through `activities_instance`. Ids are bigserial:
# never reused, so a stale completion, consumed id or lease never names a newer row.
# `instances` is filled to 70% (`_FILLFACTOR`): an instance's row is rewritten at every turn,
# and an update that finds room on its page and changes no indexed column (a running instance
# staying running) is a heap-only tuple, with no new index entries and less to vacuum: that
# cut the server's CPU per instance by about a third (bench/postgres_scaling.py's chains).
_FILLFACTOR = 70
_DDL = f"""
CREATE TABLE orchestrate_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE instances (
    instance_id       TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL,
    input             TEXT NOT NULL,
    output            TEXT NOT NULL,
    error             TEXT,
    custom_status     TEXT NOT NULL,
    created_at        BIGINT,
    updated_at        BIGINT,
    generation        INTEGER NOT NULL,
    parent_instance   TEXT,
    parent_generation INTEGER,
    parent_task       INTEGER,
    history_len       INTEGER NOT NULL
) WITH (fillfactor = {_FILLFACTOR});
CREATE INDEX instances_status ON instances (status);
CREATE INDEX instances_parent ON instances (parent_instance) WHERE parent_instance IS NOT NULL;
CREATE TABLE locks (
    instance_id TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    expires     BIGINT NOT NULL
);
CREATE TABLE history (
    instance_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE messages (
    id          BIGSERIAL PRIMARY KEY,
    instance_id TEXT NOT NULL,
    generation  INTEGER,
    due         BIGINT NOT NULL,
    event       TEXT NOT NULL
);
CREATE INDEX messages_due ON messages (due, id) INCLUDE (instance_id);
CREATE INDEX messages_instance ON messages (instance_id, id);
CREATE TABLE activities (
    id          BIGSERIAL PRIMARY KEY,
    instance_id TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    task_id     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    input       TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    call_id     INTEGER NOT NULL,
    lease_token TEXT,
    due         BIGINT NOT NULL
);
CREATE INDEX activities_due ON activities (due, id);
CREATE INDEX activities_instance ON activities (instance_id, generation, task_id);
CREATE TABLE heartbeats (
    instance_id TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    call_id     INTEGER NOT NULL,
    details     TEXT NOT NULL,
    PRIMARY KEY (instance_id, generation, call_id)
)
"""

_HEARTBEATS = _DDL[_DDL.index("CREATE TABLE heartbeats") :]

# `_MIGRATIONS[v]` takes a database from version v to v + 1 (the same steps as SQLite's).
_MIGRATIONS: dict[int, list[str]] = {
    # 2: the last heartbeat details of each activity call, for its next attempt
    1: [_HEARTBEATS],
}


def ddl(version: int = SCHEMA_VERSION) -> list[str]:
    """The statements that create the schema of `version` (older ones: for migration tests)."""
    statements = [s for s in _DDL.split(";") if s.strip()]
    if version == 1:
        statements = [s for s in statements if "heartbeats" not in s]
    return statements


def _fill_instances(conn: psycopg.Connection[Any]) -> None:
    """Give a database created before `_FILLFACTOR` its setting, when we may: a storage
    parameter, not a schema change, so older code reads the database as before, and a
    database that cannot take it works as before, only slower.

    Only the table's owner may set it (a role that was granted its rows may not), not in a
    read-only transaction or on a standby, and not while a vacuum holds the table (the schema
    lock is held meanwhile, so the wait is short). A fillfactor already set, ours or a DBA's, is
    left alone. Pages written from now on keep the room; ``VACUUM FULL`` rewrites the others.
    """
    row = conn.execute(
        "SELECT reloptions, pg_has_role(relowner, 'USAGE') FROM pg_class "
        "WHERE oid = 'instances'::regclass"
    ).fetchone()
    if row is None or not row[1] or any(o.startswith("fillfactor=") for o in row[0] or []):
        return
    try:
        with conn.transaction():  # a savepoint: a refusal leaves the open itself unharmed
            conn.execute("SET LOCAL lock_timeout = '200ms'")  # the schema lock is held meanwhile
            conn.execute("SET LOCAL statement_timeout = '5s'")  # a lower database setting too
            conn.execute(f"ALTER TABLE instances SET (fillfactor = {_FILLFACTOR})")
    except (
        pg_errors.InsufficientPrivilege,
        pg_errors.ReadOnlySqlTransaction,
        pg_errors.LockNotAvailable,
        pg_errors.QueryCanceled,  # a statement_timeout shorter than ours
    ) as exc:
        _LOG.warning(
            "left the instances table's fillfactor unset (%s); turns update it faster with "
            "ALTER TABLE instances SET (fillfactor = %d), run by its owner",
            " ".join(str(exc).split()),
            _FILLFACTOR,
        )


def prepare(conn: psycopg.Connection[Any], where: str) -> None:
    """Check the database on `conn` (autocommit) is ours at a version we read; create the schema
    in an empty one and migrate an older one. `where` names the database in errors."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        version = _check(conn, where)
        if version is None:
            for statement in ddl():
                conn.execute(statement)
            conn.execute(
                "INSERT INTO orchestrate_meta (key, value) VALUES ('schema_version', %s), "
                "('application', 'orchestrate')",
                (str(SCHEMA_VERSION),),
            )
            return
        _fill_instances(conn)  # (`_check` refused a newer version, untouched)
    while version is not None and version < SCHEMA_VERSION:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            version = _check(conn, where)
            if version is None or version >= SCHEMA_VERSION:
                return
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(
                "UPDATE orchestrate_meta SET value = %s WHERE key = 'schema_version'",
                (str(version + 1),),
            )
            version += 1


def _check(conn: psycopg.Connection[Any], where: str) -> int | None:
    """Our schema version; None for a database without our tables (create them)."""
    found = {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = ANY(%b)",
            ([*TABLES, "orchestrate_meta"],),
        )
    }
    if "orchestrate_meta" not in found:
        if found:
            raise StoreError(
                f"{where} holds tables named like orchestrate's ({', '.join(sorted(found))}) but "
                "no orchestrate_meta table: it belongs to another application; it was left "
                "untouched. Point the store URL at another database (or schema)"
            )
        return None
    meta = dict(conn.execute("SELECT key, value FROM orchestrate_meta").fetchall())
    text = meta.get("schema_version")
    version = int(text) if isinstance(text, str) and text.isdigit() else None
    if meta.get("application") != "orchestrate" or version is None or version < 1:
        raise StoreError(
            f"{where} has an orchestrate_meta table that orchestrate did not write "
            f"({meta!r}); it was left untouched. Point the store URL at another database"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has orchestrate schema version {version}, but this orchestrate reads up to "
            f"version {SCHEMA_VERSION}; it was left untouched. Upgrade orchestrate to open it"
        )
    return version
