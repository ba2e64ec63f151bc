"""Children follow their parent (`on_parent_close`), in the TestEnv: a parent that finishes,
fails, is terminated, continues as new or cancels the child's task ends its running children
(unless they were started with "abandon"), and purging a parent purges its children."""

from __future__ import annotations

import pytest

from orchestrate import OrchestrationContext, Registry, Status
from orchestrate.errors import SubOrchestrationFailed
from testkit import TestEnv

reg = Registry()


@reg.orchestration
async def waiter(ctx: OrchestrationContext, tag: str) -> str:
    await ctx.event("go")
    return tag


@reg.orchestration
async def fire_and_forget(ctx: OrchestrationContext, policy: str) -> str:
    ctx.sub_orchestration(waiter, "kid", instance_id="kid", on_parent_close=policy)
    await ctx.event("done")
    return "parent done"


@reg.orchestration
async def racer(ctx: OrchestrationContext) -> str:
    child = ctx.sub_orchestration(waiter, "kid", instance_id="kid", on_parent_close="abandon")
    won = await ctx.any([child, ctx.event("stop")])
    return "stopped" if won is not child else won.result()


@reg.orchestration
async def canceller(ctx: OrchestrationContext) -> str:
    child = ctx.sub_orchestration(waiter, "kid", instance_id="kid")
    await ctx.event("cancel")
    child.cancel()
    await ctx.event("done")
    return "done"


@reg.orchestration
async def failing(ctx: OrchestrationContext) -> None:
    ctx.sub_orchestration(waiter, "kid", instance_id="kid")
    await ctx.event("fail")
    raise RuntimeError("boom")


@reg.orchestration
async def grandparent(ctx: OrchestrationContext) -> None:
    ctx.sub_orchestration(fire_and_forget, "terminate", instance_id="mid")
    await ctx.event("never")


@reg.orchestration
async def renewing(ctx: OrchestrationContext, round: int) -> int:
    ctx.sub_orchestration(waiter, "kid", instance_id=f"kid-{round}")
    await ctx.event("next")
    if round < 1:
        ctx.continue_as_new(round + 1)
    return round


@pytest.fixture
def env() -> TestEnv:
    return TestEnv(reg)


def status(env: TestEnv, key: str) -> Status:
    return env.state(key).status


def test_a_finished_parent_terminates_its_running_child_by_default(env: TestEnv) -> None:
    run = env.run(fire_and_forget, "terminate", instance_id="p")
    assert status(env, "kid") == Status.RUNNING
    env.raise_event("p", "done")
    assert run.status == Status.COMPLETED
    kid = env.state("kid")
    assert kid.status == Status.TERMINATED
    assert kid.error is not None and "parent 'p': it completed" in kid.error.message
    assert "on_parent_close='terminate'" in kid.error.message


def test_an_abandoned_child_outlives_its_parent(env: TestEnv) -> None:
    env.run(fire_and_forget, "abandon", instance_id="p")
    env.raise_event("p", "done")
    assert status(env, "p") == Status.COMPLETED
    assert status(env, "kid") == Status.RUNNING
    env.raise_event("kid", "go")
    assert env.state("kid").output == "kid"


def test_a_failed_or_terminated_parent_terminates_its_child(env: TestEnv) -> None:
    env.run(failing, instance_id="p")
    env.raise_event("p", "fail")
    assert (status(env, "p"), status(env, "kid")) == (Status.FAILED, Status.TERMINATED)
    other = TestEnv(reg)
    other.run(fire_and_forget, "terminate", instance_id="q")
    other.terminate("q", "operator")
    assert status(other, "q") == Status.TERMINATED
    assert "parent 'q': it was terminated" in str(other.state("kid").error)


def test_termination_reaches_grandchildren(env: TestEnv) -> None:
    env.run(grandparent, instance_id="g")
    assert status(env, "kid") == Status.RUNNING
    env.terminate("g")
    assert [status(env, k) for k in ("g", "mid", "kid")] == [Status.TERMINATED] * 3


def test_a_race_losing_child_is_terminated_whatever_its_policy(env: TestEnv) -> None:
    run = env.run(racer, instance_id="p")
    env.raise_event("p", "stop")
    assert run.output == "stopped"
    kid = env.state("kid")
    assert kid.status == Status.TERMINATED
    assert kid.error is not None and "its sub-orchestration task was cancelled" in kid.error.message


def test_cancelling_a_child_task_terminates_the_child_and_its_late_notice_is_ignored(
    env: TestEnv,
) -> None:
    run = env.run(canceller, instance_id="p")
    env.raise_event("p", "cancel")
    assert status(env, "kid") == Status.TERMINATED
    assert run.status == Status.RUNNING  # the child's "terminated" notice changed nothing
    env.raise_event("p", "done")
    assert run.output == "done"


def test_continue_as_new_ends_the_children_of_the_generation(env: TestEnv) -> None:
    env.run(renewing, 0, instance_id="p")
    env.raise_event("p", "next")
    assert status(env, "kid-0") == Status.TERMINATED
    assert status(env, "kid-1") == Status.RUNNING
    assert "continued as new" in str(env.state("kid-0").error)


def test_a_parent_ends_only_its_own_child_not_the_holder_of_the_id(env: TestEnv) -> None:
    env.run(waiter, "stranger", instance_id="kid")  # holds the id the parent asks for
    env.run(fire_and_forget, "terminate", instance_id="p")
    env.raise_event("p", "done")
    assert status(env, "p") == Status.COMPLETED
    assert status(env, "kid") == Status.RUNNING  # not the parent's child: left alone


def test_purging_a_parent_purges_its_children_so_its_id_can_start_again(env: TestEnv) -> None:
    env.run(fire_and_forget, "terminate", instance_id="p")
    env.raise_event("p", "done")
    assert env.client.purge("p") == 2
    assert [s.instance_id for s in env.instances()] == []
    run = env.run(fire_and_forget, "terminate", instance_id="p")  # the child start succeeds
    assert status(env, "kid") == Status.RUNNING and run.status == Status.RUNNING


def test_an_unknown_policy_is_refused_naming_the_choices(env: TestEnv) -> None:
    run = env.run(fire_and_forget, "detach", instance_id="p")
    assert run.status == Status.FAILED
    assert run.error is not None and "on_parent_close='detach'" in run.error.message
    assert "'abandon'" in run.error.message
    assert SubOrchestrationFailed  # the error type a cancelled child's parent would see


@reg.activity
def charge(order: str) -> str:
    return f"charged {order}"


@reg.orchestration
async def charger(ctx: OrchestrationContext, order: str) -> str:
    return await ctx.activity(charge, order)


@reg.orchestration
async def quick_parent(ctx: OrchestrationContext) -> str:
    ctx.sub_orchestration(charger, "o-1", instance_id="kid")  # never awaited
    return "gone"


def test_a_child_ended_in_its_first_turn_dispatches_no_activity(env: TestEnv) -> None:
    run = env.run(quick_parent, instance_id="p")
    assert run.output == "gone"
    kid = env.state("kid")
    assert kid.status == Status.TERMINATED
    assert [e.kind for e in env.history("kid")][-1] == "OrchestrationTerminated"
    assert env.calls("kid", charge) == []  # scheduled by the code, never run
