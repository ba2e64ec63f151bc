"""How the executor words what went wrong: the command code issued, where in the user's code,
the orchestration's own traceback, and two payloads abridged so their difference shows.

Kept apart from `replay` (the executor's logic) because it only formats; every location it
reports skips the frames of this package, so it points at the user's code.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Coroutine
from types import FrameType
from typing import Any

from . import history as h

__all__ = [
    "abridge",
    "caller_location",
    "contrast",
    "describe_new",
    "user_location",
    "user_traceback",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def describe_new(event: h.Event) -> str:
    """What the code did, as a verb phrase: ``scheduled activity 'refund'``."""
    name = getattr(event, "name", None)
    if isinstance(event, h.ActivityScheduled):
        return f"scheduled activity {name!r}"
    if isinstance(event, h.TimerCreated):
        return f"created a timer firing at {h.iso_time(event.fire_at)}"
    if isinstance(event, h.SubOrchestrationScheduled):
        return f"started sub-orchestration {name!r}"
    if isinstance(event, h.PatchMarker):
        return f"checked patch {event.patch!r}"
    if isinstance(event, h.EventSent):
        return f"raised event {name!r} to {event.instance_id!r}"
    return {
        "SideEffectRecorded": "recorded a side effect",
        "CustomStatusSet": "set a custom status",
        "ContinuedAsNew": "continued as new",
        "OrchestrationCompleted": "returned",
        "OrchestrationFailed": "raised an error",
    }.get(event.kind, h.describe(event))


def caller_location() -> str:
    """file:line of the innermost stack frame outside this package (the orchestration's code)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "unknown location"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def user_location(coro: Coroutine[Any, Any, Any]) -> str:
    """file:line where the innermost awaiting coroutine is suspended."""
    frame = None
    current: Any = coro
    while current is not None:
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None) or frame
        current = getattr(current, "cr_await", None) or getattr(current, "gi_yieldfrom", None)
    if frame is None:
        return "unknown location"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def user_traceback(exc: BaseException) -> str:
    """The traceback of an orchestration's error, without the executor's own frames."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_PACKAGE_DIR)
    ]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def contrast(new: Any, old: Any, limit: int = 80) -> tuple[str, str]:
    """Both values abridged so the difference shows: when they share a long prefix, both start
    a little before the first character where they differ."""
    a, b = repr(new), repr(old)
    if len(a) <= limit and len(b) <= limit:
        return a, b
    pairs = enumerate(zip(a, b, strict=False))
    first = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
    start = max(0, first - 20)
    if start == 0:
        return abridge(new, limit), abridge(old, limit)

    def window(text: str) -> str:
        text = "..." + text[start:]
        return text if len(text) <= limit else text[: limit - 3] + "..."

    return window(a), window(b)


def abridge(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
