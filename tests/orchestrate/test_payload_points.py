"""The payload limit at every point orchestration code records a payload: the call that exceeded
it raises `PayloadTooLarge` in the orchestration (which may catch it; uncaught, the instance fails
with it), and an output or continue_as_new input over it fails the instance."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrate import OrchestrationContext, PayloadTooLarge, Registry, Status

from .conftest import Harness

reg = Registry()
LIMIT = 1_000
BIG = "x" * 2_000


@reg.activity
def echo(value: Any) -> Any:
    return value


@reg.orchestration
async def child(ctx: OrchestrationContext, value: Any) -> Any:
    return "child ran"


def big_flag() -> str:
    return BIG


CALLS = {
    "activity": lambda ctx: ctx.activity(echo, BIG),
    "sub_orchestration": lambda ctx: ctx.sub_orchestration(child, BIG),
    "set_status": lambda ctx: ctx.set_status({"blob": BIG}),
    "side_effect": lambda ctx: ctx.side_effect(big_flag),
    "raise_event": lambda ctx: ctx.raise_event("someone", "Restock", BIG),
}
WHAT = {
    "activity": "the input of activity 'echo' is 2,002 bytes of JSON",
    "sub_orchestration": "the input of sub-orchestration 'child' is 2,002 bytes of JSON",
    "set_status": "the custom status is 2,011 bytes of JSON",
    "side_effect": "the result of side effect 'big_flag' is 2,002 bytes of JSON",
    "raise_event": "the data of event 'Restock' raised to 'someone' is 2,002 bytes of JSON",
}


@reg.orchestration
async def caller(ctx: OrchestrationContext, point: str) -> Any:
    try:
        CALLS[point](ctx)
    except PayloadTooLarge as exc:
        return {"caught": str(exc), "next": await ctx.activity(echo, "small")}
    return "not refused"


@reg.orchestration
async def uncaught(ctx: OrchestrationContext, point: str) -> Any:
    CALLS[point](ctx)
    return "not refused"


@reg.orchestration
async def big_output(ctx: OrchestrationContext) -> Any:
    return BIG


@reg.orchestration
async def big_restart(ctx: OrchestrationContext, n: int) -> Any:
    ctx.continue_as_new(BIG)


@reg.orchestration
async def loud(ctx: OrchestrationContext) -> Any:
    raise RuntimeError("z" * 100_000)


@pytest.mark.parametrize("point", sorted(CALLS))
def test_the_call_over_the_limit_raises_in_the_orchestration(point: str) -> None:
    hx = Harness(reg, max_payload_bytes=LIMIT, cache_size=0)  # every turn replays
    iid = hx.start(caller, point)
    state = hx.state(iid)
    assert state.status == Status.COMPLETED, state.error
    assert WHAT[point] in state.output["caught"]
    assert f"over the payload limit of {LIMIT:,} bytes" in state.output["caught"]
    assert state.output["next"] == "small"  # the orchestration went on
    assert "x" * 1_000 not in str(hx.history(iid))  # nothing of it was recorded


@pytest.mark.parametrize("point", sorted(CALLS))
def test_uncaught_it_fails_the_instance_naming_the_call(point: str) -> None:
    hx = Harness(reg, max_payload_bytes=LIMIT)
    iid = hx.start(uncaught, point)
    state = hx.state(iid)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "PayloadTooLarge" and WHAT[point] in state.error.message


def test_an_output_or_continue_as_new_input_over_the_limit_fails_the_instance() -> None:
    hx = Harness(reg, max_payload_bytes=LIMIT)
    out = hx.start(big_output)
    restart = hx.start(big_restart, 1)
    for iid, what in [(out, "output of 'big_output'"), (restart, "continue_as_new input")]:
        state = hx.state(iid)
        assert state.status == Status.FAILED and state.error is not None
        assert state.error.type == "PayloadTooLarge" and what in state.error.message


def test_a_huge_orchestration_error_is_cut_to_a_storable_size() -> None:
    hx = Harness(reg)
    iid = hx.start(loud)
    state = hx.state(iid)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "RuntimeError"
    assert state.error.message.endswith("(cut: the message was 100,000 characters)")


@reg.orchestration
async def recorded_then_waits(ctx: OrchestrationContext) -> Any:
    value = await ctx.activity(echo, BIG)
    ctx.set_status(BIG)
    await ctx.event("Go")
    return len(value)


def test_recorded_commands_replay_under_a_smaller_limit() -> None:
    hx = Harness(reg, max_payload_bytes=None, cache_size=0)  # every turn replays
    iid = hx.start(recorded_then_waits)
    hx.worker.max_payload_bytes = LIMIT  # a later deploy lowers the limit
    hx.client.raise_event(iid, "Go", None)
    hx.settle()
    state = hx.state(iid)
    assert state.status == Status.COMPLETED and state.output == len(BIG), state.error
