"""Executing one activity attempt: sync and async functions, errors, activity_info."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrate import Registry, activity_info
from orchestrate import history as h
from orchestrate.activity import execute_activity
from orchestrate.state import ActivityWork

from .conftest import START

reg = Registry()


@reg.activity
async def async_upper(text: str) -> dict[str, Any]:
    info = activity_info()
    return {"text": text.upper(), "key": info.idempotency_key, "attempt": info.attempt}


@reg.activity
def no_input() -> int:
    return 7


@reg.activity
def raises(_: Any) -> None:
    raise PermissionError("denied")


def work(name: str, value: Any = None, attempt: int = 1) -> ActivityWork:
    return ActivityWork("i-1", 0, 4, name, value, attempt, call_id=2)


def test_async_activity_sees_its_info() -> None:
    event = execute_activity(reg, work("async_upper", "hi", attempt=2), START)
    assert event == h.ActivityCompleted(START, 4, {"text": "HI", "key": "i-1:0:2", "attempt": 2})


def test_activity_without_input_parameter() -> None:
    assert execute_activity(reg, work("no_input"), START) == h.ActivityCompleted(START, 4, 7)


@pytest.mark.parametrize(
    ("name", "error_type", "retryable", "fragment"),
    [
        ("raises", "PermissionError", True, "denied"),
        ("missing", "UnknownActivity", False, "no activity named 'missing'"),
    ],
)
def test_failures_become_events(name: str, error_type: str, retryable: bool, fragment: str) -> None:
    event = execute_activity(reg, work(name), START)
    assert isinstance(event, h.ActivityFailed)
    assert (event.error_type, event.retryable) == (error_type, retryable)
    assert fragment in event.message


def test_activity_info_outside_an_activity_says_so() -> None:
    with pytest.raises(RuntimeError, match="outside an activity"):
        activity_info()
