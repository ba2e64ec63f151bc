"""`Backoff`: how a worker thread waits after a failed round, so a store that turned read-only or
stays locked gets one clear log line per retry, spaced out exponentially (capped), instead of a
traceback storm.

A `StoreError` (read-only, locked, disk full, unreachable) is the store's condition, not a bug: it
is logged as one line, with the store's own message, which says what is wrong and what to do. Any
other error is a bug and keeps its traceback. Either way the next round waits `delay` seconds,
doubling from `first` up to `cap`; the first round that works resets it and says so.
"""

from __future__ import annotations

import logging
import threading

from .errors import StoreError

__all__ = ["Backoff"]

_LOG = logging.getLogger("orchestrate.worker")


class Backoff:
    """Delays between failed rounds: `first`, doubling, at most `cap` seconds. Thread-safe."""

    def __init__(self, first: float = 0.1, cap: float = 30.0) -> None:
        if first <= 0 or cap < first:
            raise ValueError(
                f"store backoff first={first!r}, cap={cap!r}: give 0 < first <= cap (seconds)"
            )
        self.first = first
        self.cap = cap
        self.failures = 0  # rounds failed in a row
        self._lock = threading.Lock()

    def failed(self, exc: Exception) -> float:
        """Log `exc` (one line for a `StoreError`) and return how long to wait before retrying."""
        with self._lock:
            self.failures += 1
            failures = self.failures
        delay = min(self.cap, self.first * 2.0 ** min(failures - 1, 60))
        if isinstance(exc, StoreError):
            _LOG.warning(
                "store unavailable (%d failed round%s in a row), retrying in %.1f s: %s",
                failures,
                "" if failures == 1 else "s",
                delay,
                exc,
            )
        else:
            _LOG.error("worker round failed; retrying in %.1f s", delay, exc_info=exc)
        return delay

    def succeeded(self) -> None:
        """A round worked: the next failure starts from `first` again."""
        if not self.failures:
            return
        with self._lock:
            failures, self.failures = self.failures, 0
        if failures:
            _LOG.warning("store available again after %d failed rounds", failures)
