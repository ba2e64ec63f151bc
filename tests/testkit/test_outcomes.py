"""Scripted outcomes: constructors, callables of the input, and scripts consumed in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrate import SerializationError
from orchestrate import history as h
from testkit import ScriptExhausted, delay, fail, hang, ok
from testkit.outcomes import Delay, Fail, Hang, Ok, Script, resolve, to_event

AT = datetime(2024, 1, 1, tzinfo=UTC)


class CardDeclined(Exception):
    pass


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ok(), Ok(None)),
        (ok({"tx": 1}), Ok({"tx": 1})),
        (fail("boom"), Fail("Exception", "boom", True)),
        (fail(CardDeclined("no funds"), retryable=False), Fail("CardDeclined", "no funds", False)),
        (fail(TimeoutError), Fail("TimeoutError", "", True)),
        (fail("x", error_type="Custom"), Fail("Custom", "x", True)),
        (hang(), Hang()),
        (delay(5), Delay(timedelta(seconds=5), Ok(None))),
        (delay(timedelta(hours=1), "late"), Delay(timedelta(hours=1), Ok("late"))),
        (delay(1, fail("slow")), Delay(timedelta(seconds=1), Fail("Exception", "slow", True))),
    ],
)
def test_constructors(outcome, expected):
    assert outcome == expected


@pytest.mark.parametrize(
    ("build", "error", "fragment"),
    [
        (lambda: ok(object()), SerializationError, "ok\\(\\) value"),
        (lambda: fail(42), TypeError, "message, an exception or an exception class"),
        (lambda: delay(-1), ValueError, "negative"),
        (lambda: delay(1, hang()), ValueError, "must end in ok"),
    ],
)
def test_misuse_is_refused_with_the_fix(build, error, fragment):
    with pytest.raises(error, match=fragment):
        build()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (ok(1), Ok(1)),
        (lambda x: x * 2, Ok(42)),
        (lambda x: fail(f"bad {x}"), Fail("Exception", "bad 21", True)),
        (lambda x: 1 / 0, Fail("ZeroDivisionError", "division by zero", True)),
    ],
)
def test_resolve_calls_callables_with_the_input(entry, expected):
    assert resolve(entry, 21) == expected


@pytest.mark.parametrize(
    ("outcome", "event"),
    [
        (Ok([1]), h.ActivityCompleted(AT, 3, [1])),
        (Fail("E", "m", False), h.ActivityFailed(AT, 3, "E", "m", False)),
    ],
)
def test_to_event(outcome, event):
    assert to_event(outcome, 3, AT) == event


def test_script_repeats_the_last_entry_by_default():
    script = Script("charge", [fail("a"), ok("b")])
    assert [script.next() for _ in range(4)] == [fail("a"), ok("b"), ok("b"), ok("b")]


def test_script_with_exhaust_error_names_the_activity_and_counts():
    script = Script("charge", ok(1), exhaust="error")
    assert script.next() == ok(1)
    with pytest.raises(ScriptExhausted, match="'charge' was called 2 times but its script has 1"):
        script.next()


@pytest.mark.parametrize(
    ("entries", "kwargs", "error", "fragment"),
    [
        ([], {}, ValueError, "is empty"),
        ([1], {}, TypeError, "wrap plain values in ok"),
        (ok(), {"exhaust": "cycle"}, ValueError, "use 'repeat' or 'error'"),
        # a plain value, not a list: the same advice, not "'int' object is not iterable"
        (5, {}, TypeError, r"the script for activity 'charge' is 5, which is not an outcome, a "
         r"callable or a list of them; wrap plain values in ok\(\.\.\.\), e\.g\. "
         r"env\.script\('charge', ok\(5\)\)"),
        (None, {}, TypeError, r"is None, which is not an outcome.*ok\(None\)"),
        ("paid", {}, TypeError, r"is 'paid', which is not an outcome.*ok\('paid'\)"),
        ({"id": 1}, {}, TypeError, r"ok\(\{'id': 1\}\)"),
        (None, {"kind": "orchestration"}, TypeError, "the script for orchestration 'charge'"),
    ],
)  # fmt: skip
def test_bad_scripts(entries, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        Script("charge", entries, **kwargs)
