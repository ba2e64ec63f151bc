"""Schedules: JSON that round-trips, reads as a timeline, and refuses what it is not."""

from __future__ import annotations

import pytest

from testkit import fail, hang, ok
from testkit.fuzz import Schedule, ScheduleError, Step
from testkit.fuzz.schedule import outcome_from_json, outcome_to_json

STEPS = [
    Step("finish", "o-1", 1, name="charge", outcome={"ok": "tx"},
         duplicate={"real": True, "result": {"ok": "tx"}}),
    Step("lose", "o-1", 2, name="ship", outcome={"fail": "IOError", "message": "down",
                                                 "retryable": True}),
    Step("timer", at="2024-01-01T00:05:00Z", crash="before_commit"),
    Step("event", "o-1", name="Approval", data=1, awaited=False, crash="after_commit"),
    Step("hang", "o-1", 3, 2, "ship", {"hang": True}),
    Step("stop_events"),
]


def test_a_schedule_round_trips_through_json(tmp_path):
    schedule = Schedule("order", "o-1", {"id": 1}, STEPS, seed=5, failure="invariant")
    path = schedule.save(tmp_path / "s.json")
    loaded = Schedule.load(path)
    assert loaded == schedule
    assert loaded.steps[3].data == 1 and loaded.steps[0].task_id == 1  # defaults kept apart


def test_the_timeline_names_each_step_and_fault():
    lines = Schedule("order", "o-1", {"id": 1}, STEPS).timeline().splitlines()
    assert lines[0] == "  1. start order({\"id\":1}) as 'o-1'"
    assert "charge#1 is delivered twice: a duplicate runs (its real code -> ok \"tx\")" in lines[1]
    assert lines[2].endswith('charge#1 finishes: ok "tx"')
    assert "crash after ship#2 ran (fail IOError: down), before its result committed" in lines[3]
    assert "crash after the next turn was computed, before it committed" in lines[4]
    assert "time moves to 2024-01-01T00:05:00Z" in lines[5]
    assert "event 'Approval' 1 raised to 'o-1' (before it waits for it)" in lines[6]
    assert "crash right after that commit" in lines[7]
    assert "ship#3 (attempt 2) hangs" in lines[8]
    assert lines[9].endswith("no more events are sent")


@pytest.mark.parametrize("outcome", [ok({"a": [1]}), fail("no", retryable=False), hang(), None])
def test_outcomes_round_trip(outcome):
    assert outcome_from_json(outcome_to_json(outcome), "x") == outcome


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"steps": []}', "not an orchestrate fuzz schedule"),
        ('{"format": "orchestrate-fuzz-schedule", "version": 9}', "version 9"),
        ('{"format": "orchestrate-fuzz-schedule", "version": 1, "steps": [{"x": 1}]}',
         "step 1 is malformed"),
        ('{"format": "orchestrate-fuzz-schedule", "version": 1, "steps": [{"action": "exec"}]}',
         "unknown action 'exec'"),
        ('{"format": "orchestrate-fuzz-schedule", "version": 1, "steps": []}',
         "lacks 'orchestration'"),
    ],
)
def test_bad_schedule_files_are_refused_with_the_reason(text, message):
    with pytest.raises(ScheduleError, match=message):
        Schedule.from_json(text, "f.json")


def test_a_missing_file_is_a_schedule_error(tmp_path):
    with pytest.raises(ScheduleError, match="cannot read schedule file"):
        Schedule.load(tmp_path / "missing.json")


def test_without_faults_keeps_the_decision_and_drops_the_fault():
    assert STEPS[0].without_faults() == Step("finish", "o-1", 1, name="charge",
                                             outcome={"ok": "tx"})
    assert STEPS[1].without_faults() is None  # a lost run is only a fault
    assert STEPS[0].faults == (0, 1) and STEPS[1].faults == (1, 0) and STEPS[2].faults == (1, 0)
