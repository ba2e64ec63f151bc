"""`async def` activities run concurrently on the worker's event loop, a configurable number at
once; sync activities keep running on the worker's threads. Deterministic: the async activities
wait on each other at a barrier, which they can only pass when enough run at once (a timeout
fails loudly instead of hanging)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from orchestrate import OrchestrationContext, Registry, Status, activity_info

from .conftest import Harness

reg = Registry()
meeting: dict[str, Any] = {}  # the barrier and the counts, made on the worker's loop


@reg.activity
async def meet(size: int) -> dict[str, Any]:
    if "barrier" not in meeting:
        meeting.update(barrier=asyncio.Barrier(size), running=0, most=0)
    meeting["running"] += 1
    meeting["most"] = max(meeting["most"], meeting["running"])
    try:
        await asyncio.wait_for(meeting["barrier"].wait(), timeout=5)
    except TimeoutError:
        raise AssertionError(
            f"only {meeting['running']} async activities ran at once; {size} never met"
        ) from None
    finally:
        meeting["running"] -= 1
    return {"key": activity_info().idempotency_key, "thread": threading.current_thread().name}


@reg.activity
def plain(n: int) -> str:
    return threading.current_thread().name


@reg.orchestration
async def gather(ctx: OrchestrationContext, spec: dict[str, int]) -> Any:
    met = ctx.all([ctx.activity(meet, spec["size"]) for _ in range(spec["calls"])])
    plain_calls = ctx.all([ctx.activity(plain, i) for i in range(3)])
    return {"met": await met, "plain": await plain_calls}


@pytest.fixture(autouse=True)
def fresh_meeting() -> None:
    meeting.clear()


def test_async_activities_run_at_once_on_the_worker_loop() -> None:
    hx = Harness(reg)
    iid = hx.start(gather, {"size": 20, "calls": 20})  # 20 must wait at the barrier together
    state = hx.state(iid)
    assert state.status == Status.COMPLETED, state.error
    met = state.output["met"]
    assert len({m["key"] for m in met}) == 20  # activity_info() is each call's own
    assert {m["thread"] for m in met} == {"orchestrate-async-activities"}
    assert meeting["most"] == 20
    assert threading.current_thread().name in set(state.output["plain"])  # sync: this thread
    hx.worker.stop()


def test_the_number_at_once_is_bounded() -> None:
    hx = Harness(reg, async_activities=3)
    iid = hx.start(gather, {"size": 3, "calls": 9})  # three groups of three pass the barrier
    state = hx.state(iid)
    assert state.status == Status.COMPLETED, state.error
    assert meeting["most"] == 3
    hx.worker.stop()
    with pytest.raises(ValueError, match="async_activities=0: give how many"):
        Harness(reg, async_activities=0)


@reg.activity
async def cancels_itself(_: object) -> None:
    raise asyncio.CancelledError("gave up")


@reg.activity
async def ok(i: int) -> int:
    return i


@reg.orchestration
async def with_a_bad_one(ctx: OrchestrationContext) -> Any:
    bad = ctx.activity(cancels_itself, None, retry=None)
    good = [ctx.activity(ok, i) for i in range(5)]
    results = await ctx.all([bad, *good], return_exceptions=True)
    return [getattr(r, "error_type", r) for r in results]


def test_an_activity_raising_cancelled_error_fails_alone() -> None:
    hx = Harness(reg)
    iid = hx.start(with_a_bad_one)
    state = hx.state(iid)
    assert state.status == Status.COMPLETED, state.error
    assert state.output == ["CancelledError", 0, 1, 2, 3, 4]
    hx.worker.stop()
