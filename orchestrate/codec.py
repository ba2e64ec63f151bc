"""The JSON form of history events: one event (stores), and whole history files (export, replay).

An event is ``{"type": <class name>, "at": <ISO time>, <its fields in declaration order>}``;
times are ISO 8601 UTC with a ``Z`` suffix (`history.iso_time`), an `ErrorInfo` is its dict,
payload fields are JSON already. A history file wraps a list of them with a format name and
version (`history_to_json`), so a newer file is refused by name instead of misread.

Stores encode and decode every event, so each event class gets an encoder and a decoder made
once, from its dataclass fields, as plain closures: the encoder reads all fields with one
`operator.attrgetter` call and hands a dict to the C JSON encoder in one call; the decoder reads
them with one `operator.itemgetter` call. Anything the fast path does not handle (a record from
an older writer without a defaulted field, a malformed one) goes to the checked path, which
reads what it can or raises `StoreError` naming the record.
"""

from __future__ import annotations

import dataclasses
import json
import json.encoder
import json.scanner
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from operator import attrgetter, itemgetter
from typing import Any

from .errors import StoreError
from .history import EVENT_TYPES, ErrorInfo, Event, iso_time

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "compact_json",
    "event_from_dict",
    "event_from_json",
    "event_to_dict",
    "event_to_json",
    "events_to_json",
    "history_from_json",
    "history_to_json",
    "json_loads",
]

FORMAT = "orchestrate.history"
FORMAT_VERSION = 1

_TIME_FIELDS = ("at", "fire_at")
_FIELDS: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in EVENT_TYPES.values()
}


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # 3.11+ reads the ``Z`` suffix itself
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _c_encoder(allow_nan: bool) -> Callable[[Any, int], Any] | None:
    """The C encoder `json.dumps` uses, built once, compact, without the circularity check."""
    c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pragma: no cover - only on Pythons without the C accelerator
        return None
    return c_make_encoder(  # type: ignore[no-any-return]
        None, _not_json, encode_basestring_ascii, None, ":", ",", False, False, allow_nan
    )


def compact_json(allow_nan: bool = False) -> Callable[[Any], str]:
    """A function equal to ``json.dumps(value, separators=(",", ":"), allow_nan=allow_nan)``.

    Made once and reused: `json.dumps` builds its C encoder afresh on every call, which for the
    small payloads of events and states costs more than the encoding itself. It skips the check
    for circular containers (payloads are fresh copies made by `to_json_value`, so they have
    none); should one arrive anyway, the recursion error sends it to `json.dumps`, which names it.
    """
    slow = json.JSONEncoder(separators=(",", ":"), allow_nan=allow_nan).encode
    encode = _c_encoder(allow_nan)
    if encode is None:  # pragma: no cover - only on Pythons without the C accelerator
        return slow

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


_DUMPS = compact_json()
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


# --- one event -----------------------------------------------------------------------------------


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


def _tuple_getter(make: Callable[..., Any], names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """`make(*names)` (attrgetter or itemgetter), always returning a tuple (one name too)."""
    if len(names) == 1:
        single = make(names[0])
        return lambda obj: (single(obj),)
    return make(*names)  # type: ignore[no-any-return]


def _encoder(cls: type[Event]) -> Callable[[Event], str]:
    """`event_to_json` for events of `cls`: what ``json.dumps(event_to_dict(event),
    separators=(",", ":"))`` writes.

    The JSON text between values is fixed per class, so it is computed here once: `keys[i]`
    ends with field i's key and colon (and closes the string before it, after a time). A value
    is then written by the cheapest exact means: strings, ints and None directly, times with
    `iso_time`, an error as its dict, anything else by the C encoder.
    """
    rest = _FIELDS[cls][1:]  # every event starts with `at`, written in `head`
    values = _tuple_getter(attrgetter, rest)
    head = '{"type":' + encode_basestring_ascii(cls.__name__) + ',"at":"'
    keys: list[str] = []
    kinds: list[int] = []  # _VALUE, _TIME or _ERROR per field
    closing = '"'  # the previous value was a time: its string is still open
    for name in rest:
        keys.append(closing + "," + encode_basestring_ascii(name) + ":")
        kind = _TIME if name in _TIME_FIELDS else _ERROR if name == "error" else _VALUE
        kinds.append(kind)
        keys[-1] += '"' if kind == _TIME else ""
        closing = '"' if kind == _TIME else ""
    tail = closing + "}"
    fields = tuple(zip(keys, kinds, strict=True))
    dumps, text = _DUMPS, encode_basestring_ascii

    def encode_event(event: Event) -> str:
        parts = [head, iso_time(event.at)]
        append = parts.append
        for (key, kind), value in zip(fields, values(event), strict=True):
            append(key)
            if kind:  # a time or an error (rare: only two classes have one)
                append(iso_time(value) if kind == _TIME else dumps(value.to_dict()))
            elif value.__class__ is str:
                append(text(value))
            else:
                append(dumps(value))
        append(tail)
        return "".join(parts)

    return encode_event


_VALUE, _TIME, _ERROR = range(3)


def _decoder(cls: type[Event]) -> Callable[[dict[str, Any]], Event]:
    """The fast `event_from_dict` for records of `cls` that carry every field (as this module
    writes them); a missing or malformed field raises, and the caller takes the checked path."""
    rest = _FIELDS[cls][1:]
    values = _tuple_getter(itemgetter, rest)
    converted: list[tuple[int, Callable[[Any], Any]]] = [
        (index, _parse_time if name in _TIME_FIELDS else ErrorInfo.from_dict)
        for index, name in enumerate(rest)
        if name in _TIME_FIELDS or name == "error"
    ]
    if not converted:
        return lambda data: cls(_parse_time(data["at"]), *values(data))

    def decode(data: dict[str, Any]) -> Event:
        found = list(values(data))
        for index, convert in converted:
            found[index] = convert(found[index])
        return cls(_parse_time(data["at"]), *found)

    return decode


_ENCODERS: dict[type[Event], Callable[[Event], str]] = {
    cls: _encoder(cls) for cls in EVENT_TYPES.values()
}
_DECODERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    name: _decoder(cls) for name, cls in EVENT_TYPES.items()
}


def event_to_json(event: Event) -> str:
    """`event_to_dict` as compact JSON text: stores encode every event."""
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
    """The slow, forgiving reader: fields with defaults may be absent, unknown keys are ignored,
    and anything wrong raises `StoreError` naming the record and the problem."""
    try:
        cls = EVENT_TYPES[data["type"]]
    except (KeyError, TypeError):
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise StoreError(
            f"{where} has unknown type {kind!r}; known types: {', '.join(sorted(EVENT_TYPES))}. "
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


# --- history files -------------------------------------------------------------------------------


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
