"""`OrchestrationContext`: everything an orchestration may learn from or do to the world.

Every method either issues a command that the history records (activities, timers, ...) or
returns a value derived only from the history and the instance id (`now`, `uuid`, `random`), so
the function replays identically.
"""

from __future__ import annotations

import logging
import random as _random
import uuid as _uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from . import history as h
from .combinators import MapTask, WhenAll, WhenAny
from .payload import from_json_value
from .task import ContinueAsNewSignal, Task
from .tasks import (
    ActivityTask,
    EventTask,
    Host,
    RaiseEventTask,
    SubOrchestrationTask,
    TimerTask,
    command_payload,
    seconds,
)

if TYPE_CHECKING:
    from datetime import datetime

    from .retry import RetryPolicy

__all__ = ["OrchestrationContext"]

T = TypeVar("T")

_LOGGER = logging.getLogger("orchestrate.orchestration")


class _ReplayAwareLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """`ctx.log`: a LoggerAdapter that stays silent while the history is being replayed."""

    def __init__(self, exe: Host) -> None:
        super().__init__(_LOGGER, {"instance_id": exe.instance_id})
        self._exe = exe

    def isEnabledFor(self, level: int) -> bool:
        return not self._exe.is_replaying and self.logger.isEnabledFor(level)


class OrchestrationContext:
    """The handle an orchestration receives as its first argument. See docs/design.md for the API."""

    def __init__(self, exe: Host) -> None:
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
        return self._exe.now()

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
        limit = seconds(timeout) if timeout is not None else defn.timeout
        return ActivityTask(self._exe, defn, input, retry or defn.retry, limit)

    def timer(self, duration: timedelta | float) -> TimerTask:
        """A durable timer firing after `duration` (a timedelta or seconds)."""
        delay = seconds(duration)
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
        on_parent_close: str = "terminate",
    ) -> SubOrchestrationTask:
        """Start a child orchestration instance and wait for its output.

        `on_parent_close`: when this orchestration finishes, fails, is terminated or continues
        as new while the child still runs, "terminate" (default) ends the child, "abandon"
        lets it run on. Cancelling the task (a race loser, ``task.cancel()``) terminates the
        child whatever the policy. Purging the parent purges its children too, except
        abandoned ones still running.
        """
        name = self._exe.registry.get_orchestration(orchestration).name
        return SubOrchestrationTask(self._exe, name, input, instance_id, on_parent_close)

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> RaiseEventTask:
        """Raise event `name` with `data` to instance `instance_id`, exactly once.

        Recorded in the history (`EventSent`) and delivered when this turn commits. Awaiting
        the task returns None once the event is in the instance's inbox, or raises
        `RaiseEventFailed` whose ``error_type`` is ``"InstanceNotFound"`` (no such instance)
        or ``"InstanceNotRunning"`` (it finished). Not awaiting it is fire-and-forget.
        """
        if not isinstance(instance_id, str) or not instance_id:
            raise ValueError(
                f"ctx.raise_event: instance_id {instance_id!r} is not a non-empty string; pass "
                "the id of the instance to signal"
            )
        return RaiseEventTask(self._exe, instance_id, name, data)

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
            exe.command(h.SideEffectRecorded(exe.now(), task_id, recorded.value))
            task._resolve(from_json_value(recorded.value, None))
            return task
        value = fn()
        if hasattr(value, "__await__"):
            raise TypeError(
                "ctx.side_effect() takes a plain function; an async function's result cannot be "
                "recorded inside the orchestration. Make it an activity instead."
            )
        owner = f"side effect {getattr(fn, '__name__', 'fn')!r}"
        payload = command_payload(exe, value, "result", owner)
        exe.command(h.SideEffectRecorded(exe.now(), task_id, payload))
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
            exe.command(h.PatchMarker(exe.now(), exe.next_id(), patch_id))
            result = True
        else:
            result = False  # the recorded run took the old path here; keep taking it
        self._patches[patch_id] = result
        return result

    def set_status(self, status: Any) -> None:
        """Publish a JSON custom status, readable by clients while the instance runs."""
        exe = self._exe
        payload = command_payload(exe, status, "custom status")
        exe.command(h.CustomStatusSet(exe.now(), exe.next_id(), payload))

    def continue_as_new(self, input: Any = None) -> None:
        """End this generation and restart with `input` and a fresh history (never returns)."""
        raise ContinueAsNewSignal(input)
