"""The replay check: non-deterministic code fails the test that runs it; deterministic code passes."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from orchestrate import NonDeterminismError, OrchestrationContext, Registry
from testkit import TestEnv, ok
from testkit.replay_check import ReplayChecker, check_execution, replay_events

reg = Registry()
COUNTER = itertools.count()


@reg.activity
def echo(value: object) -> object:
    return value


@reg.orchestration
async def reads_module_counter(ctx: OrchestrationContext, _: None = None) -> list[object]:
    first = await ctx.activity(echo, "start")
    second = await ctx.activity(echo, next(COUNTER))  # differs on every replay
    return [first, second]


@reg.orchestration
async def reads_wall_clock(ctx: OrchestrationContext, _: None = None) -> object:
    await ctx.activity(echo, "warm up")
    return await ctx.activity(echo, datetime.now(UTC).isoformat())


@reg.orchestration
async def reads_today(ctx: OrchestrationContext, _: None = None) -> object:
    return await ctx.activity(echo, date.today().isoformat())  # the first command reads it


@reg.orchestration
async def reads_now(ctx: OrchestrationContext, _: None = None) -> object:
    return await ctx.activity(echo, datetime.now(UTC).isoformat())


@reg.orchestration
async def deterministic(ctx: OrchestrationContext, _: None = None) -> list[object]:
    values: list[object] = [str(ctx.uuid()), ctx.random().random(), ctx.now().isoformat()]
    values.append(await ctx.side_effect(lambda: random.random()))
    if ctx.patched("v2"):
        values.append(await ctx.activity(echo, "patched"))
    await ctx.sleep(timedelta(hours=1))
    ctx.set_status({"step": 2})
    values.append(await ctx.activity(echo, ctx.now().isoformat()))
    return values


@reg.orchestration
async def generations(ctx: OrchestrationContext, n: int) -> int:
    await ctx.sleep(timedelta(minutes=5))
    await ctx.activity(echo, n)
    if n < 3:
        ctx.continue_as_new(n + 1)
    return n


@pytest.mark.parametrize(
    ("options", "caught"),
    [
        ({"replay_check": False}, False),
        ({}, True),
        ({"replay_check": "full"}, True),
        ({"replay_check": False, "evict_every_turn": True}, True),
    ],
)
def test_module_counter_passes_only_without_replay_checks(options, caught):
    env = TestEnv(reg, **options)
    if not caught:
        assert env.run(reads_module_counter).status == "completed"
        return
    with pytest.raises(NonDeterminismError) as info:
        env.run(reads_module_counter)
    message = str(info.value)
    assert "ActivityScheduled('echo')" in message
    assert "test_replay_check.py" in message  # the line that issued the command
    assert "  #  time" in message and "OrchestrationStarted" in message  # the timeline
    assert env.nondeterminism and str(env.nondeterminism[0]) in message
    if options.get("evict_every_turn"):
        assert "execution cache was evicted" in message
    else:
        assert "module or global state, the wall clock" in message


def test_wall_clock_reads_are_caught_because_the_check_shifts_the_wall_clock():
    env = TestEnv(reg, guard_calls=False)  # the check itself (the guard stops it sooner)
    with pytest.raises(NonDeterminismError, match="with input"):
        env.run(reads_wall_clock)


@pytest.mark.parametrize("orchestration", [reads_today, reads_now])
@pytest.mark.parametrize("options", [{}, {"replay_check": "full"}])
def test_wall_clock_reads_are_caught_when_no_activity_code_runs(orchestration, options):
    # Scripted outcomes only: the wall clock is frozen for the whole drive call anyway, so the
    # check's shift applies to the orchestration's own reads (the guard would stop them sooner).
    env = TestEnv(reg, **options, guard_calls=False)
    env.script(echo, ok("done"))
    with pytest.raises(NonDeterminismError, match=r"ActivityScheduled.*with input"):
        env.run(orchestration)
    assert len(env.nondeterminism) == 1


@pytest.mark.parametrize("orchestration", [reads_today, reads_now])
def test_orchestrations_see_virtual_wall_time(orchestration):
    env = TestEnv(reg, start="2031-02-03T04:05:06Z", replay_check=False, guard_calls=False)
    env.script(echo, ok("done"))
    run = env.run(orchestration)
    assert run.calls(echo)[0].startswith("2031-02-03")


def test_without_the_freeze_wall_clock_reads_in_orchestrations_are_not_caught():
    env = TestEnv(reg, freeze_wall_clock=False, guard_calls=False)  # the documented opt-outs
    env.script(echo, ok("done"))
    run = env.run(reads_today)
    assert run.status == "completed" and env.nondeterminism == []
    assert run.calls(echo) != ["2024-01-01"]  # the real date, not virtual time


@pytest.mark.parametrize("options", [{}, {"replay_check": "full"}, {"evict_every_turn": True}])
def test_deterministic_code_passes_every_mode(options):
    env = TestEnv(reg, **options)
    run = env.run(deterministic)
    assert run.status == "completed", run.timeline()
    assert run.custom_status == {"step": 2}
    again = TestEnv(reg, **options).run(deterministic)
    # Same instance id, same values, except the side effect, which is recorded, not seeded.
    assert again.output[:3] + again.output[4:] == run.output[:3] + run.output[4:]


def test_eviction_mode_resumes_every_turn_by_replay():
    env = TestEnv(reg, evict_every_turn=True)
    run = env.run(generations, 0)
    assert run.output == 3
    assert env.worker.cache_hits == 0
    assert env.worker.cache_misses > 8


def test_check_execution_and_the_checker_agree_on_a_clean_history():
    env = TestEnv(reg, replay_check=False)
    run = env.run(generations, 3)
    exe = replay_events(reg, "generations", run.instance_id, run.history)
    assert exe.done and check_execution(reg, exe) is None
    assert ReplayChecker(reg).after_turn(exe) is None


def test_a_changed_history_is_reported_at_its_step():
    env = TestEnv(reg, replay_check=False)
    run = env.run(generations, 3)
    history = run.history
    scheduled = next(e for e in history if e.kind == "ActivityScheduled")
    scheduled.input = 99  # type: ignore[attr-defined]
    problem = replay_events(reg, "generations", run.instance_id, history).nondeterminism
    assert problem is not None
    assert "at step 4" in str(problem) and "input 3 instead of 99" in str(problem)


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="use True, False or 'full'"):
        TestEnv(reg, replay_check="sometimes")  # type: ignore[arg-type]
