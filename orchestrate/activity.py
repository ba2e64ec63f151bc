"""Running activities: the `activity_info()` an activity can read, and one attempt's execution."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from dataclasses import dataclass
from typing import Any

from . import history as h
from .codec import event_to_json
from .errors import PayloadTooLarge, SerializationError, UnknownActivity
from .payload import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_MESSAGE,
    check_payload_size,
    cut,
    from_json_value,
    safe_str,
    to_json_value,
)
from .registry import Registry
from .state import ActivityWork

__all__ = [
    "ActivityInfo",
    "activity_info",
    "completed",
    "execute_activity",
    "execute_activity_async",
]


@dataclass(frozen=True)
class ActivityInfo:
    """What an activity may know about the call it is serving.

    `idempotency_key` is the same for every execution and retry of one call, so an activity that
    charges a card can pass it to the payment API and be safe against being run twice.
    """

    instance_id: str
    name: str
    task_id: int
    attempt: int
    idempotency_key: str


# The work item being served; its `ActivityInfo` is built only if the activity asks for it.
_CURRENT: contextvars.ContextVar[ActivityWork] = contextvars.ContextVar("orchestrate_activity")
_PLAIN = frozenset({type(None), bool, int, float, str, list, dict})  # never awaitable
_LOOPS = threading.local()


def activity_info() -> ActivityInfo:
    """The `ActivityInfo` of the activity running in this thread (RuntimeError outside one)."""
    try:
        work = _CURRENT.get()
    except LookupError:
        raise RuntimeError(
            "activity_info() was called outside an activity; only code running as an activity "
            "(registered with @reg.activity and scheduled through ctx.activity) has one"
        ) from None
    return ActivityInfo(
        work.instance_id, work.name, work.task_id, work.attempt, work.idempotency_key
    )


def _loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _LOOPS.loop = loop
    return loop


def execute_activity(
    registry: Registry,
    work: ActivityWork,
    at: Any,
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
) -> h.Event:
    """Run one attempt and return its result event (never raises for the activity's errors).

    The event is always storable: a result that cannot be stored (not JSON, nested too deep, an
    int too long, over `max_payload_bytes`, not encodable) becomes a non-retryable
    `ActivityFailed` whose `error_type` names the cause, so it is recorded once instead of
    failing the store write (and with it the rest of the batch) and running again. An error's
    message is cut to fit (see `_error_message`).
    """
    try:
        defn = registry.get_activity(work.name)
    except UnknownActivity as exc:
        return h.ActivityFailed(at, work.task_id, "UnknownActivity", str(exc), retryable=False)
    token = _CURRENT.set(work)
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
        _CURRENT.reset(token)
    return completed(at, work, value, max_payload_bytes)


async def execute_activity_async(
    registry: Registry,
    work: ActivityWork,
    at: Any,
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
) -> h.Event:
    """`execute_activity` for an `async def` activity, awaited on the caller's event loop (so
    many run at once there); `activity_info()` works in it as in a thread."""
    try:
        defn = registry.get_activity(work.name)
    except UnknownActivity as exc:
        return h.ActivityFailed(at, work.task_id, "UnknownActivity", str(exc), retryable=False)
    token = _CURRENT.set(work)  # the task runs in its own copy of the context
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
