"""The worker: takes turns of orchestration instances and runs activities, against a `Store`.

A round reads as a straight sequence: fetch the instances with work, decide each turn
(`turn.decide`, on the instance's cached or rebuilt `Execution`), write the turns (one
`Store.write`, which also leases this round's activity items back), run the leased activities,
decide the turns their results cause on the cached executions (follow-ups), write those with the
results (leasing the next items), and so on (running the activities: `worker_activities`).
Executions stay cached (LRU) between turns, so a running instance costs only its new events; a
cache miss rebuilds the execution by replaying the stored history. `poll_once()` does one round
synchronously, which is what tests and the testkit drive; `start()` runs rounds on background
threads (`worker_threads`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from . import history as h
from . import turn
from .async_activities import AsyncActivities
from .backoff import Backoff
from .callguard import guard_registry
from .clock import Clock, SystemClock
from .errors import StoreError, StoreUnavailable, UnknownOrchestration
from .leases import Holdings
from .payload import DEFAULT_MAX_PAYLOAD_BYTES, valid_limit
from .registry import Registry
from .replay import Execution
from .rolling import RollingDeploys
from .state import (
    ActivityWork,
    Batch,
    CachedBase,
    InstanceState,
    Message,
    OrchestrationWork,
    TurnCommit,
    Written,
)
from .stores.contract import Store
from .stores.url import store_or_url
from .worker_activities import WorkerActivities
from .worker_threads import WorkerThreads

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["Worker"]

_LOG = logging.getLogger("orchestrate.worker")
_FOLLOW_UP_ROUNDS = 16  # batches one poll_once may chain through follow-up turns


class Worker(WorkerActivities, WorkerThreads):
    """Runs orchestration turns and activities from `store` with the functions in `registry`."""

    def __init__(
        self,
        registry: Registry,
        store: Store | str,
        *,
        clock: Clock | None = None,
        threads: int = 2,
        cache_size: int = 10_000,
        batch_size: int = 32,
        lease: float = 20.0,
        activity_lease: float = 20.0,
        strict: bool = False,
        on_nondeterminism: str = "retry",
        nondeterminism_retry: float = 60.0,
        grace: float = 30.0,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        backoff_cap: float = 30.0,
        unknown_grace: timedelta = timedelta(minutes=5),
        unknown_retry: timedelta = timedelta(seconds=2),
        async_activities: int = 100,
        sync_activities: int = 8,
        guard_calls: bool = False,
        log_nondeterminism: bool = True,
    ) -> None:
        if on_nondeterminism not in ("retry", "fail"):
            raise ValueError(
                f"on_nondeterminism={on_nondeterminism!r}: use 'retry' (the turn fails and is "
                "retried later, e.g. after the deploy is rolled back) or 'fail' (the instance fails)"
            )
        if not activity_lease > 0 or not lease > 0:
            raise ValueError(
                f"Worker(lease={lease!r}, activity_lease={activity_lease!r}): leases must be "
                "positive numbers of seconds; the worker renews activity leases while they run, "
                "so a short one (the default 20) is safe for long activities"
            )
        if not grace >= 0:
            raise ValueError(
                f"Worker(grace={grace!r}): the grace period is how many seconds stop() lets "
                "running activities finish; use 0 or more"
            )
        # checked on every activity input and result, and on what orchestration code records
        self.max_payload_bytes = valid_limit(max_payload_bytes)
        self.registry = registry
        self.store = store_or_url(store, "Worker")  # last: a refused call opens nothing
        self.clock: Clock = clock or SystemClock()
        self.threads = threads
        self.cache_size = cache_size
        self.batch_size = batch_size
        self.lease = lease
        self.activity_lease = activity_lease
        # The items this worker holds, renewed every `renew_every` seconds while it runs them.
        self.holdings = Holdings(self.store, self.clock, activity_lease)
        self.renew_every = activity_lease / 4
        self.strict = strict
        # calls that break replay fail the turn at the call, like a divergence (see `callguard`)
        self.guard_calls = guard_calls
        if guard_calls:
            guard_registry(registry)
        self.on_nondeterminism = on_nondeterminism
        self.nondeterminism_retry = nondeterminism_retry
        # an ERROR line per turn failed on non-determinism (and retried): what an operator sees.
        # Off for a driver that raises the error itself (the testkit: its retry never comes).
        self.log_nondeterminism = log_nondeterminism
        self.grace = grace  # how long `stop()` lets running activities finish
        # after a failed round (a store gone read-only or locked): 0.1 s, doubling, <= backoff_cap
        self.backoff = Backoff(min(0.1, backoff_cap), backoff_cap)
        # work this worker's registry does not know: left to other workers for a grace period
        self.rolling = RollingDeploys(registry, unknown_grace, unknown_retry)
        # `async def` activities: on one event loop, up to `async_activities` at once
        self.async_activities = AsyncActivities(registry, async_activities, max_payload_bytes)
        if not isinstance(sync_activities, int) or sync_activities < 1:
            raise ValueError(
                f"Worker(sync_activities={sync_activities!r}): give how many sync activities of "
                "one batch may run at once on the worker's pool (a positive int; 1: one by one)"
            )
        # sync activities of one batch: on a pool of this many threads (1: one after another)
        self.sync_activities = sync_activities
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        # instance id -> its execution and the state its last turn committed (the base of a
        # follow-up turn, see `_follow_up`)
        self._cache: OrderedDict[str, tuple[Execution, InstanceState]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._stopping = False  # read by the threads between rounds (no Event: nobody waits on it)
        self._renewing = threading.Event()  # set: the renewer thread stops
        self._renewer: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._shifts = threading.Condition()  # threads standing by (see `worker_threads`)
        self._rounds: dict[int, float | None] = {}
        self.cache_hits = 0
        self.cache_misses = 0
        # The testkit's seam: observe every applied turn (with its execution, if any).
        self.on_commit: Callable[[TurnCommit, Execution | None], None] | None = None

    # --- synchronous driving -------------------------------------------------------------------

    def poll_once(self) -> bool:
        """Run one round: the due turns, then activities; True if anything ran.

        The turns' write leases this round's activity items (or they are fetched); each batch's
        results are written together with the turns they cause on cached executions, and that
        write leases the next items, for up to `_FOLLOW_UP_ROUNDS` batches.
        """
        turns, works, at = self._take_turns(None, self.batch_size)
        if not works:
            at = self.clock.now()
            works = self.store.fetch_activity_work(
                at, limit=self.batch_size, lease=self.activity_lease
            )
        ran = 0
        for round_ in range(1, _FOLLOW_UP_ROUNDS + 1):
            if not works:
                break
            if self._stopping:  # stop(): leased and not started, so back to the queue at once
                self._give_back(works)
                break
            count, works, at = self._run_batch(works, at, follow=round_ < _FOLLOW_UP_ROUNDS)
            ran += count
        self._give_back_parked(self.clock.now())
        return bool(turns or ran)

    def _give_back_parked(self, now: datetime | None) -> None:
        """Give back the parked items of unknown activities that are due (all with None)."""
        parked = self.rolling.due(now)
        if parked:
            self.store.release_activities(parked)

    def run_turns(self, limit: int | None = None) -> int:
        """Fetch, run and commit up to `limit` orchestration turns in one store write."""
        return self._take_turns(limit, 0)[0]

    def run_activities(self, limit: int | None = None) -> int:
        """Lease, run and complete up to `limit` activity attempts (no follow-up turns)."""
        now = self.clock.now()
        works = self.store.fetch_activity_work(
            now, limit=limit or self.batch_size, lease=self.activity_lease
        )
        ran = self._run_batch(works, now, follow=False)[0] if works else 0
        self._give_back_parked(self.clock.now())
        return ran

    def complete_with_follow_ups(self, results: list[tuple[ActivityWork, Message]]) -> None:
        """Complete `results`, running the turns they cause at once where possible (see
        `_follow_up`); leases nothing. For drivers that run activities themselves (testkit)."""
        self._complete(results, follow=True, lease=0)

    def _take_turns(
        self, limit: int | None, lease: int
    ) -> tuple[int, list[ActivityWork], datetime]:
        """Fetch, decide and write up to `limit` turns, leasing up to `lease` activity items
        in the same write: (turns written, items leased, when)."""
        commits, executions = self._fetch_and_decide(limit or self.batch_size)
        if not commits:
            return 0, [], self.clock.now()
        at = self.clock.now()
        lease = self._lease_for(commits, lease)
        written = self.store.write(
            Batch(turns=commits, lease=lease, now=at, lease_seconds=self.activity_lease)
        )
        self._after_write(commits, executions, written)
        return len(commits), written.leased, at

    def _fetch_and_decide(self, limit: int) -> tuple[list[TurnCommit], list[Execution | None]]:
        """Lock up to `limit` instances with work and decide their turns (not written yet).

        A turn that crashes (a bug in the runtime, not in the orchestration: that fails the
        instance) releases its instance unchanged and is logged.
        """
        now = self.clock.now()
        works = self.store.fetch_orchestration_work(now, limit=limit, lease=self.lease)
        commits: list[TurnCommit] = []
        executions: list[Execution | None] = []
        for work in works:
            try:
                commit, exe = self._turn(work, now)
            except StoreUnavailable:
                # the store's condition, not the instance's: give the claims back (if the store
                # answers; else their locks expire) and let the round fail and back off
                for unused in works:  # none of this round's turns is written
                    with contextlib.suppress(StoreError):
                        self.store.abandon(unused)
                raise
            except Exception:
                _LOG.exception("turn of %s crashed; releasing it", work.instance.instance_id)
                self.store.abandon(work)
                self.evict(work.instance.instance_id)
                continue
            commits.append(commit)
            executions.append(exe)
        return commits, executions

    def _after_write(
        self, commits: list[TurnCommit], executions: list[Execution | None], written: Written
    ) -> None:
        """Cache or evict each turn's execution and tell the observer; if that fails, give the
        items the write leased back unrun (nobody would run them before their lease ends)."""
        self._progressed()
        try:
            for commit, exe, ok in zip(commits, executions, written.applied, strict=True):
                key = commit.instance.instance_id
                if not ok or exe is None or exe.done:
                    self.evict(key)
                else:
                    self._remember(key, exe, commit.instance)
                if ok and self.on_commit is not None:
                    self.on_commit(commit, exe)
        except BaseException:
            if written.leased:
                self.store.release_activities(written.leased)
            raise

    def _complete(
        self, results: list[tuple[ActivityWork, Message]], follow: bool, lease: int
    ) -> tuple[list[ActivityWork], datetime | None]:
        """Write `results`; with `follow`, together with the turns they cause on cached
        executions; with `lease`, also with the turns due meanwhile, leasing up to `lease`
        items (only when a turn is written, whose new items are then the head of the queue).
        Returns the items leased and when (None: none)."""
        if self._stopping:
            lease = 0  # stop(): take no new turns, lease nothing more
        now = self.clock.now()
        plain: list[tuple[ActivityWork, Message]] = results
        turns: list[TurnCommit] = []
        executions: list[Execution | None] = []
        if follow:
            plain = []
            by_instance: dict[str, list[tuple[ActivityWork, Message]]] = {}
            for item in results:
                by_instance.setdefault(item[0].instance_id, []).append(item)
            for key, items in by_instance.items():
                prepared = self._follow_up(key, items, now)
                if prepared is None:
                    plain += items
                else:
                    turns.append(prepared[0])
                    executions.append(prepared[1])
        if lease:
            # A round that leases also takes the turns that became due meanwhile (instances
            # started, events raised): they ride in this write instead of costing one more.
            fresh, fresh_executions = self._fetch_and_decide(self.batch_size)
            turns, executions = fresh + turns, [*fresh_executions, *executions]
        batch = Batch(plain, turns, self._lease_for(turns, lease), now, self.activity_lease)
        written = self.store.write(batch)
        self._after_write(turns, executions, written)
        self._cancel_withdrawn(turns, written.applied)
        return written.leased, now if written.leased else None

    def _lease_for(self, turns: list[TurnCommit], lease: int) -> int:
        """How many items a write of `turns` leases back: what the turns schedule plus
        `lease` more (at most four batches' worth), never less than `lease`.

        The store leases in queue order, oldest first. Leasing only as many as the turns
        schedule would take the older items queued before, leaving the turns' own as the next
        write's "older" ones: a conveyor that never empties. With one worker that costs
        nothing; with several worker processes each would run the others' items, whose
        instances' executions it does not hold, so each result would cost a fetch and a replay
        instead of a follow-up turn on the cached execution. Leasing `lease` more empties the
        queue's head, and then every write leases what its own turns scheduled.
        """
        if not lease or not turns:
            return 0
        scheduled = sum(len(turn.activities) for turn in turns)
        return max(lease, min(scheduled + lease, 4 * self.batch_size))

    def _cancel_withdrawn(self, turns: list[TurnCommit], applied: list[bool]) -> None:
        """Attempts this worker holds that an applied turn just withdrew (a race the result
        decided, a timeout) are cancelled at once: one not started yet is skipped, a running
        one sees it at its next heartbeat, without waiting for the next lease renewal."""
        withdrawn = {
            (commit.instance.instance_id, generation, task_id)
            for commit, ok in zip(turns, applied, strict=True)
            if ok
            for generation, task_id in commit.withdrawn
        }
        if not withdrawn:
            return
        for work in self.holdings.held():
            if (work.instance_id, work.generation, work.task_id) in withdrawn:
                self.holdings.attempt(work).cancel(
                    "its orchestration no longer needs it (a lost race, task.cancel(), a timeout)"
                )

    def _follow_up(
        self, key: str, items: list[tuple[ActivityWork, Message]], now: datetime
    ) -> tuple[TurnCommit, Execution] | None:
        """The turn `items` (results for instance `key`) cause, run on the cached execution,
        guarded by where that execution stands (`CachedBase`) instead of a lock.

        None when the execution is not cached here (or is of another generation), or the turn
        goes wrong: the results are then completed as messages and an ordinary turn takes them
        (rebuilding the execution by replay, and reporting any error as usual). The execution
        leaves the cache meanwhile, so no other thread of this worker runs a turn on it.
        """
        with self._cache_lock:
            entry = self._cache.pop(key, None)
        if entry is None:
            return None
        exe, state = entry
        generation = state.generation
        events: list[h.Event] = []
        for work, message in items:
            if work.generation != generation:
                break
            events.append(message.event)
        if exe.done or exe.generation != generation or len(events) != len(items):
            self._remember(key, exe, state)
            return None
        length = exe.history_len
        self.cache_hits += 1
        try:
            exe.begin_turn()
            exe.process(events, now)
            if exe.nondeterminism is not None:
                return None
            # `state` is the last commit's: its history_len is stale, but the store checks
            # `length` and counts the history itself, and `build_commit` only copies it
            commit = turn.build_commit(state, "", [], exe, now)
        except Exception:
            _LOG.exception("follow-up turn of %s crashed; queueing its results instead", key)
            return None
        commit.cached = CachedBase(state.created_at, generation, length, items)
        return commit, exe

    def renew_leases(self) -> int:
        """Renew the leases of every activity item this worker holds, in one store write (the
        background renewer does this every `renew_every` seconds; see `leases`). Attempts past
        their heartbeat timeout fail with TimeoutError in the same write; attempts whose item
        the store no longer holds for us are cancelled. Returns how many were renewed."""
        return self.holdings.renew()

    def evict(self, instance_id: str | None = None) -> None:
        """Drop one cached execution (or all): the next turn rebuilds it by replay."""
        with self._cache_lock:
            if instance_id is None:
                self._cache.clear()
            else:
                self._cache.pop(instance_id, None)

    def _remember(self, instance_id: str, exe: Execution, state: InstanceState) -> None:
        with self._cache_lock:
            self._cache[instance_id] = (exe, state)
            self._cache.move_to_end(instance_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _cached(self, state: InstanceState) -> Execution | None:
        with self._cache_lock:
            entry = self._cache.pop(state.instance_id, None)
        if entry is None:
            return None
        exe, cached = entry
        if (
            exe.history_len != state.history_len
            or exe.generation != state.generation  # a reused id starts a later generation
            or exe.odef.name != state.name
            or cached.created_at != state.created_at  # purged and started again since
            or exe.done
        ):
            return None  # another worker moved the instance on: rebuild from the store
        return exe

    # --- one turn ------------------------------------------------------------------------------------

    def _turn(self, work: OrchestrationWork, now: datetime) -> tuple[TurnCommit, Execution | None]:
        """Decide the turn of a fetched instance (see `turn`), on its cached or rebuilt execution."""
        state = work.instance
        messages = turn.apply_order(work.messages)
        consumed = [m.id for m in messages]
        if state.finished:
            return turn.finished_turn(state, work.lock_token, consumed), None
        events = turn.current_events(state, messages)
        exe = self._cached(state)
        if exe is not None:
            self.cache_hits += 1
            exe.begin_turn()
        else:
            self.cache_misses += 1
            try:
                exe = self._rebuild(state)
            except StoreUnavailable:
                raise  # not the instance's fault: the round fails and is retried
            except (UnknownOrchestration, StoreError) as exc:
                if isinstance(exc, UnknownOrchestration):
                    held = self.rolling.hold_turn(state, work.lock_token, messages, exc, now)
                    if held is not None:
                        return held, None
                history = None
                if isinstance(exc, UnknownOrchestration):  # the history itself is readable
                    try:
                        history = self.store.get_history(state.instance_id)
                    except StoreError:
                        history = None
                commit = turn.fail_without_execution(
                    state, work.lock_token, consumed, now, exc, history
                )
                return commit, None
        exe.process(events, now)
        retry = self.nondeterminism_retry if self.on_nondeterminism == "retry" else None
        if exe.nondeterminism is not None and retry is not None and self.log_nondeterminism:
            _LOG.error(
                "turn of %s failed; retrying in %s s: %s",
                state.instance_id,
                retry,
                exe.nondeterminism,
            )
        commit = turn.decide(
            state, work.lock_token, consumed, events, exe, now, nondeterminism_retry=retry
        )
        return commit, exe

    def _rebuild(self, state: InstanceState) -> Execution:
        odef = self.registry.get_orchestration(state.name)
        exe = Execution(
            self.registry,
            odef,
            state.instance_id,
            strict=self.strict,
            max_payload_bytes=self.max_payload_bytes,
            guard_calls=self.guard_calls,
        )
        exe.begin_turn()
        if state.history_len:
            exe.replay(self.store.get_history(state.instance_id))
        return exe

    # --- background threads -------------------------------------------------------------------------
