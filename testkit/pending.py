"""`Pending`: what an unfinished instance waits on, as typed data a test can assert on.

`run.waiting_for` reads well in a failure message; `run.pending` is the same information as
data: each pending activity call with its input, attempt, last error and next retry time, each
timer, each child with its status, each open event wait. Built from `Execution.waits()` (the
executor's public answer), never from its private state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from orchestrate import Status

if TYPE_CHECKING:
    from datetime import datetime

    from orchestrate.replay import Execution

__all__ = ["Pending", "PendingActivity", "PendingChild", "PendingTimer", "pending_of"]


@dataclass(frozen=True)
class PendingActivity:
    """An activity call not finished yet: running (or queued), or waiting to retry.

    `attempt` is the attempt running, or during a backoff the one that runs next (at
    `next_retry`); `last_error` is ``"type: message"`` of the last failed attempt, if any.
    """

    name: str
    input: Any
    attempt: int
    last_error: str | None = None
    next_retry: datetime | None = None
    timeout_at: datetime | None = None  # when the running attempt times out, if it has a timeout


@dataclass(frozen=True)
class PendingTimer:
    """A durable timer (`ctx.timer`, `ctx.sleep`) that has not fired."""

    fire_at: datetime


@dataclass(frozen=True)
class PendingChild:
    """A sub-orchestration not finished yet: its instance id, orchestration and status."""

    instance_id: str
    name: str
    status: Status | None  # None: the child instance is not in the store (yet)


@dataclass(frozen=True)
class Pending:
    """Everything an instance waits on; all empty once it finished."""

    activities: list[PendingActivity] = field(default_factory=list)
    timers: list[PendingTimer] = field(default_factory=list)
    children: list[PendingChild] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # names of open event waits

    def __bool__(self) -> bool:
        return bool(self.activities or self.timers or self.children or self.events)


def pending_of(exe: Execution, status_of: Callable[[str], Status | None]) -> Pending:
    """`exe`'s waits as `Pending`; `status_of(child id)` gives a child's status."""
    found = Pending()
    calls: dict[int | None, int] = {}  # call id -> index in found.activities
    for wait in exe.waits():
        if wait.kind == "event":
            found.events.append(wait.name)
        elif wait.kind == "sub-orchestration":
            assert wait.instance_id is not None
            child = PendingChild(wait.instance_id, wait.name, status_of(wait.instance_id))
            found.children.append(child)
        elif wait.kind == "timer" and wait.call_id is None:
            assert wait.fire_at is not None
            found.timers.append(PendingTimer(wait.fire_at))
        else:  # an attempt, or the timeout or backoff of one: one entry per call
            index = calls.get(wait.call_id)
            if index is None:
                index = calls[wait.call_id] = len(found.activities)
                found.activities.append(
                    PendingActivity(wait.name, wait.input, wait.attempt, wait.last_error)
                )
            if wait.purpose == "retry":
                found.activities[index] = replace(found.activities[index], next_retry=wait.fire_at)
            elif wait.purpose == "timeout":
                found.activities[index] = replace(found.activities[index], timeout_at=wait.fire_at)
    return found
