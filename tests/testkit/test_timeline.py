"""Timelines: numbered rows with time, event, the name a result answers, and abridged payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrate import ErrorInfo
from orchestrate import history as h
from testkit.timeline import abridge, format_timeline

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)

HISTORY: list[h.Event] = [
    h.OrchestrationStarted(T0, "saga", {"id": 1}, "saga-1"),
    h.ActivityScheduled(T0, 0, "charge", {"id": 1}),
    h.ActivityFailed(T0, 0, "CardDeclined", "no funds"),
    h.TimerCreated(T0, 1, T1, "retry"),
    h.TimerFired(T1, 1),
    h.ActivityScheduled(T1, 2, "charge", {"id": 1}, attempt=2, call_id=0),
    h.ActivityCompleted(T1, 2, "tx-" + "9" * 100),
    h.EventRaised(T1, "Approval", True),
    h.OrchestrationFailed(T1, ErrorInfo("RuntimeError", "boom", "Traceback ...")),
]


def test_rows_label_results_with_the_task_they_answer():
    lines = format_timeline(HISTORY, title="saga-1").splitlines()
    assert lines[0] == "saga-1"
    assert lines[1].split() == ["#", "time", "event", "name", "payload"]
    rows = [line.split(None, 4) for line in lines[2:]]
    assert [r[0] for r in rows] == [str(n) for n in range(1, 10)]
    assert rows[2][2:] == ["ActivityFailed", "charge", "CardDeclined: no funds"]
    assert rows[3][2:] == ["TimerCreated", "retry", "fires at 2024-01-01T01:00:00Z"]
    assert rows[4][1:] == ["2024-01-01T01:00:00Z", "TimerFired", "retry"]
    assert "charge (attempt 2)" in lines[7]
    assert rows[6][4].endswith("...") and len(rows[6][4]) == 60
    assert "OrchestrationFailed" in lines[10] and lines[10].endswith("RuntimeError: boom")


def test_limit_keeps_the_last_rows_and_says_so():
    text = format_timeline(HISTORY, limit=2)
    assert "... 7 earlier event(s) not shown" in text
    assert text.splitlines()[-1].lstrip().startswith("9")


def test_an_empty_history_says_so():
    assert "(no events yet)" in format_timeline([])


@pytest.mark.parametrize(
    ("value", "width", "expected"),
    [
        ({"a": [1, 2]}, 60, '{"a":[1,2]}'),
        ("x" * 10, 8, '"xxxx...'),
        (None, 60, "null"),
        ("é", 60, '"é"'),
    ],
)
def test_abridge(value, width, expected):
    assert abridge(value, width) == expected
