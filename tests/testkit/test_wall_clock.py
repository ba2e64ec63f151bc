"""The wall clock under test: one freezegun freeze (public API only), moved to virtual time.

What user code sees (``datetime.now()``, ``time.time()``, ``time.monotonic()``, a module's own
``from time import time``...), how scopes nest, when the real clock comes back, and how it gets
along with a test's own freezegun freezes.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import types
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import freezegun
import pytest

from testkit import FakeClock, wall_clock
from testkit.clock import held_scope

MOMENT = datetime(2030, 5, 5, 12, 30, tzinfo=UTC)


def _clock() -> tuple[object, ...]:
    """The clock functions the modules hold, seen through the call guard's wrappers (once a
    `TestEnv` guards calls, they are the process's functions, calling through to these)."""
    found = (dt.datetime, time.time, time.monotonic, time.perf_counter)
    return tuple(getattr(f, "__wrapped__", f) for f in found)


REAL = _clock()


def is_real() -> bool:
    return _clock() == REAL


@pytest.fixture(autouse=True)
def nothing_left_frozen():
    assert is_real() and not wall_clock.frozen()
    yield
    wall_clock.release()
    assert is_real() and not wall_clock.frozen()


@pytest.fixture
def probe(monkeypatch):
    """A module binding real time objects by name, as ``from time import time`` does."""
    module = types.ModuleType("wall_clock_probe")
    module.datetime, module.time, module.monotonic = dt.datetime, time.time, time.monotonic
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda: datetime.now(UTC), MOMENT),
        (lambda: dt.datetime.now(UTC), MOMENT),
        (lambda: dt.datetime.now(), MOMENT.replace(tzinfo=None)),  # naive: UTC (TZ=UTC)
        (lambda: dt.datetime.now(dt.timezone(timedelta(hours=2))), MOMENT),
        (lambda: dt.date.today(), MOMENT.date()),
        (lambda: time.time(), MOMENT.timestamp()),
        (lambda: time.time_ns(), int(MOMENT.timestamp()) * 10**9),
        (lambda: time.gmtime()[:6], MOMENT.timetuple()[:6]),
        (lambda: uuid.uuid1().time // 10**7 - 12219292800, int(MOMENT.timestamp())),
    ],
    ids=["now-utc", "module-now", "naive", "other-tz", "today", "time", "ns", "gmtime", "uuid1"],
)
def test_code_sees_the_fake_clocks_time(read, expected):
    clock = FakeClock(MOMENT)
    with clock.frozen():
        assert read() == expected
        clock.shift(timedelta(days=1))
        assert read() != expected  # kept in step as the clock moves
    assert read() != expected


def test_monotonic_clocks_follow_virtual_time_exactly():
    clock = FakeClock(MOMENT)
    with clock.frozen():
        start, counter = time.monotonic(), time.perf_counter()
        clock.shift(timedelta(seconds=90, microseconds=5))
        assert time.monotonic() - start == pytest.approx(90.000005, abs=1e-6)
        assert time.perf_counter() - counter == pytest.approx(90.000005, abs=1e-6)


def test_a_modules_own_bindings_are_faked_inside_and_real_after(probe):
    with FakeClock(MOMENT).frozen():
        assert probe.datetime.now(UTC) == MOMENT
        assert probe.time() == MOMENT.timestamp()
        assert probe.datetime is not REAL[0]
    bound = (probe.datetime, probe.time, probe.monotonic)
    assert tuple(getattr(f, "__wrapped__", f) for f in bound) == REAL[:3]


def test_nested_scopes_the_innermost_wins_and_the_outer_comes_back():
    outer, inner = FakeClock(MOMENT), FakeClock(MOMENT + timedelta(days=365))
    with outer.frozen():
        with inner.frozen(offset=timedelta(hours=1)):
            assert datetime.now(UTC) == MOMENT + timedelta(days=365, hours=1)
            outer.shift(timedelta(minutes=1))  # not shown while the inner scope is active
            assert datetime.now(UTC) == MOMENT + timedelta(days=365, hours=1)
        assert datetime.now(UTC) == MOMENT + timedelta(minutes=1)
    assert is_real()


def test_scopes_may_exit_out_of_order():
    first, second = FakeClock(MOMENT), FakeClock(MOMENT + timedelta(days=1))
    a, b = first.frozen(), second.frozen()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)  # the outer one first
    assert datetime.now(UTC) == MOMENT + timedelta(days=1)
    second.shift(timedelta(hours=2))
    assert datetime.now(UTC) == MOMENT + timedelta(days=1, hours=2)
    b.__exit__(None, None, None)
    assert is_real()


def test_an_exception_inside_the_scope_restores_the_real_clock():
    with pytest.raises(KeyError), FakeClock(MOMENT).frozen():
        raise KeyError("boom")
    assert is_real()


def test_a_held_freeze_outlives_its_scope_until_released():
    clock = FakeClock(MOMENT)
    with held_scope(clock):
        clock.shift(timedelta(hours=1))
    assert wall_clock.frozen() and datetime.now(UTC) == MOMENT + timedelta(hours=1)
    with clock.frozen():  # a scope inside a held freeze does not stop it
        clock.shift(timedelta(hours=1))
    assert datetime.now(UTC) == MOMENT + timedelta(hours=2)
    wall_clock.release()
    assert is_real()
    wall_clock.release()  # harmless when nothing is frozen


def test_releasing_inside_a_scope_keeps_the_scope_frozen():
    clock = FakeClock(MOMENT)
    with held_scope(clock):
        pass
    with clock.frozen():
        wall_clock.release()
        assert datetime.now(UTC) == MOMENT
    assert is_real()


def test_a_scope_started_inside_a_users_freezegun_is_not_held():
    with freezegun.freeze_time("2001-02-03"):
        with held_scope(FakeClock(MOMENT)):
            assert datetime.now(UTC) == MOMENT
        assert not wall_clock.frozen()  # stopped with its scope: freezegun stops in LIFO order
        assert datetime.now(UTC) == datetime(2001, 2, 3, tzinfo=UTC)
    assert is_real()


def test_a_users_freezegun_inside_ours_starts_and_stops_cleanly():
    clock = FakeClock(MOMENT)
    with clock.frozen():
        with freezegun.freeze_time("2001-02-03"):
            assert datetime.now(UTC) == datetime(2001, 2, 3, tzinfo=UTC)
        assert datetime.now(UTC) == MOMENT
        clock.shift(timedelta(seconds=1))
        assert datetime.now(UTC) == MOMENT + timedelta(seconds=1)
    assert is_real()


def test_wall_offsets_follow_the_scope_and_nest():
    clock = FakeClock(MOMENT)
    day = clock.wall_offset(timedelta(days=1))
    with day:  # not frozen: nothing to move
        assert is_real()
    with clock.frozen():
        with day, day:
            assert datetime.now(UTC) == MOMENT + timedelta(days=2)
            assert clock.now() == MOMENT  # virtual time unchanged
        assert datetime.now(UTC) == MOMENT


def test_the_module_uses_only_freezegun_public_api():
    source = wall_clock.__file__
    assert source is not None
    text = Path(source).read_text(encoding="utf-8")
    assert "freezegun.api" not in text and "freezegun.config" not in text
    assert "time_to_freeze" not in text and "freeze_factories" not in text


def test_a_users_freezegun_started_above_a_held_freeze_does_not_hide_virtual_time():
    clock = FakeClock(MOMENT)
    with held_scope(clock):
        pass
    with freezegun.freeze_time("2001-02-03"):
        with held_scope(clock):  # a drive call inside the user's freeze
            assert datetime.now(UTC) == MOMENT
            clock.shift(timedelta(minutes=5))
            assert datetime.now(UTC) == MOMENT + timedelta(minutes=5)
        assert datetime.now(UTC) == datetime(2001, 2, 3, tzinfo=UTC)
    assert datetime.now(UTC) == MOMENT + timedelta(minutes=5)  # still held
    wall_clock.release()
    assert is_real()


def test_a_holder_collected_inside_freezegun_is_released_at_the_next_safe_point(monkeypatch):
    # A garbage collection can start inside freezegun's fakes (any allocation); stopping the
    # freeze there broke them mid-call (IndexError in FakeDatetime.now). The hold is then only
    # marked, and the next scope takes the freeze over.
    from testkit import wall_clock

    class Owner:
        pass

    assert not wall_clock._inside_the_freeze()  # a test's own frames are a safe place
    owner = Owner()
    token = wall_clock.scope_enter(FakeClock("2033-01-01T00:00:00Z"), hold=True)
    wall_clock.scope_exit(token)
    wall_clock.hold_for(owner)
    monkeypatch.setattr(wall_clock, "_inside_the_freeze", lambda: True)
    del owner  # collected "inside freezegun"
    assert wall_clock._FREEZE.orphaned and datetime.now(UTC).year == 2033
    token = wall_clock.scope_enter(FakeClock("2034-01-01T00:00:00Z"))
    assert not wall_clock._FREEZE.orphaned and datetime.now(UTC).year == 2034
    wall_clock.scope_exit(token)
    assert datetime.now(UTC).year < 2033
