"""TestEnv: time skipping, advance ordering, scripted outcomes, strict mode, the live run handle."""

from __future__ import annotations

import contextlib
import gc
import time
from datetime import UTC, datetime, timedelta

import freezegun
import pytest

from orchestrate import (
    ActivityFailed,
    DuplicateInstance,
    InstanceNotFound,
    OrchestrationContext,
    Registry,
    RetryPolicy,
    Status,
)
from testkit import (
    DEFAULT_START,
    FakeClock,
    RunawayOrchestration,
    ScriptExhausted,
    TestEnv,
    UnscriptedActivity,
    delay,
    fail,
    hang,
    ok,
)

reg = Registry()
DAY = timedelta(days=1)


@reg.activity
def add(x: int) -> int:
    return x + 1


@reg.activity(retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=10)))
def charge(order: dict) -> str:
    return f"tx-{order['id']}"


@reg.activity
def notify(x: object) -> object:
    return x


@reg.activity
def wall_clock() -> list:
    return [datetime.now(UTC).isoformat(), time.time()]


@reg.orchestration
async def chain(ctx: OrchestrationContext, x: int) -> int:
    for _ in range(3):
        x = await ctx.activity(add, x)
    return x


@reg.orchestration
async def pay(ctx: OrchestrationContext, order: dict) -> str:
    try:
        return await ctx.activity(charge, order)
    except ActivityFailed as exc:
        return f"gave up: {exc.error_type}"


@reg.orchestration
async def pay_with_timeout(ctx: OrchestrationContext, order: dict) -> str:
    try:
        return await ctx.activity(charge, order, timeout=timedelta(minutes=1))
    except ActivityFailed as exc:
        return exc.error_type


@reg.orchestration
async def sleeper(ctx: OrchestrationContext, days: list[int]) -> list[str]:
    seen = []
    for d in days:
        await ctx.sleep(timedelta(days=d))
        seen.append(ctx.now().isoformat())
    return seen


@reg.orchestration
async def approval(ctx: OrchestrationContext, hours: int) -> str:
    answer, timeout = ctx.event("Approval"), ctx.timer(timedelta(hours=hours))
    ctx.set_status("waiting")
    winner = await ctx.any([answer, timeout])
    if winner is timeout:
        return "timed out"
    return f"approved by {await winner}"


@reg.orchestration
async def charge_or_cancel(ctx: OrchestrationContext, order: dict) -> str:
    charged, cancel = ctx.activity(charge, order), ctx.event("Cancel")
    winner = await ctx.any([charged, cancel])
    return "cancelled" if winner is cancel else await winner


@reg.orchestration
async def quick_then_blocked(ctx: OrchestrationContext, _: None = None) -> str:
    await ctx.activity(add, 1, timeout=timedelta(days=30))  # finishes at once
    await ctx.activity(notify, 2)  # scripted to hang: only the test can finish it
    return ctx.now().isoformat()


@reg.orchestration
async def approved_then_blocked(ctx: OrchestrationContext, _: None = None) -> str:
    answer, timeout = ctx.event("Approval"), ctx.timer(timedelta(days=30))
    await ctx.any([answer, timeout])  # the event wins: the timer is cancelled
    await ctx.activity(notify, 2)
    return ctx.now().isoformat()


@reg.orchestration
async def cancelled_then_blocked(ctx: OrchestrationContext, order: dict) -> str:
    charged, cancel = ctx.activity(charge, order), ctx.event("Cancel")
    await ctx.any([charged, cancel])  # the charge is cancelled during its retry backoff
    await ctx.activity(notify, 2)
    return ctx.now().isoformat()


@reg.orchestration
async def timed_out_then_blocked(ctx: OrchestrationContext, order: dict) -> str:
    with contextlib.suppress(ActivityFailed):  # every attempt times out
        await ctx.activity(charge, order, timeout=timedelta(minutes=1))
    await ctx.activity(notify, 2)
    return ctx.now().isoformat()


@reg.orchestration
async def quick_then_sleep(ctx: OrchestrationContext, _: None = None) -> str:
    await ctx.activity(add, 1, timeout=timedelta(hours=1))
    await ctx.sleep(DAY)
    return ctx.now().isoformat()


@reg.orchestration
async def two_timers(ctx: OrchestrationContext, _: None = None) -> list[str]:
    order: list[str] = []
    late, early = ctx.timer(timedelta(hours=2)), ctx.timer(timedelta(hours=1))
    async for done in ctx.as_completed([late, early]):
        order.append("late" if done is late else "early")
    return order


@reg.orchestration
async def race(ctx: OrchestrationContext, _: None = None) -> list[int]:
    tasks = [ctx.activity(add, i) for i in range(3)]
    return [await t async for t in ctx.as_completed(tasks)]


@reg.orchestration
async def stamp(ctx: OrchestrationContext, _: None = None) -> list:
    return await ctx.activity(wall_clock)


@reg.orchestration
async def crash(ctx: OrchestrationContext, _: None = None) -> None:
    await ctx.activity(add, 1)
    raise RuntimeError("the orchestration broke")


@reg.orchestration
async def loop_forever(ctx: OrchestrationContext, n: int) -> None:
    ctx.continue_as_new(n + 1)


@reg.orchestration
async def parent(ctx: OrchestrationContext, days: int) -> list[str]:
    return await ctx.sub_orchestration(sleeper, [days])


# --- time skipping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "ends"),
    [([1], datetime(2024, 1, 2, tzinfo=UTC)), ([31, 29, 31], datetime(2024, 4, 1, tzinfo=UTC))],
)
def test_time_skips_through_timers_over_days_and_months(days, ends):
    env = TestEnv(reg)
    run = env.run(sleeper, days)
    assert run.status == Status.COMPLETED
    assert run.output[-1] == ends.isoformat()
    assert env.clock.now() == ends


def test_time_skipping_starts_where_asked():
    env = TestEnv(reg, start="2030-06-01T00:00:00Z")
    assert env.run(sleeper, [1]).output == ["2030-06-02T00:00:00+00:00"]


def test_sub_orchestration_timers_are_skipped_too():
    env = TestEnv(reg)
    run = env.run(parent, 3)
    assert run.status == "completed", run.timeline()
    assert run.output == ["2024-01-04T00:00:00+00:00"]


def test_an_event_wait_stops_time_and_waits_for_the_test():
    env = TestEnv(reg)
    run = env.run(approval, 24)
    assert run.status == Status.RUNNING
    assert env.clock.now() == DEFAULT_START
    assert run.waiting_for == ["timer at 2024-01-02T00:00:00Z", "event 'Approval'"]
    assert run.custom_status == "waiting"
    env.raise_event(run.instance_id, "Approval", "ana")
    assert (run.status, run.output, run.waiting_for) == (Status.COMPLETED, "approved by ana", [])


def test_advance_fires_the_timeout():
    env = TestEnv(reg)
    run = env.run(approval, 24)
    env.advance(timedelta(hours=23))
    assert run.status == Status.RUNNING
    env.advance(timedelta(hours=1))
    assert (run.status, run.output) == (Status.COMPLETED, "timed out")
    assert env.clock.now() == DEFAULT_START + DAY


def test_advance_fires_timers_in_due_order_each_at_its_time():
    env = TestEnv(reg)
    first = env.run(approval, 5)
    second = env.run(approval, 3)
    env.advance(DAY)
    assert [first.output, second.output] == ["timed out", "timed out"]
    fired = {r.instance_id: r.history[-2].at for r in (first, second)}
    assert fired == {
        first.instance_id: DEFAULT_START + timedelta(hours=5),
        second.instance_id: DEFAULT_START + timedelta(hours=3),
    }
    assert env.clock.now() == DEFAULT_START + DAY


def test_timers_created_together_complete_in_due_order():
    assert TestEnv(reg).run(two_timers).output == ["early", "late"]


def test_a_finished_activitys_timeout_does_not_move_the_clock():
    env = TestEnv(reg)
    env.script(add, ok(2))
    env.script(notify, hang())
    run = env.run(quick_then_blocked)
    assert run.status == Status.RUNNING
    assert env.clock.now() == DEFAULT_START  # not 30 days on: nobody waits on that timer
    assert run.waiting_for == ["activity 'notify' (scripted to hang)"]
    env.advance(timedelta(days=31))  # the timeout was cancelled when the activity finished
    assert [e for e in run.history if e.kind == "TimerFired"] == []
    assert run.status == Status.RUNNING


def test_a_races_losing_timer_does_not_move_the_clock():
    env = TestEnv(reg)
    env.script(notify, hang())
    run = env.run(approved_then_blocked)
    env.raise_event(run.instance_id, "Approval", "ana")
    assert run.status == Status.RUNNING
    assert env.clock.now() == DEFAULT_START
    assert run.waiting_for == ["activity 'notify' (scripted to hang)"]


def test_a_cancelled_calls_retry_backoff_does_not_move_the_clock():
    env = TestEnv(reg)
    env.script(charge, fail("declined"))  # retryable: a 10 s backoff timer is pending
    env.script(notify, hang())
    run = env.run(cancelled_then_blocked, {"id": 1})
    assert run.waiting_for == ["timer at 2024-01-01T00:00:10Z (retry)", "event 'Cancel'"]
    env.raise_event(run.instance_id, "Cancel")
    assert run.status == Status.RUNNING
    assert env.clock.now() == DEFAULT_START
    assert len(run.calls(charge)) == 1


def test_a_timed_out_attempts_delayed_result_does_not_move_the_clock():
    env = TestEnv(reg)
    env.script(charge, delay(timedelta(days=2), "too late"))
    env.script(notify, hang())
    run = env.run(timed_out_then_blocked, {"id": 1})
    # Three attempts time out (1 minute each, 10 s and 20 s apart), then the wait on notify:
    # the late results are due in two days, but nobody waits on them any more.
    assert env.clock.now() == DEFAULT_START + timedelta(minutes=3, seconds=30)
    assert run.waiting_for == ["activity 'notify' (scripted to hang)"]


def test_a_cancelled_timer_never_fires_into_the_history():
    env = TestEnv(reg)
    run = env.run(quick_then_sleep)
    assert run.output == (DEFAULT_START + DAY).isoformat()
    fired = [(e.task_id, e.at) for e in run.history if e.kind == "TimerFired"]
    assert fired == [(2, DEFAULT_START + DAY)]  # the finished activity's timeout is gone


@pytest.mark.parametrize("delta", [timedelta(seconds=-1), -5])
def test_advance_refuses_to_go_back(delta):
    with pytest.raises(ValueError, match="only moves forward"):
        TestEnv(reg).advance(delta)


# --- scripted outcomes ------------------------------------------------------------------------


def test_unscripted_activities_run_their_real_code():
    run = TestEnv(reg).run(chain, 1)
    assert run.output == 4
    assert run.calls(add) == run.calls("add") == [1, 2, 3]


@pytest.mark.parametrize(
    ("script", "output", "calls"),
    [
        (ok("tx-scripted"), "tx-scripted", 1),
        ([fail("declined"), ok("tx-2")], "tx-2", 2),
        (fail("declined"), "gave up: Exception", 3),
        (fail(ValueError("bad card"), retryable=False), "gave up: ValueError", 1),
        (lambda order: f"tx-from-{order['id']}", "tx-from-7", 1),
    ],
)
def test_each_outcome_kind_with_retries_counted(script, output, calls):
    env = TestEnv(reg)
    env.script(charge, script)
    run = env.run(pay, {"id": 7})
    assert run.output == output
    assert run.calls(charge) == [{"id": 7}] * calls


def test_hang_lets_a_timeout_timer_fire():
    env = TestEnv(reg)
    env.script(charge, hang())
    run = env.run(pay_with_timeout, {"id": 1})
    assert run.output == "TimeoutError"
    assert len(run.calls(charge)) == 3  # charge's retry policy: 3 attempts, 10 s then 20 s apart
    assert env.clock.now() == DEFAULT_START + timedelta(minutes=3, seconds=30)


def test_hang_without_a_timeout_leaves_the_run_waiting():
    env = TestEnv(reg)
    env.script(charge, hang())
    run = env.run(pay, {"id": 1})
    assert run.status == Status.RUNNING
    assert run.waiting_for == ["activity 'charge' (scripted to hang)"]
    assert env.clock.now() == DEFAULT_START


def test_delay_completes_after_virtual_time_and_orders_completions():
    env = TestEnv(reg)
    env.script(add, lambda x: delay(timedelta(minutes=10 - x), x * 10))
    run = env.run(race)
    assert run.output == [20, 10, 0]  # the call with the shortest delay finishes first
    assert env.clock.now() == DEFAULT_START + timedelta(minutes=10)


def test_delay_longer_than_a_timeout_times_out():
    env = TestEnv(reg)
    env.script(charge, delay(timedelta(minutes=5), "too late"))
    assert env.run(pay_with_timeout, {"id": 1}).output == "TimeoutError"


def test_a_delayed_activity_raced_with_an_event_waits_for_advance():
    env = TestEnv(reg)
    env.script(charge, delay(timedelta(hours=1), "tx-late"))
    run = env.run(charge_or_cancel, {"id": 1})
    assert run.waiting_for == [
        "activity 'charge' (finishes at 2024-01-01T01:00:00Z)",
        "event 'Cancel'",
    ]
    env.advance(timedelta(hours=1))
    assert run.output == "tx-late"


def test_script_exhaust_error_fails_the_drive_call():
    env = TestEnv(reg)
    env.script(add, [ok(10)], exhaust="error")
    with pytest.raises(ScriptExhausted, match="'add' was called 2 times"):
        env.run(chain, 0)


def test_strict_mode_names_the_unscripted_activity():
    env = TestEnv(reg, strict=True)
    with pytest.raises(UnscriptedActivity, match="activity 'add' was called by instance 'chain-1'"):
        env.run(chain, 0)
    env = TestEnv(reg, strict=True)
    env.script(add, ok(5))
    assert env.run(chain, 0).output == 5


def test_scripting_an_unknown_activity_is_refused():
    with pytest.raises(KeyError, match="no activity or orchestration named 'nope'"):
        TestEnv(reg).script("nope", ok())


# --- the wall clock -----------------------------------------------------------------------------


def test_activities_see_virtual_time_through_freezegun():
    env = TestEnv(reg, start="2031-02-03T04:05:06Z")
    iso, stamp_seconds = env.run(stamp).output
    assert iso == "2031-02-03T04:05:06+00:00"
    assert stamp_seconds == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp()


def test_freezing_can_be_switched_off():
    env = TestEnv(reg, start="2031-02-03T04:05:06Z", freeze_wall_clock=False)
    iso, _ = env.run(stamp).output
    assert not iso.startswith("2031")


def test_a_freeze_that_fails_to_start_leaves_the_next_drive_call_frozen(monkeypatch):
    env = TestEnv(reg, start="2031-02-03T04:05:06Z")
    with monkeypatch.context() as patch:
        patch.setattr("testkit.drive_scope.held_scope", lambda clock: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            env.run(stamp)
    iso, _ = env.run(stamp).output  # not mistaken for a drive call nested in the failed one
    assert iso == "2031-02-03T04:05:06+00:00"


def test_the_wall_clock_stays_virtual_between_drive_calls_until_close():
    env = TestEnv(reg, start="2031-02-03T04:05:06Z", strict=True)
    with pytest.raises(UnscriptedActivity):
        env.run(stamp)
    assert datetime.now(UTC) == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)  # held, not stuck
    env.script(wall_clock, ok(["scripted", 0]))
    env.run(sleeper, [1])
    assert datetime.now(UTC) == datetime(2031, 2, 4, 4, 5, 6, tzinfo=UTC)  # followed the run
    env.close()
    assert datetime.now(UTC).year < 2031
    assert env.run(stamp).output == ["scripted", 0]  # a closed env freezes again when driven
    assert datetime.now(UTC).year == 2031
    env.close()


def test_an_env_used_as_a_context_manager_gives_the_wall_clock_back():
    with TestEnv(reg, start="2031-02-03T04:05:06Z") as env:
        iso, _ = env.run(stamp).output
        assert time.time() == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp()
    assert iso.startswith("2031") and datetime.now(UTC).year < 2031


def test_two_envs_each_show_their_own_time_while_driven():
    early = TestEnv(reg, start="2031-01-01T00:00:00Z")
    late = TestEnv(reg, start="2032-01-01T00:00:00Z")
    assert early.run(stamp).output[0].startswith("2031")
    assert late.run(stamp).output[0].startswith("2032")
    assert early.run(stamp).output[0].startswith("2031")
    early.close()
    assert datetime.now(UTC).year < 2031


def test_inside_a_tests_own_freezegun_freeze_drive_calls_freeze_only_while_they_run():
    with freezegun.freeze_time("2020-06-01T00:00:00Z"):
        env = TestEnv(reg, start="2031-02-03T04:05:06Z")
        assert env.run(stamp).output[0].startswith("2031")
        assert datetime.now(UTC) == datetime(2020, 6, 1, tzinfo=UTC)  # the test's freeze
    assert datetime.now(UTC).year > 2020  # and nothing of ours left behind


def test_a_shared_clock_object_is_used_as_is():
    clock = FakeClock("2025-01-01T00:00:00Z")
    env = TestEnv(reg, clock=clock)
    env.run(sleeper, [2])
    assert clock.now() == datetime(2025, 1, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match="either start"):
        TestEnv(reg, clock=clock, start="2025-01-01T00:00:00Z")


# --- the run handle and the env's other calls ---------------------------------------------------


def test_error_has_type_message_and_the_orchestrations_traceback():
    run = TestEnv(reg).run(crash)
    assert run.status == Status.FAILED
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("RuntimeError", "the orchestration broke")
    assert "test_env.py" in run.error.traceback and "raise RuntimeError" in run.error.traceback
    assert str(run.error).startswith("RuntimeError: the orchestration broke\nTraceback")


def test_terminate_and_state():
    env = TestEnv(reg)
    run = env.run(approval, 24)
    env.terminate(run.instance_id, "no longer needed")
    assert run.status == Status.TERMINATED
    assert env.state(run.instance_id).status == Status.TERMINATED
    assert run.waiting_for == []
    with pytest.raises(InstanceNotFound):
        env.state("nope")


def test_instance_ids_are_stable_and_can_be_chosen():
    env = TestEnv(reg)
    assert [env.run(chain, 0).instance_id for _ in range(2)] == ["chain-1", "chain-2"]
    assert env.run(chain, 0, instance_id="mine").instance_id == "mine"
    with pytest.raises(DuplicateInstance):
        env.run(chain, 0, instance_id="mine")


def test_history_is_the_instances_events():
    env = TestEnv(reg)
    run = env.run(chain, 0)
    assert run.history == env.history(run.instance_id)
    assert [e.kind for e in run.history][:3] == [
        "OrchestrationStarted",
        "ActivityScheduled",
        "ActivityCompleted",
    ]
    assert "chain-1" in repr(run) and "completed" in repr(run)


def test_a_loop_that_never_blocks_is_stopped():
    env = TestEnv(reg, max_turns=50)
    with pytest.raises(RunawayOrchestration, match="max_turns"):
        env.run(loop_forever, 0)


# --- follow-up turns ----------------------------------------------------------------------------


def test_activity_results_are_taken_by_follow_up_turns_not_fetched_back():
    env = TestEnv(reg)
    fetched: list[int] = []
    real_fetch = env.store.fetch_orchestration_work

    def counting_fetch(*args, **kwargs):
        works = real_fetch(*args, **kwargs)
        fetched.append(len(works))
        return works

    env.store.fetch_orchestration_work = counting_fetch
    run = env.run(chain, 1)
    assert run.output == 4
    assert sum(fetched) == 1  # the start; each result's turn ran on the cached execution


def test_an_env_without_freezing_runs_on_the_real_clock_even_after_a_frozen_one():
    TestEnv(reg, start="2031-02-03T04:05:06Z").run(stamp)
    iso, _ = TestEnv(reg, start="2031-02-03T04:05:06Z", freeze_wall_clock=False).run(stamp).output
    assert not iso.startswith("2031")


def test_the_hold_ends_when_the_env_that_drove_last_is_collected():
    first = TestEnv(reg, start="2031-02-03T04:05:06Z")
    first.run(stamp)
    second = TestEnv(reg, start="2032-02-03T04:05:06Z")
    second.run(stamp)
    del first
    gc.collect()
    assert datetime.now(UTC).year == 2032  # the env that drove last still holds it
    del second
    gc.collect()
    assert datetime.now(UTC).year < 2031
