"""`SqliteStore.write`: the one atomic write of the SQLite store (see `Store.write`).

A batch is applied in one transaction with a few multi-row statements per kind of change: first
every turn's guard is read (the lock token of a fetched turn; run, generation, history length,
lock and inbox of a turn computed on a cached execution), then the winning turns are written
together, then activity results are completed, then the lease-back is taken. When no activity
item was due before the write, the first items the turns schedule are the head of the queue:
they are inserted already leased, with no second write and no read-back of their input.

The functions here take an open connection inside ``BEGIN IMMEDIATE``; `sqlite_store` calls
them through `Database.group` (group commit) and reuses the queue helpers for its claims.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..state import ActivityWork, Batch, Written
from .guards import Completion, Guarded, Won, decide, encode_batch
from .rows import (
    TurnRows,
    dumps,
    leased_works,
    loads,
    queued_rows,
    signal_rows,
    state_row,
)
from .sql import SQLITE, refused_notice, status_of
from .sqlite_batch import delete_in, in_lists, in_sql, insert_rows, update_rows
from .sqlite_db import Database
from .sqlite_schema import to_micros

__all__ = [
    "enqueue_rows",
    "insert_row",
    "lease_due",
    "write_batch",
]

_INSERT_INSTANCES = (
    "INSERT INTO instances (name, status, input, output, error, custom_status, created_at, "
    "updated_at, generation, parent_instance, parent_generation, parent_task, history_len, "
    "instance_id)"
)
_INSERT_INSTANCE_IF_NEW = (
    _INSERT_INSTANCES.replace("INSERT", "INSERT OR IGNORE", 1)
    + " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_MESSAGES = "INSERT INTO messages (instance_id, generation, due, event)"
_INSERT_ACTIVITIES = (
    "INSERT INTO activities (instance_id, generation, task_id, name, input, attempt, call_id, due)"
)
_INSERT_LEASED_ACTIVITIES = (
    "INSERT INTO activities (instance_id, generation, task_id, name, input, attempt, call_id, "
    "lease_token, due)"
)
# The columns a turn's new state writes, in the order of `TurnRows.state` (see `_apply_turns`).
_RENEWED: tuple[str, ...] = ("status", "input", "output", "error", "custom_status")
_RENEWED += ("updated_at", "generation", "history_len")
_MOVED = ("status", *_RENEWED[2:])
_STAYED = _RENEWED[2:]

# Statements over `in_lists` key lists; ``{marks}`` is the list (see `sqlite_batch.in_sql`).
_SELECT_HELD_IN = (
    "SELECT i.instance_id, l.token, i.history_len, i.status FROM instances AS i "
    "LEFT JOIN locks AS l ON l.instance_id = i.instance_id WHERE i.instance_id IN ({marks})"
)
_SELECT_LEASES_IN = "SELECT id, lease_token, instance_id FROM activities WHERE id IN ({marks})"
_SELECT_QUIET_IN = (  # instances with no visible message, and their locks (cached turns)
    "SELECT i.instance_id, i.generation, i.created_at, i.history_len, i.status, l.expires "
    "FROM instances AS i "
    "LEFT JOIN locks AS l ON l.instance_id = i.instance_id WHERE i.instance_id IN ({marks}) "
    "AND NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.instance_id = i.instance_id "
    "AND m.due <= ?)"
)


def write_batch(db: Database, batch: Batch) -> Written:
    """Apply `batch` in one group-committed transaction (see `Store.write` for the contract)."""
    prepared = encode_batch(batch)  # before taking the lock
    if prepared is None:
        return Written([], [])
    moment, expires, turns, encoded = prepared
    hold_tokens = db.tokens(sum(1 for c in batch.turns if c.cached and c.hold_until))

    def apply(conn: sqlite3.Connection) -> Written:
        applied, winners, refused, taken = _guard(conn, turns, moment)
        delete_in(conn, "DELETE FROM activities WHERE id", taken)  # applied cached results
        new = _apply_turns(conn, db, winners, list(hold_tokens))
        renewed = [_renew(conn, work, expires) for work in batch.renewals]
        _complete(conn, encoded + refused if refused else encoded)
        leased: list[ActivityWork] = []
        if batch.lease > 0:
            leased = _lease_back(conn, db, (moment, expires, batch.lease), new)
        elif new is not None:
            insert_rows(conn, _INSERT_ACTIVITIES, [(*row, 0) for row in new[0]])
        return Written(applied, leased, renewed)

    return db.group(apply, patient=True)


def _guard(conn: sqlite3.Connection, turns: list[TurnRows], moment: int) -> Guarded:
    """Which turns apply: reads the rows their guards depend on, for `guards.decide`."""
    locked = [t.commit.instance.instance_id for t in turns if t.commit.cached is None]
    held: dict[str, tuple[str | None, int, str]] = {}
    for marks, part in in_lists(locked):
        for key, token, length, status in conn.execute(in_sql(_SELECT_HELD_IN, marks), part):
            held[key] = (token, length, status)
    cached = [t.commit.instance.instance_id for t in turns if t.commit.cached is not None]
    quiet: dict[str, tuple[Any, ...]] = {}
    mine: dict[int, tuple[str | None, str]] = {}
    if cached:
        for marks, part in in_lists(cached):
            for row in conn.execute(in_sql(_SELECT_QUIET_IN, marks), [*part, moment]):
                quiet[row[0]] = row[1:]
        mine = _leases(
            conn, [w.id for t in turns if t.commit.cached for w, _ in t.commit.cached.results]
        )
    return decide(turns, held, quiet, mine, moment)


def _apply_turns(
    conn: sqlite3.Connection, db: Database, winners: list[Won], hold_tokens: list[str]
) -> tuple[list[tuple[Any, ...]], list[ActivityWork]] | None:
    """Write the winning turns; returns their new activity items (rows and records), not yet
    inserted (the lease-back may insert them already leased), or None when there are none.

    Children are created before any message is queued, so a child's start message finds it.
    """
    consumed: list[int] = []
    resets: list[tuple[str]] = []
    history: list[tuple[str, int, str]] = []
    # New states in three shapes: only a new generation writes the input, and the status
    # (indexed: writing it rewrites an index entry) is written only when it changes.
    renewed: list[tuple[Any, ...]] = []
    moved: list[tuple[Any, ...]] = []
    stayed: list[tuple[Any, ...]] = []
    activities: list[tuple[Any, ...]] = []
    scheduled: list[ActivityWork] = []  # the records of `activities`, row for row
    for turn, base, status in winners:
        key = turn.commit.instance.instance_id
        consumed.extend(turn.commit.consumed)
        row = turn.state
        if turn.commit.reset_history:
            resets.append((key,))
            renewed.append((*row, len(turn.events), key))
            base = 0
        elif row[0] == status:
            stayed.append((*row[2:], base + len(turn.events), key))
        else:
            moved.append((row[0], *row[2:], base + len(turn.events), key))
        if turn.events:
            history.extend((key, base + i, text) for i, text in enumerate(turn.events))
        if turn.activities:
            activities.extend(turn.activities)
            scheduled.extend(turn.commit.activities)
    if consumed:
        delete_in(conn, "DELETE FROM messages WHERE id", consumed)
    dead = [
        (t.commit.instance.instance_id, generation, task_id)
        for t, _, _ in winners
        for generation, task_id in t.commit.cancelled_timers
    ]
    if dead:  # cancelled timers: drop their TimerFired before it wakes the instance
        conn.executemany(
            "DELETE FROM messages WHERE instance_id = ? AND generation = ? "
            "AND json_extract(event, '$.type') = 'TimerFired' "
            "AND json_extract(event, '$.task_id') = ?",
            dead,
        )
    withdrawn = [
        (t.commit.instance.instance_id, generation, task_id)
        for t, _, _ in winners
        for generation, task_id in t.commit.withdrawn
    ]
    if withdrawn:  # cancelled attempts: not run if queued, cancelled at renewal if running
        conn.executemany(
            "DELETE FROM activities WHERE instance_id = ? AND generation = ? AND task_id = ?",
            withdrawn,
        )
    if resets:
        conn.executemany("DELETE FROM history WHERE instance_id = ?", resets)
    insert_rows(conn, "INSERT INTO history (instance_id, seq, event)", history)
    update_rows(conn, "instances", "instance_id", _RENEWED, renewed)
    update_rows(conn, "instances", "instance_id", _MOVED, moved)
    update_rows(conn, "instances", "instance_id", _STAYED, stayed)
    if winners:
        delete_in(
            conn,
            "DELETE FROM locks WHERE instance_id",
            [t.commit.instance.instance_id for t, _, _ in winners],
        )
    holds = [
        (
            t.commit.lock_token if t.commit.cached is None else hold_tokens.pop(),
            to_micros(t.commit.hold_until),
            t.commit.instance.instance_id,
        )
        for t, _, _ in winners
        if t.commit.hold_until is not None
    ]
    if holds:  # a failed turn keeps its instance until the back-off ends
        conn.executemany(
            "INSERT OR REPLACE INTO locks (token, expires, instance_id) VALUES (?, ?, ?)", holds
        )
    messages = queued_rows(
        (turn for turn, _, _ in winners),
        lambda child: insert_row(conn, state_row(child, 0)),
        lambda child: refused_notice(conn, SQLITE, child),
    )
    enqueue_rows(conn, messages)
    signals = [signal for t, _, _ in winners for signal in t.commit.signals]
    if signals:  # after every state and child of the batch: checked as the turns left them
        enqueue_rows(conn, signal_rows(signals, lambda key: status_of(conn, SQLITE, key)))
    return (activities, scheduled) if activities else None


def _lease_back(
    conn: sqlite3.Connection,
    db: Database,
    lease: tuple[int, int, int],
    new: tuple[list[tuple[Any, ...]], list[ActivityWork]] | None,
) -> list[ActivityWork]:
    """Insert the turns' new items and lease up to `limit` due ones (`lease`: now, expiry,
    limit, in integer microseconds), in queue order."""
    moment, expires, limit = lease
    if new is not None and not _activity_due(conn, moment):
        return _insert_leased(conn, db, *new, lease)
    if new is not None:
        insert_rows(conn, _INSERT_ACTIVITIES, [(*row, 0) for row in new[0]])
    rows, tokens = lease_due(conn, db, moment, expires, limit)
    return leased_works(rows, tokens)


def _activity_due(conn: sqlite3.Connection, moment: int) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM activities INDEXED BY activities_due WHERE due <= ? LIMIT 1",
            (moment,),
        ).fetchone()
        is not None
    )


def _insert_leased(
    conn: sqlite3.Connection,
    db: Database,
    rows: list[tuple[Any, ...]],
    records: list[ActivityWork],
    lease: tuple[int, int, int],
) -> list[ActivityWork]:
    """Insert new items, the first `limit` already leased (the queue held nothing due)."""
    _, expires, limit = lease
    last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'activities'").fetchone()
    tokens = db.tokens(min(limit, len(rows)))
    insert_rows(
        conn,
        _INSERT_LEASED_ACTIVITIES,
        [(*row, token, expires) for row, token in zip(rows, tokens, strict=False)],
    )
    if len(rows) > limit:
        insert_rows(conn, _INSERT_ACTIVITIES, [(*row, 0) for row in rows[limit:]])
    # AUTOINCREMENT ids are above every id used before: the rows past `last` are ours.
    ids = dict(
        conn.execute(
            "SELECT lease_token, id FROM activities WHERE id > ? AND lease_token IS NOT NULL",
            (0 if last is None else last[0],),
        ).fetchall()
    )
    works = [
        ActivityWork(
            w.instance_id,
            w.generation,
            w.task_id,
            w.name,
            w.input,
            w.attempt,
            w.call_id,
            ids[token],
            token,
        )
        for w, token in zip(records, tokens, strict=False)
    ]
    for work in works:
        if work.attempt > 1:  # a retry: the last details of the call's earlier attempts
            found = conn.execute(
                "SELECT details FROM heartbeats WHERE instance_id = ? AND generation = ? "
                "AND call_id = ?",
                (work.instance_id, work.generation, work.call_id),
            ).fetchone()
            if found is not None:
                work.heartbeat_details = loads(found[0])
    return works


def _complete(conn: sqlite3.Connection, encoded: list[Completion]) -> None:
    """Remove finished items still leased to us and queue their result messages."""
    if not encoded:
        return
    # An item counts as ours only while it still carries our lease token: one completed by
    # another worker (gone), purged, or leased again since, keeps no result from us. Ids
    # are never reused (AUTOINCREMENT), so a stale id cannot name a newer item.
    leased = _leases(conn, [item_id for item_id, _, _ in encoded])
    done: list[int] = []
    owned: list[tuple[Any, ...]] = []
    other: list[tuple[Any, ...]] = []
    for item_id, token, row in encoded:
        found = leased.get(item_id)
        if found is None or found[0] != token:
            continue
        del leased[item_id]  # a second result for one item finds it gone
        done.append(item_id)
        # The result of an item still queued goes to that item's instance, which exists
        # (dropping an instance drops its items in the same transaction): no check.
        (owned if row[0] == found[1] else other).append(row)
    delete_in(conn, "DELETE FROM activities WHERE id", done)
    insert_rows(conn, _INSERT_MESSAGES, [row[:4] for row in owned])
    enqueue_rows(conn, other)


def _renew(conn: sqlite3.Connection, work: ActivityWork, expires: int) -> bool:
    """Extend the lease of `work` to `expires` if the item still carries its token. A leased
    item's `due` is its lease's expiry; an expired one not granted again still has the token."""
    if not work.lease_token:
        return False
    cursor = conn.execute(
        "UPDATE activities SET due = ? WHERE id = ? AND lease_token = ?",
        (expires, work.id, work.lease_token),
    )
    if cursor.rowcount != 1:
        return False
    if work.heartbeat_details is not None:
        conn.execute(
            "INSERT INTO heartbeats (instance_id, generation, call_id, details) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET details = excluded.details",
            (work.instance_id, work.generation, work.call_id, dumps(work.heartbeat_details)),
        )
    return True


def _leases(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[str | None, str]]:
    """Lease token and instance of each activity item in `ids` that still exists."""
    leased: dict[int, tuple[str | None, str]] = {}
    for marks, part in in_lists(ids):
        for item_id, token, key in conn.execute(in_sql(_SELECT_LEASES_IN, marks), part):
            leased[item_id] = (token, key)
    return leased


# --- queue helpers shared with `sqlite_store` --------------------------------------------------


def insert_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> bool:
    """Insert a new instance row (a `state_row`); False (and nothing written) when the id is
    taken."""
    cursor = conn.execute(_INSERT_INSTANCE_IF_NEW, row)
    return cursor.rowcount == 1


def enqueue_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Queue message rows; one addressed to an instance that no longer exists is dropped."""
    if rows:
        conn.executemany(
            "INSERT INTO messages (instance_id, generation, due, event) SELECT ?, ?, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM instances WHERE instance_id = ?)",
            rows,
        )


def lease_due(
    conn: sqlite3.Connection, db: Database, moment: int, expires: int, limit: int
) -> tuple[list[Any], list[str]]:
    """Lease the first `limit` items due at `moment` (queue order); their rows and tokens."""
    rows = conn.execute(
        "SELECT id, instance_id, generation, task_id, name, input, attempt, call_id, "
        "(SELECT details FROM heartbeats AS b WHERE b.instance_id = activities.instance_id "
        "AND b.generation = activities.generation AND b.call_id = activities.call_id) "
        "FROM activities INDEXED BY activities_due WHERE due <= ? ORDER BY due, id LIMIT ?",
        (moment, limit),
    ).fetchall()
    tokens = db.tokens(len(rows))
    update_rows(
        conn,
        "activities",
        "id",
        ("lease_token", "due"),
        [(token, expires, row[0]) for token, row in zip(tokens, rows, strict=True)],
    )
    return rows, tokens
