"""`SqliteStore`: the `Store` contract in one SQLite file, the runtime's durable default.

Durability: the file is in WAL mode with ``synchronous=FULL``, so every transaction that changes
what an instance *is* (starting it, a raised event, a committed turn, an activity result, a purge)
is on disk when the call returns, even across a power cut. ``synchronous=NORMAL`` (the option
``?synchronous=normal``) is faster and still survives a killed process, but a power cut or OS crash
may lose the last transactions before the next checkpoint: turns re-run and activities re-execute
(with the same idempotency keys), and a started instance or a raised event may be lost outright.

Taking work (locking an instance for a turn, leasing an activity) in a transaction of its own is
written with ``synchronous=NORMAL``: a lock or lease lost in a power cut only makes the work
available again, which is what an expired lease does anyway, and WAL order guarantees the next
fsync'd commit carries it. Only non-durable state is written this way. (A worker that leases
the activities its turns schedule does so inside the turns' durable write: see `write`.)

Concurrency: every write is one ``BEGIN IMMEDIATE`` transaction (threads of one process queue on
a mutex, processes on the busy timeout), instances are locked with a token and an expiry, and a
commit whose token no longer matches is refused. Threads share a pool of connections; processes
share the file. Throughput comes from group commit at two levels: the worker hands over many
turns (or activity results) per call and they are written with a few multi-row statements per
kind of change (`sqlite_batch.insert_rows` and friends), and durable writes that arrive while a
commit is in flight (from other worker threads, or from request threads starting instances) are
committed together in the next transaction, so they share one fsync (see
`sqlite_db.Database.group`).

Files: `sqlite_schema` (format, version check), `sqlite_db` (connections, transactions, group
commit, change notification), `sqlite_batch` (many rows per statement), `rows`
(encoding), `sqlite_write` (the one write: turns, results, lease-back), `sql` (the reads both SQL
stores share, in either dialect), this module (the claims, reads and operator actions).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

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
from .rows import (
    INSTANCE_COLUMNS,
    decode_history,
    decode_state,
    decode_works,
    leased_works,
    message_row,
    state_row,
)
from .sql import SQLITE, finished_sql, history_sql, instance_sql, list_sql, quarantine, query_sql
from .sqlite_batch import in_lists, in_sql, insert_rows
from .sqlite_db import Database
from .sqlite_schema import from_micros, to_micros
from .sqlite_write import enqueue_rows, insert_row, lease_due, write_batch

__all__ = ["SqliteStore"]


_SELECT_INSTANCES_IN = f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id IN ({{marks}})"
_SELECT_INBOXES_IN = (
    "SELECT id, instance_id, generation, due, event FROM messages "
    "WHERE instance_id IN ({marks}) AND due <= ?"
)


class SqliteStore:
    """A durable, multi-thread and multi-process safe store in one SQLite file.

    ``SqliteStore("orders.db")`` creates the file when it does not exist; an existing file must be
    an orchestrate database of this or an older schema version (anything else raises `StoreError`
    and is left untouched).
    """

    def __init__(self, path: str, *, synchronous: str = "FULL", busy_timeout: float = 30.0) -> None:
        self._db = Database(path, synchronous=synchronous, busy_timeout=busy_timeout)

    @property
    def path(self) -> str:
        return self._db.path

    @property
    def synchronous(self) -> str:
        """``FULL`` (durable across power loss) or ``NORMAL`` (see the module docstring)."""
        return self._db.synchronous

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """Open ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or a bare path.

        Query options: ``?synchronous=normal`` and ``?busy_timeout=SECONDS``.
        """
        rest = url
        if rest.startswith("sqlite://"):
            rest = rest[len("sqlite://") :]
            rest = rest[1:] if rest.startswith("/") else rest
        elif rest.startswith("sqlite:"):
            rest = rest[len("sqlite:") :]
        path, _, query = rest.partition("?")
        options: dict[str, Any] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "synchronous":
                options["synchronous"] = value
            elif key == "busy_timeout":
                options["busy_timeout"] = float(value)
            else:
                raise ValueError(
                    f"unknown option {key!r} in store URL {url!r}; "
                    "supported: synchronous=full|normal, busy_timeout=SECONDS"
                )
        return cls(unquote(path), **options)

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r}, synchronous={self.synchronous!r})"

    # --- instances -------------------------------------------------------------------------------

    def create_instance(
        self,
        state: InstanceState,
        start: Message,
        *,
        reuse: bool = False,
        event: Message | None = None,
    ) -> bool:
        item = (state, state_row(state, 0), message_row(start), start, reuse)  # encoded here
        signal = None if event is None else message_row(event)

        def create(conn: sqlite3.Connection) -> bool:
            created = self._create(conn, *item, signal is not None)
            if signal is not None:
                enqueue_rows(conn, [signal])
            return created

        return self._db.group(create)

    def _create(
        self,
        conn: sqlite3.Connection,
        state: InstanceState,
        row: tuple[Any, ...],
        start_row: tuple[Any, ...],
        start: Message,
        reuse: bool,
        signal: bool = False,
    ) -> bool:
        """Create one instance whose id may be taken: refuse it, or replace a finished one;
        with `signal`, leave a running holder alone (False: its caller queues the event)."""
        message = start_row
        if not insert_row(conn, row):  # the id is taken: a duplicate, or a reuse
            old = conn.execute(
                "SELECT status, generation FROM instances WHERE instance_id = ?",
                (state.instance_id,),
            ).fetchone()
            generation = reused_generation(
                state.instance_id, old[0], old[1], reuse=reuse, signal=signal
            )
            if generation is None:
                return False  # signal-with-start: the running instance takes the event
            message = message_row(next_run(start, generation))
            self._drop(conn, state.instance_id)
            insert_row(conn, state_row(dataclasses.replace(state, generation=generation), 0))
        conn.execute(
            "INSERT INTO messages (instance_id, generation, due, event) VALUES (?, ?, ?, ?)",
            message[:4],
        )
        return True

    @staticmethod
    def _drop(conn: sqlite3.Connection, instance_id: str) -> None:
        for table in ("instances", "history", "messages", "activities", "locks", "heartbeats"):
            conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def get_instance(self, instance_id: str) -> InstanceState | None:
        with self._db.read() as conn:
            row = conn.execute(*instance_sql(SQLITE, instance_id)).fetchone()
        return None if row is None else decode_state(row)

    def list_instances(
        self,
        *,
        status: Status | str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[InstanceState]:
        sql, args = list_sql(SQLITE, status, name, limit)
        with self._db.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [decode_state(row) for row in rows]

    def query_instances(self, query: InstanceQuery) -> list[InstanceState]:
        sql, args = query_sql(SQLITE, query)
        with self._db.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [decode_state(row) for row in rows]

    def get_history(self, instance_id: str) -> list[h.Event]:
        with self._db.read() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM instances WHERE instance_id = ?", (instance_id,)
                ).fetchone()
                is None
            ):
                raise InstanceNotFound(f"no instance with id {instance_id!r}")
            rows = conn.execute(*history_sql(SQLITE, instance_id)).fetchall()
        return decode_history(rows, instance_id)

    def send(self, message: Message) -> None:
        key = message.instance_id
        row = message_row(message)

        def deliver(conn: sqlite3.Connection) -> None:
            status = conn.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (key,)
            ).fetchone()
            must_be_running(key, None if status is None else status[0], "it takes no more messages")
            enqueue_rows(conn, [row])

        self._db.group(deliver)

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        with self._db.write() as conn:
            if instance_id is not None:
                row = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = ?", (instance_id,)
                ).fetchone()
                must_be_finished(instance_id, None if row is None else row[0])
                doomed = [instance_id]
            else:
                before = None if finished_before is None else to_micros(finished_before)
                doomed = [row[0] for row in conn.execute(*finished_sql(SQLITE, before))]
            doomed = self._family(conn, doomed)
            for key in doomed:
                self._drop(conn, key)
        self._db.notify()
        return len(doomed)

    @staticmethod
    def _family(conn: sqlite3.Connection, roots: list[str]) -> list[str]:
        """`roots` and the children purged with them (see `contract.purged_family`); one scan
        for the parent links (there is no index on them: purge is an operator's action)."""
        if not roots:
            return roots
        children: dict[str, list[InstanceState]] = {}
        rows = conn.execute(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE parent_instance IS NOT NULL"
        )
        for row in rows:
            child = decode_state(row)
            children.setdefault(str(child.parent_instance), []).append(child)
        if not children:
            return roots

        def history_of(key: str) -> list[h.Event]:
            return decode_history(conn.execute(*history_sql(SQLITE, key)), key)

        return purged_family(roots, lambda key: children.get(key, []), history_of)

    # --- orchestration turns -------------------------------------------------------------------

    def fetch_orchestration_work(
        self, now: datetime, *, limit: int = 1, lease: float = 60.0
    ) -> list[OrchestrationWork]:
        moment = to_micros(now)
        expires = moment + int(lease * 1_000_000)
        keys: list[str] = []
        if not self.has_ready_work(now, activities=False):
            return []  # an idle poll reads; it never queues for the write lock
        # Locks are not durable state (a lost one just frees the instance), so no fsync here.
        with self._db.write(durable=False) as conn:
            # Walk due messages in (due, id) order through the index and stop at `limit`
            # distinct unlocked instances: cost follows the work taken, not the queue length.
            cursor = conn.execute(
                "SELECT m.instance_id FROM messages AS m INDEXED BY messages_due "
                "WHERE m.due <= ? AND NOT EXISTS (SELECT 1 FROM locks AS l "
                "WHERE l.instance_id = m.instance_id AND l.expires > ?) ORDER BY m.due, m.id",
                (moment, moment),
            )
            seen: set[str] = set()
            for (key,) in cursor:
                if key not in seen:
                    seen.add(key)
                    keys.append(key)
                    if len(keys) >= limit:
                        break
            cursor.close()
            if not keys:
                return []
            tokens = dict(zip(keys, self._db.tokens(len(keys)), strict=True))
            insert_rows(
                conn,
                "INSERT OR REPLACE INTO locks (token, expires, instance_id)",
                [(tokens[key], expires, key) for key in keys],
            )
            rows: list[Any] = []
            message_rows: list[Any] = []
            for marks, part in in_lists(keys):
                rows += conn.execute(in_sql(_SELECT_INSTANCES_IN, marks), part).fetchall()
                # No ORDER BY: SQLite would sort every row, event text included, in a temporary
                # B-tree. Each inbox is put in id order below (the index already yields it so).
                message_rows += conn.execute(
                    in_sql(_SELECT_INBOXES_IN, marks), [*part, moment]
                ).fetchall()
        works, broken = decode_works(keys, tokens, rows, message_rows)
        for key, exc in broken.items():
            self._quarantine(key, tokens[key], exc, now)
        return works

    def _quarantine(self, key: str, token: str, exc: StoreError, now: datetime) -> None:
        """Fail an instance whose row or messages no longer decode, keeping every other one
        (one bad row must not make every fetch fail); its parent, if any, is told."""
        with self._db.write() as conn:
            notice = quarantine(conn, SQLITE, key, token, exc, now)
            if notice is not None:
                enqueue_rows(conn, [notice])
        self._db.notify()

    def retry(self, instance_id: str) -> bool:
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (instance_id,)
            ).fetchone()
            must_be_running(
                instance_id, None if row is None else row[0], "there is no turn to retry"
            )
            released = conn.execute(
                "DELETE FROM locks WHERE instance_id = ?", (instance_id,)
            ).rowcount
        self._db.notify()
        return released > 0

    def abandon(self, work: OrchestrationWork) -> None:
        with self._db.write(durable=False) as conn:
            conn.execute(
                "DELETE FROM locks WHERE instance_id = ? AND token = ?",
                (work.instance.instance_id, work.lock_token),
            )
        self._db.notify()

    # --- activities ------------------------------------------------------------------------------

    def write(self, batch: Batch) -> Written:
        """See `Store.write`; the transaction is `sqlite_write.write_batch`'s."""
        return write_batch(self._db, batch)

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]:
        moment = to_micros(now)
        expires = moment + int(lease * 1_000_000)
        if not self.has_ready_work(now, turns=False):
            return []
        with self._db.write(durable=False) as conn:  # a lost lease only frees the item again
            rows, tokens = lease_due(conn, self._db, moment, expires, limit)
        return leased_works(rows, tokens)

    def release_activities(self, works: list[ActivityWork]) -> None:
        if not works:
            return
        # Clearing a lease is not durable state (a lost release is an expiring lease), and the
        # item goes back among the fresh ones (due 0), ahead of later work.
        with self._db.write(durable=False) as conn:
            conn.executemany(
                "UPDATE activities SET lease_token = NULL, due = 0 WHERE id = ? AND lease_token = ?",
                [(work.id, work.lease_token) for work in works],
            )
        self._db.notify()

    # --- waiting -----------------------------------------------------------------------------------

    def next_wakeup(self) -> datetime | None:
        with self._db.read() as conn:
            # The earliest held-back message of an unlocked instance (a locked one wakes us when
            # its lock is released or expires), the earliest lease and lock expiry.
            timer = conn.execute(
                "SELECT m.due FROM messages AS m INDEXED BY messages_due WHERE m.due > 0 "
                "AND NOT EXISTS (SELECT 1 FROM locks AS l WHERE l.instance_id = m.instance_id) "
                "ORDER BY m.due LIMIT 1"
            ).fetchone()
            lease = conn.execute("SELECT min(due) FROM activities WHERE due > 0").fetchone()
            lock = conn.execute("SELECT min(expires) FROM locks").fetchone()
        moments = [r[0] for r in (timer, lease, lock) if r is not None and r[0] is not None]
        return from_micros(min(moments)) if moments else None

    def has_ready_work(self, now: datetime, *, turns: bool = True, activities: bool = True) -> bool:
        """Whether a fetch at `now` would find an unlocked instance or an activity (for idle loops)."""
        moment = to_micros(now)
        with self._db.read() as conn:
            if (
                activities
                and conn.execute(
                    "SELECT 1 FROM activities INDEXED BY activities_due WHERE due <= ? LIMIT 1",
                    (moment,),
                ).fetchone()
            ):
                return True
            return turns and (
                conn.execute(
                    "SELECT 1 FROM messages AS m INDEXED BY messages_due "
                    "WHERE m.due <= ? AND NOT EXISTS (SELECT 1 FROM locks AS l "
                    "WHERE l.instance_id = m.instance_id AND l.expires > ?) LIMIT 1",
                    (moment, moment),
                ).fetchone()
                is not None
            )

    def change_mark(self) -> Any:
        return self._db.change_mark()

    def wait_for_change(self, timeout: float, since: Any = None) -> bool:
        """Wake on a commit by this process at once, and within 50 ms on one by another process."""
        return self._db.wait_for_change(timeout, since)

    def close(self) -> None:
        """Close pooled connections and wake waiters (see `Database.close`)."""
        self._db.close()
