"""`ActivityEnv`: unit-test one activity function alone, with the `activity_info()` it would get.

An activity that reads `activity_info()` (its attempt, its idempotency key, the heartbeat
details a previous attempt left) raises `RuntimeError` outside a worker. `ActivityEnv` serves it
a chosen info, records every `heartbeat()` it makes, and can cancel it mid-run: the activity
then sees ``activity_info().cancelled`` and its next `heartbeat()` raises `ActivityCancelled`,
as under a worker when its orchestration no longer needs the call. Cancellation is cooperative,
as on a worker: nothing interrupts the function, so an activity (sync or ``async def``) that
never heartbeats nor reads ``activity_info().cancelled`` runs to its end and returns its value.
A cancel applies to the run in progress (or, made between runs, to the next one); the run
after a cancelled one starts uncancelled.

    env = ActivityEnv(attempt=3, heartbeat_details={"page": 7})
    env.on_heartbeat = lambda details: env.cancel() if details["page"] == 9 else None
    with pytest.raises(ActivityCancelled):
        env.run(export_pages, {"pages": 20})
    assert env.heartbeats == [{"page": 8}, {"page": 9}]

Sync and ``async def`` activities both run (the async ones on a fresh event loop). Nothing is
scheduled, stored or retried: the function's return value (or its exception) comes straight
back to the test.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrate.activity import Attempt, serving
from orchestrate.payload import to_json_value
from orchestrate.state import ActivityWork

from .clock import DEFAULT_START

__all__ = ["ActivityEnv"]


@dataclass
class _Work(ActivityWork):
    """The work item the env serves, with a chosen idempotency key."""

    key: str = ""

    @property
    def idempotency_key(self) -> str:
        return self.key or super().idempotency_key


class _RecordingAttempt(Attempt):
    """An attempt whose heartbeats the env records (and may react to)."""

    __slots__ = ("env",)

    def __init__(self, work: ActivityWork, env: ActivityEnv) -> None:
        super().__init__(work, lambda: env.now)
        self.env = env

    def heartbeat(self, details: Any = None) -> None:
        super().heartbeat(details)  # raises ActivityCancelled once cancelled: not recorded
        env = self.env
        recorded = None if details is None else to_json_value(details, "heartbeat details")
        with env._lock:
            env.heartbeats.append(recorded)
        if env.on_heartbeat is not None:
            env.on_heartbeat(recorded)


class ActivityEnv:
    """Runs activity functions with a chosen `activity_info()`; see the module docstring.

    `attempt`, `idempotency_key` (default ``"<instance_id>:0:<task_id>"``, as a worker builds
    it), `heartbeat_details` (what a previous attempt recorded), `instance_id`, `task_id` and
    `name` (default: the function's name) set what the activity sees; `now` is the time
    heartbeats are stamped with. After a run, `heartbeats` holds the details of every
    heartbeat in order (None for a bare ``heartbeat()``) and `cancelled` whether it was
    cancelled. `on_heartbeat(details)` is called after each heartbeat (cancel from there to
    cancel at a chosen point); `cancel()` may also be called from another thread. The activity
    sees a cancel only at its next heartbeat (or by reading ``activity_info().cancelled``).
    Each run starts uncancelled unless `cancel()` was called since the previous run ended.
    """

    __test__ = False

    def __init__(
        self,
        *,
        attempt: int = 1,
        idempotency_key: str | None = None,
        heartbeat_details: Any = None,
        instance_id: str = "activity-env",
        task_id: int = 0,
        name: str | None = None,
        now: datetime = DEFAULT_START,
    ) -> None:
        if not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"ActivityEnv(attempt={attempt!r}): attempts count from 1")
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        self.heartbeat_details = to_json_value(heartbeat_details, "heartbeat_details")
        self.instance_id = instance_id
        self.task_id = task_id
        self.name = name
        self.now = now
        self.heartbeats: list[Any] = []
        self.on_heartbeat: Callable[[Any], None] | None = None
        self._lock = threading.Lock()
        self._attempt: _RecordingAttempt | None = None
        self._cancel_reason: str | None = None
        self._cancel_served = False  # the cancel reached a run: the next run starts afresh

    @property
    def cancelled(self) -> bool:
        """Whether the last run was cancelled (or the next one will be: `cancel()` between
        runs)."""
        return self._cancel_reason is not None

    def cancel(self, reason: str = "cancelled by the test (ActivityEnv.cancel)") -> None:
        """Cancel the running (or the next) run: ``activity_info().cancelled`` turns True and
        the next ``heartbeat()`` raises `ActivityCancelled`. Nothing interrupts the function:
        one that never heartbeats runs to its end, as on a worker."""
        with self._lock:
            self._cancel_reason = reason
            self._cancel_served = self._attempt is not None
            if self._attempt is not None:
                self._attempt.cancel(reason)

    def run(self, activity: Callable[..., Any], input: Any = None) -> Any:
        """Call `activity` (with `input` if it takes one) serving it this env's info; returns
        what it returns, or raises what it raises."""
        name = self.name or str(getattr(activity, "__name__", "activity"))
        work = _Work(
            self.instance_id, 0, self.task_id, name, to_json_value(input, "input"),
            attempt=self.attempt, call_id=self.task_id,
            heartbeat_details=self.heartbeat_details, key=self.idempotency_key or "",
        )  # fmt: skip
        attempt = _RecordingAttempt(work, self)
        with self._lock:
            self.heartbeats = []
            self._attempt = attempt
            if self._cancel_served:  # a cancel of an earlier run: this one starts uncancelled
                self._cancel_reason, self._cancel_served = None, False
            if self._cancel_reason is not None:
                attempt.cancel(self._cancel_reason)
                self._cancel_served = True
        attempt.begin(None)
        try:
            with serving(attempt):
                takes_input = _positional_count(activity) >= 1
                value = activity(input) if takes_input else activity()
                if inspect.iscoroutine(value):
                    value = asyncio.run(value)  # the context (activity_info) goes with it
            return value
        finally:
            attempt.running = False
            with self._lock:
                self._attempt = None


def _positional_count(fn: Callable[..., Any]) -> int:
    params = inspect.signature(fn).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 1
    return sum(1 for p in params if p.kind in kinds)
