"""Small readers over a run's history, shared by the pattern tests (not an example itself)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import history as h


def scheduled(history: list[h.Event]) -> list[str]:
    """Names of the activities scheduled, in order (retries appear once per attempt)."""
    return [e.name for e in history if isinstance(e, h.ActivityScheduled)]


def kinds(history: list[h.Event]) -> list[str]:
    """The event kinds, in order."""
    return [e.kind for e in history]


def statuses(history: list[h.Event]) -> list[Any]:
    """Every custom status the orchestration published, in order."""
    return [e.status for e in history if isinstance(e, h.CustomStatusSet)]


def timers(history: list[h.Event], purpose: str | None = None) -> list[timedelta]:
    """How long each durable timer was set for (from its creation to its due time)."""
    return [
        e.fire_at - e.at
        for e in history
        if isinstance(e, h.TimerCreated) and (purpose is None or e.purpose == purpose)
    ]


def max_in_flight(history: list[h.Event]) -> int:
    """The most activities that were scheduled and not yet finished at any point."""
    open_ids: set[int] = set()
    peak = 0
    for event in history:
        if isinstance(event, h.ActivityScheduled):
            open_ids.add(event.task_id)
            peak = max(peak, len(open_ids))
        elif isinstance(event, (h.ActivityCompleted, h.ActivityFailed)):
            open_ids.discard(event.task_id)
    return peak
