"""`stores.rows` decoding shared by the SQL stores, on hand-built rows (no database): a fetch's
turns (`decode_works`) and a history (`decode_history`), a damaged row confined to its own
instance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrate import codec
from orchestrate import history as h
from orchestrate.errors import StoreError
from orchestrate.state import Status
from orchestrate.stores.rows import decode_history, decode_works
from orchestrate.stores.times import to_micros

T0 = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
RAISED = h.EventRaised(T0, "go", 1)
TEXT = codec.event_to_json(RAISED)


def state(key: str, status: str = "running") -> tuple[Any, ...]:
    """An `INSTANCE_COLUMNS` row."""
    created = to_micros(T0)
    return (
        key,
        "flow",
        status,
        "1",
        "null",
        None,
        "null",
        created,
        created,
        0,
        None,
        None,
        None,
        2,
    )


def message(mid: int, key: str, text: str = TEXT, due: int = 0) -> tuple[Any, ...]:
    return (mid, key, 0, due, text)


def test_works_come_in_key_order_with_inboxes_in_id_order() -> None:
    later = to_micros(T0) + 1
    rows = [state("b"), state("a")]
    messages = [message(5, "a"), message(4, "b", due=later), message(3, "a")]
    works, broken = decode_works(["a", "b"], {"a": "ta", "b": "tb"}, rows, messages)
    assert broken == {}
    assert [(w.instance.instance_id, w.lock_token) for w in works] == [("a", "ta"), ("b", "tb")]
    assert [m.id for m in works[0].messages] == [3, 5]
    assert works[0].instance.status is Status.RUNNING and works[0].instance.input == 1
    (timer,) = works[1].messages
    assert (timer.event, timer.visible_at, timer.generation) == (
        RAISED,
        T0.replace(microsecond=1),
        0,
    )
    assert works[0].messages[0].visible_at is None  # due 0: visible at once


def test_an_instance_with_a_damaged_row_is_left_out_with_its_error() -> None:
    keys = ["a", "b", "c", "d"]
    rows = [state("a"), state("b", status="bogus"), state("c"), state("d")]
    messages = [message(1, "d", "not json"), message(2, "a"), message(3, "d"), message(4, "c")]
    works, broken = decode_works(keys, {k: "t" + k for k in keys}, rows, messages)
    assert [w.instance.instance_id for w in works] == ["a", "c"]
    assert list(broken) == ["b", "d"]  # in key order, whatever failed first
    assert "stored state of instance 'b' cannot be decoded" in str(broken["b"])
    assert "message 1 to instance 'd'" in str(broken["d"])


def test_a_history_decodes_in_order_and_names_a_damaged_event() -> None:
    assert decode_history([(0, TEXT), (1, TEXT)], "a") == [RAISED, RAISED]
    assert decode_history([], "a") == []
    with pytest.raises(StoreError, match="history event 1 of instance 'a' is not valid JSON"):
        decode_history([(0, TEXT), (1, "not json")], "a")
