from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import Client, MemoryStore, Status, Worker
from orchestrate import history as h
from testkit import FakeClock, TestEnv, delay, fail, ok

from . import long_running
from ._history import scheduled, statuses
from .long_running import (
    BATCH_SIZE,
    BATCHES_PER_CHECKPOINT,
    Job,
    long_running_process,
    process_item_batch,
    record_progress,
    reg,
    send_completion,
)


def _job(n: int, bad: tuple[int, ...] = ()) -> Job:
    return Job("p-1", [f"item-{i}" + ("!" if i in bad else "") for i in range(n)])


def test_a_small_job_runs_in_batches_in_one_generation() -> None:
    env = TestEnv(reg)
    run = env.run(long_running_process, _job(25, bad=(7,)))

    assert run.output["status"] == "completed_with_errors"
    assert run.output["failed_items"] == [["item-7!", "malformed"]]
    assert (run.output["done"], run.output["succeeded"], run.output["failed"]) == (25, 24, 1)
    assert [len(c["items"]) for c in run.calls(process_item_batch)] == [10, 10, 5]
    assert [s["percent"] for s in statuses(run.history)] == [40.0, 80.0, 100.0]
    assert run.calls(record_progress) == []  # no checkpoint needed
    [summary] = run.calls(send_completion)
    assert summary == run.output


def test_a_big_job_checkpoints_with_continue_as_new_and_keeps_histories_short() -> None:
    env = TestEnv(reg)
    items = BATCH_SIZE * BATCHES_PER_CHECKPOINT * 3 + 4  # 154 items: 4 generations
    run = env.run(long_running_process, _job(items, bad=(3, 100)))

    assert run.output["status"] == "completed_with_errors" and run.output["done"] == items
    assert [f for f, _ in run.output["failed_items"]] == ["item-3!", "item-100!"]
    assert env.state(run.instance_id).generation == 3
    assert [p["done"] for p in run.calls(record_progress)] == [50, 100, 150]
    assert scheduled(run.history) == ["process_item_batch", "send_completion"]  # the last round


def test_a_retried_batch_resumes_from_its_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runtime's own Worker, stepped by hand: the worker's lease renewals carry the last
    # heartbeat's details to the store, which hands them to the next attempt of the call.
    clock, store = FakeClock(), MemoryStore()
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock, sync_activities=1)
    seen: list[str] = []
    crashed: list[str] = []

    def flaky(item: str) -> str | None:  # the attempt breaks once, at the sixth item
        seen.append(item)
        if item == "item-5" and not crashed:
            crashed.append(item)
            worker.renew_leases()  # what the worker's renewer thread does every few seconds
            raise ConnectionError("lost the database connection")
        return None

    monkeypatch.setattr(long_running, "process_one", flaky)
    key = client.start(long_running_process, _job(10))
    for _ in range(10):
        while worker.poll_once():
            pass
        if client.state(key).finished:
            break
        clock.move_to(clock.now() + timedelta(seconds=10))  # past the retry backoff
    output = client.state(key).output

    assert output["status"] == "completed" and output["succeeded"] == 10
    # items 0-4 were processed once: the retry resumed from the last heartbeat's details
    assert seen == [f"item-{i}" for i in range(6)] + [f"item-{i}" for i in range(5, 10)]
    attempts = [
        e.attempt
        for e in client.history(key)
        if isinstance(e, h.ActivityScheduled) and e.name == "process_item_batch"
    ]
    assert attempts == [1, 2]


def test_a_batch_that_keeps_failing_fails_the_process_with_its_error() -> None:
    env = TestEnv(reg)
    env.script(process_item_batch, fail("storage offline"))
    run = env.run(long_running_process, _job(30))

    assert run.status == Status.FAILED and "storage offline" in str(run.error)
    assert len(run.calls(process_item_batch)) == 3  # the retry policy's attempts


def test_duration_is_measured_in_recorded_time_across_generations() -> None:
    env = TestEnv(reg)
    env.script(process_item_batch, _slowly)
    run = env.run(long_running_process, _job(60))  # 6 batches, 2 generations

    assert run.status == Status.COMPLETED
    assert run.output["duration_s"] == 6 * 60.0  # each batch took one virtual minute


def _slowly(batch: dict[str, Any]) -> Any:
    """Every item succeeds, after one virtual minute per batch."""
    return delay(
        timedelta(minutes=1), ok([{"item": i, "ok": True, "error": None} for i in batch["items"]])
    )
