"""Tasks: the only things an orchestration may await.

A task is created (and its command scheduled) when the orchestration calls `ctx.activity`,
`ctx.timer`, ... and finishes when the replay executor feeds it a result from the history.
Awaiting a pending task yields it to the executor, which resumes the coroutine once it is done;
awaiting a finished task returns its value (or raises its error) at once.

The bottom of the executor's stack, with `Wait` (what an instance waits on, as plain data) and
`ContinueAsNewSignal`: the context raises the signal and the executor catches it, so both import
it from here and not from each other.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from .errors import TaskCancelled

__all__ = ["ContinueAsNewSignal", "Task", "Wait"]

T = TypeVar("T")

_PENDING, _DONE, _FAILED, _CANCELLED = range(4)


class ContinueAsNewSignal(BaseException):
    """Raised by `ctx.continue_as_new` to stop the function at once (not an `Exception`)."""

    def __init__(self, new_input: Any) -> None:
        super().__init__("continue_as_new")
        self.new_input = new_input


@dataclass(frozen=True, slots=True)
class Wait:
    """One thing an instance waits on, as plain data (`Execution.waits`).

    `kind` is ``"activity"``, ``"timer"``, ``"event"`` or ``"sub-orchestration"``; `name` the
    activity, event or orchestration name (empty for a timer); `task_id` the id of the latest
    command it waits on (an activity's current attempt; None for an event wait); a timer has its
    `fire_at` and `purpose` (``"timer"``, ``"retry"`` before an attempt, ``"timeout"``); a
    sub-orchestration its child's `instance_id`. An activity call's attempt and the timeout
    or retry backoff of one also carry the call's `input` (JSON data), its `attempt` (the
    attempt running, or, during a backoff, the one that runs next) and the `last_error` of its
    previous attempt (``"TimeoutError: ..."``, None before any failed); the timers of a call
    are named after its activity, and all its waits share its `call_id` (the task id of its
    first attempt).
    """

    kind: Literal["activity", "timer", "event", "sub-orchestration"]
    name: str
    task_id: int | None
    fire_at: datetime | None = None
    purpose: str = ""
    instance_id: str | None = None
    input: Any = None
    attempt: int = 0
    last_error: str | None = None
    call_id: int | None = None


class _Order:
    """Counts completions so races and `as_completed` can tell which task finished first."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


class Task(Generic[T]):
    """A unit of durable work inside an orchestration: await it for its value."""

    __slots__ = ("_callbacks", "_error", "_label", "_order", "_state", "_value", "completed_order")

    def __init__(self, order: _Order, label: str = "task") -> None:
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Task[Any]], None]] = []
        self._order = order
        self.completed_order = 0
        self._label = label

    def __repr__(self) -> str:
        state = ("pending", "done", "failed", "cancelled")[self._state]
        return f"<Task {self.label} {state}>"

    @property
    def label(self) -> str:
        """What the task is, for messages (subclasses describe themselves lazily)."""
        return self._label

    def __await__(self) -> Generator[Task[T], None, T]:
        if self._state == _PENDING:
            yield self
        return self.result()

    def done(self) -> bool:
        """True once the task succeeded, failed or was cancelled."""
        return self._state != _PENDING

    def failed(self) -> bool:
        return self._state == _FAILED

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> T:
        """The value of a finished task; raises its error, or `TaskCancelled`."""
        if self._state == _DONE:
            return self._value  # type: ignore[no-any-return]
        if self._state == _FAILED:
            assert self._error is not None
            raise self._error
        if self._state == _CANCELLED:
            raise TaskCancelled(f"{self.label} was cancelled")
        raise RuntimeError(
            f"{self.label} has not finished yet; await it instead of calling result()"
        )

    def exception(self) -> BaseException | None:
        """The error of a failed task (None for a successful one)."""
        if self._state == _CANCELLED:
            return TaskCancelled(f"{self.label} was cancelled")
        return self._error

    def cancel(self) -> bool:
        """Stop waiting for this task; its late result is ignored. False if it already finished."""
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self.completed_order = self._order.next()
        self._on_cancel()
        self._fire()
        return True

    def _on_cancel(self) -> None:
        """Hook for subclasses: withdraw whatever the task waits on."""

    def _resolve(self, value: Any) -> None:
        if self._state != _PENDING:
            return
        self._state = _DONE
        self._value = value
        self.completed_order = self._order.next()
        if self._callbacks:
            self._fire()

    def _fail(self, error: BaseException) -> None:
        if self._state != _PENDING:
            return
        self._state = _FAILED
        self._error = error
        self.completed_order = self._order.next()
        self._fire()

    def _add_done_callback(self, callback: Callable[[Task[Any]], None]) -> None:
        if self._state != _PENDING:
            callback(self)
        else:
            self._callbacks.append(callback)

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)
