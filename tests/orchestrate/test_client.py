"""Client: starting, signalling, reading, waiting, terminating, listing and purging instances."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from orchestrate import (
    DuplicateInstance,
    InstanceNotFound,
    InstanceNotRunning,
    OrchestrationContext,
    Registry,
    SerializationError,
    Status,
    UnknownOrchestration,
)

from .conftest import START, Harness

reg = Registry()


@reg.orchestration
async def wait_for_go(ctx: OrchestrationContext, value: object) -> object:
    return {"input": value, "go": await ctx.event("Go")}


@reg.orchestration(name="Quick")
async def quick(ctx: OrchestrationContext) -> str:
    return "done"


def test_start_generates_an_id_and_records_times() -> None:
    hx = Harness(reg)
    iid = hx.client.start(wait_for_go, {"a": 1})
    assert len(iid) == 32
    state = hx.state(iid)
    assert (state.status, state.name, state.input) == (Status.PENDING, "wait_for_go", {"a": 1})
    assert state.created_at == START and state.updated_at == START
    hx.clock.advance(5)
    hx.settle()
    state = hx.state(iid)
    assert state.status == Status.RUNNING
    assert state.updated_at == START + timedelta(seconds=5)


def test_duplicate_id_is_rejected_unless_finished_and_reuse() -> None:
    hx = Harness(reg)
    hx.start(wait_for_go, 1, instance_id="dup")
    with pytest.raises(DuplicateInstance, match="still running"):
        hx.client.start(wait_for_go, 2, instance_id="dup")
    with pytest.raises(DuplicateInstance, match="still running"):
        hx.client.start(wait_for_go, 2, instance_id="dup", reuse=True)
    hx.client.raise_event("dup", "Go", "first")
    hx.settle()
    with pytest.raises(DuplicateInstance, match="pass reuse=True"):
        hx.client.start(wait_for_go, 2, instance_id="dup")
    hx.start(wait_for_go, 2, instance_id="dup", reuse=True)
    hx.client.raise_event("dup", "Go", "second")
    hx.settle()
    assert hx.state("dup").output == {"input": 2, "go": "second"}


def test_unserializable_input_names_the_path_and_creates_nothing() -> None:
    hx = Harness(reg)
    with pytest.raises(SerializationError, match=r"input\['items'\]\[3\] is a set"):
        hx.client.start(wait_for_go, {"items": [1, 2, 3, {4}]}, instance_id="bad")
    assert hx.client.list() == []


def test_unknown_orchestration_is_refused_at_start_with_a_registry() -> None:
    hx = Harness(reg)
    with pytest.raises(UnknownOrchestration, match="registered orchestrations: Quick, wait_for_go"):
        hx.client.start("missing")


def test_orchestration_name_override_is_used() -> None:
    hx = Harness(reg)
    iid = hx.start(quick)
    assert hx.state(iid).name == "Quick" and hx.state(iid).output == "done"


def test_raise_event_to_unknown_or_finished_instances() -> None:
    hx = Harness(reg)
    with pytest.raises(InstanceNotFound, match="no instance with id 'ghost'"):
        hx.client.raise_event("ghost", "Go")
    iid = hx.start(quick)
    with pytest.raises(InstanceNotRunning, match="is completed"):
        hx.client.raise_event(iid, "Go")


def test_state_of_unknown_instance_raises() -> None:
    with pytest.raises(InstanceNotFound):
        Harness(reg).client.state("ghost")


def test_wait_times_out_with_a_hint_and_returns_final_state() -> None:
    hx = Harness(reg)
    iid = hx.client.start(quick)
    with pytest.raises(TimeoutError, match="is a worker running"):
        hx.client.wait(iid, timeout=0)
    hx.settle()
    assert hx.client.wait(iid, timeout=0).output == "done"


def test_terminate_list_and_purge() -> None:
    hx = Harness(reg)
    a = hx.start(wait_for_go, 1, instance_id="a")
    b = hx.start(quick, instance_id="b")
    hx.client.terminate(a, reason="no longer needed")
    hx.settle()
    assert hx.state(a).status == Status.TERMINATED
    assert [s.instance_id for s in hx.client.list(status="completed")] == [b]
    assert [s.instance_id for s in hx.client.list(name="wait_for_go")] == [a]
    hx.start(wait_for_go, 2, instance_id="running")
    with pytest.raises(InstanceNotRunning, match="terminate it before purging"):
        hx.client.purge("running")
    assert hx.client.purge(finished_before=START + timedelta(days=1)) == 2
    assert [s.instance_id for s in hx.client.list()] == ["running"]
    with pytest.raises(InstanceNotFound):
        hx.client.history(a)


def test_async_variants() -> None:
    hx = Harness(reg)

    async def scenario() -> object:
        iid = await hx.client.start_async(wait_for_go, "x")
        hx.settle()
        await hx.client.raise_event_async(iid, "Go", "y")
        hx.settle()
        assert (await hx.client.state_async(iid)).status == Status.COMPLETED
        return (await hx.client.wait_async(iid, timeout=1)).output

    assert asyncio.run(scenario()) == {"input": "x", "go": "y"}
