"""`TestEnv`'s call guard (on by default): a call that breaks replay fails the test at the call,
every run, in the live turn and in the replays; activities still see the frozen virtual clock."""

from __future__ import annotations

import inspect
import logging
import random
import time
from datetime import datetime
from typing import Any

import pytest

from orchestrate import (
    NonDeterminismError,
    NonDeterministicCallError,
    OrchestrationContext,
    Registry,
)
from testkit import TestEnv, ok

reg = Registry()


@reg.activity
def charge(order: str) -> str:
    return f"tx-{order}"


@reg.activity
def gift(order: str) -> str:
    return f"gift-{order}"


@reg.activity
def stamp(_: Any) -> str:
    return datetime.now().isoformat()  # activities may read the (virtual) wall clock


@reg.orchestration
async def random_branch(ctx: OrchestrationContext, order: str) -> list[str]:
    done = [await ctx.activity(charge, order)]
    if random.random() < 0.5:  # the bug: a branch on the process's random generator
        done.append(await ctx.activity(gift, order))
    return done


@reg.orchestration
async def random_on_replay_only(ctx: OrchestrationContext, order: str) -> str:
    tx: str = await ctx.activity(charge, order)
    if ctx.is_replaying:
        random.random()  # only a replay gets here: the shadow replay's guard stops it
    return tx


@reg.orchestration
async def stamped(ctx: OrchestrationContext) -> str:
    result: str = await ctx.activity(stamp, None)
    return result


@reg.orchestration
async def times_itself(ctx: OrchestrationContext) -> float:
    started = time.perf_counter()  # harmless here, but still not replay-safe
    await ctx.activity(charge, "o")
    return 0.0 * started


RANDOM_LINE = next(
    i for i, line in enumerate(inspect.getsourcelines(random_branch)[0]) if "random.random" in line
) + inspect.getsourcelines(random_branch)[1]


@pytest.mark.parametrize("replay_check", [True, "full"])
def test_the_random_branch_fails_every_run_at_the_random_call(replay_check: Any) -> None:
    """The issue's target: 20 of 20 fresh runs fail, each naming the `random` call's line."""
    failures = []
    for _ in range(20):
        with TestEnv(reg, replay_check=replay_check) as env, pytest.raises(
            NonDeterministicCallError
        ) as caught:
            env.run(random_branch, "o-1")
        failures.append(str(caught.value))
    assert len(failures) == 20
    for message in failures:
        assert f"called random.random() at tests/testkit/test_env_guard.py:{RANDOM_LINE}" in message
        assert "ctx.random()" in message and "random_branch (random_branch-1)" in message


def test_the_env_raises_the_error_once_without_a_false_retry_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG), TestEnv(reg) as env, pytest.raises(
        NonDeterministicCallError
    ):
        env.run(random_branch, "o-1")
    assert not [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_call_only_replays_make_is_stopped_by_the_guarded_shadow_replay() -> None:
    with TestEnv(reg) as env, pytest.raises(NonDeterministicCallError, match=r"random\.random"):
        env.run(random_on_replay_only, "o-1")


def test_activities_read_the_virtual_clock_while_orchestrations_are_guarded() -> None:
    with TestEnv(reg, start="2031-02-03T04:05:06Z") as env:
        run = env.run(stamped)
        assert run.status == "completed" and run.output.startswith("2031-02-03T04:05:06")
        assert datetime.now().isoformat().startswith("2031-02-03")  # the test's code too


def test_the_env_error_carries_the_timeline_and_is_a_non_determinism_error() -> None:
    with TestEnv(reg) as env, pytest.raises(NonDeterminismError) as caught:
        env.run(times_itself)
    assert isinstance(caught.value, NonDeterministicCallError)
    assert "called time.perf_counter() at" in str(caught.value)
    assert "instance 'times_itself-1'" in str(caught.value)  # the timeline follows
    assert env.nondeterminism and isinstance(env.nondeterminism[0], NonDeterministicCallError)


@reg.orchestration
async def reads_the_date(ctx: OrchestrationContext) -> str:
    return datetime.now().date().isoformat()


@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "real clock"])
def test_datetime_now_is_stopped_on_the_frozen_and_the_real_clock(freeze: bool) -> None:
    with TestEnv(reg, freeze_wall_clock=freeze) as env, pytest.raises(
        NonDeterministicCallError, match=r"called datetime\.now\(\) at tests/testkit/test_env_guard\.py:"
    ):
        env.run(reads_the_date)


def test_guard_calls_false_turns_it_off() -> None:
    with TestEnv(reg, guard_calls=False) as env:
        env.script(charge, ok("tx"))
        run = env.run(times_itself)
        assert run.status == "completed" and env.nondeterminism == []


def test_the_fuzzer_reports_the_call() -> None:
    from testkit.fuzz import FuzzFailure, fuzz

    with pytest.raises(FuzzFailure, match=r"called random\.random\(\) at"):
        fuzz(reg, random_branch, input="o-1", max_examples=5, seed=1)
