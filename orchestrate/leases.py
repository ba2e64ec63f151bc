"""Keeping activity leases alive: the items one worker holds, their heartbeats and renewals.

A worker leases activity items for a short time (`Worker.activity_lease`, 20 s by default) and
renews the leases of everything it still holds (queued in its batch, running, or finished but
not yet written) every `activity_lease / 4` seconds, in one `Store.write` of `Batch.renewals`.
A worker that dies stops renewing, so its items come back to the queue within one lease.

A renewal also carries each running attempt's last heartbeat details, and is where an attempt
learns it is no longer wanted: an item the store no longer holds for us (its orchestration
withdrew it, it was purged, or its lease ran out and another worker took it) is cancelled, and
an attempt that missed its `heartbeat_timeout` is failed with ``error_type="TimeoutError"`` in
the same write (the retry policy decides what follows) and cancelled. The store keeps the last
details per activity call, so the call's next attempt (the item leased again after a crash, or
a retry) starts from them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable
from datetime import timedelta

from . import history as h
from .activity import Attempt
from .clock import Clock
from .state import ActivityWork, Batch, Message
from .stores.contract import Store

__all__ = ["Holdings"]

_LOG = logging.getLogger("orchestrate.worker")


class Holdings:
    """The activity items a worker holds, by item id, each with its `Attempt`."""

    def __init__(self, store: Store, clock: Clock, lease_seconds: float) -> None:
        self.store = store
        self.clock = clock
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._items: dict[int, Attempt] = {}

    def hold(self, works: Iterable[ActivityWork]) -> None:
        """Keep the leases of `works` (just leased) alive until `let_go`."""
        with self._lock:
            for work in works:
                if work.id not in self._items:
                    self._items[work.id] = Attempt(work, self.clock.now)

    def attempt(self, work: ActivityWork) -> Attempt:
        """The attempt of a held item (a fresh, unheld one for an item not held here)."""
        with self._lock:
            found = self._items.get(work.id)
        if found is None or found.work.lease_token != work.lease_token:
            return Attempt(work, self.clock.now)
        return found

    def let_go(self, works: Iterable[ActivityWork]) -> None:
        """Stop renewing `works` (completed or given back)."""
        with self._lock:
            for work in works:
                found = self._items.get(work.id)
                if found is not None and found.work.lease_token == work.lease_token:
                    del self._items[work.id]

    def held(self) -> list[ActivityWork]:
        with self._lock:
            return [attempt.work for attempt in self._items.values()]

    def not_started(self) -> list[ActivityWork]:
        with self._lock:
            return [a.work for a in self._items.values() if a.beat_at is None]

    def running(self) -> list[ActivityWork]:
        with self._lock:
            return [a.work for a in self._items.values() if a.running]

    def next_check(self, interval: float) -> float:
        """Seconds until the next renewal is due: `interval`, or less when a running attempt's
        heartbeat timeout expires sooner (just after it, so the renewal sees it missed)."""
        now = self.clock.now()
        wait = interval
        with self._lock:
            for attempt in self._items.values():
                if attempt.running and attempt.timeout is not None and attempt.beat_at:
                    due = (attempt.beat_at + attempt.timeout - now).total_seconds() + 0.01
                    wait = min(wait, max(0.01, due))
        return wait

    def renew(self) -> int:
        """Renew every held lease in one write; fail the attempts that missed their heartbeat
        timeout in the same write; cancel what the store no longer holds for us. Returns how
        many leases were renewed."""
        now = self.clock.now()
        with self._lock:
            attempts = [a for a in self._items.values() if not a.cancelled]
        if not attempts:
            return 0
        keep: list[Attempt] = []
        late: list[Attempt] = []
        for attempt in attempts:
            (late if attempt.missed_heartbeat(now) else keep).append(attempt)
        timeouts: list[tuple[ActivityWork, Message]] = []
        for attempt in late:
            work = attempt.work
            timeout = attempt.timeout or timedelta(0)
            error = h.ActivityFailed(
                now,
                work.task_id,
                "TimeoutError",
                f"activity {work.name!r} sent no heartbeat for {timeout.total_seconds():g} s "
                "(its heartbeat_timeout); the attempt is treated as lost. Call "
                "activity_info().heartbeat() more often than that, or raise heartbeat_timeout",
            )
            timeouts.append((work, Message(work.instance_id, error, work.generation)))
        # The late ones are renewed too, before the write fails them: their last details stay
        # for the next attempt (renewals apply before completions).
        renewals = [
            dataclasses.replace(a.work, heartbeat_details=a.details) for a in keep + late
        ]
        written = self.store.write(
            Batch(timeouts, now=now, lease_seconds=self.lease_seconds, renewals=renewals)
        )
        lost = [a for a, ok in zip(keep, written.renewed, strict=False) if not ok]
        for attempt in late:
            attempt.cancel("it sent no heartbeat within its heartbeat_timeout")
        for attempt in lost:
            attempt.cancel(
                "its orchestration no longer needs it (a lost race, task.cancel(), a timeout), "
                "or this worker lost its lease"
            )
        # Cancelled attempts stay held (not renewed) until their batch lets them go: one not
        # started yet is then skipped, not run.
        for attempt in late + lost:
            if attempt.running:
                _LOG.info(
                    "activity %s (%s) cancelled: %s",
                    attempt.work.name,
                    attempt.work.idempotency_key,
                    attempt.reason,
                )
        return len(keep) - len(lost)
