"""Times as stores keep them: exact integer microseconds since the Unix epoch, UTC.

Integers are exact and ordered by plain comparison (a due time is a range read on an index), and
every store (SQLite, PostgreSQL) keeps them so: one representation, one conversion.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["from_micros", "to_micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

# Both conversions are timedelta arithmetic on Python ints, thousands of instructions each, and
# the store converts the same moments again and again: every turn of a worker's batch is stamped
# with one `now`, and an instance's stored times are read back at each of its turns. So both are
# memoized; datetimes are immutable, so handing out one object many times is safe.
_ENCODED: tuple[datetime, int] = (_EPOCH, 0)  # the last aware datetime encoded, by identity
_DECODED: dict[int, datetime] = {}  # recent values decoded, emptied when it reaches _DECODED_MAX
_DECODED_MAX = 4096


def to_micros(moment: datetime) -> int:
    """Exact integer microseconds since the epoch (a naive datetime is taken as local time)."""
    global _ENCODED
    last = _ENCODED
    if moment is last[0]:
        return last[1]
    if moment.tzinfo is None:  # not memoized: local time is looked up each time
        return (moment.astimezone() - _EPOCH) // _MICRO
    value = (moment - _EPOCH) // _MICRO
    _ENCODED = (moment, value)
    return value


def from_micros(value: int) -> datetime:
    """The aware (UTC) datetime `value` microseconds after the epoch."""
    moment = _DECODED.get(value)
    if moment is None:
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        moment = _DECODED[value] = _EPOCH + _MICRO * value
    return moment
