"""`DriveScope` on its own: hooks once per outermost drive, the freeze held past it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from testkit import FakeClock, wall_clock
from testkit.drive_scope import DriveScope

START = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)


@dataclass
class Env:
    freeze_wall_clock: bool
    clock: FakeClock = field(default_factory=lambda: FakeClock(START))
    calls: list[str] = field(default_factory=list)

    def scope(self) -> DriveScope:
        return DriveScope(self, lambda: self.calls.append("begin"), lambda: self.calls.append("end"))


@pytest.mark.parametrize("freeze", [True, False])
def test_nested_drives_run_the_hooks_once(freeze: bool) -> None:
    env = Env(freeze)
    scope = env.scope()
    try:
        with scope:
            with scope:
                env.calls.append("inner")
            env.calls.append("outer")
        with scope:
            pass
    finally:
        wall_clock.release()
    assert env.calls == ["begin", "inner", "outer", "end", "begin", "end"]


def test_a_failed_drive_skips_the_end_hook_and_the_next_one_starts_afresh() -> None:
    env = Env(False)
    scope = env.scope()
    with pytest.raises(KeyError), scope:
        raise KeyError("x")
    with scope:
        pass
    assert env.calls == ["begin", "begin", "end"]


def test_the_freeze_shows_virtual_time_and_is_held_until_released() -> None:
    env = Env(True)
    try:
        with env.scope():
            assert datetime.now(UTC) == START
        assert datetime.now(UTC) == START  # held past the drive call
    finally:
        wall_clock.release()
    assert datetime.now(UTC) != START
