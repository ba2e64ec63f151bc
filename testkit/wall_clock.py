"""The wall clock under test: one freezegun freeze per process, moved to whoever is driving.

Activities and orchestrations that call ``datetime.now()``, ``time.time()``, ``time.monotonic()``
... must see virtual time. freezegun does that, but each ``freeze_time(...).start()`` walks every
loaded module to patch its bindings of the real time objects (~1 ms with a few hundred modules),
too slow for every drive call of a `TestEnv`. So this module starts one freeze with freezegun's
public API only (``freeze_time(moment).start()``, the returned factory's ``tick()``, ``stop()``)
and afterwards only moves the frozen time.

Who reads the wall clock is a stack of *scopes*: each names a source (a `FakeClock`, see
`WallSource`) and an offset; the innermost scope's time is what the wall clock reads, and it
follows its source as it moves. `FakeClock.frozen()` is a scope that also owns the freeze it
starts: when the last scope exits, the real clock is back. A `TestEnv`'s drive call is a scope
that *holds* the freeze it starts: the wall clock stays frozen (at the last virtual time)
between drive calls, until `release()`: `TestEnv.close()`, the pytest plugin at the end of
every test, or the garbage collection of the env that drove last. Outside pytest, close the env
(``with TestEnv(reg) as env:``) to get the real clock back at a known point.

freezegun stops its freezes last-in first-out, so a held freeze is never started inside a
freeze of someone else's (a test's own ``freeze_time``): there a drive call freezes for its own
duration only, as a scope that owns its freeze.
"""

from __future__ import annotations

import atexit
import datetime as _datetime
import sys
import weakref
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any, Protocol

import freezegun

from orchestrate import callguard

__all__ = [
    "WallSource",
    "frozen",
    "guard_fakes",
    "hold_for",
    "release",
    "scope_enter",
    "scope_exit",
    "sync",
]

_ZERO = timedelta(0)
# The real class (even if this module is first imported while a freeze is active), in a tuple:
# a freeze replaces module-level bindings of the real time objects, not a tuple's items.
_REAL = (next(c for c in _datetime.datetime.__mro__ if c.__module__ == "datetime"),)


class WallSource(Protocol):
    """What a scope follows: a clock that tells the naive UTC wall time it wants shown."""

    def wall_naive(self) -> datetime:
        """The wall time to show, naive UTC (as freezegun keeps it)."""


class _Layer:
    """One freezegun freeze of ours: the base one, or one started above someone else's."""

    __slots__ = ("factory", "freezer", "shown")

    def __init__(self, shown: datetime) -> None:
        self.freezer: Any = freezegun.freeze_time(shown)
        self.factory: Any = self.freezer.start()  # its tick() moves the frozen time
        self.shown = shown  # naive UTC: what the factory reads
        _resync()

    def stop(self) -> None:
        self.freezer.stop()
        _resync()


def _resync() -> None:
    """A freeze started or stopped swaps ``time.time`` & co.: the call guard takes them back
    (calling through to the fakes), so orchestration code is refused the frozen clock too."""
    if callguard.installed():
        callguard.resync()
        guard_fakes()


_FAKES_GUARDED: list[type] = []


def guard_fakes() -> None:
    """Guard the fake ``datetime.now()``/``utcnow()``/``today()`` and ``date.today()`` of the
    freeze (the classes it puts in place of the real ones, read from the `datetime` module
    while frozen) with `orchestrate.callguard`, once; not frozen yet: at the next freeze."""
    fake = _datetime.datetime
    if _FAKES_GUARDED or not callguard.installed() or fake is _REAL[0]:
        return
    _FAKES_GUARDED.append(fake)
    names = ("now", "utcnow", "today")
    callguard.guard_methods(fake, names, "ctx.now() (the turn's time)", label="datetime")
    callguard.guard_methods(_datetime.date, ("today",), "ctx.now().date()", label="date")


class _Scope:
    __slots__ = ("layer", "offset", "source")

    def __init__(self, source: WallSource, offset: timedelta, layer: _Layer | None) -> None:
        self.source = source
        self.offset = offset
        self.layer = layer  # a layer this scope started above someone else's freeze


class _Freeze:
    """The process's freeze, while there is one: its layers (the base first) and scopes."""

    def __init__(self) -> None:
        self.layers: list[_Layer] = []
        self.scopes: list[_Scope] = []
        self.held = False  # stays frozen with no scope, until release()
        self.holder: weakref.ref[object] | None = None  # the last to drive on the held freeze
        # The holder was garbage collected: release at the next safe point. A weakref callback
        # runs inside whatever allocation triggered the collection, possibly inside freezegun's
        # own fakes (stopping the freeze there breaks them mid-call), so it only marks.
        self.orphaned = False


_FREEZE = _Freeze()


def frozen() -> bool:
    """Whether this module's freeze is active (the wall clock reads a virtual time)."""
    return bool(_FREEZE.layers)


def scope_enter(source: WallSource, offset: timedelta = _ZERO, *, hold: bool = False) -> object:
    """Show `source`'s wall time plus `offset` until `scope_exit` of the returned token.

    Starts the freeze if there is none. With `hold`, a freeze started here outlives the scope
    (see the module docstring) unless someone else's freeze is already active, which it must
    not outlive. If someone else's freeze was started after ours (freezegun shows the newest),
    the scope starts a freeze of its own above it, for its duration (cheap: freezegun only
    patches modules for the first of nested freezes).
    """
    state = _FREEZE
    layer = None
    if state.orphaned:  # the last holder is gone: whoever drives now takes the freeze over
        state.orphaned = False
        if not state.scopes:
            state.held = hold and state.held
            state.holder = None
    if not state.layers:
        foreign = _datetime.datetime is not _REAL[0]  # someone else's freeze is active
        state.layers.append(_Layer(source.wall_naive() + offset))
        state.held = hold and not foreign
    elif not _shows(state.layers[-1]):
        layer = _Layer(source.wall_naive() + offset)
        state.layers.append(layer)
    scope = _Scope(source, offset, layer)
    state.scopes.append(scope)
    sync()
    return scope


def scope_exit(token: object) -> None:
    """End a scope (in any order); the wall clock shows the innermost remaining one's time, or,
    with no scope left, the real time again unless the freeze is held."""
    state = _FREEZE
    assert isinstance(token, _Scope)
    if token in state.scopes:
        state.scopes.remove(token)
    if token.layer is not None and token.layer in state.layers:
        state.layers.remove(token.layer)
        token.layer.stop()
        if state.layers:  # the layer below missed the moves: catch it up with the last time
            _move(state.layers[-1], token.source.wall_naive() + token.offset)
    if state.scopes:
        sync()
    elif not state.held:
        _stop()


def sync() -> None:
    """Move the frozen time to the innermost scope's source (call after the source moved)."""
    state = _FREEZE
    if not state.scopes or not state.layers:
        return
    top = state.scopes[-1]
    _move(state.layers[-1], top.source.wall_naive() + top.offset)


def _move(layer: _Layer, shown: datetime) -> None:
    delta = shown - layer.shown
    if delta:
        layer.factory.tick(delta)  # a timedelta: freezegun adds it, exactly, without parsing
        layer.shown = shown


def hold_for(owner: object) -> None:
    """Note `owner` (a `TestEnv`) as the last to drive on the held freeze: if it is garbage
    collected while still the last, the hold is released, as by `release()`."""
    state = _FREEZE
    if not state.held:
        return
    state.orphaned = False
    holder = state.holder
    if holder is None or holder() is not owner:
        state.holder = weakref.ref(owner, _holder_collected)


def _holder_collected(ref: weakref.ref[object]) -> None:
    if _FREEZE.holder is not ref or sys.is_finalizing():
        return
    if _inside_the_freeze():
        _FREEZE.orphaned = True  # see _Freeze.orphaned: released at the next safe point
    else:
        release()


def _inside_the_freeze() -> bool:
    """Whether freezegun's fakes or this module are running further up the stack (a garbage
    collection can start anywhere): stopping the freeze there would break them mid-call."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == __name__ or module.startswith("freezegun"):
            return True
        frame = frame.f_back
    return False


@atexit.register
def _at_exit() -> None:
    """Give the real clock back before modules are torn down: code that runs at exit (other
    libraries' hooks, garbage collection callbacks) must not meet a freeze mid-teardown."""
    if not sys.is_finalizing():
        release()


def release() -> None:
    """Stop holding the freeze: the real clock is back once no scope is active.

    Called by `TestEnv.close()` and by the pytest plugin after every test; harmless when
    nothing is frozen.
    """
    state = _FREEZE
    state.held = False
    state.holder = None
    state.orphaned = False
    if not state.scopes:
        _stop()


def _shows(layer: _Layer) -> bool:
    """Whether the wall clock reads `layer`'s time: no freeze of someone else's is above it."""
    return _datetime.datetime.now(UTC) == layer.shown.replace(tzinfo=UTC)


def _stop() -> None:
    state = _FREEZE
    layers, state.layers = state.layers, []
    state.scopes.clear()
    state.held = False
    for layer in reversed(layers):
        layer.stop()
