"""The executor's answers to the testkit: `Execution.is_awaited` and `Execution.waits`.

Hand-built histories in, plain data out (no store, threads or time). The testkit skips virtual
time only to what `is_awaited` says still matters, so a refactor of the task classes that breaks
these answers fails here, loudly, instead of silently breaking time skipping.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, RetryPolicy
from orchestrate import history as h
from orchestrate.replay import Execution, Wait

from .conftest import START

T0, T1, T2 = START, START + timedelta(seconds=1), START + timedelta(seconds=2)

reg = Registry()


@reg.activity
def charge(order: str) -> str:
    return f"tx-{order}"


@reg.orchestration
async def timed_out(ctx: OrchestrationContext, _: Any = None) -> str:
    return str(await ctx.activity(charge, "o", timeout=timedelta(seconds=30)))


@reg.orchestration
async def retried(ctx: OrchestrationContext, _: Any = None) -> str:
    policy = RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=10))
    return str(await ctx.activity(charge, "o", retry=policy))


@reg.orchestration
async def race(ctx: OrchestrationContext, _: Any = None) -> str:
    approval, timeout = ctx.event("Approval"), ctx.timer(timedelta(hours=1))
    winner = await ctx.any([approval, timeout])
    if winner is timeout:
        return "timed out"
    await ctx.sleep(timedelta(minutes=5))
    return "approved"


@reg.orchestration
async def parent(ctx: OrchestrationContext, _: Any = None) -> str:
    return str(await ctx.sub_orchestration(timed_out, instance_id="child-1"))


def run(fn: Any, events: list[h.Event]) -> Execution:
    exe = Execution(reg, reg.get_orchestration(fn), "i-1", strict=True)
    exe.begin_turn()
    exe.process([h.OrchestrationStarted(T0, reg.get_orchestration(fn).name, None, "i-1")], T0)
    assert exe.nondeterminism is None and not exe.done
    exe.process(events, T1)
    return exe


def test_an_attempt_and_its_timeout_are_awaited_until_the_result_arrives() -> None:
    exe = run(timed_out, [])
    call = {"input": "o", "attempt": 1, "call_id": 0}
    assert exe.waits() == [
        Wait("activity", "charge", 0, **call),
        Wait("timer", "charge", 1, fire_at=T0 + timedelta(seconds=30), purpose="timeout", **call),
    ]
    assert exe.is_awaited(0) and exe.is_awaited(1)
    exe.process([h.ActivityCompleted(T1, 0, "tx-o")], T1)
    assert exe.done and exe.waits() == [] and not exe.is_awaited(1)


def test_after_a_timeout_the_late_attempt_no_longer_counts() -> None:
    exe = run(retried, [])
    assert exe.waits() == [Wait("activity", "charge", 0, input="o", attempt=1, call_id=0)]
    exe.process([h.ActivityFailed(T1, 0, "IOError", "down")], T1)
    # The backoff before attempt 2 is awaited; attempt 1 is over, and its error is kept.
    backoff = Wait(
        "timer", "charge", 1, fire_at=T1 + timedelta(seconds=10), purpose="retry",
        input="o", attempt=2, last_error="IOError: down", call_id=0,
    )
    assert exe.waits() == [backoff]
    assert exe.is_awaited(1) and not exe.is_awaited(0)
    exe.process([h.TimerFired(T2, 1)], T2)
    assert exe.waits() == [
        Wait("activity", "charge", 2, input="o", attempt=2, last_error="IOError: down", call_id=0)
    ]


def test_a_timed_out_attempt_is_not_awaited_and_not_listed() -> None:
    exe = run(timed_out, [h.TimerFired(T1, 1)])
    assert exe.done  # no retry policy: the timeout failed the call
    assert not exe.is_awaited(0) and exe.waits() == []


def test_a_race_lists_both_sides_and_the_loser_stops_counting() -> None:
    exe = run(race, [])
    hour = Wait("timer", "", 0, fire_at=T0 + timedelta(hours=1), purpose="timer")
    assert exe.waits() == [hour, Wait("event", "Approval", None)]
    exe.process([h.EventRaised(T1, "Approval", True)], T1)
    assert not exe.is_awaited(0)  # the losing timer was cancelled
    assert exe.waits() == [
        Wait("timer", "", 1, fire_at=T1 + timedelta(minutes=5), purpose="timer")
    ]


def test_a_sub_orchestration_wait_names_its_child() -> None:
    exe = run(parent, [])
    assert exe.waits() == [Wait("sub-orchestration", "timed_out", 0, instance_id="child-1")]
    assert exe.is_awaited(0)
    assert not exe.is_awaited(7)  # no such command


def test_unknown_and_applied_task_ids_are_not_awaited() -> None:
    exe = run(timed_out, [h.ActivityCompleted(T1, 0, "tx-o")])
    assert not exe.is_awaited(0) and not exe.is_awaited(99)
