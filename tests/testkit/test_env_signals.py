"""Orchestrations and callers signalling instances, in the TestEnv: signal-with-start
(`if_running="raise_event"`) and `ctx.raise_event`."""

from __future__ import annotations

import pytest

from orchestrate import OrchestrationContext, Registry, Status
from orchestrate.errors import DuplicateInstance, NonDeterminismError, RaiseEventFailed
from testkit import TestEnv

reg = Registry()


@reg.orchestration
async def counter(ctx: OrchestrationContext, start: int) -> int:
    total = start
    while True:
        step = await ctx.event("add")
        if step is None:
            return total
        total += step


@pytest.fixture
def env() -> TestEnv:
    return TestEnv(reg)


def test_signal_with_start_starts_then_delivers_to_the_running_instance(env: TestEnv) -> None:
    run = env.run(counter, 10, instance_id="c", if_running="raise_event", event=("add", 1))
    assert run.status == Status.RUNNING
    again = env.run(counter, 99, instance_id="c", if_running="raise_event", event=("add", 2))
    assert again.instance_id == "c" and env.state("c").input == 10  # not started twice
    env.raise_event("c", "add", None)
    assert run.output == 13


def test_signal_with_start_on_a_finished_instance_is_refused_as_a_duplicate(env: TestEnv) -> None:
    env.run(counter, 0, instance_id="c", if_running="raise_event", event=("add", None))
    assert env.state("c").status == Status.COMPLETED
    with pytest.raises(DuplicateInstance, match="reuse=True"):
        env.run(counter, 0, instance_id="c", if_running="raise_event", event=("add", 1))


def test_if_running_and_event_go_together(env: TestEnv) -> None:
    with pytest.raises(ValueError, match="if_running='raise_event' together with"):
        env.client.start(counter, 0, instance_id="c", event=("add", 1))
    with pytest.raises(ValueError, match="if_running='signal'"):
        env.client.start(counter, 0, instance_id="c", if_running="signal")
    assert env.instances() == []


# --- ctx.raise_event --------------------------------------------------------------------------


@reg.orchestration
async def notifier(ctx: OrchestrationContext, target: str) -> str:
    await ctx.raise_event(target, "add", 5)
    await ctx.raise_event(target, "add", None)
    return "sent"


@reg.orchestration
async def careful(ctx: OrchestrationContext, target: str) -> str:
    try:
        await ctx.raise_event(target, "add", 1)
    except RaiseEventFailed as exc:
        return f"{exc.error_type}: {exc.message}"
    return "delivered"


@reg.orchestration
async def fire_and_forget(ctx: OrchestrationContext, target: str) -> str:
    ctx.raise_event(target, "add", 1)
    return "done"


def test_an_orchestration_raises_events_to_another_exactly_once(env: TestEnv) -> None:
    target = env.run(counter, 1, instance_id="c")
    sender = env.run(notifier, "c", instance_id="n")
    assert (sender.output, target.output) == ("sent", 6)
    kinds = [e.kind for e in sender.history]
    assert kinds.count("EventSent") == 2 and kinds.count("EventDelivered") == 2
    assert [e.kind for e in target.history].count("EventRaised") == 2
    env.replay(sender.history)  # the recorded commands replay


def test_raising_to_an_unknown_instance_fails_the_task_with_instance_not_found(
    env: TestEnv,
) -> None:
    run = env.run(careful, "nobody", instance_id="s")
    assert run.output.startswith("InstanceNotFound: cannot raise event 'add' to 'nobody'")
    assert "check the id" in run.output


def test_raising_to_a_finished_instance_fails_with_instance_not_running(env: TestEnv) -> None:
    env.run(counter, 0, instance_id="c", if_running="raise_event", event=("add", None))
    run = env.run(careful, "c", instance_id="s")
    assert run.output.startswith("InstanceNotRunning: cannot raise event 'add' to 'c'")
    assert "is completed" in run.output


def test_an_unawaited_raise_event_is_still_delivered(env: TestEnv) -> None:
    target = env.run(counter, 0, instance_id="c")
    assert env.run(fire_and_forget, "c", instance_id="f").output == "done"
    env.raise_event("c", "add", None)
    assert target.output == 1


def test_the_timeline_shows_the_event_its_target_and_the_answer(env: TestEnv) -> None:
    run = env.run(careful, "nobody", instance_id="s")
    text = run.timeline()
    assert "EventSent" in text and "add" in text and "-> nobody" in text
    assert "EventDeliveryFailed" in text and "InstanceNotFound" in text


def test_a_changed_target_or_event_name_is_a_nondeterminism_error(env: TestEnv) -> None:
    env.run(counter, 0, instance_id="c")
    history = env.run(careful, "c", instance_id="s").history
    changed = Registry()

    @changed.orchestration(name="careful")
    async def careful_v2(ctx: OrchestrationContext, target: str) -> str:
        await ctx.raise_event(target, "remove", 1)
        return "delivered"

    with pytest.raises(NonDeterminismError, match="raised event 'remove' to 'c'"):
        TestEnv(changed).replay(history)


# --- the fuzzer explores children and raised events --------------------------------------------


@reg.activity
def double(x: int) -> int:
    return 2 * x


@reg.orchestration
async def poked(ctx: OrchestrationContext, x: int) -> int:
    extra = await ctx.event("poke")
    return await ctx.activity(double, x + extra)


@reg.orchestration
async def family(ctx: OrchestrationContext, x: int) -> str:
    child = ctx.sub_orchestration(poked, x, instance_id=f"{ctx.instance_id}:kid")
    free = f"{ctx.instance_id}:free"
    ctx.sub_orchestration(poked, x, instance_id=free, on_parent_close="abandon")
    await ctx.raise_event(f"{ctx.instance_id}:kid", "poke", 1)
    winner = await ctx.any([child, ctx.event("stop")])
    if winner is child:
        return f"child {winner.result()}"
    await ctx.raise_event(free, "poke", 2)
    return "stopped"


def test_the_fuzzer_verifies_every_schedule_of_children_and_raised_events() -> None:
    from testkit.fuzz import fuzz

    report = fuzz(reg, family, input=1, events={"stop": None}, exhaustive=True, hash_seeds=0)
    text = str(report)
    assert text.startswith("family: verified: all") and "replay-safe" in text
