"""`stores.rows`, shared by the SQL stores, on hand-built rows (no database): a fetch's turns
(`decode_works`, a damaged row confined to its own instance), a history (`decode_history`),
the rows a batch's winning turns queue (`queued_rows`, `signal_rows`) and leased items
(`leased_works`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrate import codec
from orchestrate import history as h
from orchestrate.errors import StoreError
from orchestrate.state import InstanceState, Message, Signal, Status, TurnCommit
from orchestrate.stores.rows import (
    TurnRows,
    decode_history,
    decode_works,
    leased_works,
    message_row,
    queued_rows,
    signal_rows,
)
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


def child(key: str, task: int) -> InstanceState:
    return InstanceState(
        key,
        "kid",
        Status.PENDING,
        created_at=T0,
        parent_instance="p",
        parent_generation=0,
        parent_task=task,
    )


def start_of(kid: InstanceState) -> Message:
    started = h.OrchestrationStarted(T0, "kid", None, kid.instance_id, 0, "p", kid.parent_task)
    return Message(kid.instance_id, started, 0)


def test_queued_rows_drop_only_a_refused_childs_start_after_its_notice() -> None:
    """Two children with one id: the second is refused; its start alone is dropped, its
    notice comes before the turn's own messages, and the next turn's messages follow."""
    first, second = child("x", 1), child("x", 2)
    other = Message("q", RAISED, 0)
    parent = InstanceState("p", "flow", Status.RUNNING)
    turn = TurnRows(
        TurnCommit(
            parent,
            "t",
            [],
            [],
            children=[first, second],
            messages=[start_of(first), other, start_of(second)],
        )
    )
    plain = TurnRows(
        TurnCommit(InstanceState("q", "flow", Status.RUNNING), "u", [], [], messages=[other])
    )
    taken: set[str] = set()

    def create(kid: InstanceState) -> bool:
        fresh = kid.instance_id not in taken
        taken.add(kid.instance_id)
        return fresh

    notice = ("notice",)
    rows = queued_rows([turn, plain], create, lambda kid: notice if kid.parent_task == 2 else None)
    assert rows == [notice, message_row(start_of(first)), message_row(other), message_row(other)]


def test_leased_works_hand_over_undecodable_input_and_heartbeat_as_text() -> None:
    rows = [
        (7, "a", 0, 3, "act", '{"x":1}', 2, 5, None),
        (8, "b", 1, 4, "act", "not json", 1, 6, "{bad"),
        (9, "c", 0, 1, "act", "null", 1, 1, '"beat"'),
    ]
    works = leased_works(rows, ["t7", "t8", "t9"])
    assert [(w.id, w.lease_token, w.instance_id, w.call_id) for w in works] == [
        (7, "t7", "a", 5),
        (8, "t8", "b", 6),
        (9, "t9", "c", 1),
    ]
    assert [(w.input, w.heartbeat_details) for w in works] == [
        ({"x": 1}, None),
        ("not json", "{bad"),
        (None, "beat"),
    ]
    assert (works[0].task_id, works[0].attempt, works[1].generation) == (3, 2, 1)


def test_signal_rows_deliver_to_running_instances_and_answer_every_sender() -> None:
    statuses = {"up": "running", "done": "completed"}
    signals = [
        Signal(Message(key, RAISED, None), "s", 3, task) for task, key in enumerate(statuses)
    ]
    signals.append(Signal(Message("gone", RAISED, None), "s", 3, 9))
    rows = signal_rows(signals, statuses.get)
    assert rows[0] == message_row(signals[0].message)  # delivered, then answered
    answers = [codec.event_from_json(row[3]) for row in rows[1:]]
    assert [(row[0], row[1]) for row in rows[1:]] == [("s", 3)] * 3
    assert isinstance(answers[0], h.EventDelivered) and answers[0].task_id == 0
    assert [(a.task_id, getattr(a, "error_type", None)) for a in answers[1:]] == [
        (1, "InstanceNotRunning"),
        (9, "InstanceNotFound"),
    ]
