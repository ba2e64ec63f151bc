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
the activities its turns schedule does so inside the turns' durable commit: see
`commit_turns_and_lease`.)

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
commit, change notification), `sqlite_batch` (many rows per statement), `sqlite_rows`
(encoding), this module (the `Store` operations).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from . import history as h
from .errors import DuplicateInstance, InstanceNotFound, InstanceNotRunning, StoreError
from .memory_store import next_run
from .sqlite_batch import delete_in, in_lists, in_sql, insert_rows, update_rows
from .sqlite_db import Database
from .sqlite_rows import (
    INSTANCE_COLUMNS,
    TurnRows,
    decode_event,
    decode_state,
    dumps,
    loads,
    message_row,
    state_row,
)
from .sqlite_schema import from_micros, to_micros
from .state import (
    ActivityWork,
    FollowUpTurn,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    TurnCommit,
)

__all__ = ["SqliteStore"]


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
_INSERT_MESSAGE = _INSERT_MESSAGES + " VALUES (?, ?, ?, ?)"
_INSERT_ACTIVITIES = (
    "INSERT INTO activities (instance_id, generation, task_id, name, input, attempt, call_id, due)"
)
_INSERT_LEASED_ACTIVITIES = (
    "INSERT INTO activities (instance_id, generation, task_id, name, input, attempt, call_id, "
    "lease_token, due)"
)
# The columns a turn's new state writes, in the order of `TurnRows.state` (see `_commit_batch`).
_RENEWED: tuple[str, ...] = ("status", "input", "output", "error", "custom_status")
_RENEWED += ("updated_at", "generation", "history_len")
_MOVED = ("status", *_RENEWED[2:])
_STAYED = _RENEWED[2:]

# Statements over `in_lists` key lists; ``{marks}`` is the list (see `sqlite_batch.in_sql`).
_SELECT_INSTANCES_IN = f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id IN ({{marks}})"
_SELECT_INBOXES_IN = (
    "SELECT id, instance_id, generation, due, event FROM messages "
    "WHERE instance_id IN ({marks}) AND due <= ?"
)
_SELECT_HELD_IN = (
    "SELECT i.instance_id, l.token, i.history_len, i.status FROM instances AS i "
    "LEFT JOIN locks AS l ON l.instance_id = i.instance_id WHERE i.instance_id IN ({marks})"
)
_SELECT_LEASES_IN = "SELECT id, lease_token, instance_id FROM activities WHERE id IN ({marks})"
_SELECT_QUIET_IN = (  # instances with no visible message, and their locks (follow-up turns)
    "SELECT i.instance_id, i.generation, i.created_at, i.history_len, i.status, l.expires "
    "FROM instances AS i "
    "LEFT JOIN locks AS l ON l.instance_id = i.instance_id WHERE i.instance_id IN ({marks}) "
    "AND NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.instance_id = i.instance_id "
    "AND m.due <= ?)"
)


def _message_id(message: Message) -> int:
    return message.id


# Stored status texts of finished instances. Compared as text: a damaged status is unfinished
# (it takes messages and is quarantined at its next turn), never an error in someone else's call.
_FINISHED = tuple(s.value for s in Status if s.finished)


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

    def create_instance(self, state: InstanceState, start: Message, *, reuse: bool = False) -> None:
        item = (state, state_row(state, 0), message_row(start), start, reuse)  # encoded here
        self._db.group(lambda conn: self._create(conn, *item))

    def _create(
        self,
        conn: sqlite3.Connection,
        state: InstanceState,
        row: tuple[Any, ...],
        start_row: tuple[Any, ...],
        start: Message,
        reuse: bool,
    ) -> None:
        """Create one instance whose id may be taken: refuse it, or replace a finished one."""
        message = start_row
        if not self._insert_row(conn, row):  # the id is taken: a duplicate, or a reuse
            old = conn.execute(
                "SELECT status, generation FROM instances WHERE instance_id = ?",
                (state.instance_id,),
            ).fetchone()
            status, finished = old[0], old[0] in _FINISHED
            if not (reuse and finished):
                hint = (
                    "pass reuse=True to start a new instance under this id"
                    if finished
                    else "it is still running; wait for it or terminate it first"
                )
                raise DuplicateInstance(
                    f"an instance with id {state.instance_id!r} already exists ({status}); {hint}"
                )
            # The new run continues the old one's generation count, so nothing still
            # addressed to the old run (a late result, a child's notice) counts in the new.
            generation = old[1] + 1
            message = message_row(next_run(start, generation))
            self._drop(conn, state.instance_id)
            self._insert_row(conn, state_row(dataclasses.replace(state, generation=generation), 0))
        conn.execute(_INSERT_MESSAGE, message[:4])

    @staticmethod
    def _insert_instance(conn: sqlite3.Connection, state: InstanceState) -> bool:
        """Insert a new instance row; False (and nothing written) when the id is taken."""
        return SqliteStore._insert_row(conn, state_row(state, 0))

    @staticmethod
    def _insert_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> bool:
        cursor = conn.execute(_INSERT_INSTANCE_IF_NEW, row)
        return cursor.rowcount == 1

    @staticmethod
    def _drop(conn: sqlite3.Connection, instance_id: str) -> None:
        for table in ("instances", "history", "messages", "activities", "locks"):
            conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def get_instance(self, instance_id: str) -> InstanceState | None:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
            ).fetchone()
        return None if row is None else decode_state(row)

    def list_instances(
        self,
        *,
        status: Status | str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[InstanceState]:
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(str(Status(status)))
        if name is not None:
            where.append("name = ?")
            args.append(name)
        sql = f"SELECT {INSTANCE_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY coalesce(created_at, 0), instance_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
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
            rows = conn.execute(
                "SELECT seq, event FROM history WHERE instance_id = ? ORDER BY seq",
                (instance_id,),
            ).fetchall()
        return [
            decode_event(text, "history event {} of instance {!r}", seq, instance_id)
            for seq, text in rows
        ]

    def send(self, message: Message) -> None:
        key = message.instance_id
        row = message_row(message)

        def deliver(conn: sqlite3.Connection) -> None:
            status = conn.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (key,)
            ).fetchone()
            if status is None:
                raise InstanceNotFound(f"no instance with id {key!r}; check the id with `list`")
            if status[0] in _FINISHED:
                raise InstanceNotRunning(
                    f"instance {key!r} is {status[0]}; it takes no more messages"
                )
            self._enqueue_rows(conn, [row])

        self._db.group(deliver)

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        with self._db.write() as conn:
            if instance_id is not None:
                row = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = ?", (instance_id,)
                ).fetchone()
                if row is None:
                    raise InstanceNotFound(f"no instance with id {instance_id!r}")
                if row[0] not in _FINISHED:
                    raise InstanceNotRunning(
                        f"instance {instance_id!r} is {row[0]}; terminate it before purging"
                    )
                doomed = [instance_id]
            else:
                marks = ",".join("?" * len(_FINISHED))
                sql = f"SELECT instance_id FROM instances WHERE status IN ({marks})"
                args: list[Any] = list(_FINISHED)
                if finished_before is not None:
                    sql += " AND updated_at IS NOT NULL AND updated_at < ?"
                    args.append(to_micros(finished_before))
                doomed = [row[0] for row in conn.execute(sql, args)]
            for key in doomed:
                self._drop(conn, key)
        self._db.notify()
        return len(doomed)

    # --- orchestration turns -------------------------------------------------------------------

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, messages: list[Message]) -> None:
        """Queue messages; one addressed to an instance that no longer exists is dropped."""
        SqliteStore._enqueue_rows(conn, [message_row(m) for m in messages])

    @staticmethod
    def _enqueue_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn.executemany(
                "INSERT INTO messages (instance_id, generation, due, event) SELECT ?, ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM instances WHERE instance_id = ?)",
                rows,
            )

    def fetch_orchestration_work(
        self, now: datetime, *, limit: int = 1, lease: float = 60.0
    ) -> list[OrchestrationWork]:
        moment = to_micros(now)
        expires = moment + int(lease * 1_000_000)
        keys: list[str] = []
        works: list[OrchestrationWork] = []
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
        inbox: dict[str, list[Message]] = {key: [] for key in keys}
        broken: dict[str, StoreError] = {}
        unordered: set[str] = set()
        for mid, key, generation, due, text in message_rows:
            try:
                event = decode_event(text, "message {} to instance {!r}", mid, key)
            except StoreError as exc:
                broken.setdefault(key, exc)
                continue
            messages = inbox[key]
            if messages and messages[-1].id > mid:
                unordered.add(key)
            messages.append(Message(key, event, generation, from_micros(due) if due else None, mid))
        for key in unordered:
            inbox[key].sort(key=_message_id)
        states = {}
        for row in rows:
            try:
                states[row[0]] = decode_state(row)
            except StoreError as exc:
                broken.setdefault(row[0], exc)
        for key in keys:
            if key in broken:
                self._quarantine(key, tokens[key], broken[key], now)
                continue
            works.append(OrchestrationWork(states[key], inbox[key], tokens[key]))
        return works

    def _quarantine(self, key: str, token: str, exc: StoreError, now: datetime) -> None:
        """Fail an instance whose row or messages no longer decode, keeping every other instance.

        Without this, one bad row would make every fetch fail and stall the whole queue. The
        instance's pending messages are dropped (they cannot be delivered), its state says what
        is wrong, and the parent, if any, is told it failed.
        """
        info = h.ErrorInfo("StoreError", f"{exc}; the instance was failed to protect the others")
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT l.token, parent_instance, parent_generation, parent_task, status "
                "FROM instances AS i JOIN locks AS l ON l.instance_id = i.instance_id "
                "WHERE i.instance_id = ?",
                (key,),
            ).fetchone()
            if row is None or row[0] != token:
                return
            conn.execute("DELETE FROM messages WHERE instance_id = ?", (key,))
            conn.execute("DELETE FROM locks WHERE instance_id = ?", (key,))
            if row[4] in _FINISHED:  # a finished instance ignores messages anyway
                return
            conn.execute(
                "UPDATE instances SET status = ?, error = ?, updated_at = ? WHERE instance_id = ?",
                (Status.FAILED.value, dumps(info.to_dict()), to_micros(now), key),
            )
            parent, generation, task = row[1], row[2], row[3]
            if parent is not None and task is not None:
                notice = h.SubOrchestrationFailed(now, task, info.type, info.message)
                self._enqueue(conn, [Message(parent, notice, generation)])
        self._db.notify()

    def commit_turns(self, commits: list[TurnCommit]) -> list[bool]:
        if not commits:
            return []
        turns = [TurnRows(commit) for commit in commits]
        return self._db.group(lambda conn: self._commit_batch(conn, turns, None)[0])

    def commit_turns_and_lease(
        self, commits: list[TurnCommit], now: datetime, *, limit: int, lease: float = 300.0
    ) -> tuple[list[bool], list[ActivityWork]]:
        """`commit_turns`, and lease up to `limit` activity items due at `now` to the caller in the
        same transaction (see `store.LeasingStore`).

        Items are leased in queue order, as `fetch_activity_work` would lease them. When no item
        was due before this commit, the first items the turns schedule are the head of the queue:
        they are inserted already leased, with no second write and no read-back of their input.
        """
        if not commits:
            return [], []
        turns = [TurnRows(commit) for commit in commits]
        moment = to_micros(now)
        terms = (moment, moment + int(lease * 1_000_000), limit)
        applied, rows, tokens, eager = self._db.group(
            lambda conn: self._commit_batch(conn, turns, terms)
        )
        return applied, eager + _leased(rows, tokens)

    def _commit_batch(
        self,
        conn: sqlite3.Connection,
        turns: list[TurnRows],
        lease: tuple[int, int, int] | None,
    ) -> tuple[list[bool], list[Any], list[str], list[ActivityWork]]:
        """Apply a batch of turns with a few multi-row statements per kind of change.

        A turn whose lock token no longer matches is skipped (False) and changes nothing.
        Children are created before any message is queued, so a child's start message finds it.
        With `lease` (now, expiry, limit: integer microseconds), also lease up to `limit` due
        activity items: (applied, rows and tokens of items leased from the queue, works of items
        inserted already leased).
        """
        keys = [t.commit.instance.instance_id for t in turns]
        held: dict[str, tuple[str | None, int, str]] = {}
        for marks, part in in_lists(keys):
            for key, token, length, status in conn.execute(in_sql(_SELECT_HELD_IN, marks), part):
                held[key] = (token, length, status)
        applied: list[bool] = []
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
        winners: list[TurnRows] = []
        for turn, key in zip(turns, keys, strict=True):
            # pop: a second turn for one instance in the batch is stale
            token, base, status = held.pop(key, (None, 0, ""))
            if token is None or token != turn.commit.lock_token:
                applied.append(False)
                continue
            applied.append(True)
            winners.append(turn)
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
            for t in winners
            for generation, task_id in t.commit.cancelled_timers
        ]
        if dead:  # cancelled timers: drop their TimerFired before it wakes the instance
            conn.executemany(
                "DELETE FROM messages WHERE instance_id = ? AND generation = ? "
                "AND json_extract(event, '$.type') = 'TimerFired' "
                "AND json_extract(event, '$.task_id') = ?",
                dead,
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
                [t.commit.instance.instance_id for t in winners],
            )
        holds = [
            (t.commit.lock_token, to_micros(t.commit.hold_until), t.commit.instance.instance_id)
            for t in winners
            if t.commit.hold_until is not None
        ]
        if holds:  # a failed turn keeps its instance until the back-off ends
            conn.executemany(
                "INSERT OR REPLACE INTO locks (token, expires, instance_id) VALUES (?, ?, ?)", holds
            )
        leased_rows: list[Any] = []
        tokens: list[str] = []
        eager: list[ActivityWork] = []
        if lease is not None and activities and not self._activity_due(conn, lease[0]):
            eager = self._insert_leased(conn, activities, scheduled, lease)
        elif activities:
            insert_rows(conn, _INSERT_ACTIVITIES, [(*row, 0) for row in activities])
        if lease is not None and not eager:
            leased_rows, tokens = self._lease_due(conn, *lease)
        # Children are created in commit order (a later turn's child finds an earlier one's), and
        # messages queued in commit order, each turn's refusal notices before its own messages,
        # as the memory store does. A refused child's start must not reach the instance holding
        # its id; only that start is dropped, never the start of another child with the same id.
        messages: list[tuple[Any, ...]] = []
        for turn in winners:
            if not turn.children:
                messages.extend(turn.messages)
                continue
            refused: set[int] = set()
            for child, start in zip(turn.children, turn.starts, strict=True):
                if self._insert_instance(conn, child):
                    continue
                notice = self._reject_child(conn, child)
                if notice is not None:
                    messages.append(notice)
                if start is not None:
                    refused.add(start)
            messages.extend(row for i, row in enumerate(turn.messages) if i not in refused)
        self._enqueue_rows(conn, messages)
        return applied, leased_rows, tokens, eager

    @staticmethod
    def _activity_due(conn: sqlite3.Connection, moment: int) -> bool:
        return (
            conn.execute(
                "SELECT 1 FROM activities INDEXED BY activities_due WHERE due <= ? LIMIT 1",
                (moment,),
            ).fetchone()
            is not None
        )

    def _insert_leased(
        self,
        conn: sqlite3.Connection,
        rows: list[tuple[Any, ...]],
        records: list[ActivityWork],
        lease: tuple[int, int, int],
    ) -> list[ActivityWork]:
        """Insert new items, the first `limit` already leased (the queue held nothing due)."""
        _, expires, limit = lease
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'activities'").fetchone()
        tokens = self._db.tokens(min(limit, len(rows)))
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
        return [
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

    def _reject_child(
        self, conn: sqlite3.Connection, child: InstanceState
    ) -> tuple[Any, ...] | None:
        """The `SubOrchestrationFailed` row telling a refused child's parent (None: no parent)."""
        if child.parent_instance is None or child.parent_task is None:
            return None
        row = conn.execute(
            "SELECT name FROM instances WHERE instance_id = ?", (child.instance_id,)
        ).fetchone()
        notice = h.SubOrchestrationFailed(
            child.created_at or datetime.now().astimezone(),
            child.parent_task,
            "DuplicateInstance",
            f"cannot start sub-orchestration {child.name!r}: instance id {child.instance_id!r} is "
            f"already used by a {row[0]!r} instance; pass a unique instance_id",
        )
        return message_row(Message(child.parent_instance, notice, child.parent_generation))

    def abandon(self, work: OrchestrationWork) -> None:
        with self._db.write(durable=False) as conn:
            conn.execute(
                "DELETE FROM locks WHERE instance_id = ? AND token = ?",
                (work.instance.instance_id, work.lock_token),
            )
        self._db.notify()

    # --- activities ------------------------------------------------------------------------------

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]:
        moment = to_micros(now)
        expires = moment + int(lease * 1_000_000)
        if not self.has_ready_work(now, turns=False):
            return []
        with self._db.write(durable=False) as conn:  # a lost lease only frees the item again
            rows, tokens = self._lease_due(conn, moment, expires, limit)
        return _leased(rows, tokens)

    def _lease_due(
        self, conn: sqlite3.Connection, moment: int, expires: int, limit: int
    ) -> tuple[list[Any], list[str]]:
        """Lease the first `limit` items due at `moment` (queue order); their rows and tokens."""
        rows = conn.execute(
            "SELECT id, instance_id, generation, task_id, name, input, attempt, call_id "
            "FROM activities INDEXED BY activities_due WHERE due <= ? ORDER BY due, id LIMIT ?",
            (moment, limit),
        ).fetchall()
        tokens = self._db.tokens(len(rows))
        update_rows(
            conn,
            "activities",
            "id",
            ("lease_token", "due"),
            [(token, expires, row[0]) for token, row in zip(tokens, rows, strict=True)],
        )
        return rows, tokens

    def complete_activities(self, results: list[tuple[ActivityWork, Message]]) -> None:
        if not results:
            return
        encoded = _completions(results)
        self._db.group(lambda conn: self._complete(conn, encoded))

    def _complete(self, conn: sqlite3.Connection, encoded: list[_Completion]) -> None:
        """Remove finished items still leased to us and queue their result messages."""
        # An item counts as ours only while it still carries our lease token: one completed by
        # another worker (gone), purged, or leased again since, keeps no result from us. Ids
        # are never reused (AUTOINCREMENT), so a stale id cannot name a newer item.
        leased = self._leases(conn, [item_id for item_id, _, _ in encoded])
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
        self._enqueue_rows(conn, other)

    @staticmethod
    def _leases(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[str | None, str]]:
        """Lease token and instance of each activity item in `ids` that still exists."""
        leased: dict[int, tuple[str | None, str]] = {}
        for marks, part in in_lists(ids):
            for item_id, token, key in conn.execute(in_sql(_SELECT_LEASES_IN, marks), part):
                leased[item_id] = (token, key)
        return leased

    def complete_with_turns(
        self,
        results: list[tuple[ActivityWork, Message]],
        turns: list[FollowUpTurn],
        now: datetime,
        *,
        limit: int,
        lease: float = 300.0,
    ) -> tuple[list[bool], list[ActivityWork]]:
        """See `store.FollowUpStore`: results, follow-up turns and leases in one transaction."""
        moment = to_micros(now)
        terms = (moment, moment + int(lease * 1_000_000), limit)
        for turn, token in zip(turns, self._db.tokens(len(turns)), strict=True):
            turn.commit.lock_token = token
        rows = [TurnRows(turn.commit) for turn in turns]
        encoded = _completions(results)

        def apply(conn: sqlite3.Connection) -> tuple[list[bool], list[ActivityWork]]:
            plain = list(encoded)  # a fresh list per attempt: the group may run this again
            ready = self._follow_ups_ready(conn, turns, moment)
            mine = self._leases(conn, [w.id for turn in turns for w, _ in turn.results])
            winners: list[TurnRows] = []
            done: list[int] = []
            applied: list[bool] = []
            for turn, row in zip(turns, rows, strict=True):
                key = turn.commit.instance.instance_id
                if key in ready and all(
                    mine.get(w.id, (None,))[0] == w.lease_token for w, _ in turn.results
                ):
                    ready.discard(key)  # one turn per instance
                    winners.append(row)
                    done.extend(w.id for w, _ in turn.results)
                    applied.append(True)
                else:  # moved on, or a lease was lost: each result on its own (rare)
                    plain.extend(_completions(turn.results))
                    applied.append(False)
            delete_in(conn, "DELETE FROM activities WHERE id", done)
            insert_rows(
                conn,
                "INSERT OR REPLACE INTO locks (token, expires, instance_id)",
                [(r.commit.lock_token, terms[1], r.commit.instance.instance_id) for r in winners],
            )
            _, leased_rows, tokens, eager = self._commit_batch(conn, winners, terms)
            self._complete(conn, plain)
            return applied, eager + _leased(leased_rows, tokens)

        return self._db.group(apply)

    @staticmethod
    def _follow_ups_ready(
        conn: sqlite3.Connection, turns: list[FollowUpTurn], moment: int
    ) -> set[str]:
        """The instances of `turns` still where their turn was computed: same run (creation
        time), generation and history length, not finished, unlocked (or lock expired), and no
        visible message."""
        expected = {
            t.commit.instance.instance_id: (
                t.generation,
                None if t.created_at is None else to_micros(t.created_at),
                t.history_len,
            )
            for t in turns
        }
        ready: set[str] = set()
        for marks, part in in_lists(list(expected)):
            for key, generation, created, length, status, expires in conn.execute(
                in_sql(_SELECT_QUIET_IN, marks), [*part, moment]
            ):
                if (
                    expected[key] == (generation, created, length)
                    and status not in _FINISHED
                    and (expires is None or expires <= moment)
                ):
                    ready.add(key)
        return ready

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

    def wait_for_change(self, timeout: float) -> None:
        """Wake on a commit by this process at once, and within 50 ms on one by another process."""
        self._db.wait_for_change(timeout)

    def close(self) -> None:
        """Close pooled connections and wake waiters (see `Database.close`)."""
        self._db.close()


_Completion = tuple[int, str, tuple[Any, ...]]  # (item id, lease token, result message row)


def _completions(results: list[tuple[ActivityWork, Message]]) -> list[_Completion]:
    return [(work.id, work.lease_token, message_row(message)) for work, message in results]


def _leased(rows: list[Any], tokens: list[str]) -> list[ActivityWork]:
    """Activity rows just leased (id, instance, generation, task, name, input, attempt, call)."""
    out: list[ActivityWork] = []
    for token, (aid, key, gen, task_id, name, text, attempt, call_id) in zip(
        tokens, rows, strict=True
    ):
        try:
            value = loads(text)
        except ValueError:
            value = text  # the activity sees the raw text and fails on it, visibly
        out.append(ActivityWork(key, gen, task_id, name, value, attempt, call_id, aid, token))
    return out
