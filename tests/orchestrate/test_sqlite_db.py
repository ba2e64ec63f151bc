"""Group commit under interruption: no write is lost silently, and nobody waits forever."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from orchestrate import StoreError
from orchestrate.sqlite_db import Database


class Interrupted(BaseException):
    """Stands in for KeyboardInterrupt raised in one thread."""


def wait_until(condition: Any) -> None:
    changed = threading.Event()
    for _ in range(2000):  # bounded: each round waits at most 5 ms
        if condition():
            return
        changed.wait(0.005)
    raise AssertionError("condition never became true")


def test_an_interrupted_waiter_neither_blocks_the_others_nor_commits(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "g.db"))
    release = threading.Event()
    results: dict[str, Any] = {}

    def slow(conn: Any) -> str:
        release.wait(10)
        return "A"

    leader = threading.Thread(target=lambda: results.setdefault("A", db.group(slow)))
    leader.start()
    wait_until(lambda: db._leading)
    ran: list[str] = []

    real_event = threading.Event

    class InterruptingEvent(real_event):  # type: ignore[misc, valid-type]
        def wait(self, timeout: float | None = None) -> bool:
            raise Interrupted

    import orchestrate.sqlite_db as module

    module.threading.Event = InterruptingEvent  # type: ignore[misc]
    try:
        with pytest.raises(Interrupted):
            db.group(lambda conn: ran.append("main"))
    finally:
        module.threading.Event = real_event  # type: ignore[misc]
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
    wait_until(lambda: db._leading)
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
    wait_until(lambda: len(db._queue) == 1)
    third = threading.Thread(target=record, args=("C", lambda conn: "C"))
    third.start()
    wait_until(lambda: len(db._queue) == 2)
    release.set()
    for thread in (first, second, third):
        thread.join(10)
    assert outcome["A"] == ("ok", "A")
    assert outcome["B"][0] == "error" and isinstance(outcome["B"][1], Interrupted)
    assert outcome["C"][0] == "error" and isinstance(outcome["C"][1], StoreError)
    assert "interrupted; retry it" in str(outcome["C"][1])
    assert not db._leading
