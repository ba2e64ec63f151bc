"""Cancellation reaches activities: an attempt its orchestration no longer wants (a lost race,
`task.cancel()`, a timeout) is withdrawn from the queue if it has not started, and a running one
learns it at its worker's next lease renewal (`activity_info().cancelled`, `heartbeat()` raises
`ActivityCancelled`). Manual clock; the test renews where the renewer thread would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    ActivityCancelled,
    ActivityFailed,
    OrchestrateError,
    OrchestrationContext,
    Registry,
    Worker,
    activity_info,
)

from .conftest import Harness


def test_activity_cancelled_is_an_orchestrate_error() -> None:
    assert issubclass(ActivityCancelled, OrchestrateError)


def test_a_race_loser_that_has_not_started_is_never_run() -> None:
    reg = Registry()
    runs: list[str] = []

    @reg.activity
    def slow(tag: str) -> str:
        runs.append(tag)
        return tag

    @reg.orchestration
    async def race(ctx: OrchestrationContext) -> str:
        work, go = ctx.activity(slow, "loser"), ctx.event("go")
        winner = await ctx.any([work, go])
        return "event" if winner is go else "activity"

    hx = Harness(reg)
    iid = hx.client.start(race)
    hx.worker.run_turns()  # the activity is queued, nobody has leased it yet
    hx.client.raise_event(iid, "go", None)
    hx.worker.run_turns()  # the event wins: the turn withdraws the queued attempt
    hx.settle()
    assert hx.state(iid).output == "event"
    assert runs == []
    assert hx.store.fetch_activity_work(hx.clock.now(), limit=10) == []


def test_an_explicitly_cancelled_task_and_a_timed_out_attempt_are_withdrawn() -> None:
    reg = Registry()
    runs: list[str] = []

    @reg.activity
    def job(tag: str) -> str:
        runs.append(tag)
        return tag

    @reg.orchestration
    async def flow(ctx: OrchestrationContext) -> str:
        dropped = ctx.activity(job, "cancelled")
        dropped.cancel()
        try:
            await ctx.activity(job, "timed out", timeout=timedelta(seconds=10))
        except ActivityFailed as exc:
            return exc.error_type
        return "finished"

    hx = Harness(reg)
    iid = hx.client.start(flow)
    hx.worker.run_turns()
    hx.clock.advance(10)
    hx.worker.run_turns()  # the timeout fires before any worker took the attempt
    hx.settle()
    assert hx.state(iid).output == "TimeoutError"
    assert runs == []


def test_a_running_race_loser_sees_cancelled_and_its_heartbeat_raises() -> None:
    reg = Registry()
    hx = Harness(reg)
    turns = Worker(reg, hx.store, clock=hx.clock)  # another worker takes the turns meanwhile
    seen: list[Any] = []

    @reg.activity
    def long_job(_: Any) -> str:
        info = activity_info()
        info.heartbeat({"step": 1})
        assert info.cancelled is False
        hx.client.raise_event(info.instance_id, "stop", None)
        assert turns.run_turns() == 1  # the event wins the race: the attempt is withdrawn
        hx.clock.advance(hx.worker.renew_every)
        assert hx.worker.renew_leases() == 0  # the renewal finds the item gone
        seen.append(info.cancelled)
        with pytest.raises(ActivityCancelled, match=r"'long_job'.*no longer needs it"):
            info.heartbeat({"step": 2})
        return "ignored"

    @reg.orchestration
    async def race(ctx: OrchestrationContext) -> str:
        work, stop = ctx.activity(long_job), ctx.event("stop")
        winner = await ctx.any([work, stop])
        return "stopped" if winner is stop else await work

    iid = hx.start(race)
    assert seen == [True]
    assert hx.state(iid).output == "stopped"


def test_terminating_an_instance_withdraws_its_queued_and_running_attempts() -> None:
    reg = Registry()
    hx = Harness(reg)
    turns = Worker(reg, hx.store, clock=hx.clock)
    runs: list[str] = []
    seen: list[bool] = []

    @reg.activity
    def job(tag: str) -> str:
        runs.append(tag)
        info = activity_info()
        if tag == "running":
            hx.client.terminate(info.instance_id, "operator")
            assert turns.run_turns() == 1
            assert hx.worker.renew_leases() == 0  # the other attempt, leased with it, too
            seen.append(info.cancelled)
        return tag

    @reg.orchestration
    async def flow(ctx: OrchestrationContext) -> list[str]:
        return await ctx.all([ctx.activity(job, "running"), ctx.activity(job, "queued")])

    iid = hx.start(flow)
    assert runs == ["running"] and seen == [True]
    assert hx.state(iid).status == "terminated"
    assert hx.store.fetch_activity_work(hx.clock.now(), limit=10) == []
