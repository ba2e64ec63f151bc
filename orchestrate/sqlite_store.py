"""`SqliteStore`: the `Store` contract in one SQLite file, the runtime's durable default.

Durability: the file is in WAL mode with ``synchronous=FULL``, so every transaction that changes
what an instance *is* (starting it, a raised event, a committed turn, an activity result, a purge)
is on disk when the call returns, even across a power cut. ``synchronous=NORMAL`` (the option
``?synchronous=normal``) is faster and still survives a killed process, but a power cut or OS crash
may lose the last transactions before the next checkpoint: turns re-run and activities re-execute
(with the same idempotency keys), and a started instance or a raised event may be lost outright.

Taking work (locking an instance for a turn, leasing an activity) is always written with
``synchronous=NORMAL``: a lock or lease lost in a power cut only makes the work available again,
which is what an expired lease does anyway, and WAL order guarantees the next fsync'd commit
carries it. Only non-durable state is written this way.

Concurrency: every write is one ``BEGIN IMMEDIATE`` transaction (writers queue on the busy
timeout), instances are locked with a token and an expiry, and a commit whose token no longer
matches is refused. Threads share a pool of connections; processes share the file. Throughput
comes from group commit: the worker hands over many turns (and many activity results) at a time,
and each batch is one transaction, so the fsync rate, not per-call overhead, is the limit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, unquote

from . import history as h
from .errors import (
    DuplicateInstance,
    InstanceNotFound,
    InstanceNotRunning,
    OrchestrateError,
    StoreError,
)
from .sqlite_schema import SYNCHRONOUS_MODES, connect, from_micros, prepare, to_micros
from .state import ActivityWork, InstanceState, Message, OrchestrationWork, Status, TurnCommit

__all__ = ["SqliteStore"]

_T = TypeVar("_T")

_POLL = 0.05  # seconds between checks for commits by other processes in `wait_for_change`
_FINISHED = tuple(s.value for s in Status if s.finished)
_INSTANCE_COLUMNS = (
    "instance_id, name, status, input, output, error, custom_status, created_at, updated_at, "
    "generation, parent_instance, parent_generation, parent_task, history_len"
)


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


def _dumps(value: Any) -> str:
    if value is None:
        return "null"
    return _ENCODE(value)


def _loads(text: str) -> Any:
    return None if text == "null" else json.loads(text)


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _time(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def _event_json(event: h.Event) -> str:
    return _dumps(h.event_to_dict(event))


def _event(text: str, where: str, number: int, key: str) -> h.Event:
    """Decode one stored event; `where` (formatted with the row's number and instance id)
    names the row in errors, and is only formatted when there is one."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"{where.format(number, key)} is not valid JSON ({exc})") from None
    try:
        return h.event_from_dict(data)
    except StoreError as exc:
        detail = str(exc).removeprefix("event")
        raise StoreError(f"{where.format(number, key)}{detail}") from None


def _message_row(m: Message) -> tuple[Any, ...]:
    """A message as the parameters of the queueing INSERT (encoded before taking the lock)."""
    due = 0 if m.visible_at is None else to_micros(m.visible_at)
    return (m.instance_id, m.generation, due, _event_json(m.event), m.instance_id)


class _Turn:
    """One `TurnCommit` encoded to SQL parameters ahead of the transaction.

    Encoding (JSON, timestamps) is the expensive part of a commit; doing it before queueing for
    the write lock keeps the lock held only for SQL work.
    """

    __slots__ = ("activities", "children", "commit", "consumed", "events", "messages", "state")

    def __init__(self, commit: TurnCommit) -> None:
        state = commit.instance
        self.commit = commit
        self.consumed = [(m,) for m in commit.consumed]
        self.events = [_event_json(e) for e in commit.new_events]
        # status, input (NULL keeps the stored one: it changes only with a new generation),
        # output, error, custom_status, updated_at, generation
        self.state = (
            str(state.status),
            _dumps(state.input) if commit.reset_history else None,
            _dumps(state.output),
            None if state.error is None else _dumps(state.error.to_dict()),
            _dumps(state.custom_status),
            _micros(state.updated_at),
            state.generation,
        )
        self.activities = [
            (w.instance_id, w.generation, w.task_id, w.name, _dumps(w.input), w.attempt, w.call_id)
            for w in commit.activities
        ]
        self.children = commit.children
        starts = {c.instance_id for c in commit.children}
        self.messages = [
            (
                _message_row(m),
                m.instance_id in starts and isinstance(m.event, h.OrchestrationStarted),
            )
            for m in commit.messages
        ]


class _Conn:
    """A pooled connection and the `synchronous` level it is currently set to."""

    __slots__ = ("conn", "sync")

    def __init__(self, conn: sqlite3.Connection, sync: str) -> None:
        self.conn = conn
        self.sync = sync


class _Op:
    """One operation waiting for a group commit, and its outcome once committed."""

    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


class SqliteStore:
    """A durable, multi-thread and multi-process safe store in one SQLite file.

    ``SqliteStore("orders.db")`` creates the file when it does not exist; an existing file must be
    an orchestrate database of this or an older schema version (anything else raises `StoreError`
    and is left untouched).
    """

    def __init__(self, path: str, *, synchronous: str = "FULL", busy_timeout: float = 30.0) -> None:
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise ValueError(
                f"synchronous={synchronous!r} is not supported; use 'FULL' (durable across power "
                "loss, the default) or 'NORMAL' (faster; a power cut may lose the last commits)"
            )
        if path in ("", ":memory:"):
            raise ValueError(
                "an in-memory SQLite database cannot be shared between connections; "
                "use the 'memory:' store URL (MemoryStore) instead"
            )
        self.path = path
        self.synchronous = mode
        self.busy_timeout = busy_timeout
        prepare(path, busy_timeout=busy_timeout)
        self._pool: list[_Conn] = []
        self._pool_lock = threading.Lock()
        # Writers of this process queue on a mutex: SQLite's busy handler would put a blocked
        # thread to sleep for milliseconds at a time, where a mutex hands over at once. The busy
        # timeout still arbitrates between processes.
        self._write_lock = threading.Lock()
        self._token_prefix = uuid.uuid4().hex[:12] + "-"
        self._token_count = itertools.count(1)
        self._queue: list[_Op] = []  # durable writes waiting for the next group commit
        self._group_cond = threading.Condition()  # guards _queue and _leading
        self._leading = False  # a thread is committing a group right now
        self._closed = False
        self._changed = threading.Condition()
        self._changes = 0  # bumped by every write this process commits
        self._watch: sqlite3.Connection | None = None  # reads PRAGMA data_version for others
        self._watch_lock = threading.Lock()

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

    def _token(self) -> str:
        """A lock or lease token: unique per store object (random prefix) and per call."""
        return f"{self._token_prefix}{next(self._token_count)}"

    # --- connections and transactions ------------------------------------------------------------

    def _acquire(self) -> _Conn:
        with self._pool_lock:
            if self._pool:
                return self._pool.pop()
        try:
            conn = connect(self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return _Conn(conn, self.synchronous)

    def _release(self, pooled: _Conn) -> None:
        with self._pool_lock:
            if not self._closed:
                self._pool.append(pooled)
                return
        pooled.conn.close()

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"{self.path!r} stayed locked for {self.busy_timeout} s ({text}): another "
                "process holds a long write transaction. Retry, or raise busy_timeout"
            )
        return StoreError(
            f"SQLite error on {self.path!r}: {text}. If the file is corrupt, stop the workers and "
            "restore it from a backup (`sqlite3 FILE .recover` can salvage rows)"
        )

    @contextlib.contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; committed on success, rolled back on error."""
        pooled = self._acquire()
        conn = pooled.conn
        try:
            sync = self.synchronous if durable else "NORMAL"
            if pooled.sync != sync:
                conn.execute(f"PRAGMA synchronous = {sync}")
                pooled.sync = sync
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        finally:
            self._release(pooled)

    def _group(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `op` in a durable transaction shared with the writes other threads queued meanwhile.

        Group commit: a caller queues its operation; if no group is being committed it leads,
        taking everything queued so far into one transaction (each operation inside its own
        savepoint, so one that raises is undone alone and re-raised to its own caller); else it
        waits until the current group is done and either finds its operation committed or leads
        the next group. Concurrent starts, events, turns and activity results thus share one
        fsync. Results are handed out only after COMMIT returned.
        """
        mine = _Op(op)
        with self._group_cond:
            self._queue.append(mine)
            while self._leading and not mine.done:
                self._group_cond.wait()
            if not mine.done:  # lead: take everything queued so far
                self._leading = True
                batch, self._queue = self._queue, []
        if not mine.done:
            try:
                with self._write_lock:
                    self._commit_group(batch)
            finally:
                with self._group_cond:
                    self._leading = False
                    self._group_cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return cast(_T, mine.result)

    def _commit_group(self, batch: list[_Op]) -> None:
        """Commit queued operations together (the caller holds the write mutex).

        Operations raise their expected errors (`OrchestrateError`: duplicate id, unknown
        instance...) before writing anything, so those need no undo and the others commit. Any
        other failure may leave partial writes: the group is rolled back and each operation
        re-run in a transaction of its own, so only the faulty one fails.
        """
        try:
            if len(batch) > 1 and not self._run_group(batch):
                for op in batch:
                    self._run_group([op], alone=True)
            elif len(batch) == 1:
                self._run_group(batch, alone=True)
        finally:
            for op in batch:  # interrupted (KeyboardInterrupt...): nobody may wait forever
                if not op.done:
                    op.error = StoreError(f"the write to {self.path!r} was interrupted; retry it")
                    op.done = True
            self._notify()

    def _run_group(self, batch: list[_Op], *, alone: bool = False) -> bool:
        """One transaction for `batch`; False (all rolled back, nothing set) if it must be split."""
        pooled: _Conn | None = None
        try:
            pooled = self._acquire()
            conn = pooled.conn
            if pooled.sync != self.synchronous:
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                pooled.sync = self.synchronous
            results: list[tuple[Any, BaseException | None]] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for op in batch:
                    try:
                        results.append((op.fn(conn), None))
                    except OrchestrateError as exc:
                        results.append((None, exc))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            for op, (result, error) in zip(batch, results, strict=True):
                op.result, op.error = result, error
        except Exception as exc:
            if not alone:
                return False
            failure = self._error(exc) if isinstance(exc, sqlite3.Error) else exc
            for op in batch:
                op.result, op.error = None, failure
        finally:
            if pooled is not None:
                self._release(pooled)
        for op in batch:
            op.done = True
        return True

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (a deferred transaction, never written)."""
        pooled = self._acquire()
        conn = pooled.conn
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        finally:
            self._release(pooled)

    def _notify(self) -> None:
        with self._changed:
            self._changes += 1
            self._changed.notify_all()

    # --- rows <-> records ----------------------------------------------------------------------------

    @staticmethod
    def _state_row(state: InstanceState, history_len: int) -> tuple[Any, ...]:
        return (
            state.name,
            str(state.status),
            _dumps(state.input),
            _dumps(state.output),
            None if state.error is None else _dumps(state.error.to_dict()),
            _dumps(state.custom_status),
            _micros(state.created_at),
            _micros(state.updated_at),
            state.generation,
            state.parent_instance,
            state.parent_generation,
            state.parent_task,
            history_len,
            state.instance_id,
        )

    @staticmethod
    def _state(row: tuple[Any, ...]) -> InstanceState:
        key = row[0]
        try:
            error = None if row[5] is None else h.ErrorInfo.from_dict(json.loads(row[5]))
            return InstanceState(
                instance_id=key,
                name=row[1],
                status=Status(row[2]),
                input=_loads(row[3]),
                output=_loads(row[4]),
                error=error,
                custom_status=_loads(row[6]),
                created_at=_time(row[7]),
                updated_at=_time(row[8]),
                generation=row[9],
                parent_instance=row[10],
                parent_generation=row[11],
                parent_task=row[12],
                history_len=row[13],
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(
                f"the stored state of instance {key!r} cannot be decoded ({exc}); the row is "
                "damaged. Inspect it with `orchestrate show`, then terminate or purge it"
            ) from None

    # --- instances -------------------------------------------------------------------------------

    def create_instance(self, state: InstanceState, start: Message, *, reuse: bool = False) -> None:
        row, start_row = self._state_row(state, 0), _message_row(start)

        def create(conn: sqlite3.Connection) -> None:
            if not self._insert_row(conn, row):  # the id is taken: a duplicate, or a reuse
                old = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = ?", (state.instance_id,)
                ).fetchone()
                status = Status(old[0])
                if not (reuse and status.finished):
                    hint = (
                        "pass reuse=True to start a new instance under this id"
                        if status.finished
                        else "it is still running; wait for it or terminate it first"
                    )
                    raise DuplicateInstance(
                        f"an instance with id {state.instance_id!r} already exists ({status}); "
                        f"{hint}"
                    )
                self._drop(conn, state.instance_id)
                self._insert_row(conn, row)
            conn.execute(
                "INSERT INTO messages (instance_id, generation, due, event) VALUES (?, ?, ?, ?)",
                start_row[:4],
            )

        self._group(create)

    @staticmethod
    def _insert_instance(conn: sqlite3.Connection, state: InstanceState) -> bool:
        """Insert a new instance row; False (and nothing written) when the id is taken."""
        return SqliteStore._insert_row(conn, SqliteStore._state_row(state, 0))

    @staticmethod
    def _insert_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> bool:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO instances (name, status, input, output, error, custom_status, "
            "created_at, updated_at, generation, parent_instance, parent_generation, parent_task, "
            "history_len, instance_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            row,
        )
        return cursor.rowcount == 1

    @staticmethod
    def _drop(conn: sqlite3.Connection, instance_id: str) -> None:
        for table in ("instances", "history", "messages", "activities", "locks"):
            conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def get_instance(self, instance_id: str) -> InstanceState | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
            ).fetchone()
        return None if row is None else self._state(row)

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
        sql = f"SELECT {_INSTANCE_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY coalesce(created_at, 0), instance_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._state(row) for row in rows]

    def get_history(self, instance_id: str) -> list[h.Event]:
        with self._read() as conn:
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
            _event(text, "history event {} of instance {!r}", seq, instance_id)
            for seq, text in rows
        ]

    def send(self, message: Message) -> None:
        key = message.instance_id
        row = _message_row(message)

        def deliver(conn: sqlite3.Connection) -> None:
            status = conn.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (key,)
            ).fetchone()
            if status is None:
                raise InstanceNotFound(f"no instance with id {key!r}; check the id with `list`")
            if Status(status[0]).finished:
                raise InstanceNotRunning(
                    f"instance {key!r} is {status[0]}; it takes no more messages"
                )
            self._enqueue_rows(conn, [row])

        self._group(deliver)

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        with self._write() as conn:
            if instance_id is not None:
                row = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = ?", (instance_id,)
                ).fetchone()
                if row is None:
                    raise InstanceNotFound(f"no instance with id {instance_id!r}")
                if not Status(row[0]).finished:
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
        self._notify()
        return len(doomed)

    # --- orchestration turns -------------------------------------------------------------------

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, messages: list[Message]) -> None:
        """Queue messages; one addressed to an instance that no longer exists is dropped."""
        SqliteStore._enqueue_rows(conn, [_message_row(m) for m in messages])

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
        with self._write(durable=False) as conn:
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
            tokens = {key: self._token() for key in keys}
            conn.executemany(
                "INSERT OR REPLACE INTO locks (token, expires, instance_id) VALUES (?, ?, ?)",
                [(tokens[key], expires, key) for key in keys],
            )
            marks = ",".join("?" * len(keys))
            rows = conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id IN ({marks})", keys
            ).fetchall()
            message_rows = conn.execute(
                "SELECT id, instance_id, generation, due, event FROM messages "
                f"WHERE instance_id IN ({marks}) AND due <= ? ORDER BY id",
                [*keys, moment],
            ).fetchall()
        inbox: dict[str, list[Message]] = {key: [] for key in keys}
        broken: dict[str, StoreError] = {}
        for mid, key, generation, due, text in message_rows:
            try:
                event = _event(text, "message {} to instance {!r}", mid, key)
            except StoreError as exc:
                broken.setdefault(key, exc)
                continue
            visible = from_micros(due) if due else None
            inbox[key].append(Message(key, event, generation, visible, mid))
        states = {}
        for row in rows:
            try:
                states[row[0]] = self._state(row)
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
        with self._write() as conn:
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
            if Status(row[4]).finished:  # a finished instance ignores messages anyway
                return
            conn.execute(
                "UPDATE instances SET status = ?, error = ?, updated_at = ? WHERE instance_id = ?",
                (Status.FAILED.value, _dumps(info.to_dict()), to_micros(now), key),
            )
            parent, generation, task = row[1], row[2], row[3]
            if parent is not None and task is not None:
                notice = h.SubOrchestrationFailed(now, task, info.type, info.message)
                self._enqueue(conn, [Message(parent, notice, generation)])
        self._notify()

    def commit_turns(self, commits: list[TurnCommit]) -> list[bool]:
        if not commits:
            return []
        turns = [_Turn(commit) for commit in commits]
        return self._group(lambda conn: self._commit_batch(conn, turns))

    def _commit_batch(self, conn: sqlite3.Connection, turns: list[_Turn]) -> list[bool]:
        """Apply a batch of turns with one statement per kind of change (executemany).

        A turn whose lock token no longer matches is skipped (False) and changes nothing.
        Children are created before any message is queued, so a child's start message finds it.
        """
        keys = [t.commit.instance.instance_id for t in turns]
        held: dict[str, tuple[str | None, int]] = {}
        for chunk in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            part = keys[chunk : chunk + 500]
            marks = ",".join("?" * len(part))
            for key, token, length in conn.execute(
                "SELECT i.instance_id, l.token, i.history_len FROM instances AS i "
                "LEFT JOIN locks AS l ON l.instance_id = i.instance_id "
                f"WHERE i.instance_id IN ({marks})",
                part,
            ):
                held[key] = (token, length)
        applied: list[bool] = []
        consumed: list[tuple[int]] = []
        resets: list[tuple[str]] = []
        history: list[tuple[str, int, str]] = []
        states: list[tuple[Any, ...]] = []
        activities: list[tuple[Any, ...]] = []
        children: list[InstanceState] = []
        messages: list[tuple[tuple[Any, ...], bool]] = []
        for turn, key in zip(turns, keys, strict=True):
            token, base = held.pop(key, (None, 0))  # pop: a second turn in the batch is stale
            if token is None or token != turn.commit.lock_token:
                applied.append(False)
                continue
            applied.append(True)
            consumed.extend(turn.consumed)
            if turn.commit.reset_history:
                resets.append((key,))
                base = 0
            history.extend((key, base + i, text) for i, text in enumerate(turn.events))
            states.append((*turn.state, base + len(turn.events), key))
            activities.extend(turn.activities)
            children.extend(turn.children)
            messages.extend(turn.messages)
        if consumed:
            conn.executemany("DELETE FROM messages WHERE id = ?", consumed)
        if resets:
            conn.executemany("DELETE FROM history WHERE instance_id = ?", resets)
        if history:
            conn.executemany(
                "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)", history
            )
        if states:
            conn.executemany(
                "UPDATE instances SET status = ?, input = coalesce(?, input), output = ?, "
                "error = ?, custom_status = ?, updated_at = ?, generation = ?, history_len = ? "
                "WHERE instance_id = ?",
                states,
            )
            conn.executemany("DELETE FROM locks WHERE instance_id = ?", [(s[-1],) for s in states])
        if activities:
            conn.executemany(
                "INSERT INTO activities (instance_id, generation, task_id, name, input, attempt, "
                "call_id, due) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                activities,
            )
        rejected: set[str] = set()
        for child in children:
            if not self._insert_instance(conn, child):
                rejected.add(child.instance_id)
                self._reject_child(conn, child)
        # The start message of a refused child must not reach the instance holding its id.
        self._enqueue_rows(
            conn, [row for row, start in messages if not (start and row[0] in rejected)]
        )
        return applied

    def _reject_child(self, conn: sqlite3.Connection, child: InstanceState) -> None:
        if child.parent_instance is None or child.parent_task is None:
            return
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
        self._enqueue(conn, [Message(child.parent_instance, notice, child.parent_generation)])

    def abandon(self, work: OrchestrationWork) -> None:
        with self._write(durable=False) as conn:
            conn.execute(
                "DELETE FROM locks WHERE instance_id = ? AND token = ?",
                (work.instance.instance_id, work.lock_token),
            )
        self._notify()

    # --- activities ------------------------------------------------------------------------------

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]:
        moment = to_micros(now)
        expires = moment + int(lease * 1_000_000)
        if not self.has_ready_work(now, turns=False):
            return []
        with self._write(durable=False) as conn:  # a lost lease only makes the item visible again
            rows = conn.execute(
                "SELECT id, instance_id, generation, task_id, name, input, attempt, call_id "
                "FROM activities INDEXED BY activities_due WHERE due <= ? ORDER BY due, id "
                "LIMIT ?",
                (moment, limit),
            ).fetchall()
            if not rows:
                return []
            tokens = [self._token() for _ in rows]
            conn.executemany(
                "UPDATE activities SET lease_token = ?, due = ? WHERE id = ?",
                [(token, expires, row[0]) for token, row in zip(tokens, rows, strict=True)],
            )
        out: list[ActivityWork] = []
        for token, (aid, key, gen, task_id, name, text, attempt, call_id) in zip(
            tokens, rows, strict=True
        ):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = text  # the activity sees the raw text and fails on it, visibly
            out.append(ActivityWork(key, gen, task_id, name, value, attempt, call_id, aid, token))
        return out

    def complete_activities(self, results: list[tuple[ActivityWork, Message]]) -> None:
        if not results:
            return

        encoded = [(work.id, _message_row(message)) for work, message in results]

        def complete(conn: sqlite3.Connection) -> None:
            ids = [work.id for work, _ in results]
            present: set[int] = set()
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                marks = ",".join("?" * len(part))
                present.update(
                    row[0]
                    for row in conn.execute(
                        f"SELECT id FROM activities WHERE id IN ({marks})", part
                    )
                )
            # An item already gone was completed by another worker: its result is dropped.
            finished: list[tuple[Any, ...]] = []
            for item_id, row in encoded:
                if item_id in present:
                    present.discard(item_id)  # a second result for one item is dropped too
                    finished.append(row)
            conn.executemany("DELETE FROM activities WHERE id = ?", [(m,) for m in ids])
            self._enqueue_rows(conn, finished)

        self._group(complete)

    # --- waiting -----------------------------------------------------------------------------------

    def next_wakeup(self) -> datetime | None:
        with self._read() as conn:
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

    def wait_for_change(self, timeout: float) -> None:
        """Wake on a commit by this process at once, and within 50 ms on one by another process."""
        deadline = time.monotonic() + timeout
        baseline = self._data_version()
        with self._changed:
            seen = self._changes
        while not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with self._changed:
                if self._changes != seen:
                    return
                self._changed.wait(min(remaining, _POLL))
                if self._changes != seen:
                    return
            if self._data_version() != baseline:
                return

    def _data_version(self) -> int:
        """SQLite's counter of commits made by *other* connections to this file."""
        with self._watch_lock:
            try:
                if self._watch is None:
                    self._watch = connect(
                        self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout
                    )
                return int(self._watch.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                return -1

    def has_ready_work(self, now: datetime, *, turns: bool = True, activities: bool = True) -> bool:
        """Whether a fetch at `now` would find an unlocked instance or an activity (for idle loops)."""
        moment = to_micros(now)
        with self._read() as conn:
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

    def close(self) -> None:
        """Close pooled connections and wake waiters.

        Threads still inside a call finish it; a call made after `close` opens a short-lived
        connection, so a worker thread that is winding down never fails on a closed store.
        """
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, []
        for pooled in pool:
            pooled.conn.close()
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        with self._changed:
            self._changed.notify_all()
