"""Poison never spreads: an activity result or error that cannot be stored becomes one recorded
`ActivityFailed` naming the cause, on every store; the call is not run again for it, and the other
items of its batch complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrate import ActivityFailed, Client, OrchestrationContext, Registry, Status, Worker

from .conftest import ManualClock
from .stores import make_store

reg = Registry()
runs: dict[str, int] = {}


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise ValueError("no text")


def nested(levels: int) -> Any:
    value: Any = "core"
    for _ in range(levels):
        value = [value]
    return value


def _raise(exc: Exception) -> Any:
    raise exc


# case -> (what the activity does, the error_type recorded)
CASES: dict[str, tuple[Any, str]] = {
    "deep": (lambda: nested(600), "SerializationError"),
    "long_int": (lambda: 10**4400, "SerializationError"),
    "not_json": (lambda: b"bytes", "SerializationError"),
    "too_big": (lambda: "x" * 5_000, "PayloadTooLarge"),
    "broken_error": (lambda: _raise(BrokenStr()), "BrokenStr"),
}


@reg.activity
def act(case: str) -> Any:
    runs[case] = runs.get(case, 0) + 1
    if case.startswith("fine"):
        return case
    return CASES[case][0]()


@reg.orchestration
async def call(ctx: OrchestrationContext, case: str) -> Any:
    try:
        return await ctx.activity(act, case)
    except ActivityFailed as exc:
        return {"error_type": exc.error_type, "message": exc.message}


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unstorable_outcome_fails_its_call_once_and_its_batch_completes(
    kind: str, case: str, tmp_path: Path
) -> None:
    runs.clear()
    store = make_store(kind, tmp_path)
    clock = ManualClock()
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock, batch_size=32, max_payload_bytes=4_096)
    fine = [f"fine-{i}" for i in range(10)]
    for name in [*fine[:5], case, *fine[5:]]:  # the poisoned call sits inside one batch
        client.start(call, name, instance_id=name)
    for _ in range(20):
        if not worker.poll_once():
            break
    for name in fine:
        assert client.state(name).status == Status.COMPLETED and client.state(name).output == name
    state = client.state(case)
    assert state.status == Status.COMPLETED, state.error
    assert state.output["error_type"] == CASES[case][1]
    assert runs[case] == 1 and all(runs[name] == 1 for name in fine)
    [failed] = [e for e in client.history(case) if e.kind == "ActivityFailed"]
    assert failed.retryable is (case == "broken_error")
    store.close()


def test_the_failure_says_what_was_wrong_and_what_to_do() -> None:
    runs.clear()
    store = make_store("memory", Path("."))
    client = Client(store, registry=reg)
    worker = Worker(reg, store, max_payload_bytes=4_096)
    for case in CASES:
        client.start(call, case, instance_id=case)
    while worker.poll_once():
        pass
    messages = {case: client.state(case).output["message"] for case in CASES}
    assert "nested more than 200 levels deep" in messages["deep"]
    assert "flatten the data" in messages["deep"]
    assert "int of over 4,000 digits" in messages["long_int"]
    assert "send it as a string" in messages["long_int"]
    assert "bytes" in messages["not_json"] and "JSON" in messages["not_json"]
    assert "the result of activity 'act' is 5,002 bytes of JSON" in messages["too_big"]
    assert "over the payload limit of 4,096 bytes" in messages["too_big"]
    assert messages["broken_error"] == "<str() of this BrokenStr raised ValueError>"


def test_a_huge_error_message_is_cut_not_refused() -> None:
    store = make_store("memory", Path("."))
    local = Registry()

    @local.activity
    def loud(_: Any) -> Any:
        raise RuntimeError("y" * 100_000)

    @local.orchestration
    async def flow(ctx: OrchestrationContext) -> Any:
        try:
            return await ctx.activity(loud, None)
        except ActivityFailed as exc:
            return [exc.error_type, len(exc.message), exc.message[-60:]]

    client = Client(store, registry=local)
    worker = Worker(local, store)
    client.start(flow, instance_id="f")
    while worker.poll_once():
        pass
    error_type, length, tail = client.state("f").output
    assert error_type == "RuntimeError" and length < 20_000
    assert tail.endswith("(cut: the message was 100,000 characters)")


def test_worker_takes_a_store_url_and_refuses_anything_else(tmp_path: Path) -> None:
    worker = Worker(reg, f"sqlite:///{tmp_path / 'w.db'}")
    assert worker.poll_once() is False
    worker.store.close()
    assert type(Worker(reg, "memory:").store).__name__ == "MemoryStore"
    with pytest.raises(TypeError, match="Worker got dict"):
        Worker(reg, {"not": "a store"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_payload_bytes=0: give a positive number"):
        Worker(reg, "memory:", max_payload_bytes=0)


def test_sys_exit_in_an_activity_fails_that_call_not_the_worker() -> None:
    import sys

    local = Registry()

    @local.activity
    def quits(_: Any) -> Any:
        sys.exit(3)

    @local.activity
    async def quits_async(_: Any) -> Any:
        sys.exit(4)

    @local.activity
    def fine(n: int) -> int:
        return n

    @local.orchestration
    async def flow(ctx: OrchestrationContext) -> Any:
        calls = [ctx.activity(quits, None), ctx.activity(quits_async, None)]
        calls += [ctx.activity(fine, i) for i in range(3)]
        results = await ctx.all(calls, return_exceptions=True)
        return [getattr(r, "error_type", r) for r in results]

    store = make_store("memory", Path("."))
    client = Client(store, registry=local)
    worker = Worker(local, store)
    client.start(flow, instance_id="f")
    while worker.poll_once():
        pass
    assert client.state("f").output == ["SystemExit", "SystemExit", 0, 1, 2]
    worker.stop()


def test_runtime_passes_its_payload_limit_to_its_worker() -> None:
    from orchestrate import Runtime

    rt = Runtime(reg, "memory:", max_payload_bytes=1_234)
    assert rt.worker.max_payload_bytes == 1_234
    rt.close()
