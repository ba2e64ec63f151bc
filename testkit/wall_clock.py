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
between drive calls, until `release()`: `TestEnv.close()`, or the pytest plugin at the end of
every test. Outside pytest, close the env (``with TestEnv(reg) as env:``) to get the real
clock back.

freezegun stops its freezes last-in first-out, so a held freeze is never started inside a
freeze of someone else's (a test's own ``freeze_time``): there a drive call freezes for its own
duration only, as a scope that owns its freeze.
"""

from __future__ import annotations

import datetime as _datetime
from datetime import datetime, timedelta
from typing import Any, Protocol

import freezegun

__all__ = ["WallSource", "frozen", "release", "scope_enter", "scope_exit", "sync"]

_ZERO = timedelta(0)
# The real class (even if this module is first imported while a freeze is active), in a tuple:
# a freeze replaces module-level bindings of the real time objects, not a tuple's items.
_REAL = (next(c for c in _datetime.datetime.__mro__ if c.__module__ == "datetime"),)


class WallSource(Protocol):
    """What a scope follows: a clock that tells the naive UTC wall time it wants shown."""

    def wall_naive(self) -> datetime:
        """The wall time to show, naive UTC (as freezegun keeps it)."""


class _Scope:
    __slots__ = ("offset", "owns", "source")

    def __init__(self, source: WallSource, offset: timedelta, owns: bool) -> None:
        self.source = source
        self.offset = offset
        self.owns = owns  # started the freeze, and stops it when the last scope exits


class _Freeze:
    """The process's one freeze, while there is one: freezegun's freezer and its factory."""

    def __init__(self) -> None:
        self.freezer: Any = None  # what freezegun.freeze_time() returned
        self.factory: Any = None  # what its start() returned: tick() moves the frozen time
        self.shown: datetime = _REAL[0](1970, 1, 1)  # naive UTC: what the factory reads
        self.scopes: list[_Scope] = []
        self.held = False  # stays frozen with no scope, until release()


_FREEZE = _Freeze()


def frozen() -> bool:
    """Whether this module's freeze is active (the wall clock reads a virtual time)."""
    return _FREEZE.freezer is not None


def scope_enter(source: WallSource, offset: timedelta = _ZERO, *, hold: bool = False) -> object:
    """Show `source`'s wall time plus `offset` until `scope_exit` of the returned token.

    Starts the freeze if there is none. With `hold`, a freeze started here outlives the scope
    (see the module docstring) unless another freeze is already active, which it must not
    outlive.
    """
    state = _FREEZE
    owns = False
    if state.freezer is None:
        foreign = _datetime.datetime is not _REAL[0]  # someone else's freeze is active
        shown = source.wall_naive() + offset
        freezer = freezegun.freeze_time(shown)
        state.factory = freezer.start()
        state.freezer, state.shown = freezer, shown
        state.held = hold and not foreign
        owns = not state.held
    scope = _Scope(source, offset, owns)
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
    if state.scopes:
        sync()
    elif not state.held:
        _stop()


def sync() -> None:
    """Move the frozen time to the innermost scope's source (call after the source moved)."""
    state = _FREEZE
    if not state.scopes or state.factory is None:
        return
    top = state.scopes[-1]
    shown = top.source.wall_naive() + top.offset
    delta = shown - state.shown
    if delta:
        state.factory.tick(delta)  # a timedelta: freezegun adds it, exactly, without parsing
        state.shown = shown


def release() -> None:
    """Stop holding the freeze: the real clock is back once no scope is active.

    Called by `TestEnv.close()` and by the pytest plugin after every test; harmless when
    nothing is frozen.
    """
    state = _FREEZE
    state.held = False
    if not state.scopes:
        _stop()


def _stop() -> None:
    state = _FREEZE
    freezer, state.freezer, state.factory = state.freezer, None, None
    state.scopes.clear()
    state.held = False
    if freezer is not None:
        freezer.stop()

