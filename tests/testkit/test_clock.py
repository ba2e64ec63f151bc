"""FakeClock: aware UTC, forward only, and freezegun kept in step with it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from testkit import DEFAULT_START, FakeClock
from testkit.clock import parse_moment


def test_default_start_is_documented_utc_midnight():
    clock = FakeClock()
    assert clock.now() == DEFAULT_START == datetime(2024, 1, 1, tzinfo=UTC)
    assert clock.now().tzinfo is not None
    assert repr(clock) == "FakeClock('2024-01-01T00:00:00Z')"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-03-01T12:00:00Z", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01T14:00:00+02:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (
            datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=-1))),
            datetime(2024, 3, 1, 13, tzinfo=UTC),
        ),
    ],
)
def test_start_accepts_iso_text_and_aware_datetimes(given, expected):
    now = FakeClock(given).now()
    assert now == expected
    assert now.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("given", "error", "fragment"),
    [
        (datetime(2024, 1, 1), ValueError, "has no timezone"),
        ("2024-01-01T00:00:00", ValueError, "has no timezone"),
        ("yesterday", ValueError, "not an ISO 8601 time"),
        (12, TypeError, "must be a datetime or an ISO 8601 string"),
    ],
)
def test_bad_start_values_name_the_fix(given, error, fragment):
    with pytest.raises(error, match=fragment):
        parse_moment(given)


def test_shift_and_move_to_go_forward_only():
    clock = FakeClock()
    clock.shift(timedelta(hours=1))
    clock.shift(30)  # seconds
    assert clock.now() == DEFAULT_START + timedelta(hours=1, seconds=30)
    clock.move_to("2024-02-01T00:00:00Z")
    assert clock.now() == datetime(2024, 2, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="cannot move back"):
        clock.move_to(DEFAULT_START)
    with pytest.raises(ValueError, match="negative"):
        clock.shift(-1)


def test_microseconds_survive():
    clock = FakeClock()
    clock.shift(timedelta(microseconds=7))
    assert clock.now().microsecond == 7


def test_frozen_wall_clock_follows_the_fake_clock():
    clock = FakeClock("2030-05-05T00:00:00Z")
    with clock.frozen():
        assert datetime.now(UTC) == datetime(2030, 5, 5, tzinfo=UTC)
        clock.shift(timedelta(days=1))
        assert time.time() == datetime(2030, 5, 6, tzinfo=UTC).timestamp()
        with clock.frozen(offset=timedelta(hours=1)):  # nested: the inner offset wins
            assert datetime.now(UTC) == datetime(2030, 5, 6, 1, tzinfo=UTC)
        assert datetime.now(UTC) == datetime(2030, 5, 6, tzinfo=UTC)
    assert datetime.now(UTC).year < 2030


def test_wall_offset_moves_an_active_freeze_and_restores_it():
    clock = FakeClock("2030-05-05T00:00:00Z")
    with clock.wall_offset(timedelta(days=1)):  # not frozen: nothing to move
        assert datetime.now(UTC).year < 2030
    with clock.frozen():
        with clock.wall_offset(timedelta(days=1)):
            assert datetime.now(UTC) == datetime(2030, 5, 6, tzinfo=UTC)
            assert clock.now() == datetime(2030, 5, 5, tzinfo=UTC)  # virtual time unchanged
        assert datetime.now(UTC) == datetime(2030, 5, 5, tzinfo=UTC)


def test_one_wall_offset_can_be_entered_again_and_nested():
    clock = FakeClock("2030-05-05T00:00:00Z")
    day = clock.wall_offset(timedelta(days=1))
    with clock.frozen():
        for _ in range(2):
            with day:
                assert datetime.now(UTC) == clock.now() + timedelta(days=1)
                with day:  # nested: the offsets add up
                    assert datetime.now(UTC) == clock.now() + timedelta(days=2)
                clock.shift(timedelta(hours=1))  # the offset holds while the clock moves
                assert datetime.now(UTC) == clock.now() + timedelta(days=1)
            assert datetime.now(UTC) == clock.now()


def test_a_freeze_started_inside_a_wall_offset_is_offset_too():
    clock = FakeClock("2030-05-05T00:00:00Z")
    with clock.wall_offset(timedelta(days=1)), clock.frozen():
        assert datetime.now(UTC) == datetime(2030, 5, 6, tzinfo=UTC)
        clock.shift(timedelta(hours=1))
        assert datetime.now(UTC) == datetime(2030, 5, 6, 1, tzinfo=UTC)


def test_repeated_freezes_stay_correct_after_new_imports():
    clock = FakeClock("2030-05-05T00:00:00Z")
    with clock.frozen():
        pass
    import importlib
    import types

    module = types.ModuleType("late_module")
    module.datetime = datetime  # a `from datetime import datetime` made after the first freeze
    import sys

    sys.modules["late_module"] = module
    try:
        with clock.frozen():
            assert module.datetime.now(UTC) == datetime(2030, 5, 5, tzinfo=UTC)
        assert module.datetime is datetime
    finally:
        del sys.modules["late_module"]
    assert importlib.import_module("datetime").datetime is datetime


def test_the_default_start_and_an_equal_one_make_the_same_clock():
    default, parsed = FakeClock(), FakeClock("2024-01-01T00:00:00Z")
    assert default.now() == parsed.now() == DEFAULT_START
    assert default._naive == parsed._naive == DEFAULT_START.replace(tzinfo=None)
    default.shift(timedelta(seconds=1))
    assert FakeClock().now() == DEFAULT_START  # clocks share no state
