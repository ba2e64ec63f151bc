"""History events and their versioned JSON form."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from orchestrate import StoreError
from orchestrate import history as h

from .conftest import START

EXAMPLES: list[h.Event] = [
    h.OrchestrationStarted(START, "order", {"id": 1}, "i-1", 2, "parent", 4),
    h.ActivityCompleted(START, 0, [1, "two"]),
    h.ActivityFailed(START, 1, "ValueError", "bad", retryable=False),
    h.TimerFired(START, 2),
    h.EventRaised(START, "Approval", {"ok": True}),
    h.SubOrchestrationCompleted(START, 3, None),
    h.SubOrchestrationFailed(START, 3, "KeyError", "x"),
    h.OrchestrationTerminated(START, "operator"),
    h.ActivityScheduled(START, 5, "charge", {"amount": 3.5}, 2, 1),
    h.TimerCreated(START, 6, START + timedelta(days=30), "retry"),
    h.SubOrchestrationScheduled(START, 7, "ship", "o-1", "i-1:ship"),
    h.SideEffectRecorded(START, 8, {"flag": True}),
    h.PatchMarker(START, 9, "new-pricing"),
    h.CustomStatusSet(START, 10, {"phase": "paid"}),
    h.ContinuedAsNew(START, {"round": 2}),
    h.OrchestrationCompleted(START, "done"),
    h.OrchestrationFailed(START, h.ErrorInfo("RuntimeError", "boom", "Traceback ...")),
]


def test_every_event_type_has_an_example() -> None:
    assert {type(e).__name__ for e in EXAMPLES} == set(h._TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_event_json_round_trip(event: h.Event) -> None:
    data = json.loads(json.dumps(h.event_to_dict(event)))
    assert data["type"] == event.kind
    assert data["at"] == "2024-01-01T00:00:00Z"
    assert h.event_from_dict(data) == event


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_direct_json_encoding_matches_the_dict_form(event: h.Event) -> None:
    expected = json.dumps(h.event_to_dict(event), separators=(",", ":"))
    assert h.event_to_json(event) == expected


@pytest.mark.parametrize(
    "value", ['caf\u00e9 "quoted"\n', 10**20, True, 2.5, {"k": [1, None, "x"]}, [], None]
)
def test_direct_json_encoding_of_payload_values(value: object) -> None:
    event = h.ActivityCompleted(START, 3, value)
    assert json.loads(h.event_to_json(event))["result"] == value
    assert h.event_from_dict(json.loads(h.event_to_json(event))) == event


def test_history_round_trip_keeps_order_and_metadata() -> None:
    text = h.history_to_json(EXAMPLES, instance_id="i-1", name="order")
    doc = json.loads(text)
    assert (doc["format"], doc["version"], doc["instance_id"]) == ("orchestrate.history", 1, "i-1")
    assert h.history_from_json(text) == EXAMPLES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "other"}', "is not an orchestrate history"),
        ('{"format": "orchestrate.history", "version": 99, "events": []}', "version 99"),
        (
            '{"format": "orchestrate.history", "version": 1, "events": {}}',
            "'events' must be a list",
        ),
        ('[{"type": "Nope", "at": "2024-01-01T00:00:00Z"}]', "unknown type 'Nope'"),
        ('[{"type": "TimerFired", "at": "yesterday", "task_id": 1}]', "is malformed"),
        ('[{"type": "TimerFired", "at": "2024-01-01T00:00:00Z"}]', "is malformed"),
    ],
)
def test_bad_histories_are_refused_with_the_source_named(text: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        h.history_from_json(text, source="saved.json")
    assert "saved.json" in str(info.value)


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (EXAMPLES[8], "ActivityScheduled('charge')"),
        (EXAMPLES[12], "PatchMarker('new-pricing')"),
        (EXAMPLES[9], "TimerCreated(fire_at=2024-01-31T00:00:00Z, retry)"),
        (EXAMPLES[15], "OrchestrationCompleted()"),
    ],
)
def test_describe_is_short_and_names_the_command(event: h.Event, text: str) -> None:
    assert h.describe(event) == text


def test_error_info_reads_well() -> None:
    assert str(h.ErrorInfo("KeyError", "'x'")) == "KeyError: 'x'"
    assert str(h.ErrorInfo("E", "m", "tb")).endswith("\ntb")


def test_iso_time_is_utc_with_z_whatever_the_input_zone() -> None:
    assert h.iso_time(START) == "2024-01-01T00:00:00Z"
    east = timezone(timedelta(hours=2))
    assert h.iso_time(datetime(2024, 1, 1, 2, tzinfo=east)) == "2024-01-01T00:00:00Z"
