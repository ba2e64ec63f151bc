"""Running activities: the `activity_info()` an activity can read, and one attempt's execution."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import history as h
from .codec import event_to_json
from .errors import ActivityCancelled, PayloadTooLarge, SerializationError, UnknownActivity
from .payload import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_MESSAGE,
    check_payload_size,
    cut,
    from_json_value,
    safe_str,
    to_json_value,
)
from .registry import ActivityDef, Registry
from .state import ActivityWork

__all__ = [
    "ActivityInfo",
    "Attempt",
    "activity_info",
    "completed",
    "execute_activity",
    "execute_activity_async",
    "serving",
]


class Attempt:
    """One attempt of an activity as its worker sees it: heartbeats in, cancellation out.

    The worker's lease keeper (`leases.Holdings`) reads `beat_at` and `details` when it renews
    the item's lease, and sets `cancelled` (with a `reason`) when the attempt is no longer
    wanted; the activity learns it through `ActivityInfo.cancelled` or `heartbeat()`.
    """

    __slots__ = ("beat_at", "cancelled", "details", "now", "reason", "running", "timeout", "work")

    def __init__(self, work: ActivityWork, now: Callable[[], datetime]) -> None:
        self.work = work
        self.now = now
        self.details: Any = work.heartbeat_details
        self.beat_at: datetime | None = None  # the start, then the last heartbeat
        self.timeout: timedelta | None = None  # the activity's heartbeat_timeout
        self.running = False
        self.cancelled = False
        self.reason = ""

    def begin(self, heartbeat_timeout: timedelta | None) -> None:
        self.timeout = heartbeat_timeout
        self.beat_at = self.now()
        self.running = True

    def cancel(self, reason: str) -> None:
        if not self.cancelled:
            self.reason = reason
            self.cancelled = True

    def missed_heartbeat(self, now: datetime) -> bool:
        """Running with a heartbeat timeout, and no heartbeat for longer than it."""
        return (
            self.running
            and self.timeout is not None
            and self.beat_at is not None
            and now - self.beat_at > self.timeout
        )

    def heartbeat(self, details: Any = None) -> None:
        if self.cancelled:
            raise ActivityCancelled(
                f"activity {self.work.name!r} (call {self.work.idempotency_key}) was cancelled: "
                f"{self.reason}. Stop its work and return (or let this error propagate); "
                "nothing it returns now is recorded"
            )
        if details is not None:
            self.details = to_json_value(details, "heartbeat details")
        self.beat_at = self.now()


@dataclass(frozen=True)
class ActivityInfo:
    """What an activity may know about the call it is serving.

    `idempotency_key` is the same for every execution and retry of one call, so an activity that
    charges a card can pass it to the payment API and be safe against being run twice.
    `heartbeat_details` are the details of the last `heartbeat()` a previous attempt of this
    item recorded (None if none), so a long activity can resume where a dead worker stopped.
    """

    instance_id: str
    name: str
    task_id: int
    attempt: int
    idempotency_key: str
    heartbeat_details: Any = None
    _attempt: Attempt | None = field(default=None, repr=False, compare=False)

    @property
    def cancelled(self) -> bool:
        """True once the attempt is no longer wanted (see `heartbeat`); stop and return."""
        return self._attempt is not None and self._attempt.cancelled

    def heartbeat(self, details: Any = None) -> None:
        """Report progress: keeps the attempt alive past its `heartbeat_timeout`, and records
        `details` (JSON; None keeps the last ones) for a later attempt of this item to resume
        from. Raises `ActivityCancelled` once the orchestration cancelled the call (a lost
        race, `task.cancel()`, a timeout), the attempt missed its heartbeat timeout, or the
        worker lost the item's lease."""
        if self._attempt is not None:
            self._attempt.heartbeat(details)


# The attempt being served; its `ActivityInfo` is built only if the activity asks for it.
_CURRENT: contextvars.ContextVar[Attempt] = contextvars.ContextVar("orchestrate_activity")
_PLAIN = frozenset({type(None), bool, int, float, str, list, dict})  # never awaitable
_LOOPS = threading.local()


def activity_info() -> ActivityInfo:
    """The `ActivityInfo` of the activity running in this thread (RuntimeError outside one)."""
    try:
        attempt = _CURRENT.get()
    except LookupError:
        raise RuntimeError(
            "activity_info() was called outside an activity; only code running as an activity "
            "(registered with @reg.activity and scheduled through ctx.activity) has one"
        ) from None
    work = attempt.work
    return ActivityInfo(
        work.instance_id,
        work.name,
        work.task_id,
        work.attempt,
        work.idempotency_key,
        work.heartbeat_details,
        attempt,
    )


@contextmanager
def serving(attempt: Attempt) -> Iterator[Attempt]:
    """Inside the block, `activity_info()` on this thread (and in tasks started from it)
    answers for `attempt`: how an activity is unit-tested without a worker
    (`testkit.ActivityEnv`). The worker's own runners set it the same way."""
    token = _CURRENT.set(attempt)
    try:
        yield attempt
    finally:
        _CURRENT.reset(token)


def _loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _LOOPS.loop = loop
    return loop


def _begin(
    registry: Registry, work: ActivityWork, at: Any, attempt: Attempt | None
) -> tuple[ActivityDef, Attempt] | h.Event:
    """The activity's definition and its started attempt, or the failure of an unknown one."""
    try:
        defn = registry.get_activity(work.name)
    except UnknownActivity as exc:
        return h.ActivityFailed(at, work.task_id, "UnknownActivity", str(exc), retryable=False)
    if attempt is None:
        attempt = Attempt(work, lambda: at)
    attempt.begin(defn.heartbeat_timeout)
    return defn, attempt


def execute_activity(
    registry: Registry,
    work: ActivityWork,
    at: Any,
    attempt: Attempt | None = None,
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
) -> h.Event:
    """Run one attempt and return its result event (never raises for the activity's errors).

    `attempt` links the run to its worker's lease keeper (heartbeats, cancellation); without
    one the attempt stands alone (heartbeats are recorded nowhere, it is never cancelled).

    The event is always storable: a result that cannot be stored (not JSON, nested too deep, an
    int too long, over `max_payload_bytes`, not encodable) becomes a non-retryable
    `ActivityFailed` whose `error_type` names the cause, so it is recorded once instead of
    failing the store write (and with it the rest of the batch) and running again. An error's
    message is cut to fit (see `_error_message`).
    """
    begun = _begin(registry, work, at, attempt)
    if isinstance(begun, h.Event):
        return begun
    defn, attempt = begun
    token = _CURRENT.set(attempt)
    try:
        if defn.takes_input:
            value = defn.fn(from_json_value(work.input, defn.input_type))
        else:
            value = defn.fn()
        if type(value) not in _PLAIN and asyncio.iscoroutine(value):
            value = _loop().run_until_complete(value)
    except (Exception, SystemExit) as exc:  # sys.exit() in an activity ends only it
        return _failed(at, work, exc, max_payload_bytes)
    finally:
        attempt.running = False
        _CURRENT.reset(token)
    return completed(at, work, value, max_payload_bytes)


async def execute_activity_async(
    registry: Registry,
    work: ActivityWork,
    at: Any,
    attempt: Attempt | None = None,
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
) -> h.Event:
    """`execute_activity` for an `async def` activity, awaited on the caller's event loop (so
    many run at once there); `activity_info()` works in it as in a thread."""
    begun = _begin(registry, work, at, attempt)
    if isinstance(begun, h.Event):
        return begun
    defn, attempt = begun
    token = _CURRENT.set(attempt)  # the task runs in its own copy of the context
    try:
        if defn.takes_input:
            value = defn.fn(from_json_value(work.input, defn.input_type))
        else:
            value = defn.fn()
        if asyncio.iscoroutine(value):
            value = await value
    except (Exception, SystemExit) as exc:  # sys.exit() in an activity ends only it
        return _failed(at, work, exc, max_payload_bytes)
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the worker's loop is stopping: the item's lease runs out, it runs again
        return _failed(at, work, exc, max_payload_bytes)  # the activity's own, e.g. a timeout
    finally:
        attempt.running = False
        _CURRENT.reset(token)
    return completed(at, work, value, max_payload_bytes)


def completed(at: Any, work: ActivityWork, value: Any, limit: int | None) -> h.Event:
    """The `ActivityCompleted` of `value`, or the `ActivityFailed` naming why it cannot be stored."""
    what = f"result of activity {work.name!r}"
    try:
        payload = to_json_value(value, "result")
        event: h.Event = h.ActivityCompleted(at, work.task_id, payload)
        # What the stores do with it: refuse here what they would refuse. The event is longer
        # than its payload, so only a long one needs the payload measured on its own.
        encoded = event_to_json(event)
        if limit is not None and len(encoded) > limit:
            check_payload_size(payload, what, limit)
    except SerializationError as exc:
        message = f"activity {work.name!r} returned an unserializable result: {exc}"
        return _unstorable(at, work, "SerializationError", message)
    except PayloadTooLarge as exc:
        return _unstorable(at, work, "PayloadTooLarge", str(exc))
    except Exception as exc:  # e.g. strings the encoder refuses; never let it reach the store
        message = (
            f"the {what} cannot be stored ({type(exc).__name__}: {safe_str(exc)}); return "
            "plain JSON data (dict, list, str, int, float, bool, None) or dataclasses of those"
        )
        return _unstorable(at, work, "UnstorableResult", message)
    return event


def _unstorable(at: Any, work: ActivityWork, kind: str, message: str) -> h.Event:
    # Not retryable: running the activity again would only produce the same result again.
    return h.ActivityFailed(at, work.task_id, kind, cut(message), retryable=False)


def _failed(at: Any, work: ActivityWork, exc: BaseException, limit: int | None) -> h.Event:
    """The `ActivityFailed` for an activity that raised `exc`, storable whatever `exc` holds."""
    kind = type(exc).__name__
    cap = MAX_MESSAGE if limit is None else max(64, min(MAX_MESSAGE, limit // 2))
    event = h.ActivityFailed(at, work.task_id, kind, cut(safe_str(exc), cap))
    try:
        event_to_json(event)
    except Exception:  # an unencodable message (lone surrogates): keep it readable, ASCII-safe
        text = event.message.encode("utf-8", "backslashreplace").decode("ascii", "replace")
        event = h.ActivityFailed(at, work.task_id, kind, cut(text, cap))
    return event
