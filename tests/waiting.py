"""`wait_until`: the one way a test waits for another thread, bounded and loud on timeout.

Tests that involve real threads (group commit, wake-ups, worker threads) cannot use a fake clock
for the other thread's progress, so they poll. A poll that gives up silently lets the test go on
in a state it never checked; this one fails, naming what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_until"]


def wait_until(condition: Callable[[], object], timeout: float = 5.0, *, what: str) -> None:
    """Return as soon as `condition()` is true; fail the test after `timeout` seconds.

    `what` says what was awaited ("the leader to take the lock"), for the failure message.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; the other thread never got "
                "there (deadlocked, crashed, or the machine is badly overloaded)"
            )
        time.sleep(0.002)
