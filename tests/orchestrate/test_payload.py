"""JSON payload checks and dataclass rebuilding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from orchestrate import SerializationError
from orchestrate.payload import decode, encode, from_json_value, to_json_value


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
    assert decode(encode(value)) == {"a": [1, 2.5, None, True, "s"], "b": [1, 2]}
    assert decode(None) is None


def test_dataclasses_round_trip_through_annotations() -> None:
    order = Order("o-1", [Line("a", 1), Line("b", 2)])
    data = to_json_value(order)
    assert data == {"id": "o-1", "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}
    assert from_json_value(data, Order) == order
    assert from_json_value([{"sku": "a", "qty": 1}], list[Line]) == [Line("a", 1)]
    assert from_json_value(data, None) is data
