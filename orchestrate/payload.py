"""JSON payloads: check a value is JSON-safe (naming the offending path), and rebuild dataclasses.

Payloads cross process boundaries and outlive deploys, so they are plain JSON, never pickle.
Dataclasses are accepted and sent as dicts; a function whose parameter is annotated with a
dataclass gets the dataclass back.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable
from typing import Any

from .errors import SerializationError

__all__ = ["first_param_annotation", "from_json_value", "return_annotation", "to_json_value"]


def to_json_value(value: Any, path: str = "value") -> Any:
    """Return `value` as plain JSON data (dataclasses become dicts, tuples lists).

    Raises `SerializationError` naming the first offending path, e.g. ``input['items'][3]``.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise SerializationError(
            f"{path} is {value!r}, which JSON cannot represent; use None or a string instead"
        )
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has the key {key!r} of type {type(key).__name__}; JSON object keys "
                    "must be strings: convert the keys with str() first"
                )
            out[key] = to_json_value(item, f"{path}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json_value(getattr(value, f.name), f"{path}.{f.name}")
            for f in dataclasses.fields(value)
        }
    raise SerializationError(
        f"{path} is a {type(value).__name__} ({_abridge(value)}), which is not JSON-serializable; "
        "payloads must be JSON (dict, list, str, int, float, bool, None) or dataclasses of those"
    )


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
