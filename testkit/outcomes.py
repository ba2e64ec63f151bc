"""Scripted activity outcomes: `ok`, `fail`, `hang`, `delay`, or a callable of the input.

A test scripts what an activity answers instead of mocking the context: the orchestration still
schedules the activity, the history still records it, replay still checks it; only the work the
activity would do is replaced. `Script` hands the entries out in call order (the last one repeats
unless ``exhaust="error"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from orchestrate import history as h
from orchestrate.payload import to_json_value

from .errors import ScriptExhausted

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "Delay",
    "Entry",
    "Fail",
    "Hang",
    "Ok",
    "Outcome",
    "Script",
    "delay",
    "fail",
    "hang",
    "ok",
    "resolve",
    "to_event",
]


class Outcome:
    """Base of the scripted outcomes; build them with `ok`, `fail`, `hang` and `delay`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Ok(Outcome):
    """The activity returns `value` (already JSON data)."""

    value: Any = None


@dataclass(frozen=True, slots=True)
class Fail(Outcome):
    """The attempt fails with `error_type: message`; `retryable=False` skips the retry policy."""

    error_type: str
    message: str
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class Hang(Outcome):
    """The attempt never completes (a timeout timer, if any, decides what happens)."""


@dataclass(frozen=True, slots=True)
class Delay(Outcome):
    """The attempt completes with `then` once virtual time `after` has passed."""

    after: timedelta
    then: Outcome | Callable[[Any], Any] = field(default_factory=Ok)


Entry = Outcome | Callable[[Any], Any]
"""One script entry: an outcome, or a function of the activity's input (as JSON data) that
returns an outcome or a plain value (`ok`), or raises (`fail`)."""


def ok(value: Any = None) -> Ok:
    """Script a successful result; `value` must be JSON data (or a dataclass of it)."""
    return Ok(to_json_value(value, "ok() value"))


def fail(
    error: str | BaseException | type[BaseException],
    retryable: bool = True,
    *,
    error_type: str | None = None,
) -> Fail:
    """Script a failed attempt from a message, an exception, or an exception class.

    The orchestration sees `ActivityFailed` with ``error_type`` (the exception's class name, or
    ``"Exception"`` for a bare message, unless given) once the retry policy gives up.
    """
    if isinstance(error, str):
        kind, message = "Exception", error
    elif isinstance(error, BaseException):
        kind, message = type(error).__name__, str(error)
    elif isinstance(error, type) and issubclass(error, BaseException):
        kind, message = error.__name__, ""
    else:
        raise TypeError(
            f"fail() takes a message, an exception or an exception class, not {error!r}"
        )
    return Fail(error_type or kind, message, retryable)


def hang() -> Hang:
    """Script an attempt that never completes, to test timeouts and races."""
    return Hang()


def delay(after: timedelta | float, then: Outcome | Callable[[Any], Any] | Any = None) -> Delay:
    """Script an attempt that completes after virtual time `after` (timedelta or seconds).

    `then` is the outcome it completes with: an `ok`/`fail`, a callable of the input, or a plain
    value (meaning ``ok(value)``). Use it to script the order in which parallel calls finish.
    """
    step = after if isinstance(after, timedelta) else timedelta(seconds=after)
    if step < timedelta(0):
        raise ValueError(f"delay({step}) is negative; an activity cannot finish before it starts")
    if isinstance(then, (Hang, Delay)):
        raise ValueError(
            "delay(..., then=...) must end in ok(...) or fail(...); "
            "use hang() on its own for a call that never finishes"
        )
    if not isinstance(then, Outcome) and not callable(then):
        then = ok(then)
    return Delay(step, then)


def resolve(entry: Entry, value: Any) -> Outcome:
    """The outcome an entry gives for this input (calls a callable entry)."""
    if isinstance(entry, Outcome):
        return entry
    try:
        produced = entry(value)
    except Exception as exc:
        return fail(exc)
    return produced if isinstance(produced, Outcome) else ok(produced)


def to_event(outcome: Ok | Fail, task_id: int, at: datetime) -> h.Event:
    """The result event a finished outcome becomes in the history."""
    if isinstance(outcome, Ok):
        return h.ActivityCompleted(at, task_id, outcome.value)
    return h.ActivityFailed(at, task_id, outcome.error_type, outcome.message, outcome.retryable)


def _shown(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class Script:
    """The outcomes scripted for one activity (or stubbed child), handed out in call order."""

    def __init__(
        self,
        activity: str,
        entries: Entry | Sequence[Entry],
        exhaust: Literal["repeat", "error"] = "repeat",
        kind: str = "activity",
    ) -> None:
        if exhaust not in ("repeat", "error"):
            raise ValueError(f"exhaust={exhaust!r} is not valid; use 'repeat' or 'error'")
        what = f"the script for {kind} {activity!r}"
        if isinstance(entries, Outcome) or callable(entries):
            items: list[Entry] = [entries]
        elif isinstance(entries, Iterable) and not isinstance(entries, str | bytes | Mapping):
            items = list(entries)
        else:  # a plain value (5, None, "text", a dict): what the activity should return?
            raise TypeError(
                f"{what} is {_shown(entries)}, which is not an outcome, a callable or a list of "
                f"them; wrap plain values in ok(...), e.g. env.script({activity!r}, "
                f"ok({_shown(entries)}))"
            )
        if not items:
            raise ValueError(f"{what} is empty; give at least one outcome")
        for item in items:
            if not isinstance(item, Outcome) and not callable(item):
                raise TypeError(
                    f"{what} has {_shown(item)}, which is neither an outcome nor a callable; "
                    f"wrap plain values in ok(...), e.g. ok({_shown(item)})"
                )
        self.activity = activity
        self.entries: list[Entry] = items
        self.exhaust = exhaust
        self.used = 0

    def next(self) -> Entry:
        """The entry for the next call; `ScriptExhausted` past the end with ``exhaust="error"``."""
        index = self.used
        self.used += 1
        if index < len(self.entries):
            return self.entries[index]
        if self.exhaust == "error":
            raise ScriptExhausted(
                f"activity {self.activity!r} was called {self.used} times but its script has "
                f"{len(self.entries)} outcome(s) and exhaust='error'; add outcomes to "
                "env.script(...) or drop exhaust='error' to repeat the last one"
            )
        return self.entries[-1]
