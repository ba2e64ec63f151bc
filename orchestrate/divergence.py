"""How the executor words what went wrong: a replay that diverged from its history (the command
code issued, where in the user's code, two payloads abridged so their difference shows), a
non-task awaited, asyncio used, and the orchestration's own traceback.

Kept apart from `replay` (the executor's logic) because it only formats; every location it
reports skips the frames of this package, so it points at the user's code.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

from . import history as h
from .matching import STRICT_FIELDS

__all__ = [
    "abridge",
    "caller_location",
    "contrast",
    "describe_new",
    "diverged",
    "not_a_task",
    "past_the_end",
    "unmatched",
    "used_asyncio",
    "user_location",
    "user_traceback",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_PATCH_HINT = (
    "Did the code change without ctx.patched()? Guard new behaviour with "
    "`if ctx.patched('change-id'):` so running instances keep the old path."
)


def diverged(index: int, recorded: h.Event, new: h.Event, fn: Callable[..., Any]) -> str:
    """Why `new` does not repeat `recorded`, the command at history index `index`: the field
    that differs (same kind and name) or what the code did instead, and where (`fn`: the
    orchestration function, pointed at when its coroutine has already returned)."""
    detail = ""
    if type(recorded) is type(new) and getattr(recorded, "name", None) == getattr(
        new, "name", None
    ):
        for field in STRICT_FIELDS:
            old_value, new_value = getattr(recorded, field, None), getattr(new, field, None)
            if old_value != new_value:
                now_text, then_text = contrast(new_value, old_value)
                detail = f" with {field} {now_text} instead of {then_text}"
                break
        what = f"the code issued the same command{detail}"
    else:
        what = f"the code {describe_new(new)}"
    if isinstance(new, h.OrchestrationCompleted | h.OrchestrationFailed):
        # the coroutine has returned: no frame of it is left to point at
        code = fn.__code__
        where = f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}, its function"
    else:
        where = caller_location()
    return (
        f"at step {index + 1} the history has {h.describe(recorded)}, but {what} ({where}). "
        f"{_PATCH_HINT}"
    )


def past_the_end(step: int, new: h.Event) -> str:
    """Replay issued `new` past the recorded commands of a turn: the recorded run waited here."""
    return (
        f"at step {step} the history has no further command (the recorded run waited here), "
        f"but the code {describe_new(new)} ({caller_location()}). {_PATCH_HINT}"
    )


def unmatched(index: int, recorded: h.Event) -> str:
    """The recorded command at history index `index` was never issued in replay."""
    return (
        f"at step {index + 1} the history has {h.describe(recorded)}, but the code did not "
        "issue it (it finished or waited on something else first). Did the code change "
        "without ctx.patched()?"
    )


def not_a_task(name: str, awaited: Any, coro: Coroutine[Any, Any, Any]) -> str:
    """Orchestration `name` awaited something other than a ctx task."""
    return (
        f"orchestration {name!r} awaited {abridge(awaited)} at {user_location(coro)}, which is "
        "not a task from its context. Orchestrations may only await ctx tasks (ctx.activity, "
        "ctx.timer, ctx.sleep, ctx.event, ctx.all, ...); move I/O and asyncio calls into an "
        "activity."
    )


def used_asyncio(name: str, exc: BaseException) -> str:
    """Orchestration `name` called asyncio, which failed for want of an event loop."""
    return (
        f"orchestration {name!r} used asyncio ({exc}); orchestrations run without an event "
        "loop and may only await ctx tasks (ctx.activity, ctx.timer, ctx.sleep, ctx.event, "
        "ctx.all, ...); move I/O and asyncio calls into an activity."
    )


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
