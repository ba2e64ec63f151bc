"""`run.pending`: what an instance waits on as typed data (attempts, errors, retries, timers,
children, event waits), next to the readable `run.waiting_for`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, RetryPolicy, Status
from testkit import (
    Pending,
    PendingActivity,
    PendingChild,
    PendingTimer,
    TestEnv,
    fail,
    hang,
    ok,
)

reg = Registry()
T0 = datetime(2024, 1, 1, tzinfo=UTC)
RETRY = RetryPolicy(max_attempts=5, initial_interval=timedelta(minutes=1), backoff=1.0)


@reg.activity(retry=RETRY)
def charge(order: str) -> str:
    return f"tx-{order}"


@reg.orchestration
async def pay_then_wait(ctx: OrchestrationContext, order: str) -> Any:
    paid, go = ctx.activity(charge, order), ctx.event("Go")
    return await ctx.all([paid, go])


@reg.orchestration
async def pay_with_timeout(ctx: OrchestrationContext, order: str) -> Any:
    paid = ctx.activity(charge, order, timeout=timedelta(seconds=30))
    return await ctx.all([paid, ctx.event("Go")])


@reg.orchestration
async def approval(ctx: OrchestrationContext, _: Any = None) -> Any:
    return await ctx.any([ctx.event("Approval"), ctx.timer(timedelta(hours=1))])


@reg.orchestration
async def waits_for_go(ctx: OrchestrationContext, _: Any = None) -> Any:
    return await ctx.event("Go")


@reg.orchestration
async def parent(ctx: OrchestrationContext, _: Any = None) -> Any:
    return await ctx.sub_orchestration(waits_for_go, {"region": "eu"}, instance_id="child-1")


def test_a_call_waiting_to_retry_shows_its_next_attempt_last_error_and_retry_time() -> None:
    with TestEnv(reg) as env:
        env.script(charge, [fail(ConnectionError("card service down")), ok("tx")])
        run = env.run(pay_then_wait, "o-1")
        assert run.pending == Pending(
            activities=[
                PendingActivity(
                    "charge", "o-1", 2, "ConnectionError: card service down",
                    next_retry=T0 + timedelta(minutes=1),
                )
            ],
            events=["Go"],
        )
        assert run.waiting_for == ["timer at 2024-01-01T00:01:00Z (retry)", "event 'Go'"]


def test_a_running_attempt_shows_its_attempt_and_timeout() -> None:
    with TestEnv(reg) as env:
        env.script(charge, [fail("declined"), hang()])
        run = env.run(pay_with_timeout, "o-2")
        env.advance(timedelta(minutes=1))  # the backoff ends: attempt 2 starts, and hangs
        (call,) = run.pending.activities
        assert (call.name, call.input, call.attempt) == ("charge", "o-2", 2)
        assert call.last_error == "Exception: declined" and call.next_retry is None
        assert call.timeout_at == T0 + timedelta(minutes=1, seconds=30)


def test_timers_and_event_waits() -> None:
    with TestEnv(reg) as env:
        run = env.run(approval)
        assert run.pending == Pending(
            timers=[PendingTimer(T0 + timedelta(hours=1))], events=["Approval"]
        )


def test_children_with_their_status_and_input_in_calls() -> None:
    with TestEnv(reg) as env:
        run = env.run(parent)
        assert run.pending.children == [PendingChild("child-1", "waits_for_go", Status.RUNNING)]
        env.raise_event("child-1", "Go", 7)
        assert run.status == Status.COMPLETED and run.output == 7
        assert not run.pending and run.pending == Pending()
