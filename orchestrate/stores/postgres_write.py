"""`PostgresStore.write`: the one atomic write of the PostgreSQL store (see `Store.write`).

A batch is one READ COMMITTED transaction. It first locks the rows of every instance its turns
touch (``SELECT ... FOR NO KEY UPDATE``, in instance-id order, so two workers' batches never
deadlock on each other), then reads each turn's guard (the lock token of a fetched turn; the run,
generation, history length, lock and inbox of a turn computed on a cached execution) from the
latest committed state, writes the winning turns with one statement per kind of change (arrays
through ``unnest``), completes activity results (their items locked ``FOR UPDATE``), and leases
due items with ``FOR UPDATE SKIP LOCKED``: a worker never waits for another worker's claim.

Every change to an instance's lock, state or history is made while holding that instance's row
lock, so a guard read after taking it cannot be overtaken by another worker's commit. Those
locks are ``NO KEY UPDATE``: a message queued to the instance meanwhile (which checks that the
instance exists ``FOR KEY SHARE``) does not wait for them, but a purge or a reuse deleting the
instance does, so no message is ever queued to an instance deleted in the same moment.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..state import ActivityWork, Batch, Written
from .guards import Completion, Guarded, Won, decide, encode_batch
from .postgres_db import Database
from .rows import (
    TurnRows,
    dumps,
    leased_works,
    loads,
    queued_rows,
    signal_rows,
    state_row,
)
from .sql import POSTGRES, refused_notice, status_of
from .times import to_micros

__all__ = [
    "enqueue_rows",
    "insert_row",
    "lease_due",
    "lock_instances",
    "write_batch",
]


_INSERT_INSTANCE_IF_NEW = (
    "INSERT INTO instances (name, status, input, output, error, custom_status, created_at, "
    "updated_at, generation, parent_instance, parent_generation, parent_task, history_len, "
    "instance_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (instance_id) DO NOTHING RETURNING 1"
)
_ENQUEUE = (
    "INSERT INTO messages (instance_id, generation, due, event) "
    "SELECT u.k, u.g, u.d, u.e FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::text[]) "
    "WITH ORDINALITY AS u(k, g, d, e, n) "
    "WHERE EXISTS (SELECT 1 FROM instances AS i WHERE i.instance_id = u.k FOR KEY SHARE) "
    "ORDER BY u.n"
)
_INSERT_ACTIVITIES = (
    "INSERT INTO activities (instance_id, generation, task_id, name, input, attempt, call_id, "
    "due) SELECT u.k, u.g, u.t, u.n, u.i, u.a, u.c, 0 FROM unnest(%b::text[], %b::int[], %b::int[], %b::text[], %b::text[], "
    "%b::int[], %b::int[]) WITH ORDINALITY AS u(k, g, t, n, i, a, c, o) ORDER BY u.o"
)
# Every winner's new state in one statement (a batch has at most one winner per instance): a
# statement per instance cost the server more than all the rows it wrote.
_UPDATE_STATES = (
    "UPDATE instances AS i SET status = u.s, input = coalesce(u.i, i.input), output = u.o, "
    "error = u.e, custom_status = u.c, updated_at = u.t, generation = u.g, history_len = u.h "
    "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], "
    "%b::int[], %b::int[], %b::text[]) AS u(s, i, o, e, c, t, g, h, k) WHERE i.instance_id = u.k"
)
_LEASE_DUE = (
    "WITH picked AS (SELECT id, due FROM activities WHERE due <= %s ORDER BY due, id LIMIT %s "
    "FOR UPDATE SKIP LOCKED) "
    "UPDATE activities AS a SET lease_token = %s || a.id::text, due = %s FROM picked "
    "WHERE a.id = picked.id RETURNING a.id, a.instance_id, a.generation, a.task_id, a.name, "
    "a.input, a.attempt, a.call_id, (SELECT details FROM heartbeats AS b WHERE "
    "b.instance_id = a.instance_id AND b.generation = a.generation AND b.call_id = a.call_id), "
    "a.lease_token, picked.due"
)

_Conn = psycopg.Connection[Any]


def write_batch(db: Database, batch: Batch) -> Written:
    """Apply `batch` in one transaction of `db` (a `postgres_db.Database`); see `Store.write`."""
    prepared = encode_batch(batch)  # before the transaction
    if prepared is None:
        return Written([], [])
    moment, expires, turns, encoded = prepared

    def apply(conn: _Conn) -> tuple[Written, bool]:
        lock_instances(conn, [t.commit.instance.instance_id for t in turns])
        applied, winners, refused, taken = _guard(conn, turns, moment)
        if taken:
            conn.execute("DELETE FROM activities WHERE id = ANY(%b)", (taken,))
        new, queued = _apply_turns(conn, db, winners)
        renewed = _renew(conn, batch.renewals, expires)
        queued |= _complete(conn, encoded + refused if refused else encoded)
        if new:
            _insert_activities(conn, new)
        leased: list[ActivityWork] = []
        if batch.lease > 0:
            leased = lease_due(conn, db, moment, expires, batch.lease)
        # Wake idle workers only for work this write leaves to others: queued messages, or
        # scheduled items it did not lease itself. (A released lock whose instance got messages
        # meanwhile is found by the idle workers' next look, within half a second.)
        return Written(applied, leased, renewed), queued or len(new) > len(leased)

    return db.transaction(apply, notify=lambda done: done[1])[0]


def lock_instances(conn: _Conn, keys: list[str]) -> None:
    """Lock the rows of instances `keys` (those that exist) in id order: the order every writer
    takes them in, so writers queue instead of deadlocking."""
    if keys:
        conn.execute(
            'SELECT 1 FROM instances WHERE instance_id = ANY(%b) ORDER BY instance_id COLLATE "C" '
            "FOR NO KEY UPDATE",
            (sorted(set(keys)),),
        )


def _guard(conn: _Conn, turns: list[TurnRows], moment: int) -> Guarded:
    """Which turns apply: reads the rows their guards depend on, for `guards.decide`."""
    locked = [t.commit.instance.instance_id for t in turns if t.commit.cached is None]
    held: dict[str, tuple[str | None, int, str]] = {}
    if locked:
        for key, token, length, status in conn.execute(
            "SELECT i.instance_id, l.token, i.history_len, i.status FROM instances AS i "
            "LEFT JOIN locks AS l ON l.instance_id = i.instance_id "
            "WHERE i.instance_id = ANY(%b)",
            (locked,),
        ):
            held[key] = (token, length, status)
    cached = [t.commit.instance.instance_id for t in turns if t.commit.cached is not None]
    quiet: dict[str, tuple[Any, ...]] = {}
    mine: dict[int, tuple[str | None, str]] = {}
    if cached:
        for row in conn.execute(
            "SELECT i.instance_id, i.generation, i.created_at, i.history_len, i.status, "
            "l.expires FROM instances AS i LEFT JOIN locks AS l ON l.instance_id = i.instance_id "
            "WHERE i.instance_id = ANY(%b) AND NOT EXISTS (SELECT 1 FROM messages AS m "
            "WHERE m.instance_id = i.instance_id AND m.due <= %s)",
            (cached, moment),
        ):
            quiet[row[0]] = row[1:]
        mine = _leases(
            conn, [w.id for t in turns if t.commit.cached for w, _ in t.commit.cached.results]
        )
    return decide(turns, held, quiet, mine, moment)


def _apply_turns(
    conn: _Conn, db: Database, winners: list[Won]
) -> tuple[list[tuple[Any, ...]], bool]:
    """Write the winning turns; returns their new activity rows, not yet inserted, and whether
    any message was queued.

    Children are created before any message is queued, so a child's start message finds it.
    """
    if not winners:
        return [], False
    consumed: list[int] = []
    resets: list[str] = []
    history: list[tuple[str, int, str]] = []
    states: list[tuple[Any, ...]] = []
    activities: list[tuple[Any, ...]] = []
    for turn, base, _ in winners:
        key = turn.commit.instance.instance_id
        consumed.extend(turn.commit.consumed)
        if turn.commit.reset_history:
            resets.append(key)
            base = 0
        states.append((*turn.state[:6], turn.state[6], base + len(turn.events), key))
        history.extend((key, base + i, text) for i, text in enumerate(turn.events))
        activities.extend(turn.activities)
    if consumed:
        conn.execute("DELETE FROM messages WHERE id = ANY(%b)", (consumed,))
    for turn, _, _ in winners:
        if turn.commit.cancelled_timers:
            _drop_timers(conn, turn.commit.instance.instance_id, turn.commit.cancelled_timers)
    withdrawn = [
        (t.commit.instance.instance_id, generation, task_id)
        for t, _, _ in winners
        for generation, task_id in t.commit.withdrawn
    ]
    if withdrawn:  # cancelled attempts: not run if queued, cancelled at renewal if running
        with conn.cursor() as cur:
            cur.executemany(
                "DELETE FROM activities WHERE instance_id = %s AND generation = %s "
                "AND task_id = %s",
                withdrawn,
            )
    if resets:
        conn.execute("DELETE FROM history WHERE instance_id = ANY(%b)", (resets,))
    if history:
        keys, seqs, texts = zip(*history, strict=True)
        conn.execute(
            "INSERT INTO history (instance_id, seq, event) "
            "SELECT * FROM unnest(%b::text[], %b::int[], %b::text[])",
            (list(keys), list(seqs), list(texts)),
        )
    if states:
        conn.execute(_UPDATE_STATES, [list(column) for column in zip(*states, strict=True)])
    conn.execute(
        "DELETE FROM locks WHERE instance_id = ANY(%b)",
        ([t.commit.instance.instance_id for t, _, _ in winners],),
    )
    holds = [t.commit for t, _, _ in winners if t.commit.hold_until is not None]
    if holds:  # a failed turn keeps its instance until the back-off ends
        tokens = db.tokens(len(holds))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO locks (token, expires, instance_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (instance_id) DO UPDATE SET token = excluded.token, "
                "expires = excluded.expires",
                [
                    (
                        c.lock_token if c.cached is None else tokens[i],
                        to_micros(c.hold_until),  # type: ignore[arg-type]
                        c.instance.instance_id,
                    )
                    for i, c in enumerate(holds)
                ],
            )
    messages = queued_rows(
        (turn for turn, _, _ in winners),
        lambda child: insert_row(conn, state_row(child, 0)),
        lambda child: refused_notice(conn, POSTGRES, child),
    )
    enqueue_rows(conn, messages)
    signals = [signal for t, _, _ in winners for signal in t.commit.signals]
    if signals:  # after every state and child of the batch: checked as the turns left them
        enqueue_rows(conn, signal_rows(signals, lambda key: status_of(conn, POSTGRES, key)))
    return activities, bool(messages or signals)


def _drop_timers(conn: _Conn, key: str, timers: list[tuple[int, int]]) -> None:
    """Drop the pending `TimerFired` messages of cancelled timers (generation, task id)."""
    wanted = set(timers)
    doomed: list[int] = []
    for mid, generation, text in conn.execute(
        "SELECT id, generation, event FROM messages WHERE instance_id = %s "
        "AND event LIKE '%%TimerFired%%'",
        (key,),
    ):
        try:
            event = loads(text)
        except ValueError:
            continue
        if (
            isinstance(event, dict)
            and event.get("type") == "TimerFired"
            and (generation, event.get("task_id")) in wanted
        ):
            doomed.append(mid)
    if doomed:
        conn.execute("DELETE FROM messages WHERE id = ANY(%b)", (doomed,))


def _insert_activities(conn: _Conn, rows: list[tuple[Any, ...]]) -> None:
    columns = [list(column) for column in zip(*rows, strict=True)]
    conn.execute(_INSERT_ACTIVITIES, columns)


def _complete(conn: _Conn, encoded: list[Completion]) -> bool:
    """Remove finished items still leased to us and queue their result messages (True if
    any was queued)."""
    if not encoded:
        return False
    leased = _leases(conn, [item_id for item_id, _, _ in encoded])
    done: list[int] = []
    rows: list[tuple[Any, ...]] = []
    for item_id, token, row in encoded:
        found = leased.get(item_id)
        if found is None or found[0] != token:
            continue
        del leased[item_id]  # a second result for one item finds it gone
        done.append(item_id)
        rows.append(row)
    if done:
        conn.execute("DELETE FROM activities WHERE id = ANY(%b)", (done,))
    enqueue_rows(conn, rows)
    return bool(rows)


def _renew(conn: _Conn, works: list[ActivityWork], expires: int) -> list[bool]:
    """Extend the leases of `works` still carrying their tokens; True per renewed item."""
    if not works:
        return []
    held = {
        row[0]
        for row in conn.execute(
            "UPDATE activities AS a SET due = %s FROM unnest(%b::bigint[], %b::text[]) AS u(i, t) "
            "WHERE a.id = u.i AND a.lease_token = u.t RETURNING a.id",
            (expires, [w.id for w in works], [w.lease_token or "" for w in works]),
        )
    }
    renewed = [bool(w.lease_token) and w.id in held for w in works]
    beats = [
        (w.instance_id, w.generation, w.call_id, dumps(w.heartbeat_details))
        for w, ok in zip(works, renewed, strict=True)
        if ok and w.heartbeat_details is not None
    ]
    if beats:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO heartbeats (instance_id, generation, call_id, details) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (instance_id, generation, call_id) "
                "DO UPDATE SET details = excluded.details",
                beats,
            )
    return renewed


def _leases(conn: _Conn, ids: list[int]) -> dict[int, tuple[str | None, str]]:
    """Lease token and instance of each activity item in `ids` that still exists, locked."""
    if not ids:
        return {}
    return {
        item_id: (token, key)
        for item_id, token, key in conn.execute(
            "SELECT id, lease_token, instance_id FROM activities WHERE id = ANY(%b) "
            "ORDER BY id FOR UPDATE",
            (sorted(set(ids)),),
        )
    }


# --- queue helpers shared with `postgres` ------------------------------------------------------


def insert_row(conn: _Conn, row: tuple[Any, ...]) -> bool:
    """Insert a new instance row (a `state_row`); False (nothing written) when the id is taken."""
    return conn.execute(_INSERT_INSTANCE_IF_NEW, row).fetchone() is not None


def enqueue_rows(conn: _Conn, rows: list[tuple[Any, ...]]) -> None:
    """Queue message rows (`message_row`s), in order; one addressed to an instance that no
    longer exists is dropped."""
    if rows:
        keys, generations, dues, events = ([r[i] for r in rows] for i in range(4))
        conn.execute(_ENQUEUE, (keys, generations, dues, events))


def lease_due(
    conn: _Conn, db: Database, moment: int, expires: int, limit: int
) -> list[ActivityWork]:
    """Lease the first `limit` items due at `moment` (queue order), skipping items another
    transaction is claiming (``SKIP LOCKED``)."""
    rows = conn.execute(_LEASE_DUE, (moment, limit, db.token_prefix(), expires)).fetchall()
    rows.sort(key=lambda row: (row[10], row[0]))
    return leased_works([row[:9] for row in rows], [row[9] for row in rows])
