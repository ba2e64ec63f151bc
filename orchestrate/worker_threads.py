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
from typing import TYPE_CHECKING, Any

from .errors import StoreError

if TYPE_CHECKING:
    from datetime import datetime

    from .async_activities import AsyncActivities
    from .backoff import Backoff
    from .clock import Clock
    from .leases import Holdings
    from .stores.contract import Store

__all__ = ["WorkerThreads", "standby"]

_LOG = logging.getLogger("orchestrate.worker")
# A thread polls only while no other thread is available to: one waiting for a change, or one
# whose round began, or last wrote, less than _HELP_AFTER seconds ago. Under the GIL two
# threads taking quick turns at once only contend (a client starting instances one by one ran
# 25-40% slower with two polling threads than with one); a second thread earns its keep when
# the first is held up by a slow activity, and then it joins within _HELP_AFTER.
_HELP_AFTER = 0.01
_IDLE_WAIT = 0.5  # seconds an idle thread waits for a change at most, then looks again anyway


def standby(rounds: dict[int, float | None], me: int, now: float) -> tuple[bool, float | None]:
    """Whether thread `me` stands by, and for how long at most (None: until woken).

    `rounds` maps each thread on duty to when its current round began or last wrote (monotonic
    seconds), or None while it waits for a change. `me` stands by while another thread is
    available: one waiting for a change (then until woken), or one that began or wrote less
    than `_HELP_AFTER` ago (then until the latest such moment is that old, when `me` looks
    again).
    """
    wait: float | None = None
    available = False
    for thread, began in rounds.items():
        if thread == me:
            continue
        if began is None:
            return True, None
        left = began + _HELP_AFTER - now
        if left > 0:
            available = True
            wait = left if wait is None else max(wait, left)
    return available, wait


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
    _shifts: threading.Condition  # guards _rounds; notified when a thread's availability ends
    _rounds: dict[int, float | None]  # the threads on duty (see `standby`)

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
        self._rounds.clear()
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
        with self._shifts:
            self._shifts.notify_all()  # the threads standing by leave
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
        index = threading.get_ident()
        try:
            while not self._stopping:
                if not self._take_round(index):
                    break
                try:
                    # Marked before the round: a change during it (a start committed while the
                    # round found nothing) ends the wait after it at once, where a wait begun
                    # afterwards would sleep through it while the other threads stand by.
                    mark = self.store.change_mark()
                    busy = self.poll_once()
                except Exception as exc:  # a store gone read-only or locked, or a bug: back off
                    self._pause(self.backoff.failed(exc))
                    continue
                self.backoff.succeeded()
                if busy or self._stopping or not self._go_idle(index):
                    continue
                # The one idle thread (`_go_idle` lets no second one wait) waits for a change; the
                # others stand by. Were all idle threads waiting, every commit would wake them
                # all, and all but one would find nothing to do, taking the GIL and the store
                # from the threads that have work.
                try:
                    self._wait_for_work(mark)
                except Exception as exc:  # the store's wake-up read failed: back off too
                    self._pause(self.backoff.failed(exc))
        finally:
            # However this thread ends, the others must not stand by for it.
            with self._shifts:
                self._rounds.pop(index, None)
                self._shifts.notify_all()

    def _take_round(self, index: int) -> bool:
        """Stand by while another thread is available (see `standby`), then begin a round;
        False when the worker stops meanwhile."""
        with self._shifts:
            while not self._stopping:
                now = time.monotonic()
                waits, wait = standby(self._rounds, index, now)
                if not waits:
                    if self._rounds.get(index, 0.0) is None:
                        self._shifts.notify_all()  # no longer waiting for a change: look again
                    self._rounds[index] = now
                    return True
                self._rounds.pop(index, None)
                self._shifts.wait(wait)
            self._rounds.pop(index, None)
            return False

    def _progressed(self) -> None:
        """A write of this thread's round went through: it is not held up (see `standby`)."""
        index = threading.get_ident()
        if self._rounds.get(index) is not None:  # only this thread changes its own entry
            self._rounds[index] = time.monotonic()

    def _go_idle(self, index: int) -> bool:
        """After a round that found nothing: wait for a change (True) unless another thread
        is available, in which case this one stands by (False)."""
        with self._shifts:
            if standby(self._rounds, index, time.monotonic())[0]:
                self._rounds.pop(index, None)
                return False
            self._rounds[index] = None
            return True

    def _pause(self, seconds: float) -> None:
        """Sleep `seconds` after a failed round, waking early when the worker stops."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))

    def _wait_for_work(self, mark: Any) -> None:
        """Block until the store changed since `mark`, or its next timer or lease expiry is due
        (`_IDLE_WAIT` at most)."""
        wake = self.store.next_wakeup()
        timeout = _IDLE_WAIT
        if wake is not None:
            timeout = min(timeout, max(0.0, (wake - self.clock.now()).total_seconds()))
        self.store.wait_for_change(timeout, mark)
