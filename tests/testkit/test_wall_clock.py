"""wall_clock: freezegun's fakes put in and taken out exactly, fast, and at ease with freezegun."""

from __future__ import annotations

import copyreg
import datetime as dt
import importlib
import pickle
import subprocess
import sys
import time
import types
import uuid
from datetime import UTC, datetime, timedelta

import freezegun
import freezegun.api as api
import freezegun.config
import pytest

from testkit import FakeClock, wall_clock

MOMENT = datetime(2030, 5, 5, 12, 30, tzinfo=UTC)

# (module the real object comes from, attribute, freezegun's fake for it)
BINDINGS = [
    (time, "time", api.fake_time),
    (time, "time_ns", api.fake_time_ns),
    (time, "monotonic", api.fake_monotonic),
    (time, "perf_counter", api.fake_perf_counter),
    (time, "gmtime", api.fake_gmtime),
    (time, "localtime", api.fake_localtime),
    (time, "strftime", api.fake_strftime),
    (dt, "datetime", api.FakeDatetime),
    (dt, "date", api.FakeDate),
]
BINDING_IDS = [f"{source.__name__}.{name}" for source, name, _ in BINDINGS]


def global_state():
    """Everything an outermost freeze changes outside the scanned modules."""
    return (
        [getattr(time, name) for name in ("time", "monotonic", "perf_counter", "strftime")],
        [time.gmtime, time.localtime, time.time_ns, dt.datetime, dt.date],
        uuid._generate_time_safe,
        getattr(uuid, "_UuidCreate", "absent"),
        dict(copyreg.dispatch_table),
    )


@pytest.fixture(autouse=True)
def no_freeze_left_behind():
    before = global_state()
    yield
    assert api.freeze_factories == [] and api.ignore_lists == []
    assert global_state() == before
    assert dt.datetime is api.real_datetime and time.time is api.real_time


class ModuleSubclass(types.ModuleType):
    """A module type of its own (as lazy-loading libraries use): patched through setattr."""


class ReadOnlyModule(types.ModuleType):
    """A module-like object that refuses new values: it keeps the real objects, without error."""

    def __setattr__(self, name, value):
        if name in vars(self):
            raise AttributeError(f"{name} is read-only")
        super().__setattr__(name, value)


@pytest.fixture(params=[types.ModuleType, ModuleSubclass], ids=["module", "module-subclass"])
def probe(monkeypatch, request):
    """A module in sys.modules binding every real time object, as `from time import time` does."""
    module = request.param("wall_clock_probe")
    for source, name, _ in BINDINGS:
        setattr(module, name, getattr(source, name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


@pytest.fixture
def ignore_also(monkeypatch):
    """`freezegun.configure(extend_ignore_list=...)` for one test."""
    monkeypatch.setattr(
        freezegun.config.settings,
        "default_ignore_list",
        list(freezegun.config.settings.default_ignore_list),
    )
    return lambda *names: freezegun.configure(extend_ignore_list=list(names))


@pytest.mark.parametrize(("source", "name", "fake"), BINDINGS, ids=BINDING_IDS)
def test_a_modules_bindings_are_faked_inside_and_real_after(probe, source, name, fake):
    real = getattr(source, name)
    frozen = wall_clock.freeze(MOMENT)
    try:
        assert getattr(probe, name) is fake
        assert getattr(source, name) is fake
    finally:
        frozen.stop()
    assert getattr(probe, name) is real
    assert getattr(source, name) is real


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda: datetime.now(UTC), MOMENT),
        (lambda: dt.datetime.now(UTC), MOMENT),
        (lambda: dt.datetime.now(), MOMENT.replace(tzinfo=None)),  # naive: UTC, as today
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


@pytest.fixture
def late_module(tmp_path, monkeypatch, request):
    """Imports a module written for the test (binding real time objects) when called."""
    (tmp_path / "wall_clock_late.py").write_text(
        "from datetime import datetime\nfrom time import time\n"
        "from freezegun.api import FakeDatetime\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    request.addfinalizer(lambda: sys.modules.pop("wall_clock_late", None))
    importlib.invalidate_caches()
    return lambda: importlib.import_module("wall_clock_late")


def test_a_module_imported_during_the_freeze_gets_the_reals_back(late_module):
    with FakeClock(MOMENT).frozen():
        late = late_module()
        assert late.datetime is api.FakeDatetime and late.time is api.fake_time
    assert late.datetime is api.real_datetime and late.time is api.real_time
    assert late.FakeDatetime is api.FakeDatetime  # freezegun's own names are left alone
    with FakeClock(MOMENT).frozen():  # and from now on it is a module like the others
        assert late.time is api.fake_time


def test_inside_a_users_freezegun_its_stop_restores_modules_imported_meanwhile(late_module):
    with freezegun.freeze_time("2001-02-03"):
        with FakeClock(MOMENT).frozen():
            late = late_module()
        assert late.time is api.fake_time  # the user's freeze is still on
    assert late.time is api.real_time


def test_a_binding_made_after_a_freeze_is_patched_by_the_next(probe):
    with FakeClock(MOMENT).frozen():
        pass
    probe.now = time.time  # the module's dict grows: its cached scan is stale
    with FakeClock(MOMENT).frozen():
        assert probe.now is api.fake_time
    assert probe.now is api.real_time
    del probe.now, probe.time  # shrinks; a name the cache remembers is gone: no harm
    with FakeClock(MOMENT).frozen():
        assert probe.datetime is api.FakeDatetime
    assert not hasattr(probe, "now")


def test_a_rebound_name_or_a_second_name_for_the_module_is_handled(probe, monkeypatch):
    with FakeClock(MOMENT).frozen():
        pass
    probe.datetime = "not a clock"  # same dict size: the cached scan still names it
    monkeypatch.setitem(sys.modules, "wall_clock_alias", probe)  # patched once, not twice
    with FakeClock(MOMENT).frozen():
        assert probe.datetime == "not a clock"
        assert probe.time is api.fake_time
    assert probe.time is api.real_time


@pytest.mark.parametrize(
    ("name", "configured"),
    [("threading_probe", False), ("wall_clock_pkg.six.moves", False), ("mine.probe", True)],
    ids=["default-list", "six-moves", "configured"],
)
def test_ignored_modules_are_untouched(monkeypatch, ignore_also, name, configured):
    module = types.ModuleType(name)
    module.datetime, module.time = datetime, time.time
    monkeypatch.setitem(sys.modules, name, module)
    with FakeClock(MOMENT).frozen():  # the cached scans include the module...
        assert (module.datetime is api.FakeDatetime) is configured
    if configured:
        ignore_also("mine.")  # ...and a changed ignore list is honoured at once
    with FakeClock(MOMENT).frozen():
        assert module.datetime is api.real_datetime and module.time is api.real_time
        assert dt.datetime is api.FakeDatetime


def test_inside_a_users_freezegun_only_the_stacks_move(probe):
    with freezegun.freeze_time("2001-02-03 04:05:06") as outer:
        assert probe.time is api.fake_time
        with FakeClock(MOMENT).frozen():
            assert datetime.now(UTC) == probe.datetime.now(UTC) == MOMENT
        assert api.freeze_factories == [outer]
        assert probe.time is api.fake_time  # still freezegun's patch
        assert datetime.now(UTC) == datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert probe.time is api.real_time


def test_a_users_freezegun_inside_ours_starts_and_stops_cleanly(probe):
    clock = FakeClock(MOMENT)
    with clock.frozen():
        with freezegun.freeze_time("2001-02-03") as inner:
            assert datetime.now(UTC) == datetime(2001, 2, 3, tzinfo=UTC)
            inner.tick(60)
            assert time.time() == datetime(2001, 2, 3, 0, 1, tzinfo=UTC).timestamp()
        assert datetime.now(UTC) == MOMENT and probe.time is api.fake_time
        clock.shift(timedelta(hours=1))
        assert probe.datetime.now(UTC) == MOMENT + timedelta(hours=1)
    assert probe.time is api.real_time and probe.datetime is api.real_datetime


def test_a_users_freezegun_stopped_after_ours_leaves_nothing_behind(probe):
    ours = wall_clock.freeze(MOMENT)
    theirs = freezegun.freeze_time("2001-02-03")
    factory = theirs.start()
    ours.stop()  # out of order: our patches go, the user's freeze keeps its stack entry
    assert probe.time is api.real_time
    assert api.freeze_factories == [factory]
    # freezegun's stop fails when it is the last one out but did not patch (as with two freezegun
    # freezes stopped out of order), after restoring what it knows; nothing is left behind.
    with pytest.raises(AttributeError, match="fake_names"):
        theirs.stop()


def test_a_users_freezegun_around_ours_stopped_first_leaves_no_freeze_behind():
    # freezegun's stop pops the top of its stack, which is our entry; ours must then pop the
    # user's, or the wall clock stays frozen for good. freezegun itself leaves module patches
    # behind when stopped out of order, so this runs in a process of its own.
    script = """
import datetime, freezegun, freezegun.api as api
from testkit.wall_clock import freeze
theirs = freezegun.freeze_time("2040-01-01")
theirs.start()
ours = freeze(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
theirs.stop()
ours.stop()
print(api.freeze_factories, api.ignore_lists, datetime.datetime is api.real_datetime)
print(datetime.datetime.now().year)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    state, year = done.stdout.splitlines()
    assert state == "[] [] True"  # no freeze on the stacks, the real datetime class back
    assert int(year) not in (2030, 2040)


@pytest.mark.parametrize("real", [api.real_datetime(2001, 2, 3, 4), api.real_date(2001, 2, 3)])
def test_real_dates_pickle_as_freezegun_fakes_while_frozen(real):
    with FakeClock(MOMENT).frozen():
        copy = pickle.loads(pickle.dumps(real))
    assert copy == real and type(copy).__name__ == f"Fake{type(real).__name__.title()}"
    assert type(pickle.loads(pickle.dumps(real))) is type(real)


def test_our_freezes_may_stop_out_of_order(probe):
    first = wall_clock.freeze(MOMENT)
    second = wall_clock.freeze(MOMENT + timedelta(days=1))
    first.stop()
    assert datetime.now(UTC) == MOMENT + timedelta(days=1)
    assert probe.time is api.fake_time
    second.stop()
    assert probe.time is api.real_time


def test_an_exception_inside_the_freeze_restores_everything(probe):
    with pytest.raises(ZeroDivisionError), FakeClock(MOMENT).frozen():
        assert probe.datetime is api.FakeDatetime
        _ = 1 / 0
    assert probe.datetime is datetime is dt.datetime is api.real_datetime
    assert probe.time is time.time is api.real_time


def test_a_module_refusing_new_values_keeps_the_reals(monkeypatch, probe):
    module = ReadOnlyModule("wall_clock_read_only")
    module.time = time.time
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with FakeClock(MOMENT).frozen():
        assert module.time is api.real_time and probe.time is api.fake_time
    assert module.time is api.real_time and probe.time is api.real_time


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        wall_clock.freeze(MOMENT.replace(tzinfo=None))


def test_a_freezegun_without_the_internals_falls_back_to_freeze_time(monkeypatch, probe):
    with monkeypatch.context() as patch:
        patch.delattr(api, "tick_flags")
        assert wall_clock._load() is None
    monkeypatch.setattr(wall_clock, "_LOADED", [None])
    clock = FakeClock(MOMENT)
    with clock.frozen():
        clock.shift(timedelta(minutes=1))
        assert probe.datetime.now(UTC) == MOMENT + timedelta(minutes=1)
    assert probe.datetime is api.real_datetime


def test_a_hook_missing_before_the_freeze_is_missing_after(monkeypatch):
    monkeypatch.delattr(uuid, "_UuidCreate", raising=False)  # as on Pythons without it
    with FakeClock(MOMENT).frozen():
        assert uuid._UuidCreate is None
    assert not hasattr(uuid, "_UuidCreate")
    assert dt.datetime is api.real_datetime and time.time is api.real_time


def test_a_time_function_patched_by_the_test_is_put_back_as_it_was(monkeypatch):
    def mine() -> float:
        return 42.0

    monkeypatch.setattr(time, "monotonic", mine)
    with FakeClock(MOMENT).frozen():
        assert time.monotonic is api.fake_monotonic
    assert time.monotonic is mine
