"""Command matching as a pure function: which replayed commands repeat the recorded one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import history as h
from orchestrate.matching import matches, payload_of

from .conftest import START

T1, T2 = START + timedelta(seconds=1), START + timedelta(seconds=2)

Act = h.ActivityScheduled
CASES = [
    # (recorded, replayed, loose match, strict match); `at` never counts
    (Act(START, 0, "charge", "a"), Act(T1, 0, "charge", "a"), True, True),
    (Act(START, 0, "charge", "a"), Act(START, 0, "charge", "b"), True, False),
    (Act(START, 0, "charge", "a"), Act(START, 0, "refund", "a"), False, False),
    (Act(START, 0, "charge", "a"), h.TimerCreated(START, 0, T1), False, False),
    (h.TimerCreated(START, 0, T1), h.TimerCreated(START, 0, T2), True, False),
    (h.PatchMarker(START, 0, "v2"), h.PatchMarker(START, 0, "v3"), False, False),
    (h.CustomStatusSet(START, 0, "x"), h.CustomStatusSet(START, 0, "y"), True, False),
    (h.SideEffectRecorded(START, 0, 1), h.SideEffectRecorded(START, 0, 2), True, False),
    (h.EventSent(START, 0, "a", "go", 1), h.EventSent(START, 0, "b", "go", 1), True, False),
    (h.OrchestrationCompleted(START, 1), h.OrchestrationCompleted(T1, 2), True, False),
    (h.ContinuedAsNew(START, 1), h.ContinuedAsNew(START, 1), True, True),
]


@pytest.mark.parametrize(("recorded", "new", "loose", "strict"), CASES)
def test_a_replayed_command_matches_on_kind_and_loose_fields_or_all_fields_when_strict(
    recorded: h.Event, new: h.Event, loose: bool, strict: bool
) -> None:
    assert matches(recorded, new, strict=False) is loose
    assert matches(recorded, new, strict=True) is strict


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        (h.ActivityScheduled(START, 0, "charge", {"id": 1}), {"id": 1}),
        (h.CustomStatusSet(START, 0, "busy"), "busy"),
        (h.SideEffectRecorded(START, 0, 7), 7),
        (h.OrchestrationCompleted(START, None), None),
    ],
)
def test_payload_of_a_command_is_its_input_status_value_or_output(
    event: h.Event, payload: object
) -> None:
    assert payload_of(event) == payload


def test_a_command_without_payload_has_one_no_value_equals() -> None:
    none = payload_of(h.TimerCreated(START, 0, T1))
    assert none not in (None, 0, "", [], {})
