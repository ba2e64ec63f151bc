"""`PostgresStore`: the `Store` contract on PostgreSQL, for many worker processes on many hosts.

Every worker process (on any host) opens the same database; there is no coordinator. A worker
claims orchestration turns and activity items with ``SELECT ... FOR [NO KEY] UPDATE SKIP LOCKED`` in READ
COMMITTED transactions: claims of different workers never wait on each other, and an instance's
lock row (a token and an expiry) is taken only while holding the instance's row lock, so no turn
of one instance runs in two workers at once, and a commit whose token no longer matches is
refused. Claims commit without waiting for the WAL flush (a lost claim only frees the work);
every other write is durable at commit. Idle workers block on ``LISTEN orchestrate`` and every
write that makes work available sends ``NOTIFY orchestrate``; timers and lease expiries wake
them through `next_wakeup`.

URL: ``postgresql://user:password@host:5432/dbname`` (any libpq URL; ``postgres://`` too), with
the options ``pool_size`` (connections kept per store, default 32: at least the worker's threads
plus its lease renewer) and ``retry_for`` (seconds a call retries a lost connection before it
raises `StoreError`, default 15). Requires the ``postgres`` extra (psycopg 3).

Files: `postgres_schema` (tables, version check, migrations), `postgres_db` (pool, transactions,
retries, LISTEN/NOTIFY), `postgres_write` (the one write), `sql` (the reads both SQL stores share,
in either dialect), this module (claims, reads, operator actions). Rows are encoded as the SQLite
store encodes them (`rows`, `times`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from .. import history as h
from ..errors import InstanceNotFound, StoreError
from ..state import (
    ActivityWork,
    Batch,
    InstanceQuery,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    Written,
)
from .contract import must_be_finished, must_be_running, next_run, purged_family, reused_generation
from .postgres_db import Database
from .postgres_schema import TABLES
from .postgres_write import (
    enqueue_rows,
    insert_row,
    lease_due,
    lock_instances,
    write_batch,
)
from .rows import (
    INSTANCE_COLUMNS,
    decode_history,
    decode_state,
    decode_works,
    message_row,
    state_row,
)
from .sql import POSTGRES, finished_sql, history_sql, instance_sql, list_sql, quarantine, query_sql
from .times import from_micros, to_micros

__all__ = ["PostgresStore"]

_Conn = psycopg.Connection[Any]

_OPTIONS = ("pool_size", "retry_for")

# Instances with a visible message and no live lock, oldest first message first; their rows
# are locked, skipping rows another worker is claiming right now. `{head}` bounds the scan: the
# first messages in (due, id) order (an index-only range read), so a claim costs what it takes,
# not the length of the queue; when that window holds nothing claimable, the whole queue is
# looked at (`_CLAIM_ALL`).
_CLAIM = (
    "SELECT i.instance_id FROM instances AS i JOIN (SELECT instance_id, min(due) AS due, "
    "min(id) AS first FROM {head} GROUP BY instance_id) AS m "
    "ON m.instance_id = i.instance_id WHERE NOT EXISTS (SELECT 1 FROM locks AS l "
    "WHERE l.instance_id = i.instance_id AND l.expires > %s) ORDER BY m.due, m.first LIMIT %s "
    "FOR NO KEY UPDATE OF i SKIP LOCKED"
)
_CLAIM_HEAD = _CLAIM.format(
    head="(SELECT instance_id, due, id FROM messages WHERE due <= %s ORDER BY due, id LIMIT %s) AS h"
)
_CLAIM_ALL = _CLAIM.format(head="messages WHERE due <= %s")
_WINDOW = 8  # messages looked at per instance claimed, before looking at the whole queue
# Take the lock of each claimed instance unless a live one appeared meanwhile (read after the
# row lock: the latest committed state).
_TAKE_LOCKS = (
    "INSERT INTO locks (instance_id, token, expires) SELECT k, t, %s FROM "
    "unnest(%b::text[], %b::text[]) AS u(k, t) ON CONFLICT (instance_id) DO UPDATE SET "
    "token = excluded.token, expires = excluded.expires WHERE locks.expires <= %s "
    "RETURNING instance_id"
)


def _safe_url(url: str) -> str:
    """`url` without its password, for error messages and repr."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore:
    """A store in one PostgreSQL database, shared by any number of worker processes and hosts.

    ``PostgresStore("postgresql://user@host/db")`` creates the schema in an empty database; an
    existing one must be an orchestrate database of this or an older schema version (anything
    else raises `StoreError` and is left untouched).
    """

    def __init__(self, url: str, *, pool_size: int = 32, retry_for: float = 15.0) -> None:
        self.url = url
        where = repr(_safe_url(url))
        conninfo = "postgresql" + url[url.index(":") :] if url.startswith("postgres:") else url
        self._db = Database(conninfo, where=where, pool_size=pool_size, retry_for=retry_for)

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Open ``postgresql://...``; the options `pool_size` and `retry_for` are ours, every
        other query option goes to libpq (``sslmode``, ``host`` for a Unix socket, ...)."""
        parts = urlsplit(url)
        options: dict[str, Any] = {}
        rest: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _OPTIONS:
                try:
                    options[key] = int(value) if key == "pool_size" else float(value)
                except ValueError:
                    raise ValueError(
                        f"store URL option {key}={value!r} in {_safe_url(url)!r} is not a number; "
                        "give e.g. pool_size=16 or retry_for=30"
                    ) from None
            else:
                rest.append((key, value))
        return cls(urlunsplit(parts._replace(query=urlencode(rest, safe="/"))), **options)

    def __repr__(self) -> str:
        return f"PostgresStore({_safe_url(self.url)!r})"

    # --- instances -------------------------------------------------------------------------------

    def create_instance(
        self,
        state: InstanceState,
        start: Message,
        *,
        reuse: bool = False,
        event: Message | None = None,
    ) -> bool:
        row, start_row = state_row(state, 0), message_row(start)
        signal = None if event is None else message_row(event)

        def create(conn: _Conn) -> bool:
            created = self._create(conn, state, row, start_row, start, reuse, signal is not None)
            if signal is not None:
                enqueue_rows(conn, [signal])
            return created

        return self._db.transaction(create)

    def _create(
        self,
        conn: _Conn,
        state: InstanceState,
        row: tuple[Any, ...],
        start_row: tuple[Any, ...],
        start: Message,
        reuse: bool,
        signal: bool,
    ) -> bool:
        message = start_row
        if not insert_row(conn, row):  # the id is taken: a duplicate, or a reuse
            old = conn.execute(
                "SELECT status, generation FROM instances WHERE instance_id = %s FOR UPDATE",
                (state.instance_id,),
            ).fetchone()
            if old is None:  # purged between the insert and the read: try again
                return self._create(conn, state, row, start_row, start, reuse, signal)
            generation = reused_generation(
                state.instance_id, old[0], old[1], reuse=reuse, signal=signal
            )
            if generation is None:
                return False  # signal-with-start: the running instance takes the event
            message = message_row(next_run(start, generation))
            self._drop(conn, [state.instance_id])
            insert_row(conn, state_row(dataclasses.replace(state, generation=generation), 0))
        enqueue_rows(conn, [message])
        return True

    @staticmethod
    def _drop(conn: _Conn, keys: list[str]) -> None:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table} WHERE instance_id = ANY(%b)", (keys,))

    def get_instance(self, instance_id: str) -> InstanceState | None:
        sql, args = instance_sql(POSTGRES, instance_id)
        row = self._db.read(lambda conn: conn.execute(sql, args).fetchone())
        return None if row is None else decode_state(row)

    def list_instances(
        self,
        *,
        status: Status | str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[InstanceState]:
        sql, args = list_sql(POSTGRES, status, name, limit)
        rows = self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        return [decode_state(row) for row in rows]

    def query_instances(self, query: InstanceQuery) -> list[InstanceState]:
        sql, args = query_sql(POSTGRES, query)
        rows = self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        return [decode_state(row) for row in rows]

    def get_history(self, instance_id: str) -> list[h.Event]:
        def read(conn: _Conn) -> list[Any] | None:
            if (
                conn.execute(
                    "SELECT 1 FROM instances WHERE instance_id = %s", (instance_id,)
                ).fetchone()
                is None
            ):
                return None
            return list(conn.execute(*history_sql(POSTGRES, instance_id)).fetchall())

        rows = self._db.read(read)
        if rows is None:
            raise InstanceNotFound(f"no instance with id {instance_id!r}")
        return decode_history(rows, instance_id)

    def send(self, message: Message) -> None:
        key = message.instance_id
        row = message_row(message)

        def deliver(conn: _Conn) -> None:
            # FOR SHARE: a turn finishing the instance right now commits first, then we see it.
            found = conn.execute(
                "SELECT status FROM instances WHERE instance_id = %s FOR SHARE", (key,)
            ).fetchone()
            must_be_running(key, None if found is None else found[0], "it takes no more messages")
            enqueue_rows(conn, [row])

        self._db.transaction(deliver)

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        def purge(conn: _Conn) -> int:
            if instance_id is not None:
                found = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = %s FOR UPDATE",
                    (instance_id,),
                ).fetchone()
                must_be_finished(instance_id, None if found is None else found[0])
                roots = [instance_id]
            else:
                before = None if finished_before is None else to_micros(finished_before)
                roots = [row[0] for row in conn.execute(*finished_sql(POSTGRES, before))]
            doomed = self._family(conn, roots)
            if doomed:
                lock_instances(conn, doomed)
                self._drop(conn, doomed)
            return len(doomed)

        return self._db.transaction(purge)

    @staticmethod
    def _family(conn: _Conn, roots: list[str]) -> list[str]:
        """`roots` and the children purged with them (see `contract.purged_family`)."""
        if not roots:
            return roots

        def children_of(key: str) -> list[InstanceState]:
            rows = conn.execute(
                f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE parent_instance = %s", (key,)
            ).fetchall()
            return [decode_state(row) for row in rows]

        def history_of(key: str) -> list[h.Event]:
            return decode_history(conn.execute(*history_sql(POSTGRES, key)).fetchall(), key)

        return purged_family(roots, children_of, history_of)

    # --- orchestration turns -------------------------------------------------------------------

    def fetch_orchestration_work(
        self, now: datetime, *, limit: int = 1, lease: float = 60.0
    ) -> list[OrchestrationWork]:
        moment = to_micros(now)
        expires = moment + int(lease * 1_000_000)

        def claim(conn: _Conn) -> tuple[list[str], dict[str, str], list[Any], list[Any]]:
            window = _WINDOW * limit + 64
            args = (moment, window, moment, limit)
            keys = [row[0] for row in conn.execute(_CLAIM_HEAD, args)]
            if not keys:  # the head of the queue is all locked instances: look further
                keys = [row[0] for row in conn.execute(_CLAIM_ALL, (moment, moment, limit))]
            if not keys:
                return [], {}, [], []
            tokens = dict(zip(keys, self._db.tokens(len(keys)), strict=True))
            taken = {
                row[0]
                for row in conn.execute(
                    _TAKE_LOCKS, (expires, keys, [tokens[k] for k in keys], moment)
                )
            }
            keys = [key for key in keys if key in taken]
            if not keys:
                return [], {}, [], []
            rows = conn.execute(
                f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ANY(%b)", (keys,)
            ).fetchall()
            messages = conn.execute(
                "SELECT id, instance_id, generation, due, event FROM messages "
                "WHERE instance_id = ANY(%b) AND due <= %s ORDER BY id",
                (keys, moment),
            ).fetchall()
            return keys, tokens, rows, messages

        if not self.has_ready_work(now, activities=False):
            return []  # an idle poll only reads
        keys, tokens, rows, message_rows = self._db.transaction(claim, durable=False, notify=False)
        works, broken = decode_works(keys, tokens, rows, message_rows)
        for key, exc in broken.items():
            self._quarantine(key, tokens[key], exc, now)
        return works

    def _quarantine(self, key: str, token: str, exc: StoreError, now: datetime) -> None:
        """Fail an instance whose row or messages no longer decode, keeping every other one
        (one bad row must not make every fetch fail); its parent, if any, is told."""

        def fail(conn: _Conn) -> None:
            notice = quarantine(conn, POSTGRES, key, token, exc, now)
            if notice is not None:
                enqueue_rows(conn, [notice])

        self._db.transaction(fail)

    def retry(self, instance_id: str) -> bool:
        def release(conn: _Conn) -> bool:
            found = conn.execute(
                "SELECT status FROM instances WHERE instance_id = %s FOR NO KEY UPDATE",
                (instance_id,),
            ).fetchone()
            must_be_running(
                instance_id, None if found is None else found[0], "there is no turn to retry"
            )
            cursor = conn.execute(
                "DELETE FROM locks WHERE instance_id = %s RETURNING 1", (instance_id,)
            )
            return cursor.fetchone() is not None

        return self._db.transaction(release)

    def abandon(self, work: OrchestrationWork) -> None:
        def release(conn: _Conn) -> None:
            lock_instances(conn, [work.instance.instance_id])
            conn.execute(
                "DELETE FROM locks WHERE instance_id = %s AND token = %s",
                (work.instance.instance_id, work.lock_token),
            )

        self._db.transaction(release, durable=False)

    # --- activities ------------------------------------------------------------------------------

    def write(self, batch: Batch) -> Written:
        """See `Store.write`; the transaction is `postgres_write.write_batch`'s."""
        return write_batch(self._db, batch)

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]:
        moment = to_micros(now)
        expires = moment + int(lease * 1_000_000)
        if not self.has_ready_work(now, turns=False):
            return []
        return self._db.transaction(
            lambda conn: lease_due(conn, self._db, moment, expires, limit),
            durable=False,
            notify=False,
        )

    def release_activities(self, works: list[ActivityWork]) -> None:
        if not works:
            return

        def release(conn: _Conn) -> None:
            # back among the fresh items (due 0), ahead of later work
            conn.execute(
                "UPDATE activities AS a SET lease_token = NULL, due = 0 "
                "FROM unnest(%b::bigint[], %b::text[]) AS u(i, t) "
                "WHERE a.id = u.i AND a.lease_token = u.t",
                ([w.id for w in works], [w.lease_token for w in works]),
            )

        self._db.transaction(release, durable=False)

    # --- waiting -----------------------------------------------------------------------------------

    def next_wakeup(self) -> datetime | None:
        def read(conn: _Conn) -> Any:
            # The earliest held-back message of an unlocked instance (a locked one wakes us
            # when its lock is released or expires), the earliest lease and lock expiry.
            return conn.execute(
                "SELECT (SELECT m.due FROM messages AS m WHERE m.due > 0 AND NOT EXISTS "
                "(SELECT 1 FROM locks AS l WHERE l.instance_id = m.instance_id) "
                "ORDER BY m.due LIMIT 1), "
                "(SELECT min(due) FROM activities WHERE due > 0), "
                "(SELECT min(expires) FROM locks)"
            ).fetchone()

        found = [value for value in self._db.read(read) if value is not None]
        return from_micros(min(found)) if found else None

    def has_ready_work(self, now: datetime, *, turns: bool = True, activities: bool = True) -> bool:
        """Whether a fetch at `now` would find an unlocked instance or an activity (for idle loops)."""
        moment = to_micros(now)

        def read(conn: _Conn) -> bool:
            if (
                activities
                and conn.execute(
                    "SELECT 1 FROM activities WHERE due <= %s LIMIT 1", (moment,)
                ).fetchone()
            ):
                return True
            return turns and (
                conn.execute(
                    "SELECT 1 FROM messages AS m WHERE m.due <= %s AND NOT EXISTS "
                    "(SELECT 1 FROM locks AS l WHERE l.instance_id = m.instance_id "
                    "AND l.expires > %s) LIMIT 1",
                    (moment, moment),
                ).fetchone()
                is not None
            )

        return self._db.transaction(read, notify=False)

    def change_mark(self) -> Any:
        return self._db.change_mark()

    def wait_for_change(self, timeout: float, since: Any = None) -> bool:
        """Wake on a NOTIFY from any process's commit (or this process's own) at once."""
        return self._db.wait_for_change(timeout, since)

    def close(self) -> None:
        """Close pooled connections and the listener; wake waiters (see `Database.close`)."""
        self._db.close()
