"""JSON payload checks and dataclass rebuilding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from orchestrate import OrchestrationContext, Registry, SerializationError
from orchestrate.payload import from_json_value, to_json_value

from .conftest import Harness


@dataclass
class Line:
    sku: str
    qty: int


@dataclass
class Order:
    id: str
    lines: list[Line]


@pytest.mark.parametrize(
    ("value", "path_message"),
    [
        ({"items": [1, 2, 3, {4}]}, r"input\['items'\]\[3\] is a set"),
        ({"when": datetime(2024, 1, 1)}, r"input\['when'\] is a datetime"),
        ({1: "x"}, r"input has the key 1 of type int"),
        ([float("nan")], r"input\[0\] is nan"),
        (Order("o", [Line("a", 1), object()]), r"input\.lines\[1\] is a object"),  # type: ignore[list-item]
    ],
)
def test_unserializable_values_name_the_offending_path(value: Any, path_message: str) -> None:
    with pytest.raises(SerializationError, match=path_message):
        to_json_value(value, "input")


def test_json_values_pass_and_tuples_become_lists() -> None:
    value = {"a": [1, 2.5, None, True, "s"], "b": (1, 2)}
    assert to_json_value(value) == {"a": [1, 2.5, None, True, "s"], "b": [1, 2]}


def test_dataclasses_round_trip_through_annotations() -> None:
    order = Order("o-1", [Line("a", 1), Line("b", 2)])
    data = to_json_value(order)
    assert data == {"id": "o-1", "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}
    assert from_json_value(data, Order) == order
    assert from_json_value([{"sku": "a", "qty": 1}], list[Line]) == [Line("a", 1)]
    assert from_json_value(data, None) == data and from_json_value(data, None) is not data


# --- values handed to orchestration code are copies of the recorded ones ----------------------


def test_from_json_value_returns_fresh_containers_even_inside_dataclasses() -> None:
    @dataclass
    class State:
        seen: list[int]
        extra: dict[str, Any]

    recorded: dict[str, Any] = {"seen": [1], "extra": {"k": [2]}}
    state = from_json_value(recorded, State)
    state.seen.append(9)
    state.extra["k"].append(9)
    plain = from_json_value(recorded, None)
    plain["extra"]["k"].append(7)
    assert recorded == {"seen": [1], "extra": {"k": [2]}}


mutating = Registry()


@mutating.activity
def load(_: None) -> dict[str, list[int]]:
    return {"items": [1]}


@mutating.orchestration
async def mutates_what_it_receives(
    ctx: OrchestrationContext, state: dict[str, Any]
) -> dict[str, Any]:
    state["seen"].append("input")  # its input,
    loaded = await ctx.activity(load, None)
    loaded["items"].append(2)  # an activity result,
    event = await ctx.event("Go")
    event["tags"].append("seen")  # an event payload,
    flags = await ctx.side_effect(lambda: {"on": []})
    flags["on"].append(1)  # a side effect's value
    await ctx.sleep(1)
    return {"state": state, "loaded": loaded, "event": event, "flags": flags}


def test_mutating_received_values_does_not_rewrite_the_history_a_replay_reads() -> None:
    # Regression: the executor handed the stored event objects' payloads to the orchestration,
    # so mutating them changed the MemoryStore's history in place, and a replay after eviction
    # started from the mutated input and returned a different result.
    hx = Harness(mutating)
    key = hx.start(mutates_what_it_receives, {"seen": []})
    hx.client.raise_event(key, "Go", {"tags": []})
    hx.settle()
    started, *_ = hx.history(key)
    assert started.input == {"seen": []}  # type: ignore[attr-defined]
    hx.worker.evict()  # the next turn replays the whole history from the store
    hx.advance(1)
    assert hx.state(key).output == {
        "state": {"seen": ["input"]},
        "loaded": {"items": [1, 2]},
        "event": {"tags": ["seen"]},
        "flags": {"on": [1]},
    }
