"""OrchestrationContext behaviour, end to end through a Worker on a manual clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    ActivityFailed,
    OrchestrationContext,
    Registry,
    RetryPolicy,
    Status,
    SubOrchestrationFailed,
    TaskCancelled,
)

from .conftest import START, Harness


def make() -> tuple[Registry, list[Any]]:
    reg = Registry()
    calls: list[Any] = []

    @reg.activity
    def double(x: int) -> int:
        calls.append(("double", x))
        return x * 2

    @reg.activity
    async def shout(s: str) -> str:
        calls.append(("shout", s))
        return s.upper()

    @reg.activity
    def boom(message: str) -> None:
        calls.append(("boom", message))
        raise ValueError(message)

    return reg, calls


def test_chain_passes_each_result_to_the_next_step() -> None:
    reg, calls = make()

    @reg.orchestration
    async def chain(ctx: OrchestrationContext, n: int) -> dict[str, Any]:
        a = await ctx.activity("double", n)
        b = await ctx.activity("double", a)
        s = await ctx.activity("shout", f"v{b}")
        return {"a": a, "b": b, "s": s}

    hx = Harness(reg)
    iid = hx.start(chain, 3)
    state = hx.state(iid)
    assert state.status == Status.COMPLETED
    assert state.output == {"a": 6, "b": 12, "s": "V12"}
    assert calls == [("double", 3), ("double", 6), ("shout", "v12")]


def test_fan_out_schedules_in_creation_order_and_fans_in_in_input_order() -> None:
    reg, _ = make()

    @reg.orchestration
    async def fan(ctx: OrchestrationContext, xs: list[int]) -> list[int]:
        return await ctx.all([ctx.activity("double", x) for x in xs])

    hx = Harness(reg)
    iid = hx.start(fan, [5, 1, 4])
    assert hx.state(iid).output == [10, 2, 8]
    scheduled = [e.input for e in hx.history(iid) if e.kind == "ActivityScheduled"]
    assert scheduled == [5, 1, 4]


def test_all_fails_fast_and_return_exceptions_collects() -> None:
    reg, _ = make()

    @reg.orchestration
    async def strict(ctx: OrchestrationContext) -> str:
        try:
            await ctx.all([ctx.activity("double", 1), ctx.activity("boom", "bad card")])
        except ActivityFailed as exc:
            return f"{exc.name}|{exc.error_type}|{exc.message}"
        return "no error"

    @reg.orchestration
    async def lenient(ctx: OrchestrationContext) -> list[Any]:
        got = await ctx.all(
            [ctx.activity("double", 1), ctx.activity("boom", "x")], return_exceptions=True
        )
        return [g if not isinstance(g, Exception) else type(g).__name__ for g in got]

    hx = Harness(reg)
    assert hx.state(hx.start(strict)).output == "boom|ValueError|bad card"
    assert hx.state(hx.start(lenient)).output == [2, "ActivityFailed"]


def test_any_returns_the_winner_and_a_losing_timer_never_fires() -> None:
    reg, _ = make()

    @reg.orchestration
    async def race(ctx: OrchestrationContext) -> Any:
        approval, timeout = ctx.event("Approval"), ctx.timer(timedelta(hours=1))
        winner = await ctx.any([approval, timeout])
        if winner is timeout:
            return "timed out"
        answer = await winner
        await ctx.sleep(timedelta(hours=2))  # the losing timer's due time passes meanwhile
        return {"answer": answer, "timeout_cancelled": timeout.cancelled()}

    hx = Harness(reg)
    iid = hx.start(race)
    hx.client.raise_event(iid, "Approval", {"ok": True})
    hx.settle()
    hx.advance(3 * 3600)
    assert hx.state(iid).output == {"answer": {"ok": True}, "timeout_cancelled": True}
    fired = [e.task_id for e in hx.history(iid) if e.kind == "TimerFired"]
    assert fired == [1]  # only the sleep (task 1): the losing timer (task 0) was dropped


def test_timeout_wins_race_when_no_event_arrives() -> None:
    reg, _ = make()

    @reg.orchestration
    async def race(ctx: OrchestrationContext) -> str:
        approval, timeout = ctx.event("Approval"), ctx.timer(60)
        winner = await ctx.any([approval, timeout])
        return "timeout" if winner is timeout else "approved"

    hx = Harness(reg)
    iid = hx.start(race)
    hx.advance(59)
    assert hx.state(iid).status == Status.RUNNING
    hx.advance(1)
    assert hx.state(iid).output == "timeout"


def test_a_withdrawn_event_wait_does_not_consume_the_next_event() -> None:
    reg, _ = make()

    @reg.orchestration
    async def two_waits(ctx: OrchestrationContext) -> Any:
        first, timeout = ctx.event("Go"), ctx.timer(10)
        await ctx.any([first, timeout])  # the timer wins: the first wait is withdrawn
        return await ctx.event("Go")

    hx = Harness(reg)
    iid = hx.start(two_waits)
    hx.advance(10)
    hx.client.raise_event(iid, "Go", "payload-1")
    hx.settle()
    assert hx.state(iid).output == "payload-1"


def test_events_are_buffered_before_the_wait_and_delivered_fifo() -> None:
    reg, _ = make()

    @reg.orchestration
    async def collect(ctx: OrchestrationContext) -> list[Any]:
        await ctx.sleep(5)
        return [await ctx.event("Item"), await ctx.event("Item"), await ctx.event("Item")]

    hx = Harness(reg)
    iid = hx.start(collect)
    for n in (1, 2, 3):
        hx.client.raise_event(iid, "Item", n)
    hx.settle()
    assert hx.state(iid).status == Status.RUNNING  # still sleeping: events buffered
    hx.advance(5)
    assert hx.state(iid).output == [1, 2, 3]


def test_as_completed_follows_recorded_completion_order() -> None:
    reg, _ = make()

    @reg.orchestration
    async def first_come(ctx: OrchestrationContext) -> list[str]:
        slow, fast = ctx.timer(30), ctx.timer(10)
        names = {id(slow): "slow", id(fast): "fast"}
        return [names[id(t)] async for t in ctx.as_completed([slow, fast])]

    hx = Harness(reg)
    iid = hx.start(first_come)
    hx.advance(10)
    hx.advance(20)
    assert hx.state(iid).output == ["fast", "slow"]


def test_cancelled_task_raises_when_awaited_and_ignores_its_late_result() -> None:
    reg, _ = make()

    @reg.orchestration
    async def cancel(ctx: OrchestrationContext) -> str:
        task = ctx.activity("double", 2)
        assert task.cancel() is True
        try:
            await task
        except TaskCancelled:
            await ctx.sleep(1)  # the activity's result arrives meanwhile and is ignored
            return "cancelled"
        return "not cancelled"

    hx = Harness(reg)
    iid = hx.start(cancel)
    hx.advance(1)
    assert hx.state(iid).output == "cancelled"


def test_map_bounds_concurrency_keeps_input_order_and_fails_fast() -> None:
    reg = Registry()
    in_flight: list[int] = []

    @reg.activity
    def slow(x: int) -> int:
        return x + 100

    @reg.orchestration
    async def bounded(ctx: OrchestrationContext, xs: list[int]) -> list[int]:
        return await ctx.map(slow, xs, max_concurrency=2)

    hx = Harness(reg)
    # Run turns only (no activities) to see how many are scheduled before any completes.
    iid = hx.client.start(bounded, [3, 1, 2, 5, 4])
    hx.worker.run_turns()
    in_flight.append(sum(1 for e in hx.history(iid) if e.kind == "ActivityScheduled"))
    hx.settle()
    assert in_flight == [2]
    assert hx.state(iid).output == [103, 101, 102, 105, 104]

    @reg.activity
    def picky(x: int) -> int:
        if x == 2:
            raise KeyError("two")
        return x

    @reg.orchestration
    async def failing(ctx: OrchestrationContext, xs: list[int]) -> Any:
        return await ctx.map(picky, xs, max_concurrency=1)

    iid = hx.start(failing, [1, 2, 3])
    state = hx.state(iid)
    assert state.status == Status.FAILED
    assert state.error is not None and "picky failed with KeyError" in state.error.message
    assert [e.input for e in hx.history(iid) if e.kind == "ActivityScheduled"] == [1, 2]


def test_retry_policy_records_each_attempt_and_backoff_timer() -> None:
    reg = Registry()
    attempts: list[int] = []

    @reg.activity(
        retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=2), backoff=3.0)
    )
    def flaky(x: int) -> str:
        attempts.append(x)
        if len(attempts) < 3:
            raise ConnectionError(f"try {len(attempts)}")
        return "ok"

    @reg.orchestration
    async def retrying(ctx: OrchestrationContext) -> str:
        return await ctx.activity(flaky, 7)

    hx = Harness(reg)
    iid = hx.start(retrying)
    hx.advance(2)
    hx.advance(6)
    assert hx.state(iid).output == "ok"
    events = hx.history(iid)
    timers = [e for e in events if e.kind == "TimerCreated"]
    assert [(t.fire_at - t.at).total_seconds() for t in timers] == [2.0, 6.0]
    assert [t.purpose for t in timers] == ["retry", "retry"]
    scheduled = [e for e in events if e.kind == "ActivityScheduled"]
    assert [(e.attempt, e.call_id) for e in scheduled] == [(1, None), (2, 0), (3, 0)]


@pytest.mark.parametrize(
    ("policy", "expected_attempts"),
    [
        (RetryPolicy(max_attempts=2, initial_interval=timedelta(0)), 2),
        (
            RetryPolicy(
                max_attempts=5, initial_interval=timedelta(0), non_retryable=("ValueError",)
            ),
            1,
        ),
        (
            RetryPolicy(max_attempts=5, initial_interval=timedelta(0), non_retryable=(ValueError,)),
            1,
        ),
    ],
)
def test_final_failure_carries_the_activity_error(
    policy: RetryPolicy, expected_attempts: int
) -> None:
    reg = Registry()

    @reg.activity
    def declined(order: str) -> None:
        raise ValueError(f"card declined for {order}")

    @reg.orchestration
    async def pay(ctx: OrchestrationContext) -> dict[str, str]:
        try:
            await ctx.activity(declined, "o-1", retry=policy)
        except ActivityFailed as exc:
            return {"type": exc.error_type, "message": exc.message, "name": exc.name}
        return {}

    hx = Harness(reg)
    iid = hx.start(pay)
    assert hx.state(iid).output == {
        "type": "ValueError",
        "message": "card declined for o-1",
        "name": "declined",
    }
    assert hx.kinds(iid).count("ActivityScheduled") == expected_attempts


def test_a_finished_activitys_timeout_timer_is_dropped() -> None:
    reg, _ = make()

    @reg.orchestration
    async def quick(ctx: OrchestrationContext) -> int:
        return await ctx.activity("double", 2, timeout=30)

    hx = Harness(reg)
    iid = hx.start(quick)
    assert hx.state(iid).output == 4
    turns = hx.store.get_instance(iid).history_len  # type: ignore[union-attr]
    hx.advance(60)  # the timeout's due time passes: nothing wakes the finished instance
    assert hx.kinds(iid).count("TimerFired") == 0
    assert hx.store.get_instance(iid).history_len == turns  # type: ignore[union-attr]


def test_activity_timeout_fails_with_timeout_error() -> None:
    reg = Registry()

    @reg.activity(timeout=30)
    def never(_: Any) -> str:
        return "late"

    @reg.orchestration
    async def guarded(ctx: OrchestrationContext) -> str:
        try:
            return await ctx.activity(never)
        except ActivityFailed as exc:
            return exc.error_type

    hx = Harness(reg)
    iid = hx.client.start(guarded)
    hx.worker.run_turns()  # schedule the activity but never run it
    hx.clock.advance(30)
    hx.worker.run_turns()
    assert hx.state(iid).output == "TimeoutError"


def test_side_effect_runs_once_and_replays_the_recorded_value() -> None:
    reg = Registry()
    runs: list[int] = []

    def load_flags() -> dict[str, int]:
        runs.append(1)
        return {"n": len(runs)}

    @reg.orchestration
    async def flagged(ctx: OrchestrationContext) -> Any:
        flags = await ctx.side_effect(load_flags)
        await ctx.sleep(1)
        return flags

    hx = Harness(reg)
    iid = hx.start(flagged)
    hx.worker.evict()  # the next turn rebuilds the execution by replay
    hx.advance(1)
    assert hx.state(iid).output == {"n": 1}
    assert runs == [1]


def test_now_uuid_and_random_are_stable_on_replay_and_differ_between_instances() -> None:
    reg = Registry()

    @reg.orchestration
    async def values(ctx: OrchestrationContext) -> list[str]:
        first = [ctx.now().isoformat(), str(ctx.uuid()), str(ctx.random().random())]
        await ctx.sleep(60)
        assert ctx.now() > START
        return [*first, str(ctx.uuid())]

    hx = Harness(reg)
    a = hx.start(values, instance_id="a")
    b = hx.start(values, instance_id="b")
    hx.worker.evict()
    hx.advance(60)
    out_a, out_b = hx.state(a).output, hx.state(b).output
    assert out_a[0] == START.isoformat()
    assert out_a[1] != out_b[1] and out_a[2] != out_b[2]
    assert out_a[1] != out_a[3]  # successive uuids differ

    from orchestrate.replay import Execution

    exe = Execution(reg, reg.get_orchestration(values), "a", strict=True)
    exe.replay(hx.history(a))
    assert exe.nondeterminism is None and exe.result is not None


def test_custom_status_is_recorded_and_queryable() -> None:
    reg = Registry()

    @reg.orchestration
    async def phases(ctx: OrchestrationContext) -> None:
        ctx.set_status({"phase": "waiting", "progress": 0.5})
        await ctx.event("Go")
        ctx.set_status({"phase": "done", "progress": 1.0})

    hx = Harness(reg)
    iid = hx.start(phases)
    assert hx.state(iid).custom_status == {"phase": "waiting", "progress": 0.5}
    hx.client.raise_event(iid, "Go")
    hx.settle()
    assert hx.state(iid).custom_status == {"phase": "done", "progress": 1.0}


def test_log_is_silent_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    reg = Registry()

    @reg.orchestration
    async def chatty(ctx: OrchestrationContext) -> None:
        ctx.log.info("before sleep")
        await ctx.sleep(1)
        ctx.log.info("after sleep")

    hx = Harness(reg)
    with caplog.at_level(logging.INFO, logger="orchestrate.orchestration"):
        iid = hx.start(chatty)
        hx.worker.evict()  # force a full replay on the next turn
        hx.advance(1)
    messages = [r.getMessage() for r in caplog.records if r.name == "orchestrate.orchestration"]
    assert messages == ["before sleep", "after sleep"]
    assert all(getattr(r, "instance_id", None) == iid for r in caplog.records)


def test_continue_as_new_restarts_with_fresh_history_and_carries_events() -> None:
    reg = Registry()

    @reg.orchestration
    async def counter(ctx: OrchestrationContext, state: dict[str, Any]) -> dict[str, Any]:
        item = await ctx.event("Add")
        total = state["total"] + item
        if state["round"] < 2:
            ctx.continue_as_new({"round": state["round"] + 1, "total": total})
        return {"total": total, "round": state["round"]}

    hx = Harness(reg)
    iid = hx.client.start(counter, {"round": 0, "total": 0})
    # All three events arrive in one batch: the 2nd and 3rd must carry over generations.
    for n in (1, 10, 100):
        hx.client.raise_event(iid, "Add", n)
    hx.settle()
    state = hx.state(iid)
    assert state.output == {"total": 111, "round": 2}
    assert state.generation == 2
    assert hx.kinds(iid)[0] == "OrchestrationStarted"
    assert hx.history(iid)[0].input == {"round": 2, "total": 11}


def test_sub_orchestration_returns_output_and_reports_failure() -> None:
    reg = Registry()

    @reg.orchestration
    async def child(ctx: OrchestrationContext, n: int) -> int:
        if n < 0:
            raise ValueError("negative")
        return n * 10

    @reg.orchestration
    async def parent(ctx: OrchestrationContext, n: int) -> Any:
        ok = await ctx.sub_orchestration(child, n, instance_id=f"{ctx.instance_id}:child")
        try:
            await ctx.sub_orchestration(child, -1)
        except SubOrchestrationFailed as exc:
            return [ok, exc.error_type, exc.message]
        return [ok]

    hx = Harness(reg)
    iid = hx.start(parent, 4, instance_id="p")
    assert hx.state(iid).output == [40, "ValueError", "negative"]
    assert hx.state("p:child").output == 40
    assert hx.state("p:child").parent_instance == "p"


def test_patched_takes_new_path_for_new_instances_and_old_path_on_replay() -> None:
    reg = Registry()

    @reg.activity
    def step(name: str) -> str:
        return name

    old_version = True

    @reg.orchestration
    async def versioned(ctx: OrchestrationContext) -> list[str]:
        out = [await ctx.activity(step, "a")]
        if not old_version and ctx.patched("extra-step"):
            out.append(await ctx.activity(step, "extra"))
        await ctx.sleep(10)
        out.append(await ctx.activity(step, "b"))
        return out

    hx = Harness(reg)
    running = hx.start(versioned)  # started with the old code, now sleeping
    old_version = False
    hx.worker.evict()
    fresh = hx.start(versioned)
    hx.advance(10)
    assert hx.state(running).output == ["a", "b"]
    assert hx.state(fresh).output == ["a", "extra", "b"]
    assert "PatchMarker" in hx.kinds(fresh) and "PatchMarker" not in hx.kinds(running)


@dataclass
class Order:
    id: str
    qty: int


def test_dataclass_inputs_and_results_round_trip() -> None:
    reg = Registry()

    @reg.activity
    def bump(order: Order) -> Order:
        assert isinstance(order, Order)
        return Order(order.id, order.qty + 1)

    @reg.orchestration
    async def process(ctx: OrchestrationContext, order: Order) -> Order:
        assert isinstance(order, Order)
        bumped = await ctx.activity(bump, order)
        assert isinstance(bumped, Order)
        return bumped

    hx = Harness(reg)
    iid = hx.start(process, Order("o-1", 1))
    assert hx.state(iid).output == {"id": "o-1", "qty": 2}


def test_unserializable_activity_input_fails_the_instance_naming_the_path() -> None:
    reg, _ = make()

    @reg.orchestration
    async def bad(ctx: OrchestrationContext) -> None:
        await ctx.activity("double", {"items": [1, 2, 3, {4}]})

    hx = Harness(reg)
    state = hx.state(hx.start(bad))
    assert state.status == Status.FAILED
    assert state.error is not None and state.error.type == "SerializationError"
    assert "activity 'double': input['items'][3] is a set" in state.error.message
