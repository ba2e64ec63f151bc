"""Helpers shared by the fuzz targets: an id helper with an injectable clock (the bug of
`module_helper_clock`, kept in another module on purpose) and history readers for invariants."""

from __future__ import annotations

import time
from typing import Any, Protocol

from orchestrate import history as h
from testkit import Run


class Clock(Protocol):
    """Where helpers get the time from (unit tests pass a fake)."""

    def millis(self) -> int: ...


class SystemClock:
    """The process clock, in milliseconds since the epoch."""

    def millis(self) -> int:
        return int(time.time() * 1000)


SYSTEM_CLOCK = SystemClock()


def request_id(prefix: str, clock: Clock = SYSTEM_CLOCK) -> str:
    """A request id unique enough for the payment API: `prefix` and the current millisecond.

    Not replay-safe: by default it reads the process clock, so a replay computes another id.
    """
    return f"{prefix}-{clock.millis()}"


def results(run: Run, activity: str) -> list[tuple[int, Any]]:
    """(task id, result) of every completed call of `activity`, in history order."""
    names = {e.task_id: e.name for e in run.history if isinstance(e, h.ActivityScheduled)}
    return [
        (e.task_id, e.result)
        for e in run.history
        if isinstance(e, h.ActivityCompleted) and names.get(e.task_id) == activity
    ]


def scheduled_inputs(run: Run, activity: str) -> list[Any]:
    """Inputs of every scheduled call of `activity` (first attempts only), in history order."""
    return [
        e.input
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name == activity and e.call_id is None
    ]


def first_occurrences(values: list[Any]) -> list[Any]:
    """`values` without repeats, keeping the first occurrence (duplicate deliveries repeat)."""
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
