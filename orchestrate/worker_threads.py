"""The worker's threads: starting them, the polling loop, lease renewal, and a graceful stop.

A mixin of `Worker` (kept apart so `worker.py` holds what one round does and this module what
runs the rounds): it uses the worker's store, clock, holdings and `poll_once`, declared below
for the type checker.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import TYPE_CHECKING

from .errors import StoreError

if TYPE_CHECKING:
    from datetime import datetime

    from .async_activities import AsyncActivities
    from .backoff import Backoff
    from .clock import Clock
    from .leases import Holdings
    from .stores.contract import Store

__all__ = ["WorkerThreads"]

_LOG = logging.getLogger("orchestrate.worker")


class WorkerThreads:
    """Threads that run a `Worker`'s rounds until `stop()`; see `Worker`."""

    # provided by `Worker`
    store: Store
    clock: Clock
    threads: int
    grace: float
    renew_every: float
    holdings: Holdings
    backoff: Backoff
    async_activities: AsyncActivities
    _stopping: bool
    _pool: concurrent.futures.ThreadPoolExecutor | None
    _renewing: threading.Event
    _renewer: threading.Thread | None
    _threads: list[threading.Thread]
    _watching: threading.Lock

    def poll_once(self) -> bool:
        raise NotImplementedError

    def renew_leases(self) -> int:
        raise NotImplementedError

    def _give_back_parked(self, now: datetime | None) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start `threads` background threads that poll until `stop()`."""
        if self._threads:
            return
        self._stopping = False
        self._renewing.clear()
        renewer = threading.Thread(
            target=self._renew_loop, name="orchestrate-worker-leases", daemon=True
        )
        renewer.start()
        self._renewer = renewer
        for index in range(max(1, self.threads)):
            thread = threading.Thread(
                target=self._loop, name=f"orchestrate-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        """Stop gracefully and close the store.

        The threads stop fetching at once and give back the activity items they leased and
        have not started; running activities get `timeout` seconds (default `grace`) to finish,
        their leases renewed meanwhile, and their results are written. What still runs after
        that is logged as abandoned and its lease given back, so another worker runs it again
        at once instead of after the lease.
        """
        grace = self.grace if timeout is None else timeout
        self._stopping = True
        try:
            self._give_back_parked(None)
        except Exception:  # the store may be gone: the items come back when their lease ends
            _LOG.warning("could not give back parked activity items", exc_info=True)
        # Closing wakes the idle threads at once; a store stays usable after `close` (calls
        # made after it open short-lived connections), so running work still writes its results.
        self.store.close()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            self._abandon(grace)
        self._renewing.set()
        if self._renewer is not None:
            self._renewer.join(grace)
            self._renewer = None
        self._threads.clear()
        self.async_activities.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _abandon(self, grace: float) -> None:
        """Give back the items threads still hold after the grace period, logging them."""
        running = self.holdings.running()
        held = self.holdings.held()
        if running:
            _LOG.warning(
                "stopping after the %g s grace period: abandoned %d running activit%s (%s); "
                "%s run again on another worker",
                grace,
                len(running),
                "y" if len(running) == 1 else "ies",
                ", ".join(f"{w.name} {w.idempotency_key}" for w in running),
                "it will" if len(running) == 1 else "they will",
            )
        if held:
            self.store.release_activities(held)
            self.holdings.let_go(held)

    def _renew_loop(self) -> None:
        # Every `renew_every` seconds, or sooner when a running attempt's heartbeat timeout
        # falls due first (a timeout shorter than the renewal interval is still caught on time).
        while not self._renewing.wait(self.holdings.next_check(self.renew_every)):
            try:
                self.renew_leases()
            except StoreError as exc:  # the store's condition (unreachable...): one line, no trace
                _LOG.warning(
                    "renewing activity leases failed, retrying in %g s: %s", self.renew_every, exc
                )
            except Exception:
                _LOG.exception(
                    "renewing activity leases failed; retrying in %g s", self.renew_every
                )

    def _loop(self) -> None:
        while not self._stopping:
            try:
                busy = self.poll_once()
            except Exception as exc:  # a store gone read-only or locked, or a bug: back off
                self._pause(self.backoff.failed(exc))
                continue
            self.backoff.succeeded()
            if busy or self._stopping:
                continue
            # One idle thread at a time waits for a change; the others wait for it to get busy.
            # Otherwise every commit (each start, each of this worker's own writes) wakes every
            # idle thread, and all but one find nothing to do, taking the GIL and the store
            # from the threads that have work.
            with self._watching:
                if not self._stopping:  # stop() may have come while this thread queued here
                    try:
                        self._wait_for_work()
                    except Exception as exc:  # the store's wake-up read failed: back off too
                        self._pause(self.backoff.failed(exc))

    def _pause(self, seconds: float) -> None:
        """Sleep `seconds` after a failed round, waking early when the worker stops."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))

    def _wait_for_work(self) -> None:
        """Block until the store changes or its next timer or lease expiry is due (<= 0.5 s)."""
        wake = self.store.next_wakeup()
        timeout = 0.5
        if wake is not None:
            timeout = min(timeout, max(0.0, (wake - self.clock.now()).total_seconds()))
        self.store.wait_for_change(timeout)
