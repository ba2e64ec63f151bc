"""The tasks an orchestration creates through its context, and the executor they run on.

Each task issues its command when created and registers, under the command's task id, to receive
the result event (`Host.expected`); the executor calls `deliver` with it. Each also answers, from
its own state, whether a result for a task id would still change anything (`awaits`) and what it
waits on as plain data (`wait`), so the executor can answer the testkit's questions without
anyone reading callbacks. `Host` is what tasks and the context need from the executor: the
replay executor (`orchestrate.replay.Execution`) implements it; this module never imports it.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from . import history as h
from .errors import ActivityFailed, RaiseEventFailed, SerializationError, SubOrchestrationFailed
from .payload import from_json_value, to_json_value
from .retry import RetryPolicy
from .task import Task, Wait, _Order

if TYPE_CHECKING:
    from .registry import ActivityDef, Registry

__all__ = [
    "ActivityTask",
    "Awaiting",
    "EventTask",
    "Host",
    "RaiseEventTask",
    "SubOrchestrationTask",
    "TimerTask",
]


class Awaiting(Protocol):
    """A task registered for the result of one or more task ids (`Host.expected`)."""

    def deliver(self, event: h.Event) -> None:
        """Apply the result event for one of its task ids (called once per task id)."""

    def awaits(self, task_id: int) -> bool:
        """Whether delivering the result for `task_id` would still change anything."""

    def wait(self, task_id: int) -> Wait | None:
        """What it waits on under `task_id`, as plain data; None if it no longer does."""


class Host(Protocol):
    """What tasks and `OrchestrationContext` use of the executor running them."""

    registry: Registry
    instance_id: str
    generation: int
    order: _Order
    is_replaying: bool
    expected: dict[int, Awaiting]  # task id -> the task its result goes to

    def now(self) -> datetime:
        """The recorded time of the current turn (UTC)."""

    def next_id(self) -> int:
        """A fresh task id for a new command (deterministic: commands are numbered in order)."""

    def command(self, new: h.Event) -> h.Event:
        """Match `new` against the next recorded command or record it; returns the kept one."""

    def peek_recorded(self) -> h.Event | None:
        """The next recorded command not yet matched (None past the end of the history)."""

    def check_payload(self, payload: Any, what: str) -> None:
        """Raise `PayloadTooLarge` if `payload` (plain JSON data for the next command) is over
        the worker's payload limit; a command already recorded passes (the limit may have
        changed since it was recorded, and its replay must not fail)."""

    def timer_cancelled(self, task_id: int) -> None:
        """A timer was cancelled: its TimerFired is no longer needed."""

    def child_cancelled(self, instance_id: str) -> None:
        """A sub-orchestration task was cancelled: the turn terminates the child."""

    def activity_withdrawn(self, task_id: int) -> None:
        """An activity attempt was cancelled or timed out: its work item is no longer needed."""

    def wait_event(self, task: EventTask) -> None:
        """Register an event wait (a buffered event completes it at once)."""

    def withdraw(self, task: EventTask) -> None:
        """Remove a cancelled event wait."""


def seconds(duration: timedelta | float) -> timedelta:
    """A duration given as a timedelta or as seconds, as a timedelta."""
    if isinstance(duration, timedelta):
        return duration
    return timedelta(seconds=duration)




def command_payload(exe: Host, value: Any, path: str, owner: str = "") -> Any:
    """`value` as the JSON data of the next command: `SerializationError` naming the call if it
    is not JSON, `PayloadTooLarge` if it is over the worker's limit (see `Host.check_payload`).
    `path` is what the value is ("input"), `owner` whose it is ("activity 'charge'")."""
    try:
        payload = to_json_value(value, path)
    except SerializationError as exc:
        raise SerializationError(f"{owner}: {exc}" if owner else str(exc)) from None
    exe.check_payload(payload, f"{path} of {owner}" if owner else path)
    return payload


class TimerTask(Task[None]):
    """A durable timer: finishes when the worker's clock passes `fire_at`."""

    __slots__ = ("_duration", "_exe", "_owner", "_task_id", "fire_at", "purpose")

    @property
    def label(self) -> str:
        return f"timer({self._duration})"

    def __init__(
        self,
        exe: Host,
        duration: timedelta,
        purpose: str = "timer",
        owner: ActivityTask | None = None,
    ) -> None:
        super().__init__(exe.order)
        self._duration = duration
        self._exe = exe
        self._owner = owner  # the activity call this is the timeout or backoff of, if any
        self.purpose = purpose
        task_id = self._task_id = exe.next_id()
        now = exe.now()
        kept = exe.command(h.TimerCreated(now, task_id, now + duration, purpose))
        assert isinstance(kept, h.TimerCreated)
        self.fire_at = kept.fire_at
        exe.expected[task_id] = self

    def deliver(self, event: h.Event) -> None:
        self._resolve(None)

    def awaits(self, task_id: int) -> bool:
        """Pending, and (for an activity's timeout or backoff) its call still needs it."""
        if self.done():
            return False
        return self._owner is None or self._owner.needs(self)

    def wait(self, task_id: int) -> Wait | None:
        if not self.awaits(task_id):
            return None
        owner = self._owner
        if owner is None:
            return Wait("timer", "", task_id, fire_at=self.fire_at, purpose=self.purpose)
        # a timeout or retry backoff: the call's details, and the attempt that runs next
        attempt = owner.attempt + 1 if self.purpose == "retry" else owner.attempt
        return Wait(
            "timer", owner.defn.name, task_id, fire_at=self.fire_at, purpose=self.purpose,
            input=owner.input, attempt=attempt, last_error=owner.last_error,
            call_id=owner.call_id,
        )

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
        "last_error",
        "retry",
        "timeout",
    )

    @property
    def label(self) -> str:
        return f"activity {self.defn.name!r}"

    def __init__(
        self,
        exe: Host,
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
        self.last_error: str | None = None  # "type: message" of the last failed attempt
        self._call_id: int | None = None
        self._current: int | None = None
        self._timers: list[TimerTask | None] = [None, None]  # [timeout, backoff]
        self._input = command_payload(exe, value, "input", f"activity {defn.name!r}")
        self._result_type = defn.result_type
        self._schedule()

    def _schedule(self) -> None:
        exe = self._exe
        task_id = exe.next_id()
        exe.command(
            h.ActivityScheduled(
                exe.now(), task_id, self.defn.name, self._input, self.attempt, self._call_id
            )
        )
        if self._call_id is None:
            self._call_id = task_id
        self._current = task_id
        exe.expected[task_id] = self
        if self.timeout is not None:
            timer = self._timers[0] = TimerTask(exe, self.timeout, "timeout", self)
            timer._add_done_callback(functools.partial(self._on_timeout, task_id))

    def awaits(self, task_id: int) -> bool:
        """Whether the result of attempt `task_id` would still count: it is the current attempt
        of a call that has not finished (not one that timed out, or lost a race)."""
        return self._current == task_id and not self.done()

    def needs(self, timer: TimerTask) -> bool:
        """Whether firing `timer` (this call's timeout or retry backoff) would still change
        anything: the timeout of the current attempt, or the backoff before the next one."""
        if self.done():
            return False
        timeout, backoff = self._timers
        return (timer is timeout and self._current is not None) or timer is backoff

    def wait(self, task_id: int) -> Wait | None:
        if not self.awaits(task_id):
            return None
        return Wait(
            "activity", self.defn.name, task_id,
            input=self._input, attempt=self.attempt, last_error=self.last_error,
            call_id=self._call_id,
        )

    @property
    def input(self) -> Any:
        """The call's input, as the JSON data recorded in the history."""
        return self._input

    @property
    def call_id(self) -> int | None:
        """The task id of the call's first attempt: the same for all its attempts and timers."""
        return self._call_id

    def deliver(self, event: h.Event) -> None:
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
        self._exe.activity_withdrawn(attempt_id)  # not run if queued; cancelled if running
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
        if self._current is not None:  # a lost race or task.cancel(): withdraw the attempt
            self._exe.activity_withdrawn(self._current)

    def _attempt_failed(self, error_type: str, message: str, retryable: bool) -> None:
        self._current = None
        self.last_error = f"{error_type}: {message}" if message else error_type
        self._stop_timers()
        policy = self.retry
        if policy is not None and retryable and policy.retries(error_type, self.attempt):
            backoff = self._timers[1] = TimerTask(
                self._exe, policy.delay(self.attempt), "retry", self
            )
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

    def __init__(self, exe: Host, name: str) -> None:
        super().__init__(exe.order, f"event {name!r}")
        self._exe = exe
        self.name = name
        exe.wait_event(self)

    def wait(self) -> Wait | None:
        """The open wait (None once the event arrived or the wait was cancelled)."""
        return None if self.done() else Wait("event", self.name, None)

    def _on_cancel(self) -> None:
        self._exe.withdraw(self)


PARENT_CLOSE_POLICIES = ("terminate", "abandon")


class SubOrchestrationTask(Task[Any]):
    """A child orchestration instance; finishes with its output or `SubOrchestrationFailed`.

    `on_parent_close` says what happens to a child still running when the parent's generation
    ends: "terminate" (the default) or "abandon". Cancelling the task terminates the child.
    """

    __slots__ = ("_exe", "child_id", "name", "on_parent_close")

    def __init__(
        self,
        exe: Host,
        name: str,
        value: Any,
        instance_id: str | None,
        on_parent_close: str = "terminate",
    ) -> None:
        super().__init__(exe.order, f"sub-orchestration {name!r}")
        if on_parent_close not in PARENT_CLOSE_POLICIES:
            raise ValueError(
                f"sub-orchestration {name!r}: on_parent_close={on_parent_close!r} is not a "
                "policy; pass on_parent_close='terminate' (end the child with its parent) or "
                "'abandon' (let it run on)"
            )
        self._exe = exe
        self.name = name
        task_id = exe.next_id()
        payload = command_payload(exe, value, "input", f"sub-orchestration {name!r}")
        child_id = instance_id or f"{exe.instance_id}:{exe.generation}:{task_id}"
        kept = exe.command(
            h.SubOrchestrationScheduled(
                exe.now(), task_id, name, payload, child_id, on_parent_close
            )
        )
        assert isinstance(kept, h.SubOrchestrationScheduled)
        self.child_id = kept.instance_id
        self.on_parent_close = kept.on_parent_close  # as recorded: replay keeps the old policy
        exe.expected[task_id] = self

    def awaits(self, task_id: int) -> bool:
        return not self.done()

    def wait(self, task_id: int) -> Wait | None:
        if self.done():
            return None
        return Wait("sub-orchestration", self.name, task_id, instance_id=self.child_id)

    def deliver(self, event: h.Event) -> None:
        if isinstance(event, h.SubOrchestrationCompleted):
            self._resolve(from_json_value(event.result, None))
        elif isinstance(event, h.SubOrchestrationFailed):
            self._fail(SubOrchestrationFailed(self.name, event.error_type, event.message))

    def _on_cancel(self) -> None:
        self._exe.child_cancelled(self.child_id)  # the turn sends the child a terminate


class RaiseEventTask(Task[None]):
    """``ctx.raise_event``: an event raised to another instance when the turn commits.

    Finishes (with None) once the store delivered it, or fails with `RaiseEventFailed` when no
    instance has the id (``InstanceNotFound``) or it finished (``InstanceNotRunning``).
    """

    __slots__ = ("instance_id", "name")

    def __init__(self, exe: Host, instance_id: str, name: str, value: Any) -> None:
        super().__init__(exe.order, f"raise_event {name!r} to {instance_id!r}")
        self.instance_id = instance_id
        self.name = name
        task_id = exe.next_id()
        payload = command_payload(exe, value, "data", f"event {name!r} raised to {instance_id!r}")
        exe.command(h.EventSent(exe.now(), task_id, instance_id, name, payload))
        exe.expected[task_id] = self

    def awaits(self, task_id: int) -> bool:
        return not self.done()

    def wait(self, task_id: int) -> Wait | None:
        return None  # the store answers with the turn's commit: nothing to wait for

    def deliver(self, event: h.Event) -> None:
        if isinstance(event, h.EventDelivered):
            self._resolve(None)
        elif isinstance(event, h.EventDeliveryFailed):
            self._fail(RaiseEventFailed(self.name, event.error_type, event.message))
