"""`FakeClock`: virtual time for tests, in the style of time-machine's traveller.

One small interface: `now()`, `move_to()`, `shift()`. Time is kept as integer microseconds since
the epoch (a datetime's resolution), always timezone-aware UTC, and only moves forward: a durable
timer that was due must never become not-due again. The worker reads it through the `Clock`
protocol, so `ctx.now()` is virtual time; `frozen()` extends it to the wall clock (a freezegun
freeze, see `testkit.wall_clock`) for code such as activities that call `datetime.now()` or
`time.time()` directly.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from orchestrate.history import iso_time

from . import wall_clock

__all__ = ["DEFAULT_START", "FakeClock", "held_scope", "parse_moment"]

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
"""Where a `FakeClock` (and so every `TestEnv`) starts unless told: 2024-01-01T00:00:00Z."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # freezegun keeps naive UTC
_US = timedelta(microseconds=1)
_ZERO = timedelta(0)


def parse_moment(value: datetime | str, what: str = "start") -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string (``2024-01-01T00:00:00Z``).

    Naive datetimes are refused: guessing a timezone is how tests end up depending on the machine.
    """
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{what}={value!r} is not an ISO 8601 time; write it like '2024-01-01T00:00:00Z'"
            ) from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise TypeError(
            f"{what} must be a datetime or an ISO 8601 string, not {type(value).__name__}"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{what}={value!r} has no timezone; pass an aware time such as "
            "datetime(2024, 1, 1, tzinfo=UTC) or '2024-01-01T00:00:00Z'"
        )
    return moment.astimezone(UTC)


class FakeClock:
    """A manual clock: it stands still until moved, and never moves backwards."""

    def __init__(self, start: datetime | str = DEFAULT_START) -> None:
        if start is DEFAULT_START:  # most clocks (a TestEnv's): parsed once, at import
            self._us, self._now, self._naive = _DEFAULT_TIMES
        else:
            self._us, self._now, self._naive = _times(parse_moment(start))
        self._scopes = 0  # active wall-clock scopes following this clock (`frozen`, drives)
        self._wall_shift = _ZERO  # added to the wall time inside `wall_offset`

    def __repr__(self) -> str:
        return f"FakeClock({iso_time(self.now())!r})"

    def now(self) -> datetime:
        """The current virtual time (aware, UTC)."""
        return self._now

    def move_to(self, moment: datetime | str) -> None:
        """Jump to `moment`; moving backwards raises `ValueError` (timers already fired)."""
        target = _to_us(parse_moment(moment, "moment"))
        if target < self._us:
            raise ValueError(
                f"FakeClock cannot move back from {iso_time(self.now())} to "
                f"{iso_time(parse_moment(moment, 'moment'))}: timers that were due would fire out of "
                "order. Start a new clock (or TestEnv(start=...)) at the earlier time instead."
            )
        self._set(target)

    def shift(self, delta: timedelta | float) -> None:
        """Move forward by `delta` (a timedelta or seconds); a negative delta raises `ValueError`."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError(f"FakeClock.shift({step}) is negative; time only moves forward")
        self._set(self._us + step // _US)

    def frozen(self, offset: timedelta = _ZERO) -> AbstractContextManager[None]:
        """Make the wall clock (``datetime.now()``, ``time.time()``...) read this clock's time.

        Kept in step while the clock moves. `offset` shifts the wall time away from virtual
        time. The outermost `frozen()` starts a freezegun freeze (~1 ms: freezegun patches every
        loaded module) and its exit brings the real clock back, unless a `TestEnv` holds the
        freeze (see `testkit.wall_clock`); nested ones, and any inside a held freeze, only move
        the frozen time, and the innermost one wins.
        """
        return _Frozen(self, offset)

    def wall_offset(self, offset: timedelta) -> AbstractContextManager[None]:
        """Move the wall time `offset` away from virtual time while entered, if this clock is
        what the wall clock shows; a no-op otherwise. The replay check enters it on every turn,
        so the returned context manager may be kept and entered again (nested too: the
        offsets add up)."""
        return _WallOffset(self, offset)

    def wall_naive(self) -> datetime:
        """The wall time this clock shows while frozen: virtual time plus the `wall_offset`
        shift, naive UTC (`testkit.wall_clock.WallSource`)."""
        return self._naive + self._wall_shift

    def _set(self, us: int) -> None:
        if us != self._us:
            self._us = us
            since = us * _US
            self._now = _EPOCH + since
            self._naive = _NAIVE_EPOCH + since
        if self._scopes:
            wall_clock.sync()


class _Frozen:
    """`FakeClock.frozen` (and a `TestEnv` drive call, with `hold`): one wall-clock scope."""

    __slots__ = ("_clock", "_hold", "_offset", "_token")

    def __init__(self, clock: FakeClock, offset: timedelta, hold: bool = False) -> None:
        self._clock = clock
        self._offset = offset
        self._hold = hold
        self._token: object | None = None

    def __enter__(self) -> None:
        clock = self._clock
        self._token = wall_clock.scope_enter(clock, self._offset, hold=self._hold)
        clock._scopes += 1

    def __exit__(self, *exc: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            self._clock._scopes -= 1
            wall_clock.scope_exit(token)


def held_scope(clock: FakeClock) -> AbstractContextManager[None]:
    """A `TestEnv` drive call's scope: like `clock.frozen()`, but a freeze it starts is held
    after it exits, until `testkit.wall_clock.release()` (see there)."""
    return _Frozen(clock, _ZERO, hold=True)


class _WallOffset:
    """`FakeClock.wall_offset`: a plain context manager, a few times cheaper than a generator.

    It keeps no state of its own (the clock's `_wall_shift` does), so one instance can be
    entered again and again, or nested.
    """

    __slots__ = ("_clock", "_offset")

    def __init__(self, clock: FakeClock, offset: timedelta) -> None:
        self._clock = clock
        self._offset = offset

    def __enter__(self) -> None:
        clock = self._clock
        clock._wall_shift += self._offset
        if clock._scopes:
            wall_clock.sync()

    def __exit__(self, *exc: object) -> None:
        clock = self._clock
        clock._wall_shift -= self._offset
        if clock._scopes:
            wall_clock.sync()


def _times(moment: datetime) -> tuple[int, datetime, datetime]:
    """`moment` (aware) as a clock keeps it: microseconds since the epoch; aware, real-class
    datetime for them (rebuilt only when the clock moves); the same naive (as freezegun keeps it)."""
    since = moment - _EPOCH
    return since // _US, _EPOCH + since, _NAIVE_EPOCH + since


_DEFAULT_TIMES = _times(DEFAULT_START)


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US
