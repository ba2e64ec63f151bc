"""The worker's background threads: one thread polls while the others stand by, and a second
joins when the first is held up by a slow activity; only one idle thread waits for a change."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from orchestrate import Client, Registry, Status, Worker, worker_threads
from orchestrate.stores.memory import MemoryStore
from orchestrate.worker_threads import standby

from ..waiting import wait_until
from .test_worker_rounds import counting_registry

H = worker_threads._HELP_AFTER


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [
        ({}, (False, None)),  # nobody else on duty: poll
        ({1: None}, (False, None)),  # only itself, waiting for a change
        ({1: 100.0}, (False, None)),  # only itself, in a round
        ({2: None}, (True, None)),  # another waits for a change: stand by until woken
        ({2: 100.0 - H / 2}, (True, pytest.approx(H / 2))),  # another's round is young
        ({2: 100.0 - 2 * H}, (False, None)),  # another is held up: help
        ({2: 100.0 - 2 * H, 3: 100.0 - H / 4}, (True, pytest.approx(3 * H / 4))),
        ({2: 100.0 - H / 2, 3: 100.0 - H / 4}, (True, pytest.approx(3 * H / 4))),  # latest
        ({2: 100.0 - 2 * H, 3: None}, (True, None)),
    ],
)
def test_a_thread_stands_by_while_another_is_available(
    rounds: dict[int, float | None], expected: tuple[bool, float | None]
) -> None:
    assert standby(rounds, 1, 100.0) == expected


def chain_registry(gate: threading.Event | None = None) -> Registry:
    """`chain` (three doublings) and `slow`, whose one activity waits for `gate`."""
    reg = counting_registry([])

    @reg.activity
    def held(x: int) -> int:
        assert gate is not None and gate.wait(10), "the test never opened the gate"
        return x

    @reg.orchestration
    async def slow(ctx, x: int) -> int:
        return await ctx.activity(held, x)

    return reg


def test_quick_work_is_polled_by_one_thread_while_the_others_stand_by(monkeypatch) -> None:
    # With a help delay no round reaches, the first thread on duty does every round: the
    # others never poll (with the GIL they would only contend for it and for the store).
    monkeypatch.setattr(worker_threads, "_HELP_AFTER", 3600.0)
    store = MemoryStore()
    worker = Worker(chain_registry(), store, threads=3)
    polling: set[str] = set()
    real = worker.poll_once

    def recording() -> bool:
        polling.add(threading.current_thread().name)
        return real()

    worker.poll_once = recording  # type: ignore[method-assign]
    client = Client(store)
    worker.start()
    try:
        keys = [client.start("chain", i) for i in range(30)]
        for i, key in enumerate(keys):
            assert client.wait(key, timeout=10).output == 8 * i
    finally:
        worker.stop()
    assert len(polling) == 1, polling


def test_a_second_thread_takes_the_work_while_the_first_waits_on_a_slow_activity() -> None:
    gate = threading.Event()
    store = MemoryStore()
    worker = Worker(chain_registry(gate), store, threads=2)
    client = Client(store)
    worker.start()
    try:
        slow = client.start("slow", 7)
        wait_until(lambda: worker.holdings.running(), what="the slow activity to start")
        quick = client.start("chain", 1)
        # held up by `held`, the first thread writes nothing; the second joins and runs `quick`
        assert client.wait(quick, timeout=10).output == 8
        assert client.state(slow).status == Status.RUNNING
        gate.set()
        assert client.wait(slow, timeout=10).output == 7
    finally:
        gate.set()
        worker.stop()


def test_a_start_committed_while_a_thread_settles_to_wait_is_taken_at_once(monkeypatch) -> None:
    # The race a change mark closes: the idle thread's round found nothing, then a start
    # commits before its wait begins, while the other thread stands by for it. Without the
    # mark taken before the round, the start would wait out the idle wait (an hour here).
    monkeypatch.setattr(worker_threads, "_IDLE_WAIT", 3600.0)
    store = MemoryStore()
    worker = Worker(chain_registry(), store, threads=2)
    client = Client(store)
    started: list[str] = []
    real = store.next_wakeup

    def start_then_look() -> Any:  # called by the idle thread between its round and its wait
        if not started:
            started.append(client.start("chain", 1))
        return real()

    store.next_wakeup = start_then_look  # type: ignore[method-assign]
    worker.start()
    try:
        wait_until(lambda: started, what="a thread to settle to wait for a change")
        assert client.wait(started[0], timeout=10).output == 8
    finally:
        worker.stop()


def test_stop_wakes_the_threads_standing_by(monkeypatch) -> None:
    monkeypatch.setattr(worker_threads, "_HELP_AFTER", 3600.0)
    store = MemoryStore()
    worker = Worker(chain_registry(), store, threads=3, grace=60)
    worker.start()
    wait_until(lambda: len(worker._rounds) == 1, what="two of three threads to stand by")
    began = time.monotonic()
    worker.stop()  # with a standing-by thread left asleep, this would wait out the 60 s grace
    assert time.monotonic() - began < 10
    assert not worker._threads and all(
        not t.is_alive() for t in threading.enumerate() if t.name.startswith("orchestrate-worker-")
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death
def test_a_thread_that_dies_does_not_leave_the_others_standing_by() -> None:
    store = MemoryStore()
    real = store.wait_for_change
    died: list[str] = []

    def dies_once(timeout: float, since: Any = None) -> bool:
        if not died:
            died.append(threading.current_thread().name)
            raise SystemExit  # a BaseException: ends the thread, past every `except Exception`
        return bool(real(timeout, since))

    store.wait_for_change = dies_once  # type: ignore[method-assign]
    worker = Worker(chain_registry(), store, threads=2)
    client = Client(store)
    worker.start()
    try:
        wait_until(lambda: died, what="the idle thread to die")
        assert client.wait(client.start("chain", 2), timeout=10).output == 16
    finally:
        worker.stop()


def test_only_one_idle_thread_waits_for_a_change_at_a_time() -> None:
    """Each commit wakes the waiting threads; with all of them waiting, all but one would wake to
    find nothing to do. The idle threads take turns instead."""
    store = MemoryStore()
    waiting: list[int] = []
    most: list[int] = [0]
    calls: list[int] = []
    real = store.wait_for_change

    def counting(timeout: float, since: Any = None) -> bool:
        waiting.append(1)
        most[0] = max(most[0], len(waiting))
        calls.append(1)
        try:
            return real(min(timeout, 0.01), since)
        finally:
            waiting.pop()

    store.wait_for_change = counting  # type: ignore[method-assign]
    worker = Worker(chain_registry(), store, threads=3)
    worker.start()
    try:
        wait_until(lambda: len(calls) >= 20, what="the idle threads to wait 20 times")
    finally:
        worker.stop()
    assert most[0] == 1
