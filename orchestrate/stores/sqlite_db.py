"""One SQLite file shared by threads and processes: connections, transactions, group commit.

`Database` is the machinery under `SqliteStore`: a pool of connections (threads come and go, a
web server's handler threads included), an in-process write mutex (SQLite's busy handler would
sleep for milliseconds where a mutex hands over at once; the busy timeout still arbitrates
between processes), group commit of durable writes, and change notification for waiters.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from ..errors import OrchestrateError, StoreError, StoreUnavailable
from .sqlite_schema import SYNCHRONOUS_MODES, connect, prepare

__all__ = ["Database"]

_T = TypeVar("_T")
_POLL = 0.05  # seconds between checks for commits by other processes in `wait_for_change`
# A worker's write waits up to _PATIENCE for a client's write to share its commit, while a client
# wrote in the last _CLIENT_ACTIVE seconds (see `Database.group`).
_PATIENCE = 0.002
_CLIENT_ACTIVE = 0.005
_FILE_MODE = 0o600  # a new database holds every payload: readable by its owner only
# SQLite's primary result codes (``exc.sqlite_errorcode & 0xFF``) that are no damage to the file.
_BUSY, _LOCKED, _READONLY = 5, 6, 8


class _Conn:
    """A pooled connection and the `synchronous` level it is currently set to."""

    __slots__ = ("conn", "sync")

    def __init__(self, conn: sqlite3.Connection, sync: str) -> None:
        self.conn = conn
        self.sync = sync


def _wake_lock() -> Any:
    """A held lock: its owner blocks acquiring it again until another thread releases it.

    The cheapest one-shot wake-up there is (a `threading.Event` is a condition variable, a lock
    and a waiter lock per wait); group commit makes one per waiting write.
    """
    lock = threading.Lock()
    lock.acquire()
    return lock


class _Op:
    """One operation waiting for a group commit, and its outcome once committed."""

    __slots__ = ("done", "error", "fn", "lead", "patient", "result", "wake")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False
        # Released exactly once: when the op is done, or (instead) when it is chosen to lead.
        self.wake: Any = None
        self.lead = False  # this op's thread commits the next group
        self.patient = False  # may wait for a client's write to carry it (`Database.group`)


_NOT_DAMAGE = (_BUSY, _LOCKED, _READONLY)


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code of `exc` (0 when the driver did not say)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _read_only(path: str, cause: str) -> StoreError:
    return StoreError(
        f"{path!r} is read-only: {cause}. Orchestrate writes to its database (and to the "
        f"{os.path.basename(path)}-wal and -shm files beside it): fix the file's permissions (it "
        "and its directory must be writable by this user) or point --db / the store URL at a "
        "writable copy"
    )


def _create_private(path: str) -> None:
    """Create a new database file readable and writable by its owner only (0600).

    SQLite would create it with the umask's mode (usually 0644: world-readable payloads); its
    -wal and -shm files copy the database file's mode. An existing file is left as it is, and a
    missing directory is reported by `prepare`.
    """
    if os.path.exists(path) or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))
    except FileExistsError:
        return  # another process created it first
    except PermissionError as exc:
        directory = os.path.dirname(os.path.abspath(path))
        raise StoreError(
            f"cannot create the database {path!r}: the directory {directory!r} is read-only for "
            f"this user ({exc.strerror}); fix its permissions or choose a writable directory"
        ) from None


def _check_writable(path: str) -> None:
    """Refuse a database this process may not write, before SQLite calls it corrupt."""
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise _read_only(path, "this user may not write the file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return  # `prepare` names the missing directory
    if not os.path.exists(f"{path}-shm") and not os.access(directory, os.W_OK | os.X_OK):
        raise _read_only(path, f"this user may not create its -shm and -wal files in {directory!r}")


class Database:
    """The file at `path`, opened (and created or checked) on construction."""

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
        _create_private(path)
        _check_writable(path)
        try:
            prepare(path, busy_timeout=busy_timeout)
        except StoreError as exc:
            # `prepare` reads every SQLite error as damage; a lock or a permission is none.
            cause = exc.__context__
            if isinstance(cause, sqlite3.Error) and _code(cause) in _NOT_DAMAGE:
                raise self.error(cause) from None
            raise
        self._pool: list[_Conn] = []
        self._pool_lock = threading.Lock()
        # Writers of this process queue on a mutex: SQLite's busy handler would put a blocked
        # thread to sleep for milliseconds at a time, where a mutex hands over at once. The busy
        # timeout still arbitrates between processes.
        self._write_lock = threading.Lock()
        self._token_prefix = uuid.uuid4().hex[:12] + "-"
        self._token_count = itertools.count(1)
        self._queue: list[_Op] = []  # durable writes waiting for the next group commit
        self._group_lock = threading.Lock()  # guards _queue and _leading
        self._leading = False  # a thread is committing a group right now
        self._client_at = -_CLIENT_ACTIVE  # when a client (not a worker) last queued a write
        self._closed = False
        self._changed = threading.Condition()
        self._changes = 0  # bumped by every write this process commits
        self._watch: sqlite3.Connection | None = None  # reads PRAGMA data_version for others
        self._watch_lock = threading.Lock()

    def tokens(self, count: int) -> list[str]:
        """`count` lock or lease tokens: unique per store object (random prefix) and per call."""
        prefix, numbers = self._token_prefix, self._token_count
        return [f"{prefix}{next(numbers)}" for _ in range(count)]

    def _acquire(self) -> _Conn:
        with self._pool_lock:
            if self._pool:
                return self._pool.pop()
        try:
            conn = connect(self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise self.error(exc) from None
        return _Conn(conn, self.synchronous)

    def _release(self, pooled: _Conn) -> None:
        with self._pool_lock:
            if not self._closed:
                self._pool.append(pooled)
                return
        pooled.conn.close()

    def error(self, exc: sqlite3.Error) -> StoreError:
        """`exc` as a `StoreError` that names the file, the cause and the fix."""
        text = str(exc)
        code = _code(exc)
        if code in (_BUSY, _LOCKED) or "locked" in text or "busy" in text:
            return StoreUnavailable(
                f"{self.path!r} is locked: it stayed locked for {self.busy_timeout} s ({text}); "
                "another process holds a long write transaction or an exclusive lock (a copy tool, "
                "an sqlite3 shell). Retry when it is done, or raise busy_timeout "
                "(e.g. sqlite:///FILE?busy_timeout=60)"
            )
        if code == _READONLY or "readonly" in text:
            return _read_only(self.path, text)
        return StoreError(
            f"SQLite error on {self.path!r}: {text}. If the file is corrupt, stop the workers and "
            "restore it from a backup (`sqlite3 FILE .recover` can salvage rows)"
        )

    @contextlib.contextmanager
    def write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
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
            raise self.error(exc) from None
        finally:
            self._release(pooled)

    def group(self, op: Callable[[sqlite3.Connection], _T], *, patient: bool = False) -> _T:
        """Run `op` in a durable transaction shared with the writes other threads queued meanwhile.

        Group commit: a caller queues its operation; if no group is being committed it leads,
        taking everything queued so far into one transaction; else it waits until the current
        group is done and either finds its operation committed or leads the next group.
        Concurrent starts, events, turns and activity results thus share one fsync. Each
        caller gets its own result or exception, and only after COMMIT returned.

        A `patient` operation (a worker's write, which nobody outside waits on) does not lead
        at once while a client is writing (a start or an event queued in the last
        `_CLIENT_ACTIVE` seconds): it waits up to `_PATIENCE` for the client's next write to
        carry it. A client that starts instances one by one then pays one fsync per call,
        instead of also waiting for the worker's commits between its own.
        """
        mine = _Op(op)
        with self._group_lock:
            self._queue.append(mine)
            if patient:
                mine.patient = True
            else:
                self._client_at = time.monotonic()
            if not self._leading and not (patient and self._client_active()):
                self._leading = mine.lead = True
            else:
                mine.wake = _wake_lock()
        if mine.wake is not None:
            try:
                self._await(mine)
            except BaseException:  # interrupted while waiting (Ctrl-C on this thread)
                with self._group_lock:
                    if not mine.lead and mine in self._queue:
                        self._queue.remove(mine)  # never committed, never to lead
                        raise
                if mine.lead:
                    self._lead()  # the others wait for this thread: lead, then give up
                raise
        if mine.lead and not mine.done:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return cast(_T, mine.result)

    def _client_active(self) -> bool:
        return time.monotonic() - self._client_at < _CLIENT_ACTIVE

    def _await(self, mine: _Op) -> None:
        """Wait until `mine` is committed or handed the lead; a patient op that nobody took
        within `_PATIENCE` leads itself."""
        assert mine.wake is not None
        if not mine.patient:
            # Woken only when our operation is committed, or when we are handed the lead: one
            # wake-up per waiter, not one per waiter per group (a notify_all herd costs CPU).
            mine.wake.acquire()
            return
        while not mine.wake.acquire(timeout=_PATIENCE):
            with self._group_lock:
                if mine not in self._queue:
                    break  # a leader took it: its commit wakes us
                if not self._leading:
                    self._leading = mine.lead = True
                    return
        if not mine.lead and not mine.done:
            mine.wake.acquire()

    def _lead(self) -> None:
        """Commit everything queued so far, wake its owners, and hand the lead on (or drop it)."""
        with self._group_lock:
            batch, self._queue = self._queue, []
        try:
            with self._write_lock:
                self._commit_group(batch)
        finally:
            for op in batch:
                if not op.done:  # interrupted before the commit even started
                    op.error = StoreError(f"the write to {self.path!r} was interrupted; retry it")
                    op.done = True
                if op.wake is not None and not op.lead:  # a leader's wake was its hand-over
                    op.wake.release()
            with self._group_lock:
                successor = self._successor()
                if successor is None:
                    self._leading = False
                else:
                    successor.lead = True
            if successor is not None:
                assert successor.wake is not None
                successor.wake.release()

    def _successor(self) -> _Op | None:
        """The queued op to lead the next group: the first, unless only patient ops wait while
        a client is writing (they wait, and lead themselves after `_PATIENCE` at the latest)."""
        if not self._queue:
            return None
        if all(op.patient for op in self._queue) and self._client_active():
            return None
        return self._queue[0]

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
            self.notify()

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
            failure = self.error(exc) if isinstance(exc, sqlite3.Error) else exc
            for op in batch:
                op.result, op.error = None, failure
        finally:
            if pooled is not None:
                self._release(pooled)
        for op in batch:
            op.done = True
        return True

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
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
            raise self.error(exc) from None
        finally:
            self._release(pooled)

    def notify(self) -> None:
        with self._changed:
            self._changes += 1
            self._changed.notify_all()

    def change_mark(self) -> tuple[int, int]:
        """This process's commit count and SQLite's count of other connections' commits."""
        with self._changed:
            local = self._changes
        return local, self._data_version()

    def wait_for_change(self, timeout: float, since: tuple[int, int] | None = None) -> bool:
        """Wake on a commit by this process at once, and within 50 ms on one by another process
        (since the mark `since`, when given); True on a change, False when the time ran out."""
        deadline = time.monotonic() + timeout
        seen, baseline = self.change_mark() if since is None else since
        while not self._closed:
            with self._changed:
                if self._changes != seen:
                    return True
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._changed.wait(min(remaining, _POLL))
                if self._changes != seen:
                    return True
            if self._data_version() != baseline:
                return True
            if remaining <= 0:
                return False
        return False

    def _data_version(self) -> int:
        """SQLite's counter of commits made by *other* connections to this file."""
        with self._watch_lock:
            if self._closed:
                return -1  # not reopened after `close`: nothing would close it again
            try:
                if self._watch is None:
                    self._watch = connect(
                        self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout
                    )
                return int(self._watch.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                return -1

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
