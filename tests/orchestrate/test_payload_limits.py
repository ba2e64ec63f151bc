"""Payload limits: a size limit at the client call that exceeded it, and values too deep or ints
too long refused as `SerializationError` where they are made (never a RecursionError)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrate import (
    ActivityFailed,
    Client,
    MemoryStore,
    OrchestrationContext,
    PayloadTooLarge,
    Registry,
    Runtime,
    SerializationError,
    Status,
)
from orchestrate.payload import DEFAULT_MAX_PAYLOAD_BYTES, MAX_DEPTH, payload_size, to_json_value

from .conftest import Harness

reg = Registry()
runs = {"deep": 0}


def nested(levels: int) -> Any:
    value: Any = "core"
    for _ in range(levels):
        value = [value]
    return value


@reg.orchestration
async def echo(ctx: OrchestrationContext, value: object) -> object:
    return {"input": value, "event": await ctx.event("Go")}


@reg.activity
def deep(_: object) -> object:
    runs["deep"] += 1
    return nested(600)


@reg.orchestration
async def poisoned(ctx: OrchestrationContext) -> object:
    try:
        return await ctx.activity(deep, None)
    except ActivityFailed as exc:
        return [exc.error_type, exc.message]


BIG = "x" * (DEFAULT_MAX_PAYLOAD_BYTES + 1)


def test_an_input_over_the_limit_is_refused_at_start_and_creates_nothing() -> None:
    client = Client(MemoryStore(), registry=reg)
    with pytest.raises(PayloadTooLarge) as raised:
        client.start(echo, {"blob": BIG}, instance_id="big")
    message = str(raised.value)
    assert "the input of 'echo' is 2,097,164 bytes of JSON" in message
    assert "over the payload limit of 2,097,152 bytes" in message
    assert "max_payload_bytes" in message
    assert client.list() == []


def test_event_data_over_the_limit_is_refused_at_raise_event() -> None:
    hx = Harness(reg)
    iid = hx.start(echo, 1)
    with pytest.raises(PayloadTooLarge, match="the data of event 'Go' is"):
        hx.client.raise_event(iid, "Go", BIG)
    hx.settle()
    assert hx.state(iid).status == Status.RUNNING  # nothing was delivered


def test_the_limit_is_configurable_and_can_be_lifted() -> None:
    small = Client(MemoryStore(), registry=reg, max_payload_bytes=100)
    small.start(echo, "y" * 90)
    with pytest.raises(PayloadTooLarge, match="limit of 100 bytes"):
        small.start(echo, "y" * 100)
    unlimited = Client(MemoryStore(), registry=reg, max_payload_bytes=None)
    unlimited.start(echo, BIG, instance_id="huge")
    assert unlimited.state("huge").input == BIG
    rt = Runtime(reg, "memory:", max_payload_bytes=10)
    with pytest.raises(PayloadTooLarge):
        rt.start(echo, "longer than ten")
    rt.close()
    with pytest.raises(ValueError, match="positive number of bytes"):
        Client(MemoryStore(), max_payload_bytes=0)


def test_size_is_measured_as_stored() -> None:
    assert payload_size({"a": [1, 2]}) == len('{"a":[1,2]}')
    assert payload_size("é") == len('"\\u00e9"')  # stores escape non-ASCII


def test_values_nested_too_deep_are_a_serialization_error_naming_the_limit() -> None:
    assert to_json_value(nested(MAX_DEPTH - 1), "input") == nested(MAX_DEPTH - 1)
    with pytest.raises(SerializationError, match=f"nested more than {MAX_DEPTH} levels deep"):
        to_json_value(nested(MAX_DEPTH + 1), "input")
    with pytest.raises(SerializationError, match="nested more than"):
        to_json_value(nested(5000), "input")  # no RecursionError
    with pytest.raises(SerializationError, match="nested more than"):
        Client(MemoryStore()).start("flow", {"tree": nested(3000)})


def test_ints_too_long_for_json_are_a_serialization_error() -> None:
    assert to_json_value(10**4000) == 10**4000
    with pytest.raises(SerializationError, match=r"input\['n'\] is an int of over 4,000 digits"):
        to_json_value({"n": 10**5000}, "input")


def test_an_activity_result_nested_too_deep_fails_the_call_once() -> None:
    runs["deep"] = 0
    hx = Harness(reg)
    iid = hx.start(poisoned)
    state = hx.state(iid)
    assert state.status == Status.COMPLETED and runs["deep"] == 1
    error_type, message = state.output
    assert error_type == "SerializationError" and "nested more than" in message
