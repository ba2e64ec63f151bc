"""Crash transparency's comparison, and the tally of what a run explored."""

from __future__ import annotations

from orchestrate import Status
from testkit.fuzz.checks import Tally, _difference
from testkit.fuzz.schedule import Schedule, Step
from testkit.fuzz.trial import TrialResult


def result(status="completed", output=1, events=None, steps=()):
    history = events if events is not None else [{"kind": "OrchestrationStarted"}]
    return TrialResult(Schedule("o", "o-1", None, list(steps)), None, Status(status), output,
                       {"o-1": history})


def test_equal_runs_have_no_difference():
    assert _difference(result(), result()) is None


def test_a_different_output_or_status_is_named():
    assert "with them it ended completed with 2, without them completed with 1" in (
        _difference(result(output=2), result(output=1)) or ""
    )
    assert "failed" in (_difference(result(status="failed"), result()) or "")


def test_the_first_differing_history_event_is_named():
    a = result(events=[{"kind": "A"}, {"kind": "B"}])
    b = result(events=[{"kind": "A"}, {"kind": "C"}])
    assert "differs at event 2" in (_difference(a, b) or "")
    assert "2 events with them and 1 without" in (
        _difference(a, result(events=[{"kind": "A"}])) or ""
    )


def test_the_tally_counts_distinct_schedules_and_keeps_the_longest_histories():
    tally = Tally()
    finish = Step("finish", "o-1", 1, name="a", outcome={"ok": 1})
    for n in range(20):
        tally.add(result(events=[{"n": i} for i in range(n)], steps=[finish] * (n % 3)))
    assert tally.examples == 20 and tally.schedules == 3 and tally.longest == 19
    assert len(tally.samples) == 3  # one per distinct schedule, the first seen
