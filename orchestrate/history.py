"""History events: the append-only record an instance is rebuilt from.

This is the bottom of the package: plain data, imported by everything, importing nothing of ours.
Payload fields (`input`, `result`, ...) hold JSON values, already checked. Their JSON form (for
stores and history files) is `orchestrate.codec`.

Commands are the events the orchestration code itself produces (scheduling an activity, a timer,
...): replay matches them one by one against new code. Results are what the world answers
(completions, fired timers, raised events); replay feeds them back in the recorded order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = [
    "COMMAND_TYPES",
    "EVENT_TYPES",
    "ActivityCompleted",
    "ActivityFailed",
    "ActivityScheduled",
    "ContinuedAsNew",
    "CustomStatusSet",
    "ErrorInfo",
    "Event",
    "EventDelivered",
    "EventDeliveryFailed",
    "EventRaised",
    "EventSent",
    "OrchestrationCompleted",
    "OrchestrationFailed",
    "OrchestrationStarted",
    "OrchestrationTerminated",
    "PatchMarker",
    "SideEffectRecorded",
    "SubOrchestrationCompleted",
    "SubOrchestrationFailed",
    "SubOrchestrationScheduled",
    "TimerCreated",
    "TimerFired",
    "describe",
    "iso_time",
]


@dataclass(slots=True)
class ErrorInfo:
    """An error as stored: its type name, message and (for orchestration failures) traceback."""

    type: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        head = f"{self.type}: {self.message}"
        return f"{head}\n{self.traceback}" if self.traceback else head

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        return cls(str(data["type"]), str(data["message"]), str(data.get("traceback", "")))


@dataclass(slots=True)
class Event:
    """Base of all history events; `at` is the time of the turn that recorded it (UTC)."""

    at: datetime
    is_command: ClassVar[bool] = False

    @property
    def kind(self) -> str:
        return type(self).__name__


# --- results: what the world tells the orchestration ---------------------------------------


@dataclass(slots=True)
class OrchestrationStarted(Event):
    name: str
    input: Any
    instance_id: str
    generation: int = 0
    parent_instance: str | None = None
    parent_task: int | None = None
    # Events the previous generation received but did not consume, in arrival order:
    # [{"name": ..., "input": ...}]; delivered before anything raised later.
    carried_events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ActivityCompleted(Event):
    task_id: int
    result: Any


@dataclass(slots=True)
class ActivityFailed(Event):
    task_id: int
    error_type: str
    message: str
    retryable: bool = True


@dataclass(slots=True)
class TimerFired(Event):
    task_id: int


@dataclass(slots=True)
class EventRaised(Event):
    name: str
    input: Any


@dataclass(slots=True)
class EventDelivered(Event):
    """The event of `EventSent` `task_id` reached its running instance's inbox."""

    task_id: int


@dataclass(slots=True)
class EventDeliveryFailed(Event):
    """The event of `EventSent` `task_id` was not delivered: `error_type` is
    ``InstanceNotFound`` (no such instance) or ``InstanceNotRunning`` (it finished)."""

    task_id: int
    error_type: str
    message: str


@dataclass(slots=True)
class SubOrchestrationCompleted(Event):
    task_id: int
    result: Any


@dataclass(slots=True)
class SubOrchestrationFailed(Event):
    task_id: int
    error_type: str
    message: str


@dataclass(slots=True)
class OrchestrationTerminated(Event):
    reason: str
    # Set when a parent ends its child (`on_parent_close="terminate"`, or the child's task was
    # cancelled): the parent's id. The child ignores it unless that is its parent, so the notice
    # never reaches an unrelated instance that holds the id the parent asked for.
    parent: str | None = None


# --- commands: what the orchestration code did ------------------------------------------------


@dataclass(slots=True)
class ActivityScheduled(Event):
    task_id: int
    name: str
    input: Any
    attempt: int = 1
    call_id: int | None = None  # the first attempt's task id; None on the first attempt itself
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class TimerCreated(Event):
    task_id: int
    fire_at: datetime
    purpose: str = "timer"  # "timer", "retry" (backoff before an attempt) or "timeout"
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class SubOrchestrationScheduled(Event):
    task_id: int
    name: str
    input: Any
    instance_id: str
    # What happens to the child when the parent's generation ends while the child runs
    # ("terminate" or "abandon"); see `OrchestrationContext.sub_orchestration`.
    on_parent_close: str = "terminate"
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class EventSent(Event):
    """`ctx.raise_event(instance_id, name, input)`: delivered when the turn commits."""

    task_id: int
    instance_id: str
    name: str
    input: Any
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class SideEffectRecorded(Event):
    task_id: int
    value: Any
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class PatchMarker(Event):
    task_id: int
    patch: str
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class CustomStatusSet(Event):
    task_id: int
    status: Any
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class ContinuedAsNew(Event):
    input: Any
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class OrchestrationCompleted(Event):
    output: Any
    is_command: ClassVar[bool] = True


@dataclass(slots=True)
class OrchestrationFailed(Event):
    error: ErrorInfo
    is_command: ClassVar[bool] = True


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        OrchestrationStarted,
        ActivityCompleted,
        ActivityFailed,
        TimerFired,
        EventRaised,
        EventDelivered,
        EventDeliveryFailed,
        SubOrchestrationCompleted,
        SubOrchestrationFailed,
        OrchestrationTerminated,
        ActivityScheduled,
        TimerCreated,
        SubOrchestrationScheduled,
        EventSent,
        SideEffectRecorded,
        PatchMarker,
        CustomStatusSet,
        ContinuedAsNew,
        OrchestrationCompleted,
        OrchestrationFailed,
    )
}
"""Every event class by its name (the ``"type"`` of its JSON form, see `orchestrate.codec`)."""
COMMAND_TYPES = frozenset(name for name, cls in EVENT_TYPES.items() if cls.is_command)


def describe(event: Event) -> str:
    """A short human form used in error messages: ``ActivityScheduled('charge')``."""
    name = getattr(event, "name", None)
    if isinstance(event, TimerCreated):
        return f"TimerCreated(fire_at={iso_time(event.fire_at)}, {event.purpose})"
    if isinstance(event, PatchMarker):
        return f"PatchMarker({event.patch!r})"
    if isinstance(event, EventSent):
        return f"EventSent({event.name!r} to {event.instance_id!r})"
    if name is not None:
        return f"{event.kind}({name!r})"
    return f"{event.kind}()"


def iso_time(moment: datetime) -> str:
    """A time as stored and shown: ISO 8601 in UTC with a ``Z`` suffix."""
    global _LAST_TIME
    last = _LAST_TIME  # one read of an immutable pair: safe across threads
    if last[0] is moment:  # the events of one turn share one time object
        return last[1]
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    text = utc.isoformat().replace("+00:00", "Z")
    _LAST_TIME = (moment, text)
    return text


_LAST_TIME: tuple[datetime | None, str] = (None, "")
