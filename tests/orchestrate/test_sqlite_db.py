"""Group commit under interruption: no write is lost silently, and nobody waits forever."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from orchestrate import StoreError
from orchestrate.stores.sqlite_db import Database

from ..waiting import wait_until


class Interrupted(BaseException):
    """Stands in for KeyboardInterrupt raised in one thread."""


def test_an_interrupted_waiter_neither_blocks_the_others_nor_commits(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "g.db"))
    release = threading.Event()
    results: dict[str, Any] = {}

    def slow(conn: Any) -> str:
        release.wait(10)
        return "A"

    leader = threading.Thread(target=lambda: results.setdefault("A", db.group(slow)))
    leader.start()
    wait_until(lambda: db._leading, what="the first write to lead its group")
    ran: list[str] = []

    import orchestrate.stores.sqlite_db as module

    real_wake = module._wake_lock

    class InterruptedWake:
        """The waiter's wake-up: waiting on it is interrupted (like Ctrl-C on that thread)."""

        def __init__(self) -> None:
            self.lock = real_wake()

        def acquire(self) -> bool:
            raise Interrupted

        def release(self) -> None:
            self.lock.release()

    module._wake_lock = InterruptedWake  # type: ignore[assignment]
    try:
        with pytest.raises(Interrupted):
            db.group(lambda conn: ran.append("main"))
    finally:
        module._wake_lock = real_wake  # type: ignore[assignment]
    late = threading.Thread(target=lambda: results.setdefault("C", db.group(lambda conn: "C")))
    late.start()
    release.set()
    leader.join(10)
    late.join(10)
    assert results == {"A": "A", "C": "C"}
    assert ran == []  # the interrupted caller's write never ran
    assert not db._leading and db._queue == []


def test_a_leader_interrupted_before_committing_fails_its_batch_loudly(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "g.db"))
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def slow(conn: Any) -> str:
        release.wait(10)
        return "A"

    def record(name: str, op: Any) -> None:
        try:
            outcome[name] = ("ok", db.group(op))
        except BaseException as exc:
            outcome[name] = ("error", exc)

    first = threading.Thread(target=record, args=("A", slow))
    first.start()
    wait_until(lambda: db._leading, what="the first write to lead its group")
    # Two more writers queue behind A; the one that leads next is interrupted on the write lock.
    real_lock = db._write_lock
    victim: list[threading.Thread] = []

    class Lock:
        def __enter__(self) -> None:
            if victim and threading.current_thread() is victim[0]:
                raise Interrupted
            real_lock.acquire()

        def __exit__(self, *exc: object) -> None:
            real_lock.release()

    db._write_lock = Lock()  # type: ignore[assignment]
    second = threading.Thread(target=record, args=("B", lambda conn: "B"))
    victim.append(second)
    second.start()
    wait_until(lambda: len(db._queue) == 1, what="the second write to queue")
    third = threading.Thread(target=record, args=("C", lambda conn: "C"))
    third.start()
    wait_until(lambda: len(db._queue) == 2, what="the third write to queue")
    release.set()
    for thread in (first, second, third):
        thread.join(10)
    assert outcome["A"] == ("ok", "A")
    assert outcome["B"][0] == "error" and isinstance(outcome["B"][1], Interrupted)
    assert outcome["C"][0] == "error" and isinstance(outcome["C"][1], StoreError)
    assert "interrupted; retry it" in str(outcome["C"][1])
    assert not db._leading


@pytest.mark.parametrize("patient_writers", [0, 6, 12])
def test_many_threads_each_get_their_own_result_or_error(
    tmp_path: Path, patient_writers: int
) -> None:
    """Waiters are woken exactly once (done, or handed the lead), whatever the interleaving,
    with client writes, patient (worker) writes, or both."""
    from orchestrate import DuplicateInstance

    db = Database(str(tmp_path / "g.db"))
    with db.write() as conn:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    outcome: dict[int, Any] = {}

    def insert(k: int) -> Any:
        def op(conn: Any) -> int:
            if k % 7 == 0:
                raise DuplicateInstance(f"refused {k}")
            conn.execute("INSERT INTO t VALUES (?)", (k,))
            return k * 10

        return op

    def writer(first: int) -> None:
        patient = first // 50 < patient_writers
        for k in range(first, first + 50):
            try:
                outcome[k] = db.group(insert(k), patient=patient)
            except DuplicateInstance as exc:
                outcome[k] = str(exc)

    threads = [threading.Thread(target=writer, args=(i * 50,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome == {k: f"refused {k}" if k % 7 == 0 else k * 10 for k in range(600)}
    with db.read() as conn:
        stored = [row[0] for row in conn.execute("SELECT k FROM t ORDER BY k")]
    assert stored == [k for k in range(600) if k % 7]
    assert not db._leading and db._queue == []
    db.close()


def _patient_write(db: Database, ran_on: dict[str, str]) -> threading.Thread:
    """A worker-like thread whose patient write records the thread that ran it."""

    def op(conn: Any) -> None:
        ran_on["patient"] = threading.current_thread().name

    thread = threading.Thread(target=lambda: db.group(op, patient=True), name="worker")
    thread.start()
    return thread


def test_a_patient_write_rides_along_with_the_next_client_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a client writes, a worker's write waits for the client's next commit to carry it:
    one fsync for both, run on the client's thread."""
    import orchestrate.stores.sqlite_db as module

    monkeypatch.setattr(module, "_PATIENCE", 30.0)  # it would rather wait than lead alone
    monkeypatch.setattr(module, "_CLIENT_ACTIVE", 60.0)
    db = Database(str(tmp_path / "g.db"))
    db.group(lambda conn: None)  # a client write: the client is active
    ran_on: dict[str, str] = {}
    worker = _patient_write(db, ran_on)
    wait_until(lambda: len(db._queue) == 1, what="the worker's write to queue")
    assert not db._leading  # it waits instead of leading
    assert db.group(lambda conn: "client") == "client"
    worker.join(10)
    assert ran_on == {"patient": threading.current_thread().name}
    assert not db._leading and db._queue == []
    db.close()


@pytest.mark.parametrize("client_first", [False, True])
def test_a_patient_write_leads_itself_when_no_client_write_comes(
    tmp_path: Path, client_first: bool
) -> None:
    """Without a client, or when the client's next write never comes, the worker's write
    commits on its own thread (after `_PATIENCE` at the latest)."""
    db = Database(str(tmp_path / "g.db"))
    if client_first:
        db.group(lambda conn: None)
    ran_on: dict[str, str] = {}
    _patient_write(db, ran_on).join(10)
    assert ran_on == {"patient": "worker"}
    assert not db._leading and db._queue == []
    db.close()
