"""The worker: takes turns of orchestration instances and runs activities, against a `Store`.

A turn loads (or reuses from the cache) an instance's `Execution`, feeds it the instance's new
messages and turns the events it produces into a `TurnCommit`: history, state, activity work,
timers, child starts and parent notices, committed atomically by the store. Executions stay cached
(LRU) between turns, so a running instance costs only its new events; a cache miss rebuilds the
execution by replaying the stored history. `poll_once()` does one round synchronously, which is
what tests and the testkit drive; `start()` runs rounds on background threads.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from . import history as h
from .activity import execute_activity
from .clock import Clock, SystemClock
from .errors import OrchestrateError, StoreError, UnknownOrchestration
from .registry import Registry
from .replay import Execution
from .state import (
    ActivityWork,
    FollowUpTurn,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    TurnCommit,
)
from .store import Store

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["Worker"]

_LOG = logging.getLogger("orchestrate.worker")
_SLOW_ACTIVITY = timedelta(seconds=1)
_FOLLOW_UP_ROUNDS = 16  # batches one poll_once may chain through follow-up turns


def _apply_order(messages: list[Message]) -> list[Message]:
    """The order a turn applies its messages in.

    A generation's start goes first (events raised while the previous generation ended sit in
    the inbox with lower ids). Everything else keeps its arrival (id) order, so events of one
    name stay FIFO whatever the senders' clocks say, except timers: a timer is queued when it is
    created, so it slots in by its due time, and a result that arrived before a lagging worker
    saw the timeout due still wins.
    """
    if len(messages) < 2:
        return messages
    ordered = sorted(messages, key=lambda m: m.id)
    keyed: list[tuple[bool, datetime, int, Message]] = []
    arrival: datetime | None = None
    for message in ordered:
        event = message.event
        if isinstance(event, h.TimerFired):
            when = event.at  # its due time
        else:
            # Never earlier than an earlier arrival: keeps id order among non-timer messages.
            when = event.at if arrival is None or event.at > arrival else arrival
            arrival = when
        keyed.append((not isinstance(event, h.OrchestrationStarted), when, message.id, message))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


class _Leased:
    """Activity items a round's commit leased to this worker, and when (see `Worker.poll_once`)."""

    __slots__ = ("at", "works")

    def __init__(self, at: datetime) -> None:
        self.works: list[ActivityWork] = []
        self.at = at  # replaced by the time of the commit that leases


class Worker:
    """Runs orchestration turns and activities from `store` with the functions in `registry`."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        *,
        clock: Clock | None = None,
        threads: int = 2,
        cache_size: int = 10_000,
        batch_size: int = 32,
        lease: float = 60.0,
        activity_lease: float = 300.0,
        strict: bool = False,
        on_nondeterminism: str = "retry",
        nondeterminism_retry: float = 60.0,
    ) -> None:
        if on_nondeterminism not in ("retry", "fail"):
            raise ValueError(
                f"on_nondeterminism={on_nondeterminism!r}: use 'retry' (the turn fails and is "
                "retried later, e.g. after the deploy is rolled back) or 'fail' (the instance fails)"
            )
        self.registry = registry
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.threads = threads
        self.cache_size = cache_size
        self.batch_size = batch_size
        self.lease = lease
        self.activity_lease = activity_lease
        self.strict = strict
        self.on_nondeterminism = on_nondeterminism
        self.nondeterminism_retry = nondeterminism_retry
        # instance id -> its execution and the state its last turn committed (the base of a
        # follow-up turn, see `_follow_up`)
        self._cache: OrderedDict[str, tuple[Execution, InstanceState]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._stopping = False  # read by the threads between rounds (no Event: nobody waits on it)
        self._threads: list[threading.Thread] = []
        self.cache_hits = 0
        self.cache_misses = 0
        # Seams for the testkit: observe every committed turn / run activities differently.
        self.on_commit: Callable[[TurnCommit, Execution | None], None] | None = None
        self.activity_runner: Callable[[ActivityWork, datetime], h.Event] | None = None

    # --- synchronous driving -------------------------------------------------------------------

    def poll_once(self) -> bool:
        """Run one batch of orchestration turns and one batch of activities; True if any ran.

        With a store that can lease activities in the commit of the turns that schedule them
        (`store.LeasingStore`), the turns' commit leases this round's activities too, and the
        activity half runs those instead of fetching.
        """
        leased = _Leased(self.clock.now())
        try:
            turns = self._run_turns(None, leased)
        except BaseException:
            if leased.works:  # leased in a commit whose aftermath failed: give them back unrun
                self.store.release_activities(leased.works)
            raise
        activities = self._run_activities(None, leased)
        return bool(turns or activities)

    def run_turns(self, limit: int | None = None) -> int:
        """Fetch, run and commit up to `limit` orchestration turns in one store commit."""
        return self._run_turns(limit, None)

    def _run_turns(self, limit: int | None, leased: _Leased | None) -> int:
        """`run_turns`; with `leased`, the commit also leases activity work into it when the
        store can (see `poll_once`)."""
        now = self.clock.now()
        works = self.store.fetch_orchestration_work(
            now, limit=limit or self.batch_size, lease=self.lease
        )
        if not works:
            return 0
        commits: list[TurnCommit] = []
        executions: list[Execution | None] = []
        for work in works:
            try:
                commit, exe = self._turn(work, now)
            except Exception:
                _LOG.exception("turn of %s crashed; releasing it", work.instance.instance_id)
                self.store.abandon(work)
                self.evict(work.instance.instance_id)
                continue
            commits.append(commit)
            executions.append(exe)
        applied: list[bool] = []
        if commits:
            commit_and_lease = getattr(self.store, "commit_turns_and_lease", None)
            if leased is None or commit_and_lease is None:
                applied = self.store.commit_turns(commits)
            else:
                leased.at = self.clock.now()
                applied, leased.works = commit_and_lease(
                    commits, leased.at, limit=self.batch_size, lease=self.activity_lease
                )
        for commit, exe, ok in zip(commits, executions, applied, strict=True):
            self._after_commit(commit, exe, ok)
        return len(commits)

    def _after_commit(self, commit: TurnCommit, exe: Execution | None, ok: bool) -> None:
        """Keep the turn's execution cached (with its state) only if the commit was applied and
        the generation goes on, then tell the testkit's observer about an applied commit."""
        key = commit.instance.instance_id
        if not ok or exe is None or exe.done:
            self.evict(key)
        else:
            self._remember(key, exe, commit.instance)
        if ok and self.on_commit is not None:
            self.on_commit(commit, exe)

    def run_activities(self, limit: int | None = None) -> int:
        """Lease, run and complete up to `limit` activity attempts."""
        return self._run_activities(limit, None)

    def _run_activities(self, limit: int | None, leased: _Leased | None) -> int:
        """`run_activities`, running the items in `leased` (if any) instead of fetching.

        With `leased` (a `poll_once` round) and a store that completes activities together with
        the turns their results cause (`store.FollowUpStore`), each batch's results go straight
        into their instances' next turns (see `_follow_up`), whose commit leases the next items:
        those run in this call too, for up to `_FOLLOW_UP_ROUNDS` batches.
        """
        if leased is not None and leased.works:
            works, now = leased.works, leased.at
        else:
            now = self.clock.now()
            works = self.store.fetch_activity_work(
                now, limit=limit or self.batch_size, lease=self.activity_lease
            )
        ran = 0
        for round_ in range(1, _FOLLOW_UP_ROUNDS + 1):
            if not works:
                break
            follow = leased is not None and round_ < _FOLLOW_UP_ROUNDS
            count, works, now = self._run_batch(works, now, follow)
            ran += count
        return ran

    def _run_batch(
        self, works: list[ActivityWork], now: datetime, follow: bool
    ) -> tuple[int, list[ActivityWork], datetime]:
        """Run leased items (leased at `now`) and complete them, with follow-up turns if asked.

        Returns how many ran, and the items the completing commits leased, with when.
        """
        # One lease covers the whole batch, and the items run one after another: give back the
        # items not started before half the lease is gone (another worker would run them again),
        # and report slow activities' results at once instead of holding them for the batch.
        budget = timedelta(seconds=self.activity_lease / 2)
        results: list[tuple[ActivityWork, Message]] = []
        leased: list[ActivityWork] = []
        leased_at: datetime | None = None  # the earliest lease of the next batch: its budget
        ran = 0
        try:
            for index, work in enumerate(works):
                started = self.clock.now()
                if started - now >= budget:
                    self.store.release_activities(works[index:])
                    break
                event = self.run_activity(work)
                results.append((work, Message(work.instance_id, event, work.generation)))
                ran += 1
                if self.clock.now() - started >= _SLOW_ACTIVITY:
                    at = self._complete(results, follow, leased)
                    leased_at = leased_at or at
                    results = []
            if results:
                at = self._complete(results, follow, leased)
                leased_at = leased_at or at
        except BaseException:
            # Items an earlier commit of this batch leased, and the ones not started yet, would
            # stay leased to nobody until their lease runs out: give them back unrun.
            self.store.release_activities(leased + works[ran:])
            raise
        return ran, leased, leased_at or now

    def complete_with_follow_ups(self, results: list[tuple[ActivityWork, Message]]) -> None:
        """Complete `results`, running the turns they cause at once where possible (see
        `_follow_up`); leases nothing. For drivers that run activities themselves (testkit)."""
        self._complete(results, True, [], limit=0)

    def _complete(
        self,
        results: list[tuple[ActivityWork, Message]],
        follow: bool,
        leased: list[ActivityWork],
        limit: int | None = None,
    ) -> datetime | None:
        """Complete `results`; with `follow` and a `FollowUpStore`, together with the turns they
        cause on cached executions. Adds the items the commit leased to `leased` (the caller
        gives them back if anything fails); returns when they were leased (None: none were)."""
        complete_with_turns = getattr(self.store, "complete_with_turns", None) if follow else None
        if complete_with_turns is None:
            self.store.complete_activities(results)
            return None
        now = self.clock.now()
        by_instance: dict[str, list[tuple[ActivityWork, Message]]] = {}
        for item in results:
            by_instance.setdefault(item[0].instance_id, []).append(item)
        plain: list[tuple[ActivityWork, Message]] = []
        turns: list[FollowUpTurn] = []
        executions: list[Execution] = []
        for key, items in by_instance.items():
            prepared = self._follow_up(key, items, now)
            if prepared is None:
                plain += items
            else:
                turns.append(prepared[0])
                executions.append(prepared[1])
        if not turns:
            self.store.complete_activities(plain)
            return None
        applied, more = complete_with_turns(
            plain,
            turns,
            now,
            limit=self.batch_size if limit is None else limit,
            lease=self.activity_lease,
        )
        leased += more  # before the observer runs: `_run_batch` gives them back if it fails
        for turn, exe, ok in zip(turns, executions, applied, strict=True):
            self._after_commit(turn.commit, exe, ok)
        return now if more else None

    def _follow_up(
        self, key: str, items: list[tuple[ActivityWork, Message]], now: datetime
    ) -> tuple[FollowUpTurn, Execution] | None:
        """The turn `items` (results for instance `key`) cause, run on the cached execution.

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
            # `length` and counts the history itself, and `_build_commit` only copies it
            commit = self._build_commit(state, "", [], exe, now)
        except Exception:
            _LOG.exception("follow-up turn of %s crashed; queueing its results instead", key)
            return None
        return FollowUpTurn(items, commit, length, generation, state.created_at), exe

    def run_activity(self, work: ActivityWork) -> h.Event:
        """Execute one attempt (through `activity_runner` when the testkit set one)."""
        now = self.clock.now()
        if self.activity_runner is not None:
            return self.activity_runner(work, now)
        return execute_activity(self.registry, work, now)

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
        state = work.instance
        messages = _apply_order(work.messages)
        consumed = [m.id for m in messages]
        if state.finished:
            return TurnCommit(state, work.lock_token, [], consumed), None
        events = [
            m.event for m in messages if m.generation is None or m.generation == state.generation
        ]
        exe = self._cached(state)
        if exe is not None:
            self.cache_hits += 1
            exe.begin_turn()
        else:
            self.cache_misses += 1
            try:
                exe = self._rebuild(state)
            except (UnknownOrchestration, StoreError) as exc:
                return self._fail_without_execution(state, work, consumed, now, exc), None
        exe.process(events, now)
        if exe.nondeterminism is not None and self.on_nondeterminism == "retry":
            stop = next((e for e in events if isinstance(e, h.OrchestrationTerminated)), None)
            if stop is not None:  # an operator may always end an instance stuck this way
                return self._terminate_stuck(state, work.lock_token, consumed, stop, now), exe
            return self._failed_turn(state, work.lock_token, exe.nondeterminism, now), exe
        return self._build_commit(state, work.lock_token, consumed, exe, now), exe

    def _terminate_stuck(
        self,
        state: InstanceState,
        token: str,
        consumed: list[int],
        stop: h.OrchestrationTerminated,
        now: datetime,
    ) -> TurnCommit:
        """Terminate an instance whose code no longer replays: the one turn that needs no replay."""
        ended = copy.copy(state)
        ended.status = Status.TERMINATED
        ended.error = h.ErrorInfo("Terminated", stop.reason or "terminated")
        ended.updated_at = now
        commit = TurnCommit(ended, token, [h.OrchestrationTerminated(now, stop.reason)], consumed)
        self._notify_parent(commit, state, None, now)
        return commit

    def _failed_turn(
        self, state: InstanceState, token: str, error: Exception, now: datetime
    ) -> TurnCommit:
        """The code no longer replays this instance's history: fail the turn, not the instance.

        Nothing is consumed or appended; the instance keeps its status, shows the error, and is
        retried after `nondeterminism_retry` seconds (by then the deploy may be rolled back or
        fixed with ctx.patched()). With ``on_nondeterminism="fail"`` the instance fails instead.
        """
        _LOG.error(
            "turn of %s failed; retrying in %s s: %s",
            state.instance_id,
            self.nondeterminism_retry,
            error,
        )
        held = copy.copy(state)
        held.error = h.ErrorInfo(
            "NonDeterminismError",
            f"{error} (the turn was not applied; the instance is retried every "
            f"{self.nondeterminism_retry:g} s until the code replays its history again)",
        )
        held.updated_at = now
        hold = now + timedelta(seconds=self.nondeterminism_retry)
        return TurnCommit(held, token, [], [], hold_until=hold)

    def _rebuild(self, state: InstanceState) -> Execution:
        odef = self.registry.get_orchestration(state.name)
        exe = Execution(self.registry, odef, state.instance_id, strict=self.strict)
        exe.begin_turn()
        if state.history_len:
            exe.replay(self.store.get_history(state.instance_id))
        return exe

    def _fail_without_execution(
        self,
        state: InstanceState,
        work: OrchestrationWork,
        consumed: list[int],
        now: datetime,
        exc: OrchestrateError,
    ) -> TurnCommit:
        """The instance cannot run here (code removed, history unreadable): fail it, keep the rest."""
        kind = type(exc).__name__
        if isinstance(exc, StoreError):
            message = f"the stored history of {state.instance_id!r} cannot be read: {exc}"
        else:
            message = f"{exc}. The instance was started with code this worker does not have."
        info = h.ErrorInfo(kind, message)
        failed = h.OrchestrationFailed(now, info)
        new_state = dataclasses.replace(state, status=Status.FAILED, error=info, updated_at=now)
        commit = TurnCommit(new_state, work.lock_token, [failed], consumed)
        self._notify_parent(commit, state, failed, now)
        return commit

    def _build_commit(
        self, state: InstanceState, token: str, consumed: list[int], exe: Execution, now: datetime
    ) -> TurnCommit:
        new = exe.new_events
        key = state.instance_id
        gen = state.generation
        next_state = object.__new__(InstanceState)  # a shallow copy, cheaper than copy.copy
        next_state.__dict__.update(state.__dict__)
        next_state.updated_at = now
        if next_state.status == Status.PENDING and any(
            isinstance(e, h.OrchestrationStarted) for e in new
        ):
            next_state.status = Status.RUNNING
        commit = TurnCommit(next_state, token, list(new), consumed)
        dead: set[int] = set()  # timers created and cancelled in this very turn: never queued
        if exe.cancelled_timers:
            commit.cancelled_timers = [(gen, task_id) for task_id in exe.cancelled_timers]
            dead.update(exe.cancelled_timers)
        for event in new:
            if not event.is_command:
                continue
            if isinstance(event, h.ActivityScheduled):
                call_id = event.call_id if event.call_id is not None else event.task_id
                commit.activities.append(
                    ActivityWork(
                        key, gen, event.task_id, event.name, event.input, event.attempt, call_id
                    )
                )
            elif isinstance(event, h.TimerCreated):
                if event.task_id in dead:
                    continue
                fired = h.TimerFired(event.fire_at, event.task_id)
                commit.messages.append(Message(key, fired, gen, visible_at=event.fire_at))
            elif isinstance(event, h.SubOrchestrationScheduled):
                self._start_child(commit, state, event, now)
            elif isinstance(event, h.CustomStatusSet):
                next_state.custom_status = event.status
        if next_state.error is not None and next_state.error.type == "NonDeterminismError":
            next_state.error = None  # an earlier failed turn: this one replayed fine
        result = exe.result
        if result is None and not exe.terminated:
            return commit  # the generation goes on
        is_new = result is not None and any(e is result for e in reversed(new))
        if exe.terminated:
            reason = next((e.reason for e in new if isinstance(e, h.OrchestrationTerminated)), "")
            next_state.status = Status.TERMINATED
            next_state.error = h.ErrorInfo("Terminated", reason or "terminated")
            self._notify_parent(commit, state, None, now)
        elif isinstance(result, h.OrchestrationCompleted) and is_new:
            next_state.status = Status.COMPLETED
            next_state.output = result.output
            self._notify_parent(commit, state, result, now)
        elif isinstance(result, h.OrchestrationFailed) and is_new:
            next_state.status = Status.FAILED
            next_state.error = result.error
            self._notify_parent(commit, state, result, now)
        elif isinstance(result, h.ContinuedAsNew) and is_new:
            self._continue_as_new(commit, exe, result, now)
        return commit

    def _continue_as_new(
        self, commit: TurnCommit, exe: Execution, result: h.ContinuedAsNew, now: datetime
    ) -> None:
        """Start the next generation: fresh history, same id, buffered events carried over."""
        state = commit.instance
        gen = state.generation + 1
        commit.reset_history = True
        commit.new_events = []
        commit.activities = []
        commit.messages = [m for m in commit.messages if m.instance_id != state.instance_id]
        state.generation = gen
        state.input = result.input
        state.status = Status.RUNNING
        carried = [
            {"name": e.name, "input": e.input}
            for e in exe.carry_over
            if isinstance(e, h.EventRaised)
        ]
        start = h.OrchestrationStarted(
            now,
            state.name,
            result.input,
            state.instance_id,
            gen,
            state.parent_instance,
            state.parent_task,
            carried,
        )
        commit.messages.append(Message(state.instance_id, start, gen))
        for event in exe.carry_over:
            if isinstance(event, h.OrchestrationTerminated):  # it arrived as the generation ended
                commit.messages.append(Message(state.instance_id, event))

    def _start_child(
        self,
        commit: TurnCommit,
        parent: InstanceState,
        event: h.SubOrchestrationScheduled,
        now: datetime,
    ) -> None:
        child = InstanceState(
            event.instance_id,
            event.name,
            Status.PENDING,
            event.input,
            created_at=now,
            updated_at=now,
            parent_instance=parent.instance_id,
            parent_generation=parent.generation,
            parent_task=event.task_id,
        )
        start = h.OrchestrationStarted(
            now, event.name, event.input, event.instance_id, 0, parent.instance_id, event.task_id
        )
        commit.children.append(child)
        commit.messages.append(Message(event.instance_id, start, 0))

    def _notify_parent(
        self, commit: TurnCommit, state: InstanceState, result: h.Event | None, now: datetime
    ) -> None:
        if state.parent_instance is None or state.parent_task is None:
            return
        notice: h.Event
        if isinstance(result, h.OrchestrationCompleted):
            notice = h.SubOrchestrationCompleted(now, state.parent_task, result.output)
        elif isinstance(result, h.OrchestrationFailed):
            notice = h.SubOrchestrationFailed(
                now, state.parent_task, result.error.type, result.error.message
            )
        else:
            notice = h.SubOrchestrationFailed(
                now, state.parent_task, "Terminated", f"{state.instance_id} was terminated"
            )
        commit.messages.append(Message(state.parent_instance, notice, state.parent_generation))

    # --- background threads -------------------------------------------------------------------------

    def start(self) -> None:
        """Start `threads` background threads that poll until `stop()`."""
        if self._threads:
            return
        self._stopping = False
        for index in range(max(1, self.threads)):
            thread = threading.Thread(
                target=self._loop, name=f"orchestrate-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the threads to finish their current round and wait for them."""
        self._stopping = True
        self.store.close()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while not self._stopping:
            try:
                busy = self.poll_once()
            except Exception:
                _LOG.exception("worker round failed; retrying")
                busy = False
            if busy or self._stopping:
                continue
            wake = self.store.next_wakeup()
            timeout = 0.5
            if wake is not None:
                timeout = min(timeout, max(0.0, (wake - self.clock.now()).total_seconds()))
            self.store.wait_for_change(timeout)
