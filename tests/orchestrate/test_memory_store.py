"""MemoryStore behaviour beyond the shared `Store` contract (see test_store_contract.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from orchestrate import history as h
from orchestrate.state import InstanceState, Message, Status
from orchestrate.stores.memory import MemoryStore

from ..waiting import wait_until

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_wait_for_change_wakes_on_a_change_by_another_thread() -> None:
    store = MemoryStore()
    store.create_instance(
        InstanceState("a", "flow", Status.PENDING),
        Message("a", h.OrchestrationStarted(T0, "flow", None, "a")),
    )
    waiting, woke = threading.Event(), threading.Event()

    def wait() -> None:
        waiting.set()
        store.wait_for_change(30)
        woke.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    wait_until(waiting.is_set, what="the waiter thread to start")

    def send_and_check() -> bool:
        # The waiter may not be blocked yet: send until it notices (each send notifies waiters).
        store.send(Message("a", h.EventRaised(T0, "go", None)))
        return woke.wait(0.05)

    wait_until(send_and_check, what="wait_for_change to wake on a send")
    thread.join()


def test_tokens_of_two_stores_never_match() -> None:
    first, second = MemoryStore(), MemoryStore()
    for store in (first, second):
        store.create_instance(
            InstanceState("a", "flow", Status.PENDING),
            Message("a", h.OrchestrationStarted(T0, "flow", None, "a")),
        )
    [one] = first.fetch_orchestration_work(T0)
    [two] = second.fetch_orchestration_work(T0)
    assert one.lock_token != two.lock_token
