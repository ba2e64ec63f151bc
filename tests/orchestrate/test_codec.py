"""The JSON form of history events (`orchestrate.codec`): one event, and whole history files."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestrate import StoreError, codec
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
    h.SubOrchestrationScheduled(START, 8, "ship", "o-2", "i-1:ship2", "abandon"),
    h.EventSent(START, 9, "order-7", "Restock", {"sku": 1}),
    h.EventDelivered(START, 9),
    h.EventDeliveryFailed(START, 9, "InstanceNotFound", "no instance 'order-7'"),
    h.OrchestrationTerminated(START, "parent 'p' completed", "p"),
    h.SideEffectRecorded(START, 8, {"flag": True}),
    h.PatchMarker(START, 9, "new-pricing"),
    h.CustomStatusSet(START, 10, {"phase": "paid"}),
    h.ContinuedAsNew(START, {"round": 2}),
    h.OrchestrationCompleted(START, "done"),
    h.OrchestrationFailed(START, h.ErrorInfo("RuntimeError", "boom", "Traceback ...")),
]


def test_every_event_type_has_an_example() -> None:
    assert {type(e).__name__ for e in EXAMPLES} == set(h.EVENT_TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_event_json_round_trip(event: h.Event) -> None:
    data = json.loads(json.dumps(codec.event_to_dict(event)))
    assert data["type"] == event.kind
    assert data["at"] == "2024-01-01T00:00:00Z"
    assert codec.event_from_dict(data) == event


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_direct_json_encoding_matches_the_dict_form(event: h.Event) -> None:
    expected = json.dumps(codec.event_to_dict(event), separators=(",", ":"))
    assert codec.event_to_json(event) == expected


@pytest.mark.parametrize(
    "value", ['caf\u00e9 "quoted"\n', 10**20, True, 2.5, {"k": [1, None, "x"]}, [], None]
)
def test_direct_json_encoding_of_payload_values(value: object) -> None:
    event = h.ActivityCompleted(START, 3, value)
    assert json.loads(codec.event_to_json(event))["result"] == value
    assert codec.event_from_dict(json.loads(codec.event_to_json(event))) == event


def test_history_round_trip_keeps_order_and_metadata() -> None:
    text = codec.history_to_json(EXAMPLES, instance_id="i-1", name="order")
    doc = json.loads(text)
    assert (doc["format"], doc["version"], doc["instance_id"]) == ("orchestrate.history", 1, "i-1")
    assert codec.history_from_json(text) == EXAMPLES


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
        codec.history_from_json(text, source="saved.json")
    assert "saved.json" in str(info.value)


PAYLOADS: list[object] = [
    None,
    True,
    False,
    0,
    -(10**30),
    2.5,
    1e-7,
    "",
    'caf\u00e9 "q" \\ \n\t\u2028 \U0001f600',
    [],
    {},
    {"k": [1, None, "x", {"n": 1.0}], "\u00e9": False},
]


@pytest.mark.parametrize("value", PAYLOADS, ids=repr)
def test_compact_json_writes_what_json_dumps_writes(value: object) -> None:
    for allow_nan in (False, True):
        dumps = codec.compact_json(allow_nan)
        assert dumps(value) == json.dumps(value, separators=(",", ":"), allow_nan=allow_nan)


def test_compact_json_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        codec.compact_json()(float("nan"))
    assert codec.compact_json(allow_nan=True)([float("inf")]) == "[Infinity]"
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        codec.compact_json()({"s": {1}})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        codec.compact_json()(loop)


@pytest.mark.parametrize(
    "text",
    [json.dumps(v, separators=(",", ":")) for v in PAYLOADS]
    + [' {"a": 1} ', "[1, 2]\n", "[-Infinity]", '"x"', "12", "null"],
)
def test_json_loads_reads_what_json_loads_reads(text: str) -> None:
    assert codec.json_loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ["", " ", "{", '{"a":1} x', "[1,]", "nul", '{"a":1}{}', "01"])
def test_json_loads_fails_as_json_loads_fails(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        codec.json_loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
@pytest.mark.parametrize("value", PAYLOADS, ids=repr)
def test_every_field_encodes_any_payload_as_json_dumps_does(event: h.Event, value: object) -> None:
    """Each event class has its own encoder: every payload in every field."""
    for name in (f.name for f in dataclasses.fields(event)):
        if name in ("at", "fire_at", "error"):
            continue
        changed = copy.copy(event)
        setattr(changed, name, value)
        expected = json.dumps(codec.event_to_dict(changed), separators=(",", ":"))
        assert codec.event_to_json(changed) == expected
        assert codec.events_to_json([changed, event]) == [expected, codec.event_to_json(event)]


def test_times_are_written_in_utc_and_read_back_as_utc() -> None:
    east = timezone(timedelta(hours=2))
    fire_at = datetime(2024, 1, 1, 3, 0, 0, 5, tzinfo=UTC)
    event = h.TimerCreated(datetime(2024, 1, 1, 2, tzinfo=east), 1, fire_at)
    data = json.loads(codec.event_to_json(event))
    assert (data["at"], data["fire_at"]) == ("2024-01-01T00:00:00Z", "2024-01-01T03:00:00.000005Z")
    back = codec.event_from_dict(data)
    assert back == event
    assert back.at.tzinfo is UTC and back.fire_at.tzinfo is UTC
    # Times written with an offset, or with none (read as UTC), by older or foreign writers.
    older = codec.event_from_dict(
        {"type": "TimerFired", "at": "2024-01-01T02:00:00+02:00", "task_id": 1}
    )
    assert older.at == START
    naive = codec.event_from_dict({"type": "TimerFired", "at": "2024-01-01T00:00:00", "task_id": 1})
    assert naive.at == START and naive.at.tzinfo is UTC


def test_records_without_optional_fields_or_with_unknown_ones_still_load() -> None:
    """Fields with defaults may be absent (older writers); unknown keys are ignored."""
    data: dict[str, object] = {"type": "ActivityScheduled", "at": "2024-01-01T00:00:00Z"}
    data |= {"task_id": 2, "name": "charge", "input": 1, "extra": "ignored"}
    assert codec.event_from_dict(data) == h.ActivityScheduled(START, 2, "charge", 1)
    started: dict[str, object] = {"type": "OrchestrationStarted", "at": "2024-01-01T00:00:00Z"}
    started["name"] = "o"
    started |= {"input": None, "instance_id": "i"}
    first, second = codec.event_from_dict(dict(started)), codec.event_from_dict(dict(started))
    assert first == h.OrchestrationStarted(START, "o", None, "i")
    assert isinstance(first, h.OrchestrationStarted) and isinstance(second, h.OrchestrationStarted)
    assert first.carried_events == [] and first.carried_events is not second.carried_events


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "TimerFired", "at": "2024-01-01T00:00:00Z"}, "is malformed"),
        ({"type": "TimerFired", "at": 5, "task_id": 1}, "is malformed"),
        ({"type": "TimerFired", "at": "soon", "task_id": 1}, "is malformed"),
        ({"type": "OrchestrationFailed", "at": "2024-01-01T00:00:00Z", "error": {}}, "malformed"),
        ({"at": "2024-01-01T00:00:00Z"}, "unknown type None"),
        ({"type": ["x"]}, "unknown type"),
        (["TimerFired"], "unknown type 'list'"),
    ],
)
def test_malformed_records_raise_store_error_naming_them(data: object, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        codec.event_from_dict(data, "row 7")  # type: ignore[arg-type]
    assert str(info.value).startswith("row 7")


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_event_from_json_reads_what_event_to_json_writes(event: h.Event) -> None:
    text = codec.event_to_json(event)
    assert codec.event_from_json(text) == event
    assert codec.event_from_json(f" {text}\n") == event  # not our writing, but still JSON


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops", r"^row 3 is not valid JSON \(Expecting property name"),
        ("", r"^row 3 is not valid JSON"),
        ('{"type": "Nope"}', r"^row 3 has unknown type 'Nope'"),
        ("[1]", r"^row 3 has unknown type 'list'"),
        (
            '{"type": "TimerFired", "at": "2024-01-01T00:00:00Z"}',
            r"^row 3 \(TimerFired\) is malformed",
        ),
    ],
)
def test_event_from_json_names_the_record_when_it_fails(text: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        codec.event_from_json(text, "row 3")


def test_the_codec_is_plain_code_without_exec_or_generated_source() -> None:
    source = Path(codec.__file__).read_text(encoding="utf-8")
    calls = {
        node.func.id
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not calls & {"exec", "eval", "compile"}


def test_records_written_before_parent_close_policies_read_with_the_defaults() -> None:
    from orchestrate.codec import event_from_dict

    old = {"type": "SubOrchestrationScheduled", "at": "2024-01-01T00:00:00Z", "task_id": 1}
    old |= {"name": "ship", "input": None, "instance_id": "p:ship"}
    event = event_from_dict(old)
    assert isinstance(event, h.SubOrchestrationScheduled) and event.on_parent_close == "terminate"
    stop = event_from_dict({"type": "OrchestrationTerminated", "at": old["at"], "reason": "x"})
    assert isinstance(stop, h.OrchestrationTerminated) and stop.parent is None
