"""Worker turns: the execution cache, failures that end on the instance, activity execution."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    ActivityFailed,
    OrchestrationContext,
    Registry,
    RetryPolicy,
    Runtime,
    Status,
    activity_info,
)
from orchestrate.history import event_to_dict

from .conftest import Harness

reg = Registry()
keys: list[tuple[str, int, str]] = []


@reg.activity
def inc(n: int) -> int:
    return n + 1


@reg.activity(retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=1)))
def keyed(tag: str) -> str:
    info = activity_info()
    keys.append((tag, info.attempt, info.idempotency_key))
    if tag == "flaky" and info.attempt < 3:
        raise ConnectionError("try again")
    return info.idempotency_key


@reg.activity(retry=RetryPolicy(max_attempts=5, initial_interval=timedelta(0)))
def unserializable(_: Any) -> Any:
    return {"when": {1, 2}}


@reg.orchestration
async def mixed(ctx: OrchestrationContext, n: int) -> dict[str, Any]:
    total = 0
    for i in range(n):
        total = await ctx.activity(inc, total)
        if i % 2 == 0:
            await ctx.sleep(timedelta(minutes=i + 1))
    fan = await ctx.all([ctx.activity(inc, i) for i in range(3)])
    approval = ctx.event("Approve")
    winner = await ctx.any([approval, ctx.timer(timedelta(hours=1))])
    ctx.set_status({"total": total})
    return {"total": total, "fan": fan, "approved": winner is approval, "id": str(ctx.uuid())}


def drive_mixed(hx: Harness) -> str:
    iid = hx.start(mixed, 4, instance_id="m")
    for _ in range(4):
        hx.advance(600)
    hx.client.raise_event(iid, "Approve", True)
    hx.settle()
    return iid


def test_cached_and_replayed_executions_produce_identical_histories() -> None:
    cached, rebuilt = Harness(reg), Harness(reg, cache_size=0)
    a, b = drive_mixed(cached), drive_mixed(rebuilt)
    assert cached.state(a).output == rebuilt.state(b).output
    assert cached.state(a).output["approved"] is True
    assert [event_to_dict(e) for e in cached.history(a)] == [
        event_to_dict(e) for e in rebuilt.history(b)
    ]
    assert cached.worker.cache_misses == 1 and cached.worker.cache_hits > 5
    assert rebuilt.worker.cache_hits == 0 and rebuilt.worker.cache_misses > 5


def test_execution_cache_is_bounded_lru() -> None:
    hx = Harness(reg, cache_size=2)
    for key in ("a", "b", "c"):
        hx.start(mixed, 1, instance_id=key)
    assert list(hx.worker._cache) == ["b", "c"]


def test_unknown_orchestration_name_fails_only_that_instance() -> None:
    hx = Harness(reg)
    from orchestrate import Client

    anonymous = Client(hx.store, clock=hx.clock)  # no registry: names are not checked at start
    bad = anonymous.start("removed_since", {"x": 1}, instance_id="bad")
    good = hx.start(mixed, 0, instance_id="good")
    hx.settle()
    state = hx.state(bad)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "UnknownOrchestration"
    assert "no orchestration named 'removed_since'" in state.error.message
    assert "mixed" in state.error.message  # lists what is registered
    assert hx.state(good).status == Status.RUNNING


def test_corrupt_history_fails_that_instance_with_a_clear_error() -> None:
    hx = Harness(reg)
    iid = hx.start(mixed, 1, instance_id="corrupt")
    hx.worker.evict()

    def broken(instance_id: str) -> Any:
        from orchestrate import StoreError

        raise StoreError("event 3 is malformed: missing 'task_id'")

    hx.store.get_history = broken  # type: ignore[method-assign]
    hx.advance(600)
    state = hx.state(iid)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "StoreError"
    assert "stored history of 'corrupt' cannot be read" in state.error.message


def test_idempotency_key_is_stable_across_retries_and_distinct_per_call() -> None:
    keys.clear()

    @reg.orchestration(name="two_calls")
    async def two_calls(ctx: OrchestrationContext) -> list[str]:
        return [await ctx.activity(keyed, "flaky"), await ctx.activity(keyed, "steady")]

    hx = Harness(reg)
    iid = hx.start(two_calls, instance_id="k")
    hx.advance(1)
    hx.advance(2)
    first, second = hx.state(iid).output
    flaky = [k for k in keys if k[0] == "flaky"]
    assert [attempt for _, attempt, _ in flaky] == [1, 2, 3]
    assert {key for _, _, key in flaky} == {first}
    assert first != second and first.startswith("k:0:")


def test_expired_activity_lease_reruns_with_the_same_key() -> None:
    keys.clear()

    @reg.orchestration(name="one_call")
    async def one_call(ctx: OrchestrationContext) -> str:
        return await ctx.activity(keyed, "once")

    hx = Harness(reg, activity_lease=30)
    iid = hx.client.start(one_call, instance_id="lease")
    hx.worker.run_turns()
    lost = hx.store.fetch_activity_work(hx.clock.now(), lease=30)  # a worker that then dies
    assert len(lost) == 1
    hx.settle()
    assert keys == []  # the lease is still held: nobody else runs it
    hx.advance(31)
    assert [k[0] for k in keys] == ["once"]
    assert hx.state(iid).output == keys[0][2]


def test_unserializable_activity_result_is_not_retried_and_names_the_path() -> None:
    @reg.orchestration(name="bad_result")
    async def bad_result(ctx: OrchestrationContext) -> str:
        try:
            await ctx.activity(unserializable)
        except ActivityFailed as exc:
            return f"{exc.error_type}: {exc.message}"
        return "no error"

    hx = Harness(reg)
    iid = hx.start(bad_result)
    assert hx.kinds(iid).count("ActivityScheduled") == 1
    output = hx.state(iid).output
    assert output.startswith("SerializationError: activity 'unserializable' returned")
    assert "result['when'] is a set" in output


@pytest.mark.parametrize(
    ("body", "error_type", "fragment"),
    [
        ("raise", "KeyError", "'sku-9'"),
        ("output", "SerializationError", "output['at'] is a datetime"),
        ("unknown", "UnknownActivity", "no activity named 'nope' is registered"),
    ],
)
def test_orchestration_errors_end_as_clear_errors_on_the_instance(
    body: str, error_type: str, fragment: str
) -> None:
    local = Registry()

    @local.orchestration
    async def failing(ctx: OrchestrationContext) -> Any:
        if body == "raise":
            raise KeyError("sku-9")
        if body == "output":
            return {"at": ctx.now()}
        return await ctx.activity("nope")

    hx = Harness(local)
    state = hx.state(hx.start(failing))
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == error_type
    assert fragment in state.error.message


def test_terminate_stops_the_instance_and_fails_its_parent_wait() -> None:
    local = Registry()

    @local.orchestration
    async def forever(ctx: OrchestrationContext) -> None:
        await ctx.event("never")

    @local.orchestration
    async def parent(ctx: OrchestrationContext) -> str:
        try:
            await ctx.sub_orchestration(forever, instance_id="child")
        except Exception as exc:
            return type(exc).__name__ + ":" + str(exc)
        return "finished"

    hx = Harness(local)
    pid = hx.start(parent, instance_id="parent")
    hx.client.terminate("child", reason="operator")
    hx.settle()
    child = hx.state("child")
    assert child.status == Status.TERMINATED
    assert child.error is not None and child.error.message == "operator"
    assert hx.state(pid).output.startswith("SubOrchestrationFailed:forever failed with Terminated")


def test_runtime_threads_run_instances_to_completion() -> None:
    with Runtime(reg, store="memory:", threads=2) as rt:
        ids = [rt.start(mixed, 0, instance_id=f"t{i}") for i in range(5)]
        for iid in ids:
            rt.raise_event(iid, "Approve", True)
        states = [rt.wait(iid, timeout=30) for iid in ids]
    assert [s.status for s in states] == [Status.COMPLETED] * 5
    assert all(s.output["approved"] for s in states)
