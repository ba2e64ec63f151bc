"""History events: the append-only record an instance is rebuilt from, and its versioned JSON form.

This is the bottom of the package: plain data, imported by everything, importing nothing of ours
except `errors`. Payload fields (`input`, `result`, ...) hold JSON values, already checked.

Commands are the events the orchestration code itself produces (scheduling an activity, a timer,
...): replay matches them one by one against new code. Results are what the world answers
(completions, fired timers, raised events); replay feeds them back in the recorded order.
"""

from __future__ import annotations

import dataclasses
import json
import json.encoder
import json.scanner
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any, ClassVar

from .errors import StoreError

__all__ = [
    "COMMAND_TYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "ActivityCompleted",
    "ActivityFailed",
    "ActivityScheduled",
    "ContinuedAsNew",
    "CustomStatusSet",
    "ErrorInfo",
    "Event",
    "EventRaised",
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
    "compact_json",
    "describe",
    "event_from_dict",
    "event_from_json",
    "event_to_dict",
    "event_to_json",
    "events_to_json",
    "history_from_json",
    "history_to_json",
    "iso_time",
    "json_loads",
]

FORMAT = "orchestrate.history"
FORMAT_VERSION = 1


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


_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        OrchestrationStarted,
        ActivityCompleted,
        ActivityFailed,
        TimerFired,
        EventRaised,
        SubOrchestrationCompleted,
        SubOrchestrationFailed,
        OrchestrationTerminated,
        ActivityScheduled,
        TimerCreated,
        SubOrchestrationScheduled,
        SideEffectRecorded,
        PatchMarker,
        CustomStatusSet,
        ContinuedAsNew,
        OrchestrationCompleted,
        OrchestrationFailed,
    )
}
COMMAND_TYPES = frozenset(name for name, cls in _TYPES.items() if cls.is_command)
_FIELDS: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _TYPES.values()
}


def describe(event: Event) -> str:
    """A short human form used in error messages: ``ActivityScheduled('charge')``."""
    name = getattr(event, "name", None)
    if isinstance(event, TimerCreated):
        return f"TimerCreated(fire_at={iso_time(event.fire_at)}, {event.purpose})"
    if isinstance(event, PatchMarker):
        return f"PatchMarker({event.patch!r})"
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


_TIME_FIELDS = ("at", "fire_at")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # 3.11+ reads the ``Z`` suffix itself
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON form of one event: ``{"type": ..., "at": ..., <fields>}``."""
    out: dict[str, Any] = {"type": event.kind}
    for name in _FIELDS[type(event)]:
        value = getattr(event, name)
        if isinstance(value, datetime):
            value = iso_time(value)
        elif isinstance(value, ErrorInfo):
            value = value.to_dict()
        out[name] = value
    return out


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def compact_json(allow_nan: bool = False) -> Callable[[Any], str]:
    """A function equal to ``json.dumps(value, separators=(",", ":"), allow_nan=allow_nan)``.

    Made once and reused: `json.dumps` builds its C encoder afresh on every call, which for the
    small payloads of events and states costs more than the encoding itself. It skips the check
    for circular containers (payloads are fresh copies made by `to_json_value`, so they have
    none); should one arrive anyway, the recursion error sends it to `json.dumps`, which names it.
    """
    slow = json.JSONEncoder(separators=(",", ":"), allow_nan=allow_nan).encode
    c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pragma: no cover - only on Pythons without the C accelerator
        return slow
    encode = c_make_encoder(
        None, _not_json, encode_basestring_ascii, None, ":", ",", False, False, allow_nan
    )

    def dumps(value: Any) -> str:
        kind = value.__class__  # the common scalars without the encoder's call and join
        if kind is str:
            return encode_basestring_ascii(value)
        if kind is int:
            return str(value)
        if value is None:
            return "null"
        try:
            return "".join(encode(value, 0))
        except RecursionError:
            return slow(value)

    return dumps


_ENCODE = compact_json()
# The scanner under `json.loads` (C when available), called directly; typeshed misdescribes it.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def json_loads(text: str) -> Any:
    """`json.loads` for the compact JSON this package writes, without its per-call overhead.

    Text with surrounding whitespace, or anything the fast scan refuses, goes through
    `json.loads`, so errors and results are exactly `json.loads`'s.
    """
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError, TypeError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


# Each event class gets its own encoder and decoder, generated once from its fields: straight-line
# code with no per-field loop, dispatch or dict building (stores encode and decode every event).
# The encoder writes what ``json.dumps(event_to_dict(event), separators=(",", ":"))`` writes; the
# decoder reads what `event_from_dict` reads and leaves every error to it.


def _encoder_source(cls: type[Event], kind: str) -> str:
    lines = ["def encode(event):"]
    parts: list[str] = []
    literal = '{"type":' + encode_basestring_ascii(kind)
    for name in _FIELDS[cls]:
        literal += "," + encode_basestring_ascii(name) + ":"
        if name in _TIME_FIELDS:
            parts += [repr(literal + '"'), f"_iso(event.{name})"]
            literal = '"'
        elif name == "error":
            parts += [repr(literal), f"_dumps(event.{name}.to_dict())"]
            literal = ""
        else:  # the common JSON scalars inline; anything else through the C encoder
            v = f"v_{name}"
            lines.append(f"    {v} = event.{name}")
            parts += [
                repr(literal),
                f"(_str({v}) if {v}.__class__ is str else _int({v}) if {v}.__class__ is int "
                f"else 'null' if {v} is None else _dumps({v}))",
            ]
            literal = ""
    parts.append(repr(literal + "}"))
    lines.append(f"    return _join(({', '.join(parts)}))")
    return "\n".join(lines)


def _decoder_source(cls: type[Event]) -> str:
    args: list[str] = []
    for f in dataclasses.fields(cls):
        key = repr(f.name)
        if f.name in _TIME_FIELDS:
            value = f"_time(data[{key}])"
        elif f.name == "error":
            value = f"_error(data[{key}])"
        else:
            value = f"data[{key}]"
        if f.default is not dataclasses.MISSING:
            assert value == f"data[{key}]", "a converted field with a default"
            value = f"data.get({key}, _default_{f.name})"
        elif f.default_factory is not dataclasses.MISSING:
            value = f"({value} if {key} in data else _factory_{f.name}())"
        args.append(value)
    return f"def decode(data):\n    return _cls({', '.join(args)})"


def _compile(source: str, function: str, namespace: dict[str, Any], kind: str) -> Any:
    exec(compile(source, f"<orchestrate.history {function} {kind}>", "exec"), namespace)
    return namespace[function]


_ENCODERS: dict[type[Event], Callable[[Event], str]] = {}
_DECODERS: dict[str, Callable[[dict[str, Any]], Event]] = {}
for _name, _cls in _TYPES.items():
    _ENCODERS[_cls] = _compile(
        _encoder_source(_cls, _name),
        "encode",
        {
            "_iso": iso_time,
            "_dumps": _ENCODE,
            "_str": encode_basestring_ascii,
            "_int": str,
            "_join": "".join,
        },
        _name,
    )
    _namespace: dict[str, Any] = {"_cls": _cls, "_time": _parse_time, "_error": ErrorInfo.from_dict}
    for _f in dataclasses.fields(_cls):
        if _f.default is not dataclasses.MISSING:
            _namespace[f"_default_{_f.name}"] = _f.default
        elif _f.default_factory is not dataclasses.MISSING:
            _namespace[f"_factory_{_f.name}"] = _f.default_factory
    _DECODERS[_name] = _compile(_decoder_source(_cls), "decode", _namespace, _name)


def event_to_json(event: Event) -> str:
    """`event_to_dict` as compact JSON text, written directly: stores encode every event."""
    return _ENCODERS[type(event)](event)


def events_to_json(events: list[Event]) -> list[str]:
    """`event_to_json` of each event (one call for a turn's events)."""
    encoders = _ENCODERS
    return [encoders[type(event)](event) for event in events]


def event_from_dict(data: dict[str, Any], where: str = "event") -> Event:
    """Rebuild an event from its JSON form; a malformed record raises `StoreError` naming it."""
    try:
        return _DECODERS[data["type"]](data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return _checked_event_from_dict(data, where)  # says what is wrong (or raises the same)


def event_from_json(text: str, where: str = "event") -> Event:
    """`event_from_dict` of JSON text; text that is not JSON raises `StoreError` as well."""
    try:
        data = json_loads(text)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"{where} is not valid JSON ({exc})") from None
    return event_from_dict(data, where)


def _checked_event_from_dict(data: dict[str, Any], where: str) -> Event:
    try:
        cls = _TYPES[data["type"]]
    except (KeyError, TypeError):
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise StoreError(
            f"{where} has unknown type {kind!r}; known types: {', '.join(sorted(_TYPES))}. "
            "Was it written by a newer version of orchestrate?"
        ) from None
    kwargs: dict[str, Any] = {}
    try:
        for name in _FIELDS[cls]:
            if name not in data:
                continue
            value = data[name]
            if name in _TIME_FIELDS:
                value = _parse_time(value)
            elif name == "error":
                value = ErrorInfo.from_dict(value)
            kwargs[name] = value
        return cls(**kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise StoreError(f"{where} ({data.get('type')}) is malformed: {exc}") from None


def history_to_json(
    events: list[Event], instance_id: str = "", name: str = "", indent: int | None = 2
) -> str:
    """Serialize a history in the versioned form shared by `export-history` and replay tests."""
    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "instance_id": instance_id,
        "orchestration": name,
        "events": [event_to_dict(e) for e in events],
    }
    return json.dumps(doc, indent=indent)


def history_from_json(text: str | bytes, source: str = "history") -> list[Event]:
    """Parse a history written by `history_to_json`, refusing other formats or newer versions."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{source} is not valid JSON: {exc}") from None
    events: Any
    if isinstance(doc, list):  # a bare list of events is accepted too
        events = doc
    elif isinstance(doc, dict) and doc.get("format") == FORMAT:
        version = doc.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StoreError(
                f"{source} has history format version {version!r}; this orchestrate reads up to "
                f"version {FORMAT_VERSION}. Upgrade orchestrate to read it."
            )
        events = doc.get("events")
    else:
        raise StoreError(
            f"{source} is not an orchestrate history (expected a JSON object with "
            f'"format": "{FORMAT}", as written by `orchestrate export-history`)'
        )
    if not isinstance(events, list):
        raise StoreError(f"{source}: 'events' must be a list")
    return [event_from_dict(e, f"{source} event {i}") for i, e in enumerate(events)]
