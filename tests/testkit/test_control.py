"""The Controller: step-by-step control of a TestEnv (the fuzzer's interface)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import OrchestrationContext, Registry
from testkit import DEFAULT_START, TestEnv, fail, ok
from testkit.control import Controller

reg = Registry()
runs: list[int] = []


@reg.activity
def add(x: int) -> int:
    runs.append(x)
    return x + 1


@reg.orchestration
async def chain(ctx: OrchestrationContext, x: int) -> int:
    for _ in range(3):
        x = await ctx.activity(add, x)
    return x


@reg.orchestration
async def race(ctx: OrchestrationContext, _: None = None) -> list[int]:
    tasks = [ctx.activity(add, i) for i in range(3)]
    return [await t async for t in ctx.as_completed(tasks)]


@reg.orchestration
async def approval(ctx: OrchestrationContext, hours: int) -> str:
    answer, timeout = ctx.event("Approval"), ctx.timer(timedelta(hours=hours))
    winner = await ctx.any([answer, timeout])
    if winner is timeout:
        return "timed out"
    return f"approved by {await winner}"


def controlled() -> tuple[TestEnv, Controller]:
    env = TestEnv(reg)
    return env, Controller(env)


def test_attempts_are_held_until_finished_in_any_order_with_any_outcome():
    _env, control = controlled()
    with control:
        run = control.start(race, None, "r")
        held = control.attempts()
        assert [(a.name, a.task_id, a.input) for a in held] == [("add", 0, 0), ("add", 1, 1),
                                                               ("add", 2, 2)]
        for attempt, value in zip(reversed(held), ("c", "b", "a"), strict=True):
            control.finish(attempt, ok(value))
    assert run.output == ["c", "b", "a"]
    assert control.attempts() == []


def test_finish_without_outcome_runs_the_real_code_and_records_its_result():
    _env, control = controlled()
    with control:
        run = control.start(chain, 1, "c")
        for _ in range(3):
            [attempt] = control.attempts()
            event = control.finish(attempt, None)
    assert run.output == 4 and getattr(event, "result", None) == 4


def test_a_failed_outcome_reaches_the_orchestration():
    _env, control = controlled()
    with control:
        run = control.start(chain, 1, "f")
        [attempt] = control.attempts()
        control.finish(attempt, fail("boom", retryable=False))
    assert run.status == "failed" and "boom" in str(run.error)


def test_run_extra_executes_again_with_the_same_key_and_keeps_holding_the_attempt():
    _env, control = controlled()
    runs.clear()
    with control:
        run = control.start(chain, 1, "d")
        [attempt] = control.attempts()
        control.run_extra(attempt, None)
        assert control.attempts() == [attempt] and control.deliveries == 2
        control.finish(attempt, None)
    assert runs == [1, 1] and run.calls(add) == [1, 1, 2]  # then the next call is delivered


def test_timers_fire_only_when_told_and_events_arrive_when_raised():
    env, control = controlled()
    with control:
        run = control.start(approval, 2, "a")
        assert control.next_timer() == DEFAULT_START + timedelta(hours=2)
        assert control.awaited_events() == [("a", "Approval")]
        assert run.status == "running" and env.clock.now() == DEFAULT_START
        control.raise_event("a", "Approval", "ann")
    assert run.output == "approved by ann"
    assert control.next_timer() is None  # the losing timer is no longer awaited


def test_firing_the_next_timer_moves_virtual_time_to_it():
    env, control = controlled()
    with control:
        run = control.start(approval, 2, "t")
        assert control.fire_next_timer() == DEFAULT_START + timedelta(hours=2)
    assert run.output == "timed out" and env.clock.now() == DEFAULT_START + timedelta(hours=2)
    with pytest.raises(LookupError, match="no timer is awaited"):
        control.fire_next_timer()


@pytest.mark.parametrize("where", ["before_commit", "after_commit"])
def test_a_crash_around_a_commit_does_not_change_the_outcome(where):
    env, control = controlled()
    with control:
        run = control.start(chain, 1, "x")
        [attempt] = control.attempts()
        misses = env.worker.cache_misses
        control.crash(where)
        control.finish(attempt, None)
        while control.attempts():
            control.finish(control.attempts()[0], None)
    assert run.output == 4 and run.calls(add) == [1, 2, 3]
    # Either way the execution was rebuilt by replay once: the refused turn was redone from
    # the store (before), or the cache was lost after the commit (after).
    assert env.worker.cache_misses == misses + 1


def test_disarm_cancels_a_crash_no_commit_met():
    _env, control = controlled()
    control.crash("before_commit")
    control.disarm()
    with control:
        run = control.start(chain, 1, "y")
    assert run.status == "running" and len(run.history) == 2


def test_an_unknown_crash_point_is_refused():
    _, control = controlled()
    with pytest.raises(ValueError, match="before_commit"):
        control.crash("sometime")  # type: ignore[arg-type]
