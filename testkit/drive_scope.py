"""`DriveScope`: the scope of one `TestEnv` drive call (`run`, `advance`, a `Controller` step).

The outermost entry starts the drive (the env resets its turn count) and freezes the wall clock
to the env's virtual time, if the env asks for it, holding that freeze past the call (see
`testkit.wall_clock`); its normal exit ends the drive (the env replays from scratch what the call
touched), still frozen. Nested entries (a drive inside a drive) do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from . import wall_clock
from .clock import FakeClock, held_scope

__all__ = ["DriveScope", "Driven"]


class Driven(Protocol):
    """What a drive scope reads from its env: the virtual clock and whether to freeze to it."""

    @property
    def clock(self) -> FakeClock: ...

    @property
    def freeze_wall_clock(self) -> bool: ...


class DriveScope:
    """A plain, reusable context manager (a drive call is the env's hot path; a generator and an
    ExitStack cost more than the rest of an empty drive). `begin` runs at the outermost entry,
    before the freeze; `end` at its normal exit, before the freeze is let go."""

    __slots__ = ("_begin", "_depth", "_end", "_env", "_frozen")

    def __init__(self, env: Driven, begin: Callable[[], None], end: Callable[[], None]) -> None:
        self._env = env
        self._begin = begin
        self._end = end
        self._depth = 0
        self._frozen: AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        self._depth += 1
        if self._depth > 1:
            return
        env = self._env
        self._begin()
        if env.freeze_wall_clock:
            try:
                frozen = held_scope(env.clock)
                frozen.__enter__()
            except BaseException:
                self._depth = 0  # not driving after all
                raise
            self._frozen = frozen
            wall_clock.hold_for(env)
        else:
            wall_clock.release()  # another env's held freeze: this one runs on the real clock

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._depth -= 1
        if self._depth:
            return
        frozen, self._frozen = self._frozen, None
        try:
            if kind is None:
                self._end()
        finally:
            if frozen is not None:
                frozen.__exit__(None, None, None)
