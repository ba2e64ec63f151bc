"""`ActivityEnv`: an activity alone, with a chosen `activity_info()`, its heartbeats captured,
and cancellation mid-run; sync and async."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from orchestrate import ActivityCancelled, activity_info
from testkit import ActivityEnv


def export_pages(job: dict[str, int]) -> dict[str, Any]:
    """Resumes from the page a previous attempt reached; heartbeats after every page."""
    info = activity_info()
    page = (info.heartbeat_details or {}).get("page", 0)
    while page < job["pages"]:
        page += 1
        info.heartbeat({"page": page})
    return {"pages": page, "attempt": info.attempt, "key": info.idempotency_key}


async def export_async(job: dict[str, int]) -> int:
    info = activity_info()
    for page in range(1, job["pages"] + 1):
        await asyncio.sleep(0)
        info.heartbeat({"page": page})
    return job["pages"]


def test_an_activity_gets_the_chosen_info_and_resumes_from_previous_heartbeats() -> None:
    env = ActivityEnv(attempt=3, idempotency_key="order-7:charge", heartbeat_details={"page": 7})
    result = env.run(export_pages, {"pages": 9})
    assert result == {"pages": 9, "attempt": 3, "key": "order-7:charge"}
    assert env.heartbeats == [{"page": 8}, {"page": 9}]
    assert not env.cancelled


def test_the_default_key_is_built_like_a_workers() -> None:
    result = ActivityEnv(instance_id="order-1", task_id=4).run(export_pages, {"pages": 0})
    assert result["key"] == "order-1:0:4" and result["attempt"] == 1


@pytest.mark.parametrize("activity", [export_pages, export_async], ids=["sync", "async"])
def test_cancelling_at_a_heartbeat_makes_the_next_one_raise(activity: Any) -> None:
    env = ActivityEnv()
    env.on_heartbeat = lambda details: env.cancel("the race was lost") if details["page"] == 2 else None
    with pytest.raises(ActivityCancelled, match="the race was lost"):
        env.run(activity, {"pages": 5})
    assert env.heartbeats == [{"page": 1}, {"page": 2}] and env.cancelled


def test_an_async_activity_runs_to_its_result() -> None:
    env = ActivityEnv()
    assert env.run(export_async, {"pages": 3}) == 3
    assert env.heartbeats == [{"page": 1}, {"page": 2}, {"page": 3}]


def cancelled_while_running(
    env: ActivityEnv, activity: Any, started: threading.Event, go_on: threading.Event
) -> list[Any]:
    """Run `activity` in `env` on another thread, cancel it once it has `started`, then let it
    `go_on`; its result (a one-item list, empty if it raised)."""
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(env.run(activity)))
    runner.start()
    assert started.wait(10), "the activity never started"
    env.cancel()
    go_on.set()
    runner.join(10)
    return result


def test_cancel_from_another_thread_while_it_runs() -> None:
    started, go_on = threading.Event(), threading.Event()

    def waits_for_work() -> bool:
        started.set()
        assert go_on.wait(10), "the test never let the activity go on"
        return activity_info().cancelled

    assert cancelled_while_running(ActivityEnv(), waits_for_work, started, go_on) == [True]


def test_outside_an_env_activity_info_still_refuses() -> None:
    with pytest.raises(RuntimeError, match="outside an activity"):
        activity_info()


def test_bad_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempts count from 1"):
        ActivityEnv(attempt=0)


def test_an_async_activity_that_never_heartbeats_runs_to_its_end_when_cancelled() -> None:
    """As on a worker: cancellation is seen at a heartbeat, nothing interrupts the await."""
    started, go_on = threading.Event(), threading.Event()

    async def never_heartbeats() -> str:
        started.set()
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, go_on.wait, 10), "the test never let it go on"
        return "finished"

    env = ActivityEnv()
    assert cancelled_while_running(env, never_heartbeats, started, go_on) == ["finished"]
    assert env.cancelled


def test_a_cancel_applies_to_one_run_and_the_next_starts_afresh() -> None:
    env = ActivityEnv()
    env.on_heartbeat = lambda details: env.cancel() if details["page"] == 1 else None
    with pytest.raises(ActivityCancelled):
        env.run(export_pages, {"pages": 3})
    assert env.cancelled
    env.on_heartbeat = None
    assert env.run(export_pages, {"pages": 3})["pages"] == 3  # not cancelled at its first beat
    assert not env.cancelled and env.heartbeats == [{"page": 1}, {"page": 2}, {"page": 3}]
    env.cancel("before the run")  # between runs: for the next one
    assert env.cancelled
    with pytest.raises(ActivityCancelled, match="before the run"):
        env.run(export_pages, {"pages": 3})
    assert env.heartbeats == []
