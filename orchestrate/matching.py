"""Whether a command the code issues in replay repeats the one recorded at that point.

Every replay requires the kind and the loose fields (a name, a patch id) to match; a strict
replay (the testkit's, `Execution(strict=True)`) also compares the payload fields: inputs, timer
due times, statuses, side effect values, outputs and target instance ids. The getters comparing
them are built once per event class, so a match costs two C calls and a tuple comparison.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any

from . import history as h

__all__ = ["LOOSE_FIELDS", "STRICT_FIELDS", "matches", "payload_of"]

LOOSE_FIELDS = ("name", "patch")  # must match in every replay
STRICT_FIELDS = ("input", "fire_at", "status", "value", "output", "instance_id")  # strict too
_Fields = Callable[[h.Event], object]
_COMPARED: dict[type[h.Event], tuple[_Fields, _Fields]] = {}


def matches(recorded: h.Event, new: h.Event, strict: bool) -> bool:
    """Whether `new` repeats the recorded command: same kind and loose fields (and, with
    `strict`, the same payload fields)."""
    kind = type(recorded)
    if kind is not type(new):
        return False
    loose, stricter = _COMPARED.get(kind) or _compared(kind)
    compared = stricter if strict else loose
    return compared(recorded) == compared(new)


def payload_of(event: h.Event) -> Any:
    """The payload a recorded command carries: an input, status, side effect value or output."""
    fields = ("input", "status", "value", "output")
    # none: a sentinel no payload equals (the function itself)
    return next((getattr(event, f) for f in fields if hasattr(event, f)), payload_of)


def _compared(kind: type[h.Event]) -> tuple[_Fields, _Fields]:
    """For event class `kind`, what a replayed command must repeat, as two getters of a tuple:
    the loose fields (every replay) and loose plus strict (strict replays). Cached per class."""
    names = {f.name for f in dataclasses.fields(kind)}
    loose = tuple(f for f in LOOSE_FIELDS if f in names)
    strict = loose + tuple(f for f in STRICT_FIELDS if f in names)
    found = _COMPARED[kind] = (_fields_getter(loose), _fields_getter(strict))
    return found


def _fields_getter(names: tuple[str, ...]) -> _Fields:
    """A function returning the tuple of `names` of an event (one C call for any count)."""
    if not names:
        return lambda event: ()
    if len(names) == 1:  # attrgetter of one name returns the bare value: compare that
        return operator.attrgetter(names[0])
    return operator.attrgetter(*names)
