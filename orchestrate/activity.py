"""Running activities: the `activity_info()` an activity can read, and one attempt's execution."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from dataclasses import dataclass
from typing import Any

from . import history as h
from .errors import SerializationError, UnknownActivity
from .payload import from_json_value, to_json_value
from .registry import Registry
from .state import ActivityWork

__all__ = ["ActivityInfo", "activity_info", "execute_activity"]


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


def execute_activity(registry: Registry, work: ActivityWork, at: Any) -> h.Event:
    """Run one attempt and return its result event (never raises for the activity's errors)."""
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
    except Exception as exc:
        return h.ActivityFailed(at, work.task_id, type(exc).__name__, str(exc))
    finally:
        _CURRENT.reset(token)
    try:
        payload = to_json_value(value, "result")
    except SerializationError as exc:
        message = f"activity {work.name!r} returned an unserializable result: {exc}"
        return h.ActivityFailed(at, work.task_id, "SerializationError", message, retryable=False)
    return h.ActivityCompleted(at, work.task_id, payload)
