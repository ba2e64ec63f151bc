"""Stubbed sub-orchestrations: `env.script(child, ok | fail | hang | delay)` answers for the
child's code, the parent's history and checks stay real, and `run.calls(child)` has the inputs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    OrchestrationContext,
    Registry,
    Status,
    SubOrchestrationFailed,
    UnknownActivity,
)
from testkit import StubbedOrchestration, TestEnv, delay, fail, hang, ok

reg = Registry()
RAN: list[str] = []


@reg.activity
def reconcile(region: str) -> str:
    RAN.append(region)
    return f"real-{region}"


@reg.orchestration
async def reconcile_region(ctx: OrchestrationContext, region: str) -> str:
    return str(await ctx.activity(reconcile, region))


@reg.orchestration
async def reconcile_all(ctx: OrchestrationContext, regions: list[str]) -> Any:
    children = [ctx.sub_orchestration(reconcile_region, r) for r in regions]
    results = await ctx.all(children, return_exceptions=True)
    return [r if isinstance(r, str) else f"{r.error_type}: {r.message}" for r in results]


@reg.orchestration
async def with_deadline(ctx: OrchestrationContext, region: str) -> str:
    child = ctx.sub_orchestration(reconcile_region, region, instance_id="child-eu")
    deadline = ctx.timer(timedelta(hours=1))
    return "done" if await ctx.any([child, deadline]) is child else "timed out"


@pytest.fixture(autouse=True)
def _forget() -> None:
    RAN.clear()


def test_a_stubbed_child_answers_from_its_script_in_order() -> None:
    with TestEnv(reg) as env:
        env.script(reconcile_region, [ok("eu-ok"), fail(ValueError("no quota")), ok("us-ok")])
        run = env.run(reconcile_all, ["eu", "ap", "us"])
        assert run.output == ["eu-ok", "ValueError: no quota", "us-ok"]
        assert run.calls(reconcile_region) == ["eu", "ap", "us"]
        assert RAN == []  # the child's real code never ran
        children = [s for s in env.instances() if s.name == "reconcile_region"]
        assert [s.status for s in children] == [Status.COMPLETED, Status.FAILED, Status.COMPLETED]


def test_a_child_scripted_to_hang_leaves_the_parent_waiting_until_its_timer() -> None:
    with TestEnv(reg) as env:
        env.script("reconcile_region", hang())
        run = env.run(with_deadline, "eu")
        assert run.status == Status.RUNNING
        assert [c.instance_id for c in run.pending.children] == ["child-eu"]
        env.advance(timedelta(hours=1))
        assert run.output == "timed out"
        assert env.state("child-eu").status == Status.TERMINATED  # the race loser is ended


def test_a_delayed_child_finishes_at_its_virtual_time() -> None:
    with TestEnv(reg) as env:
        env.script(reconcile_region, delay(timedelta(minutes=30), ok("late")))
        run = env.run(with_deadline, "eu")
        assert run.output == "done" and env.clock.now().minute == 30


def test_unscripted_children_run_their_real_code_and_are_still_recorded() -> None:
    with TestEnv(reg) as env:
        run = env.run(reconcile_all, ["eu"])
        assert run.output == ["real-eu"] and RAN == ["eu"]
        assert run.calls(reconcile_region) == ["eu"]


def test_the_users_registry_is_untouched() -> None:
    with TestEnv(reg) as env:
        env.script(reconcile_region, ok("stub"))
    assert reg.get_orchestration("reconcile_region").fn is reconcile_region


@reg.orchestration
async def strict_parent(ctx: OrchestrationContext, region: str) -> str:
    try:
        return str(await ctx.sub_orchestration(reconcile_region, region))
    except SubOrchestrationFailed as exc:
        return f"{exc.error_type}/{exc.message}"


def test_a_failing_child_raises_sub_orchestration_failed_in_the_parent() -> None:
    with TestEnv(reg, replay_check="full") as env:
        env.script(reconcile_region, fail("quota", error_type="QuotaExceeded"))
        assert env.run(strict_parent, "eu").output == "QuotaExceeded/quota"


def test_a_plain_value_for_a_child_says_to_wrap_it_in_ok() -> None:
    with TestEnv(reg) as env, pytest.raises(
        TypeError, match=r"the script for orchestration 'reconcile_region' is None.*ok\(None\)"
    ):
        env.script(reconcile_region, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("reconcile_regoin", "no activity or orchestration named 'reconcile_regoin' is "
         "registered, so env.script cannot script it; did you mean 'reconcile_region'"),
        ("typo", "no activity or orchestration named 'typo' is registered, so env.script cannot "
         "script it; registered activities: reconcile; orchestrations: reconcile_all, "
         "reconcile_region,"),
    ],
)  # fmt: skip
def test_scripting_an_unknown_name_lists_both_kinds_close_matches_first(
    name: str, message: str
) -> None:
    with TestEnv(reg) as env, pytest.raises(UnknownActivity) as caught:
        env.script(name, ok(1))
    assert str(caught.value).startswith(message)


def test_running_a_stubbed_orchestration_itself_is_refused() -> None:
    with TestEnv(reg) as env:
        env.script(reconcile_region, ok("stub"))
        with pytest.raises(StubbedOrchestration, match=r"orchestration 'reconcile_region' is "
                           r"scripted .* so running it would run the stub, not its code"):
            env.run(reconcile_region, "eu")
        assert env.run(reconcile_all, ["eu"]).output == ["stub"]  # as a child: the point
        assert isinstance(StubbedOrchestration("x"), ValueError)
