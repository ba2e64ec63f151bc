"""JSON payloads: check a value is JSON-safe (naming the offending path), and rebuild dataclasses.

Payloads cross process boundaries and outlive deploys, so they are plain JSON, never pickle.
Dataclasses are accepted and sent as dicts; a function whose parameter is annotated with a
dataclass gets the dataclass back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from collections.abc import Callable
from typing import Any

from .errors import PayloadTooLarge, SerializationError

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_DEPTH",
    "MAX_MESSAGE",
    "check_payload_size",
    "cut",
    "first_param_annotation",
    "from_json_value",
    "payload_size",
    "return_annotation",
    "safe_str",
    "to_json_value",
    "valid_limit",
]

# Payloads are stored in the history, read back at every replay and copied into every turn, so
# they stay small: keep large data elsewhere (a file, a blob store) and pass its key.
DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
# Deeper values overflow the stack somewhere between the caller, the encoder and a replay.
MAX_DEPTH = 200
# Error messages are for people: longer ones are cut to this many characters before they are stored.
MAX_MESSAGE = 16 * 1024
# ints wider than this print with more digits than Python converts by default (4,300).
_MAX_INT_BITS = 14_000


def to_json_value(value: Any, path: str = "value", _depth: int = 0) -> Any:
    """Return `value` as plain JSON data (dataclasses become dicts, tuples lists).

    Raises `SerializationError` naming the first offending path, e.g. ``input['items'][3]``,
    also for values nested deeper than `MAX_DEPTH` and ints too long to print as JSON.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if value.bit_length() > _MAX_INT_BITS:
            raise SerializationError(
                f"{path} is an int of over 4,000 digits, which JSON readers (and Python's own "
                "int parsing) refuse; send it as a string"
            )
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise SerializationError(
            f"{path} is {value!r}, which JSON cannot represent; use None or a string instead"
        )
    if _depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple)):
        raise SerializationError(
            f"{path} is nested more than {MAX_DEPTH} levels deep; payloads are limited to "
            f"{MAX_DEPTH} levels of lists and dicts: flatten the data"
        )
    depth = _depth + 1
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has the key {key!r} of type {type(key).__name__}; JSON object keys "
                    "must be strings: convert the keys with str() first"
                )
            out[key] = to_json_value(item, f"{path}[{key!r}]", depth)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{path}[{i}]", depth) for i, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json_value(getattr(value, f.name), f"{path}.{f.name}", depth)
            for f in dataclasses.fields(value)
        }
    raise SerializationError(
        f"{path} is a {type(value).__name__} ({_abridge(value)}), which is not JSON-serializable; "
        "payloads must be JSON (dict, list, str, int, float, bool, None) or dataclasses of those"
    )


def payload_size(value: Any) -> int:
    """The size in bytes of `value` (plain JSON data) as the stores keep it: compact JSON with
    non-ASCII characters escaped."""
    return len(json.dumps(value, separators=(",", ":")))


def check_payload_size(value: Any, what: str, limit: int | None) -> None:
    """Raise `PayloadTooLarge` if `value` (plain JSON data) encodes to more than `limit` bytes.

    `what` names the payload for the message (``input of 'order_saga'``); `limit` None means no
    limit.
    """
    if limit is None or value is None or isinstance(value, (bool, int, float)):
        return
    size = payload_size(value)
    if size > limit:
        raise PayloadTooLarge(
            f"the {what} is {size:,} bytes of JSON, over the payload limit of {limit:,} bytes; "
            "keep large data elsewhere (a file, a blob store) and pass its key, or raise the "
            "limit with max_payload_bytes=..."
        )


def safe_str(exc: BaseException) -> str:
    """`str(exc)`, or a note saying it could not be made (a broken `__str__`)."""
    try:
        return str(exc)
    except Exception as inner:
        return f"<str() of this {type(exc).__name__} raised {type(inner).__name__}>"


def cut(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text`, cut to `limit` characters with a note saying so when longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... (cut: the message was {len(text):,} characters)"


def valid_limit(max_payload_bytes: int | None) -> int | None:
    """`max_payload_bytes` itself if it is a positive int or None (no limit), else `ValueError`."""
    if max_payload_bytes is not None and (
        not isinstance(max_payload_bytes, int)
        or isinstance(max_payload_bytes, bool)
        or max_payload_bytes < 1
    ):
        raise ValueError(
            f"max_payload_bytes={max_payload_bytes!r}: give a positive number of bytes, "
            "or None for no limit"
        )
    return max_payload_bytes


def from_json_value(value: Any, annotation: Any) -> Any:
    """A fresh copy of recorded JSON `value` for user code, as a dataclass if `annotation` says so.

    Always fresh: the value handed to an orchestration is the one its history holds, and code that
    mutates its input (or an activity's result, or an event) must not rewrite the history a later
    replay reads.
    """
    if type(value) in _SCALARS:
        return value  # immutable, and no annotation turns a scalar into anything else
    return _rebuild(_fresh(value), annotation)


_SCALARS = frozenset({type(None), bool, int, float, str})


def _fresh(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fresh(item) for item in value]
    return value


def _rebuild(value: Any, annotation: Any) -> Any:
    if value is None or annotation is None:
        return value
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, dict):
            return value
        hints = _hints(annotation)
        kwargs = {
            f.name: _rebuild(value[f.name], hints.get(f.name))
            for f in dataclasses.fields(annotation)
            if f.name in value
        }
        return annotation(**kwargs)
    origin = typing.get_origin(annotation)
    if origin in (list, tuple) and isinstance(value, list):
        args = typing.get_args(annotation)
        if origin is list and args:
            return [_rebuild(v, args[0]) for v in value]
        if origin is tuple and args and (len(args) == 2 and args[1] is Ellipsis):
            return tuple(_rebuild(v, args[0]) for v in value)
        return tuple(value) if origin is tuple else value
    return value


def first_param_annotation(fn: Callable[..., Any], index: int) -> Any:
    """The resolved annotation of `fn`'s parameter at `index`, or None when there is none."""
    annotations = _param_annotations(fn)
    return annotations[index] if index < len(annotations) else None


@functools.cache
def _param_annotations(fn: Callable[..., Any]) -> tuple[Any, ...]:
    import inspect

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to no conversion
        hints = {}
    params = list(inspect.signature(fn).parameters.values())
    return tuple(hints.get(p.name) for p in params)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {}


def _abridge(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def return_annotation(fn: Callable[..., Any]) -> Any:
    """The resolved return annotation of `fn` (None when absent or unresolvable)."""
    return _return_hint(fn)


@functools.cache
def _return_hint(fn: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(fn).get("return")
    except Exception:
        return None
