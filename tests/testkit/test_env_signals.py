"""Orchestrations and callers signalling instances, in the TestEnv: signal-with-start
(`if_running="raise_event"`) and `ctx.raise_event`."""

from __future__ import annotations

import pytest

from orchestrate import OrchestrationContext, Registry, Status
from orchestrate.errors import DuplicateInstance
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
