"""The worker's activity side: running one batch of leased activity items and writing results.

A mixin of `Worker`, as `worker_threads` is (kept apart so `worker.py` holds the round and its
turns, this module what runs the activities a round leased): `async def` activities start at
once on the worker's event loop, sync ones run one after another (or on the worker's pool), and
results are written as they come, with the turns they cause (`Worker._complete`). It uses the
worker's store, clock, holdings and settings, declared below for the type checker.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .activity import execute_activity
from .state import ActivityWork, Message

if TYPE_CHECKING:
    from datetime import datetime

    from . import history as h
    from .async_activities import AsyncActivities
    from .clock import Clock
    from .leases import Holdings
    from .registry import Registry
    from .rolling import RollingDeploys
    from .stores.contract import Store

__all__ = ["WorkerActivities"]

_LOG = logging.getLogger("orchestrate.worker")
# Results of calls running at once are written once no other call finished for this long.
_QUIET = timedelta(milliseconds=50)
# Results of activities that ran at least this long are written at once, not at the end of the
# batch: the write is cheap beside them, and the turn they cause may withdraw the batch's
# other items (a race's losers) before they start.
_SLOW_ACTIVITY = timedelta(milliseconds=50)


class WorkerActivities:
    """Runs the activity items a `Worker` leased; see `Worker`."""

    # provided by `Worker`
    registry: Registry
    store: Store
    clock: Clock
    batch_size: int
    activity_lease: float
    max_payload_bytes: int | None
    sync_activities: int
    holdings: Holdings
    rolling: RollingDeploys
    async_activities: AsyncActivities
    _stopping: bool
    _pool: concurrent.futures.ThreadPoolExecutor | None
    _cache_lock: threading.Lock

    def _complete(
        self, results: list[tuple[ActivityWork, Message]], follow: bool, lease: int
    ) -> tuple[list[ActivityWork], datetime | None]:
        raise NotImplementedError

    def _run_batch(
        self, works: list[ActivityWork], now: datetime, follow: bool
    ) -> tuple[int, list[ActivityWork], datetime]:
        """Run leased items (leased at `now`) and complete them, with follow-up turns if asked.

        Returns how many ran, and the items the completing writes leased, with when.
        """
        # One lease covers the whole batch, and the sync items run one after another: give back
        # the items not started before half the lease is gone (another worker would run them
        # again), and report slow activities' results at once instead of holding them for the
        # batch. The renewer keeps every held item's lease alive meanwhile.
        budget = timedelta(seconds=self.activity_lease / 2)
        lease = self.batch_size if follow else 0
        results: list[tuple[ActivityWork, Message]] = []
        leased: list[ActivityWork] = []
        leased_at: datetime | None = None  # the earliest lease of the next batch: its budget
        ran = 0
        unstarted = 0  # index of the first sync item not started yet
        self.holdings.hold(works)
        # `async def` activities all start at once on the worker's event loop; the sync ones
        # run here meanwhile, then their results are collected
        running: list[tuple[ActivityWork, concurrent.futures.Future[Any]]] = [
            (w, self.async_activities.submit(w, self.clock.now, self.holdings.attempt(w)))
            for w in works
            if self.async_activities.runs(w) and not self.holdings.attempt(w).cancelled
        ]
        if running:
            submitted = {id(w) for w, _ in running}
            sync = [w for w in works if id(w) not in submitted and not self.async_activities.runs(w)]
        else:
            sync = works
        if self.sync_activities > 1 and len(sync) > 1:
            # several sync items: run them at once on the worker's pool, collected with the
            # async ones below (a fan-out of slow calls takes as long as its slowest call)
            running += self._submit_sync(sync)
            sync = []
        try:
            for index, work in enumerate(sync):
                started = self.clock.now()
                if self._stopping:
                    self._give_back(sync[index:])
                    unstarted = len(sync)
                    break
                if started - now >= budget:
                    self.store.release_activities(sync[index:])
                    unstarted = len(sync)
                    break
                unstarted = index + 1
                if self.holdings.attempt(work).cancelled:
                    continue  # withdrawn while it waited in the batch: nothing to run or write
                if self.rolling.park(work, started):  # another worker may know its activity
                    continue
                event = self.run_activity(work)
                results.append((work, Message(work.instance_id, event, work.generation)))
                ran += 1
                if self.clock.now() - started >= _SLOW_ACTIVITY:
                    more, at = self._complete(results, follow, lease)
                    self.holdings.let_go(work for work, _ in results)
                    leased += more
                    leased_at = leased_at or at
                    results = []
            # Write what finished as soon as nothing else finishes for a moment: a fan-out of
            # quick calls is one write, and a race's winner is written while its loser still
            # runs, so the turn it causes withdraws the loser (see `_cancel_withdrawn`).
            by_future = {future: work for work, future in running}
            pending = set(by_future)
            while pending:
                wait = _QUIET.total_seconds() if results else None
                done, pending = concurrent.futures.wait(
                    pending, timeout=wait, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    work = by_future[future]
                    try:
                        outcome: h.Event | None = future.result()
                    except concurrent.futures.CancelledError:  # the loop stopped under it
                        continue  # its lease runs out and it runs again (at least once)
                    if outcome is None:  # not started: the worker is stopping
                        self._give_back([work])
                        continue
                    results.append((work, Message(work.instance_id, outcome, work.generation)))
                    ran += 1
                if results and (not done or not pending):
                    more, at = self._complete(results, follow, lease)
                    leased += more
                    leased_at = leased_at or at
                    results = []
            if results:
                more, at = self._complete(results, follow, lease)
                leased += more
                leased_at = leased_at or at
        except BaseException:
            # Items an earlier write of this batch leased, and the ones not started yet, would
            # stay leased to nobody until their lease runs out: give them back unrun.
            for _, future in running:
                future.cancel()  # started ones are abandoned: their leases expire
            self.store.release_activities(leased + sync[unstarted:])
            raise
        finally:
            self.holdings.let_go(works)
        return ran, leased, leased_at or now

    def _submit_sync(
        self, works: list[ActivityWork]
    ) -> list[tuple[ActivityWork, concurrent.futures.Future[h.Event | None]]]:
        """Start sync items on the worker's pool (withdrawn and parked ones are skipped)."""
        started: list[tuple[ActivityWork, concurrent.futures.Future[h.Event | None]]] = []
        pool = self._sync_pool()
        for work in works:
            if self.holdings.attempt(work).cancelled:
                continue  # withdrawn while it waited in the batch: nothing to run or write
            if self.rolling.park(work, self.clock.now()):  # another worker may know it
                continue
            started.append((work, pool.submit(self._run_unless_stopping, work)))
        return started

    def _run_unless_stopping(self, work: ActivityWork) -> h.Event | None:
        """One sync item on the pool; None when stop() came first (it is given back)."""
        if self._stopping or self.holdings.attempt(work).cancelled:
            return None
        return self.run_activity(work)

    def _sync_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._cache_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.sync_activities, thread_name_prefix="orchestrate-activity"
                )
            return self._pool

    def _give_back(self, works: list[ActivityWork]) -> None:
        """Release items not started because the worker is stopping, and say so."""
        self.store.release_activities(works)
        self.holdings.let_go(works)
        _LOG.info("stopping: gave back %d activity item(s) not started", len(works))

    def run_activity(self, work: ActivityWork) -> h.Event:
        """Execute one attempt of `work` now, returning its result event."""
        attempt = self.holdings.attempt(work)
        return execute_activity(
            self.registry, work, self.clock.now(), attempt, self.max_payload_bytes
        )
