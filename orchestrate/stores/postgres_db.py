"""One PostgreSQL database shared by threads, processes and hosts: connections, transactions,
retries after a lost connection, and wake-ups through ``LISTEN/NOTIFY``.

`Database` is the machinery under `PostgresStore`:

- a pool of connections that grows to the number of threads using the store at once (a worker's
  threads, a web server's handler threads) up to `pool_size`, and keeps them open between calls;
- `transaction(fn)`: `fn(conn)` in one READ COMMITTED transaction, retried on a deadlock or
  serialization failure, and on a lost connection (server restart, network cut) with backoff
  for up to `retry_for` seconds, provided the transaction certainly did not commit (the failure
  came before COMMIT). The first failure of an outage is logged as one warning line and the
  recovery as another; if the server stays away, a `StoreError` says where and what to do;
- wake-ups: a transaction that makes work available sends ``NOTIFY orchestrate`` (delivered at
  commit to every listening process), and `wait_for_change` blocks on a listener thread's count
  of notifications instead of polling.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from ..errors import OrchestrateError, StoreError, StoreUnavailable
from .postgres_schema import prepare

__all__ = ["CHANNEL", "Database", "refusal_fix"]

_T = TypeVar("_T")
_LOG = logging.getLogger("orchestrate.store")
CHANNEL = "orchestrate"  # the NOTIFY channel of every store on one database
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
_MAX_RETRY_FOR = 86_400.0  # a day: longer is a typo (or inf), and a worker retries anyway
_STALE = 1.0  # seconds idle in the pool after which a connection is checked before use


# Connection refusals that retrying cannot mend (libpq gives them no SQLSTATE, only the
# server's message), each with its fix.
_REFUSALS = (
    (
        re.compile(r'database "[^"]*" does not exist'),
        "create the database (createdb NAME, or CREATE DATABASE NAME as a superuser) or fix its "
        "name in the URL",
    ),
    (
        re.compile(r'role "[^"]*" does not exist'),
        "fix the user name in the URL, or create the role (CREATE ROLE NAME LOGIN PASSWORD '...')",
    ),
    (
        re.compile(r"authentication failed|no password supplied"),
        "check the user and password (in the URL, in PGPASSWORD or in ~/.pgpass)",
    ),
    (
        re.compile(r"no pg_hba\.conf entry|pg_hba\.conf rejects connection"),
        "allow this host and user in the server's pg_hba.conf, or connect as a user it allows",
    ),
    (
        re.compile(r"is not permitted to log in"),
        "give the role LOGIN (ALTER ROLE NAME LOGIN) or connect as a role that has it",
    ),
    (
        re.compile(r"permission denied for database"),
        "grant the role CONNECT on the database (GRANT CONNECT ON DATABASE NAME TO ROLE)",
    ),
)


def refusal_fix(text: str) -> str | None:
    """The fix for a connection the server refused for good (a wrong database, user or
    password), or None for a failure that may pass (server down, restarting, unreachable)."""
    for pattern, fix in _REFUSALS:
        if pattern.search(text):
            return fix
    return None


def _drop_pipeline_echo(record: logging.LogRecord) -> bool:
    """Drop psycopg's warning that a pipeline could not end on a lost connection: the error
    itself propagates (here: to `transaction`, which logs one line per outage), so the warning
    only doubles it. Any other psycopg record passes."""
    return not (
        record.msg == "error ignored terminating %r: %s"
        and isinstance(record.args, tuple)
        and len(record.args) == 2
        and isinstance(record.args[1], psycopg.OperationalError)
    )


logging.getLogger("psycopg").addFilter(_drop_pipeline_echo)  # the same function: added once


class _Uncommitted(Exception):
    """A connection failure before COMMIT was sent: the transaction surely did not apply."""


class Database:
    """The database at `conninfo`, checked (and its schema created or migrated) on construction."""

    def __init__(
        self, conninfo: str, *, where: str, pool_size: int = 32, retry_for: float = 15.0
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size={pool_size!r}: give a positive number of connections")
        if not 0 <= retry_for <= _MAX_RETRY_FOR:  # also refuses nan, which would retry forever
            raise ValueError(
                f"retry_for={retry_for!r}: give the seconds a call retries a lost connection, "
                f"from 0 (fail at once) to {_MAX_RETRY_FOR:g}, e.g. retry_for=30; a worker "
                "backs off and tries again after that anyway"
            )
        self.conninfo = conninfo
        self.where = where  # the database as errors name it (no password)
        self.pool_size = pool_size
        self.retry_for = retry_for
        self._pool: list[psycopg.Connection[Any]] = []
        self._idle_since: dict[int, float] = {}  # id(conn) -> when it went back to the pool
        self._pool_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._closed = False
        self._token_prefix = uuid.uuid4().hex[:12] + "-"
        self._token_count = itertools.count(1)
        self._outage = False  # a lost connection was logged and not yet recovered
        self._outage_lock = threading.Lock()
        self._changed = threading.Condition()
        self._changes = 0
        self._listener: threading.Thread | None = None
        self._listen_conn: psycopg.Connection[Any] | None = None
        conn = self._connect()
        try:
            prepare(conn, where)
        except psycopg.Error as exc:
            raise self.error(exc) from None
        finally:
            conn.close()

    # --- connections ---------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise self.error(exc) from None

    def tokens(self, count: int) -> list[str]:
        """`count` lock or lease tokens: unique per store object (random prefix) and per call."""
        prefix, numbers = self._token_prefix, self._token_count
        return [f"{prefix}{next(numbers)}" for _ in range(count)]

    def token_prefix(self) -> str:
        """A prefix unique to this call, for tokens made in SQL (prefix || row id)."""
        return f"{self._token_prefix}{next(self._token_count)}-"

    def _acquire(self) -> tuple[psycopg.Connection[Any], bool]:
        """A connection, and whether it sat idle long enough to check it before trusting it
        with a transaction (a server restart meanwhile leaves pooled connections dead)."""
        self._slots.acquire()
        with self._pool_lock:
            if self._pool:
                conn = self._pool.pop()
                since = self._idle_since.pop(id(conn), 0.0)
                return conn, time.monotonic() - since > _STALE
        try:
            return self._connect(), False
        except BaseException:
            self._slots.release()
            raise

    def _release(self, conn: psycopg.Connection[Any], broken: bool = False) -> None:
        try:
            with self._pool_lock:
                if not (broken or self._closed or conn.closed or conn.broken):
                    self._pool.append(conn)
                    self._idle_since[id(conn)] = time.monotonic()
                    return
            conn.close()
        finally:
            self._slots.release()

    def _flush(self) -> None:
        """Close every idle connection (after one was lost, the others likely were too)."""
        with self._pool_lock:
            idle, self._pool = self._pool, []
            self._idle_since.clear()
        for conn in idle:
            conn.close()

    def unavailable(self, exc: BaseException) -> StoreUnavailable:
        """A lost connection as `StoreUnavailable`, however the cause arrived (`error` reads a
        wrapped one as a plain `StoreError`, which a worker would take for damaged data)."""
        found = self.error(exc)
        if isinstance(found, StoreUnavailable):
            return found
        return StoreUnavailable(str(found))

    def error(self, exc: BaseException) -> StoreError:
        """`exc` as a `StoreError` that names the database, the cause and the fix."""
        text = " ".join(str(exc).split())  # libpq's messages span lines, with tabs
        stop = " " if text.endswith((".", "?", "!")) else ". "
        if isinstance(exc, psycopg.OperationalError):
            fix = refusal_fix(text)
            if fix is not None:
                return StoreError(
                    f"PostgreSQL {self.where} refused the connection: {text}{stop}This is not a "
                    f"network problem, and waiting will not mend it: {fix}"
                )
            return StoreUnavailable(
                f"cannot reach PostgreSQL {self.where}: {text}{stop}Check that the server runs and "
                "accepts connections from this host (pg_isready); workers retry with backoff"
            )
        return StoreError(f"PostgreSQL error on {self.where}: {text}")

    # --- transactions ----------------------------------------------------------------------------

    def transaction(
        self,
        fn: Callable[[psycopg.Connection[Any]], _T],
        *,
        durable: bool = True,
        notify: bool | Callable[[_T], bool] = True,
    ) -> _T:
        """Run `fn(conn)` in one transaction and commit it; see the module docstring for retries.

        `durable=False` commits without waiting for the WAL flush (claims: a lock or lease lost
        in a crash only frees the work again). `notify` wakes idle workers everywhere at commit
        (a function of `fn`'s result: whether to; ``NOTIFY`` serializes committing transactions
        cluster-wide, so a write that leaves no new work for others should not send it). Waiters
        in this process are woken by every write not passed ``notify=False``.
        """
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        conflicts = 0
        while True:
            try:
                result = self._once(fn, durable, notify)
            except _Uncommitted as lost:
                cause = lost.__cause__ or lost
                self._lost(cause)
                if time.monotonic() + delay > deadline:
                    # The connection is lost, whatever wrapped it on the way: the caller (a
                    # worker's round) backs off and retries; nothing is failed for it.
                    raise self.unavailable(cause) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except _RETRYABLE as exc:
                conflicts += 1
                if conflicts > 20:
                    raise self.error(exc) from None
                time.sleep(0.001 * conflicts)
                continue
            self._recovered()
            if notify is not False:  # this process's waiters: every write (a Runtime's wait)
                self.notify()
            return result

    def _once(
        self,
        fn: Callable[[psycopg.Connection[Any]], _T],
        durable: bool,
        notify: bool | Callable[[_T], bool],
    ) -> _T:
        try:
            conn, stale = self._acquire()
        except StoreError as exc:
            raise _Uncommitted() from exc.__cause__ or exc
        committing = False
        broken = True
        try:
            try:
                # Pipeline mode: statements whose results `fn` does not read are sent without
                # waiting for the server, so a transaction costs a round trip per read, not per
                # statement (a worker thread waiting on the socket also waits for the GIL).
                if stale:  # a round trip first: a dead connection fails before COMMIT is sent
                    conn.execute("SELECT 1")
                with conn.pipeline():
                    conn.execute("BEGIN")
                    if not durable:
                        conn.execute("SET LOCAL synchronous_commit = off")
                    result = fn(conn)
                    if notify if isinstance(notify, bool) else notify(result):
                        conn.execute(f"NOTIFY {CHANNEL}")
                    committing = True
                    conn.execute("COMMIT")
            except BaseException:
                if not conn.closed and not conn.broken:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise
            broken = False
            return result
        except _RETRYABLE:  # before OperationalError: they are of that family
            broken = False
            raise
        except psycopg.OperationalError as exc:
            if conn.broken or conn.closed:
                self._flush()
                if not committing:
                    raise _Uncommitted() from exc
            raise self.error(exc) from None
        except OrchestrateError:
            broken = False
            raise
        except psycopg.Error as exc:
            broken = conn.broken or conn.closed
            raise self.error(exc) from None
        finally:
            self._release(conn, broken)

    def read(self, fn: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """`fn(conn)` in a read-only snapshot (REPEATABLE READ), retried like `transaction`."""

        def snapshot(conn: psycopg.Connection[Any]) -> _T:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return fn(conn)

        return self.transaction(snapshot, notify=False)

    def _lost(self, cause: BaseException) -> None:
        with self._outage_lock:
            if self._outage:
                return
            self._outage = True
        _LOG.warning(
            "lost the connection to PostgreSQL %s (%s); retrying with backoff for up to %g s",
            self.where,
            " ".join(str(cause).split()),
            self.retry_for,
        )

    def _recovered(self) -> None:
        if not self._outage:  # the common case: no lock taken
            return
        with self._outage_lock:
            was, self._outage = self._outage, False
        if was:
            _LOG.warning("connection to PostgreSQL %s is back", self.where)

    # --- wake-ups --------------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake this process's waiters at once (other processes hear the NOTIFY)."""
        with self._changed:
            self._changes += 1
            self._changed.notify_all()

    def change_mark(self) -> int:
        """The count of changes seen: local commits and NOTIFYs (the listener starts here, so a
        mark taken before a look also covers other processes' commits during it)."""
        self._listen()
        with self._changed:
            return self._changes

    def wait_for_change(self, timeout: float, since: int | None = None) -> bool:
        """Block up to `timeout` seconds or until a NOTIFY (from any process) or a local commit
        (since the mark `since`, when given); True on a change, False when the time ran out."""
        self._listen()
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = self._changes if since is None else since
            while self._changes == seen and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return self._changes != seen

    def _listen(self) -> None:
        """Start the listener thread (once per store)."""
        with self._pool_lock:
            if self._listener is not None or self._closed:
                return
            self._listener = threading.Thread(
                target=self._listen_loop, name="orchestrate-pg-listen", daemon=True
            )
            self._listener.start()  # under the lock: `close` never joins an unstarted thread

    def _listen_loop(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
            except psycopg.Error:
                time.sleep(delay)  # the workers' own calls log the outage
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.1
            self._listen_conn = conn
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                self.notify()  # anything sent while we were not listening: look again
                while not self._closed:
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        self.notify()
            except psycopg.Error:
                pass  # reconnect
            finally:
                self._listen_conn = None
                conn.close()

    def close(self) -> None:
        """Close pooled connections, stop the listener and wake waiters. Calls made after this
        still work (each on a connection of its own), so winding-down threads finish writing."""
        with self._pool_lock:
            self._closed = True
            idle, self._pool = self._pool, []
            self._idle_since.clear()
            listener, self._listener = self._listener, None
        for conn in idle:
            conn.close()
        with self._changed:
            self._changed.notify_all()
        if listener is not None:
            listener.join(2.0)
