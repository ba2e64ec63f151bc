"""Stored times: exact microseconds both ways, whatever the memo in `stores.times` holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from orchestrate.stores import times
from orchestrate.stores.times import from_micros, to_micros


def test_times_round_trip_exactly_and_equal_instants_encode_alike() -> None:
    moment = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    value = to_micros(moment)
    assert to_micros(moment) == value  # memoized by identity: same answer
    assert to_micros(moment.astimezone(UTC)) == value  # another object, same instant
    assert from_micros(value) == moment
    assert from_micros(value) is from_micros(value)  # decoded once, shared (immutable)
    assert from_micros(value + 1) == moment + timedelta(microseconds=1)
    assert from_micros(value).tzinfo is UTC


def test_naive_times_are_local_time_and_never_memoized() -> None:
    naive = datetime(2031, 5, 6, 7, 8, 9, 1)
    assert to_micros(naive) == to_micros(naive.astimezone())
    assert times._ENCODED[0] is not naive


def test_the_decoding_memo_stays_bounded() -> None:
    for value in range(times._DECODED_MAX + 10):
        assert from_micros(value) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=value
        )
    assert len(times._DECODED) <= times._DECODED_MAX
