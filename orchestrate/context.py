"""`OrchestrationContext`: everything an orchestration may learn from or do to the world.

Every method either issues a command that the history records (activities, timers, ...) or
returns a value derived only from the history and the instance id (`now`, `uuid`, `random`), so
the function replays identically.
"""

from __future__ import annotations

import functools
import logging
import random as _random
import uuid as _uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from . import history as h
from .combinators import MapTask, WhenAll, WhenAny
from .errors import ActivityFailed, SerializationError, SubOrchestrationFailed
from .payload import from_json_value, to_json_value
from .registry import ActivityDef
from .replay import ContinueAsNewSignal
from .retry import RetryPolicy
from .task import Task

if TYPE_CHECKING:
    from datetime import datetime

    from .replay import Execution

__all__ = ["ActivityTask", "EventTask", "OrchestrationContext", "SubOrchestrationTask", "TimerTask"]

T = TypeVar("T")

_LOGGER = logging.getLogger("orchestrate.orchestration")


def _seconds(duration: timedelta | float) -> timedelta:
    if isinstance(duration, timedelta):
        return duration
    return timedelta(seconds=duration)


class TimerTask(Task[None]):
    """A durable timer: finishes when the worker's clock passes `fire_at`."""

    __slots__ = ("_duration", "_exe", "_task_id", "fire_at")

    @property
    def label(self) -> str:
        return f"timer({self._duration})"

    def __init__(self, exe: Execution, duration: timedelta, purpose: str = "timer") -> None:
        super().__init__(exe.order)
        self._duration = duration
        self._exe = exe
        task_id = self._task_id = exe.next_id()
        now = exe._now()
        kept = exe.command(h.TimerCreated(now, task_id, now + duration, purpose))
        assert isinstance(kept, h.TimerCreated)
        self.fire_at = kept.fire_at
        exe.handlers[task_id] = self._fired

    def _fired(self, event: h.Event) -> None:
        self._resolve(None)

    def _on_cancel(self) -> None:
        self._exe.timer_cancelled(self._task_id)  # its pending TimerFired can be dropped


class ActivityTask(Task[Any]):
    """One activity call: its attempts, its backoff timers and its timeout, all in the history."""

    __slots__ = (
        "_call_id",
        "_current",
        "_exe",
        "_input",
        "_result_type",
        "_timers",
        "attempt",
        "defn",
        "retry",
        "timeout",
    )

    @property
    def label(self) -> str:
        return f"activity {self.defn.name!r}"

    def __init__(
        self,
        exe: Execution,
        defn: ActivityDef,
        value: Any,
        retry: RetryPolicy | None,
        timeout: timedelta | None,
    ) -> None:
        super().__init__(exe.order)
        self._exe = exe
        self.defn = defn
        self.retry = retry
        self.timeout = timeout
        self.attempt = 1
        self._call_id: int | None = None
        self._current: int | None = None
        self._timers: list[TimerTask | None] = [None, None]  # [timeout, backoff]
        try:
            self._input = to_json_value(value, "input")
        except SerializationError as exc:
            raise SerializationError(f"activity {defn.name!r}: {exc}") from None
        self._result_type = defn.result_type
        self._schedule()

    def _schedule(self) -> None:
        exe = self._exe
        task_id = exe.next_id()
        exe.command(
            h.ActivityScheduled(
                exe._now(), task_id, self.defn.name, self._input, self.attempt, self._call_id
            )
        )
        if self._call_id is None:
            self._call_id = task_id
        self._current = task_id
        exe.handlers[task_id] = self._on_result
        if self.timeout is not None:
            timer = self._timers[0] = TimerTask(exe, self.timeout, "timeout")
            timer._add_done_callback(functools.partial(self._on_timeout, task_id))

    def _on_result(self, event: h.Event) -> None:
        if self.done() or getattr(event, "task_id", None) != self._current:
            return  # the attempt already timed out, or the call lost a race: result ignored
        if isinstance(event, h.ActivityCompleted):
            try:
                value = from_json_value(event.result, self._result_type)
            except Exception as exc:
                message = (
                    f"the result of {self.defn.name!r} does not fit its return annotation "
                    f"{getattr(self._result_type, '__name__', self._result_type)}: {exc}"
                )
                self._fail(ActivityFailed(self.defn.name, "SerializationError", message))
                return
            self._resolve(value)
            self._stop_timers()
        elif isinstance(event, h.ActivityFailed):
            self._attempt_failed(event.error_type, event.message, event.retryable)

    def _on_timeout(self, attempt_id: int, _timer: Task[Any]) -> None:
        if self.done() or self._current != attempt_id:
            return
        self._current = None
        message = f"activity {self.defn.name!r} did not finish within {self.timeout}"
        self._attempt_failed("TimeoutError", message, True)

    def _stop_timers(self) -> None:
        """Cancel this call's pending timeout and backoff timers: nobody waits for them now."""
        timers = self._timers
        if timers[0] is None and timers[1] is None:
            return  # the common case: no timeout, no retry pending
        for index, timer in enumerate(timers):
            if timer is not None:
                timer.cancel()
                timers[index] = None

    def _on_cancel(self) -> None:
        self._stop_timers()

    def _attempt_failed(self, error_type: str, message: str, retryable: bool) -> None:
        self._current = None
        self._stop_timers()
        policy = self.retry
        if policy is not None and retryable and policy.retries(error_type, self.attempt):
            backoff = self._timers[1] = TimerTask(self._exe, policy.delay(self.attempt), "retry")
            backoff._add_done_callback(self._next_attempt)
            return
        self._fail(ActivityFailed(self.defn.name, error_type, message))

    def _next_attempt(self, timer: Task[Any]) -> None:
        if self.done():
            return
        self.attempt += 1
        self._schedule()


class EventTask(Task[Any]):
    """Waits for the next external event of `name` (FIFO; earlier buffered ones first)."""

    __slots__ = ("_exe", "name")

    def __init__(self, exe: Execution, name: str) -> None:
        super().__init__(exe.order, f"event {name!r}")
        self._exe = exe
        self.name = name
        exe.wait_event(self)

    def _on_cancel(self) -> None:
        self._exe.withdraw(self)


class SubOrchestrationTask(Task[Any]):
    """A child orchestration instance; finishes with its output or `SubOrchestrationFailed`."""

    __slots__ = ("child_id", "name")

    def __init__(self, exe: Execution, name: str, value: Any, instance_id: str | None) -> None:
        super().__init__(exe.order, f"sub-orchestration {name!r}")
        self.name = name
        task_id = exe.next_id()
        try:
            payload = to_json_value(value, "input")
        except SerializationError as exc:
            raise SerializationError(f"sub-orchestration {name!r}: {exc}") from None
        child_id = instance_id or f"{exe.instance_id}:{exe.generation}:{task_id}"
        kept = exe.command(
            h.SubOrchestrationScheduled(exe._now(), task_id, name, payload, child_id)
        )
        assert isinstance(kept, h.SubOrchestrationScheduled)
        self.child_id = kept.instance_id
        exe.handlers[task_id] = self._on_result

    def _on_result(self, event: h.Event) -> None:
        if isinstance(event, h.SubOrchestrationCompleted):
            self._resolve(from_json_value(event.result, None))
        elif isinstance(event, h.SubOrchestrationFailed):
            self._fail(SubOrchestrationFailed(self.name, event.error_type, event.message))


class _ReplayAwareLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """`ctx.log`: a LoggerAdapter that stays silent while the history is being replayed."""

    def __init__(self, exe: Execution) -> None:
        super().__init__(_LOGGER, {"instance_id": exe.instance_id})
        self._exe = exe

    def isEnabledFor(self, level: int) -> bool:
        return not self._exe.is_replaying and self.logger.isEnabledFor(level)


class OrchestrationContext:
    """The handle an orchestration receives as its first argument. See DESIGN.md for the API."""

    def __init__(self, exe: Execution) -> None:
        self._exe = exe
        self._uuid_rng: _random.Random | None = None  # seeded on first use: seeding is not free
        self._random_calls = 0
        self._patches: dict[str, bool] = {}
        self._log: _ReplayAwareLogger | None = None

    @property
    def log(self) -> logging.LoggerAdapter:  # type: ignore[type-arg]
        """A logger that stays silent while the history is being replayed."""
        if self._log is None:
            self._log = _ReplayAwareLogger(self._exe)
        return self._log

    # --- identity and deterministic values --------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._exe.instance_id

    @property
    def is_replaying(self) -> bool:
        """True while the code re-runs past events; use it only to silence side outputs."""
        return self._exe.is_replaying

    def now(self) -> datetime:
        """The recorded time of the current turn (UTC): equal on every replay."""
        return self._exe._now()

    def uuid(self) -> _uuid.UUID:
        """A version-4 UUID seeded from the instance id and the call count: stable on replay."""
        if self._uuid_rng is None:
            exe = self._exe
            self._uuid_rng = _random.Random(f"uuid:{exe.instance_id}:{exe.generation}")
        return _uuid.UUID(int=self._uuid_rng.getrandbits(128), version=4)

    def random(self) -> _random.Random:
        """A `random.Random` seeded from the instance id and the call count: stable on replay."""
        self._random_calls += 1
        exe = self._exe
        return _random.Random(f"random:{exe.instance_id}:{exe.generation}:{self._random_calls}")

    # --- scheduling ---------------------------------------------------------------------------------

    def activity(
        self,
        activity: Callable[..., Any] | str,
        input: Any = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | float | None = None,
    ) -> ActivityTask:
        """Schedule an activity (by function or registered name) with one JSON input."""
        defn = self._exe.registry.get_activity(activity)
        limit = _seconds(timeout) if timeout is not None else defn.timeout
        return ActivityTask(self._exe, defn, input, retry or defn.retry, limit)

    def timer(self, duration: timedelta | float) -> TimerTask:
        """A durable timer firing after `duration` (a timedelta or seconds)."""
        delay = _seconds(duration)
        if delay < timedelta(0):
            raise ValueError(f"timer duration {delay} is negative")
        return TimerTask(self._exe, delay)

    def sleep(self, duration: timedelta | float) -> TimerTask:
        """``await ctx.sleep(d)``: a durable pause (same as awaiting `timer`)."""
        return self.timer(duration)

    def event(self, name: str) -> EventTask:
        """Wait for the next external event called `name` (raised with `raise_event`)."""
        return EventTask(self._exe, name)

    def sub_orchestration(
        self,
        orchestration: Callable[..., Any] | str,
        input: Any = None,
        *,
        instance_id: str | None = None,
    ) -> SubOrchestrationTask:
        """Start a child orchestration instance and wait for its output."""
        name = self._exe.registry.get_orchestration(orchestration).name
        return SubOrchestrationTask(self._exe, name, input, instance_id)

    def all(self, tasks: Sequence[Task[Any]], *, return_exceptions: bool = False) -> WhenAll:
        """Fan-in: every task's value in order; fails fast unless `return_exceptions=True`."""
        return WhenAll(self._exe.order, tasks, return_exceptions)

    def any(self, tasks: Sequence[Task[Any]]) -> WhenAny:
        """Race: the first task to finish; the others are cancelled."""
        return WhenAny(self._exe.order, tasks, cancel_losers=True)

    async def as_completed(self, tasks: Sequence[Task[Any]]) -> AsyncIterator[Task[Any]]:
        """Yield the tasks as they finish, in the order the history recorded."""
        remaining = list(tasks)
        while remaining:
            winner: Task[Any] = await WhenAny(self._exe.order, remaining, cancel_losers=False)
            remaining.remove(winner)
            yield winner

    def map(
        self,
        fn: Callable[..., Any] | str,
        items: Sequence[Any],
        *,
        max_concurrency: int = 10,
    ) -> MapTask:
        """Bounded fan-out: call an activity (or sub-orchestration) per item, `max_concurrency` at a time."""
        registry = self._exe.registry
        name = registry.name_of(fn)
        if name in registry.orchestrations:
            return MapTask(
                self._exe.order,
                lambda item: self.sub_orchestration(name, item),
                items,
                max_concurrency,
            )
        registry.get_activity(name)
        return MapTask(
            self._exe.order, lambda item: self.activity(name, item), items, max_concurrency
        )

    # --- recorded values and markers -------------------------------------------------------------

    def side_effect(self, fn: Callable[[], T]) -> Task[T]:
        """Run `fn` once and record its (JSON) result; replays return the recorded value."""
        exe = self._exe
        task: Task[T] = Task(exe.order, f"side_effect({getattr(fn, '__name__', 'fn')})")
        task_id = exe.next_id()
        recorded = exe.peek_recorded()
        if isinstance(recorded, h.SideEffectRecorded):
            exe.command(h.SideEffectRecorded(exe._now(), task_id, recorded.value))
            task._resolve(from_json_value(recorded.value, None))
            return task
        value = fn()
        if hasattr(value, "__await__"):
            raise TypeError(
                "ctx.side_effect() takes a plain function; an async function's result cannot be "
                "recorded inside the orchestration. Make it an activity instead."
            )
        try:
            payload = to_json_value(value, "side effect result")
        except SerializationError as exc:
            raise SerializationError(str(exc)) from None
        exe.command(h.SideEffectRecorded(exe._now(), task_id, payload))
        task._resolve(from_json_value(payload, None))
        return task

    def patched(self, patch_id: str) -> bool:
        """Versioning: True for instances that reached this point with the new code."""
        if patch_id in self._patches:
            return self._patches[patch_id]
        exe = self._exe
        recorded = exe.peek_recorded()
        if recorded is None and exe.is_replaying:
            result = False  # the recorded run passed this point with the old code: no marker
        elif recorded is None or (
            isinstance(recorded, h.PatchMarker) and recorded.patch == patch_id
        ):
            exe.command(h.PatchMarker(exe._now(), exe.next_id(), patch_id))
            result = True
        else:
            result = False  # the recorded run took the old path here; keep taking it
        self._patches[patch_id] = result
        return result

    def set_status(self, status: Any) -> None:
        """Publish a JSON custom status, readable by clients while the instance runs."""
        payload = to_json_value(status, "custom status")
        exe = self._exe
        exe.command(h.CustomStatusSet(exe._now(), exe.next_id(), payload))

    def continue_as_new(self, input: Any = None) -> None:
        """End this generation and restart with `input` and a fresh history (never returns)."""
        raise ContinueAsNewSignal(input)
