"""`MemoryStore`: the `Store` contract in process memory, for tests and short-lived runtimes.

One lock guards everything, so each commit is atomic with respect to every reader and worker
thread; a condition variable wakes waiting workers and clients instead of polling.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from .. import history as h
from ..errors import InstanceNotFound
from ..state import (
    ActivityWork,
    Batch,
    CachedBase,
    InstanceQuery,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    TurnCommit,
    Written,
)
from .contract import (
    child_refused,
    child_starts,
    must_be_finished,
    must_be_running,
    next_run,
    purged_family,
    query_key,
    query_matches,
    reused_generation,
    signal_outcome,
)

__all__ = ["MemoryStore"]

_R = TypeVar("_R")

# Lock and lease tokens: a random prefix per process and a number per store, so no two stores'
# tokens are alike (a token one store handed out never matches in another).
_PROCESS_PREFIX = os.urandom(4).hex()
_STORE_NUMBERS = itertools.count(1)


def _copy(record: _R, **changes: Any) -> _R:
    """A shallow copy of a record with some fields changed (far cheaper than dataclasses.replace).

    Readers get copies so that nothing they change leaks into the store. Handing the clone a copy
    of the record's ``__dict__`` is about twice as fast as filling the clone's own dict.
    """
    clone = object.__new__(type(record))
    fields = record.__dict__.copy()
    if changes:
        fields.update(changes)
    clone.__dict__ = fields
    return clone


def _timer_key(message: Message) -> tuple[str, int | None, int] | None:
    event = message.event
    if isinstance(event, h.TimerFired):
        return (message.instance_id, message.generation, event.task_id)
    return None


def _ts(moment: datetime) -> float:
    """`moment` as a POSIX timestamp; a turn converts the same `now` several times, so the last
    conversion is kept (one immutable pair, safe across threads)."""
    global _LAST_TS
    last = _LAST_TS
    if last[0] is moment:
        return last[1]
    value = moment.timestamp()
    _LAST_TS = (moment, value)
    return value


_LAST_TS: tuple[datetime | None, float] = (None, 0.0)


class MemoryStore:
    """An in-memory store; thread-safe, not durable."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # Made by the first wait_for_change: a store nobody waits on (a test's) never needs one.
        self._changed: threading.Condition | None = None
        self._waiting = 0  # threads in wait_for_change: with none, a change notifies nobody
        self._changes = 0  # bumped by every change: the mark `wait_for_change` compares
        self._ids = itertools.count(1)
        self._token_prefix = f"{_PROCESS_PREFIX}{next(_STORE_NUMBERS)}-"
        self._instances: dict[str, InstanceState] = {}
        self._history: dict[str, list[h.Event]] = {}
        self._inbox: dict[str, list[Message]] = {}
        self._ready: OrderedDict[str, None] = OrderedDict()
        self._held: list[tuple[float, int, Message]] = []  # timers not yet due
        self._dead_ids: set[int] = set()  # held timer messages whose timer was cancelled
        self._locks: dict[str, tuple[str, float]] = {}
        self._activities: OrderedDict[int, ActivityWork] = OrderedDict()
        self._leases: dict[int, tuple[ActivityWork, float]] = {}
        # At most the earliest lease expiry (a floor: completed leases do not raise it), so a
        # fetch scans the leases for expired ones only when one may have expired.
        self._lease_floor = math.inf
        # (instance, generation, call id) -> the last heartbeat details of that activity call,
        # for its next attempt (a re-lease or a retry); dropped with the instance.
        self._beats: dict[tuple[str, int, int], Any] = {}

    # --- instances ---------------------------------------------------------------------------

    def create_instance(
        self,
        state: InstanceState,
        start: Message,
        *,
        reuse: bool = False,
        event: Message | None = None,
    ) -> bool:
        with self._lock:
            created = self._create(state, start, reuse, event)
            if event is not None:
                self._enqueue(_copy(event))
            self._notify()
            return created

    def _create(
        self, state: InstanceState, start: Message, reuse: bool, event: Message | None = None
    ) -> bool:
        old = self._instances.get(state.instance_id)
        if old is not None:
            generation = reused_generation(
                state.instance_id, old.status, old.generation, reuse=reuse, signal=event is not None
            )
            if generation is None:
                return False  # signal-with-start: the running instance takes the event
            state = _copy(state, generation=generation)
            start = next_run(start, generation)
            self._drop([state.instance_id])
        self._instances[state.instance_id] = _copy(state)
        self._history[state.instance_id] = []
        self._inbox[state.instance_id] = []
        self._enqueue(start)
        return True

    def get_instance(self, instance_id: str) -> InstanceState | None:
        with self._lock:
            state = self._instances.get(instance_id)
            return _copy(state) if state is not None else None

    def list_instances(
        self,
        *,
        status: Status | str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[InstanceState]:
        with self._lock:
            found = [
                _copy(s)
                for s in self._instances.values()
                if (status is None or s.status == status) and (name is None or s.name == name)
            ]
        found.sort(key=lambda s: (s.created_at.timestamp() if s.created_at else 0.0, s.instance_id))
        return found[:limit] if limit is not None else found

    def query_instances(self, query: InstanceQuery) -> list[InstanceState]:
        with self._lock:  # a scan: the memory store holds what fits in memory anyway
            found = [s for s in self._instances.values() if query_matches(query, s)]
        page = heapq.nlargest(max(query.limit, 0), found, key=query_key)
        return [_copy(s) for s in page]

    def get_history(self, instance_id: str) -> list[h.Event]:
        with self._lock:
            if instance_id not in self._history:
                raise InstanceNotFound(f"no instance with id {instance_id!r}")
            return list(self._history[instance_id])

    def send(self, message: Message) -> None:
        with self._lock:
            state = self._instances.get(message.instance_id)
            must_be_running(
                message.instance_id,
                None if state is None else state.status,
                "it takes no more messages",
            )
            self._enqueue(message)
            self._notify()

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        with self._lock:
            if instance_id is not None:
                state = self._instances.get(instance_id)
                must_be_finished(instance_id, None if state is None else state.status)
                family = self._family([instance_id])
                self._drop(family)
                return len(family)
            doomed = [
                s.instance_id
                for s in self._instances.values()
                if s.finished
                and (
                    finished_before is None
                    or (s.updated_at is not None and s.updated_at < finished_before)
                )
            ]
            family = self._family(doomed)
            self._drop(family)
            return len(family)

    def _family(self, roots: list[str]) -> list[str]:
        """`roots` and the children purged with them (see `contract.purged_family`)."""
        children: dict[str, list[InstanceState]] = {}
        for state in self._instances.values():
            if state.parent_instance is not None:
                children.setdefault(state.parent_instance, []).append(state)
        return purged_family(
            roots, lambda key: children.get(key, []), lambda key: self._history.get(key, [])
        )

    def _drop(self, instance_ids: Iterable[str]) -> None:
        """Forget instances and everything of theirs: inbox, held timers, activity work, leases."""
        keys = set(instance_ids)
        if not keys:
            return
        for key in keys:
            self._instances.pop(key, None)
            self._history.pop(key, None)
            self._inbox.pop(key, None)
            self._ready.pop(key, None)
            self._locks.pop(key, None)
        held = [entry for entry in self._held if entry[2].instance_id not in keys]
        if len(held) != len(self._held):
            heapq.heapify(held)
            self._held = held
            self._dead_ids.intersection_update(entry[1] for entry in held)
        for item_id in [k for k, w in self._activities.items() if w.instance_id in keys]:
            del self._activities[item_id]
        for beat in [k for k in self._beats if k[0] in keys]:
            del self._beats[beat]
        for item_id in [k for k, (w, _) in self._leases.items() if w.instance_id in keys]:
            del self._leases[item_id]

    # --- orchestration turns ---------------------------------------------------------------------

    def _enqueue(self, message: Message) -> None:
        message.id = next(self._ids)
        if message.visible_at is not None:
            heapq.heappush(self._held, (_ts(message.visible_at), message.id, message))
            return
        inbox = self._inbox.get(message.instance_id)
        if inbox is None:
            return  # the instance was purged: nobody can read this message any more
        inbox.append(message)
        self._ready[message.instance_id] = None

    def _release_due(self, now: float) -> None:
        while self._held and self._held[0][0] <= now:
            _, _, message = heapq.heappop(self._held)
            if message.id in self._dead_ids:
                self._dead_ids.discard(message.id)
                continue  # its timer was cancelled: nobody waits for it
            inbox = self._inbox.get(message.instance_id)
            if inbox is not None:
                inbox.append(message)
                self._ready[message.instance_id] = None

    def fetch_orchestration_work(
        self, now: datetime, *, limit: int = 1, lease: float = 60.0
    ) -> list[OrchestrationWork]:
        moment = _ts(now)
        out: list[OrchestrationWork] = []
        with self._lock:
            self._release_due(moment)
            for instance_id in list(self._ready):
                if len(out) >= limit:
                    break
                held = self._locks.get(instance_id)
                if held is not None and held[1] > moment:
                    continue
                inbox = self._inbox.get(instance_id)
                if not inbox:
                    del self._ready[instance_id]
                    continue
                token = f"{self._token_prefix}{next(self._ids)}"
                self._locks[instance_id] = (token, moment + lease)
                self._ready.move_to_end(instance_id)
                messages = [_copy(m) for m in inbox]
                state = _copy(self._instances[instance_id])
                out.append(OrchestrationWork(state, messages, token))
        return out

    def write(self, batch: Batch) -> Written:
        """See `Store.write`: turns, completions and the lease-back under one lock."""
        needs_now = batch.lease > 0 or bool(batch.renewals)
        needs_now = needs_now or any(turn.cached is not None for turn in batch.turns)
        moment = _ts(batch.moment()) if needs_now or batch.now is not None else None
        applied: list[bool] = []
        completions = list(batch.completions)
        with self._lock:
            if moment is not None:
                self._release_due(moment)  # timers due now are visible messages
            done: set[str] = set()  # one applied turn per instance and batch
            for commit in batch.turns:
                key = commit.instance.instance_id
                cached = commit.cached
                if cached is None:
                    ok = key not in done and self._locked_by(commit)
                else:
                    ok = key not in done and self._still_at(commit, cached, moment or 0.0)
                    if ok:
                        for work, _ in cached.results:
                            self._take(work)
                    else:  # moved on, or a lease was lost: each result on its own
                        completions += cached.results
                applied.append(ok)
                if ok:
                    done.add(key)
                    self._apply(commit)
            self._signal([c for c, ok in zip(batch.turns, applied, strict=True) if ok])
            renewed = self._renew(batch.renewals, moment or 0.0, batch.lease_seconds)
            self._complete(completions)
            leased = self._lease(moment or 0.0, batch.lease, batch.lease_seconds)
            self._notify()
        return Written(applied, leased, renewed)

    def _locked_by(self, commit: TurnCommit) -> bool:
        held = self._locks.get(commit.instance.instance_id)
        return held is not None and held[0] == commit.lock_token

    def _still_at(self, commit: TurnCommit, cached: CachedBase, moment: float) -> bool:
        """Whether a cached turn's instance is where the turn was computed (see `Store.write`)."""
        key = commit.instance.instance_id
        state = self._instances.get(key)
        held = self._locks.get(key)
        return (
            state is not None
            and not state.finished
            and state.generation == cached.generation
            and state.created_at == cached.created_at
            and len(self._history[key]) == cached.history_len
            and (held is None or held[1] <= moment)
            and not self._inbox.get(key)
            and None not in [self._leased_item(work) for work, _ in cached.results]
        )

    def _apply(self, commit: TurnCommit) -> None:
        """Apply a turn whose guard held: history, state, work, messages; release the lock."""
        key = commit.instance.instance_id
        if commit.hold_until is not None:
            token = commit.lock_token or f"{self._token_prefix}{next(self._ids)}"
            self._locks[key] = (token, _ts(commit.hold_until))
        else:
            self._locks.pop(key, None)
        if commit.withdrawn:
            self._withdraw(key, commit.withdrawn)
        consumed = set(commit.consumed)
        inbox = self._inbox[key]
        if commit.cancelled_timers:
            dead = {(key, gen, task) for gen, task in commit.cancelled_timers}
            inbox = [m for m in inbox if m.id not in consumed and _timer_key(m) not in dead]
            # those still held are dropped when they come due
            self._dead_ids.update(m.id for _, _, m in self._held if _timer_key(m) in dead)
        elif consumed:
            inbox = [m for m in inbox if m.id not in consumed]
        self._inbox[key] = inbox
        if not inbox:
            self._ready.pop(key, None)
        history = self._history[key]
        if commit.reset_history:
            history.clear()
        history.extend(commit.new_events)
        state = _copy(commit.instance, history_len=len(history))
        self._instances[key] = state
        for work in commit.activities:
            work.id = next(self._ids)
            self._activities[work.id] = work
        refused: set[int] = set()  # positions in commit.messages of refused children's starts
        starts = child_starts(commit) if commit.children else []
        for child, start in zip(commit.children, starts, strict=True):
            existing = self._instances.get(child.instance_id)
            if existing is not None:
                self._reject_child(child, existing)
                if start is not None:  # its start must not reach the instance holding its id
                    refused.add(start)
                continue
            self._instances[child.instance_id] = _copy(child)
            self._history[child.instance_id] = []
            self._inbox[child.instance_id] = []
        for index, message in enumerate(commit.messages):
            if index not in refused:
                self._enqueue(message)

    def _signal(self, commits: list[TurnCommit]) -> None:
        """Deliver the events the applied turns raised, checked against the instances as the
        whole batch left them (as the SQLite store does), and answer their senders."""
        for commit in commits:
            for signal in commit.signals:
                target = self._instances.get(signal.message.instance_id)
                status = None if target is None else target.status
                deliver, reply = signal_outcome(signal, status)
                if deliver:
                    self._enqueue(_copy(signal.message))
                self._enqueue(reply)

    def _reject_child(self, child: InstanceState, existing: InstanceState) -> None:
        notice = child_refused(child, existing.name)
        if notice is not None:
            self._enqueue(notice)

    def retry(self, instance_id: str) -> bool:
        with self._lock:
            state = self._instances.get(instance_id)
            must_be_running(
                instance_id, None if state is None else state.status, "there is no turn to retry"
            )
            released = self._locks.pop(instance_id, None) is not None
            self._notify()
            return released

    def abandon(self, work: OrchestrationWork) -> None:
        with self._lock:
            key = work.instance.instance_id
            held = self._locks.get(key)
            if held is not None and held[0] == work.lock_token:
                del self._locks[key]
            self._notify()

    # --- activities ------------------------------------------------------------------------------

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]:
        with self._lock:
            return self._lease(_ts(now), limit, lease)

    def _lease(self, moment: float, limit: int, lease: float) -> list[ActivityWork]:
        """Lease up to `limit` items at `moment` for `lease` seconds (the caller holds the lock)."""
        out: list[ActivityWork] = []
        if limit <= 0:
            return out
        if self._lease_floor <= moment:
            self._requeue_expired(moment)
        expires = moment + lease
        while self._activities and len(out) < limit:
            item_id, work = self._activities.popitem(last=False)
            work = _copy(work, lease_token=f"{self._token_prefix}{next(self._ids)}")
            if self._beats:
                beat = self._beats.get((work.instance_id, work.generation, work.call_id))
                if beat is not None:
                    work.heartbeat_details = beat
            self._leases[item_id] = (work, expires)
            out.append(_copy(work))
        if out and expires < self._lease_floor:
            self._lease_floor = expires
        return out

    def _renew(self, works: list[ActivityWork], moment: float, lease: float) -> list[bool]:
        """Extend the leases of `works` still held with their tokens to `moment + lease`."""
        renewed: list[bool] = []
        expires = moment + lease
        for work in works:
            item = self._leased_item(work)
            if item is not None:
                self._leases.pop(work.id, None)  # or expired and requeued, not granted again
            if item is not None:
                if work.heartbeat_details is not None:
                    key = (work.instance_id, work.generation, work.call_id)
                    self._beats[key] = work.heartbeat_details
                self._activities.pop(work.id, None)
                self._leases[work.id] = (item, expires)
                self._lease_floor = min(self._lease_floor, expires)
            renewed.append(item is not None)
        return renewed

    def _withdraw(self, key: str, attempts: list[tuple[int, int]]) -> None:
        """Remove the items of cancelled attempts of `key`, queued or leased."""
        wanted = set(attempts)
        for item_id, work in list(self._activities.items()):
            if work.instance_id == key and (work.generation, work.task_id) in wanted:
                del self._activities[item_id]
        for item_id, (work, _) in list(self._leases.items()):
            if work.instance_id == key and (work.generation, work.task_id) in wanted:
                del self._leases[item_id]

    def _requeue_expired(self, moment: float) -> None:
        """Put the items whose lease expired by `moment` back at the front of the queue."""
        expired = [(k, w) for k, (w, expires) in self._leases.items() if expires <= moment]
        # Reversed, so they go back to the front of the queue in the order they were leased.
        for item_id, work in reversed(expired):
            del self._leases[item_id]
            self._activities[item_id] = work
            self._activities.move_to_end(item_id, last=False)
        self._lease_floor = min((expires for _, expires in self._leases.values()), default=math.inf)

    def _take(self, work: ActivityWork) -> ActivityWork | None:
        """Remove and return the item `work` leased, if its lease token still matches."""
        item = self._leased_item(work)
        if item is not None and self._leases.pop(work.id, None) is None:
            del self._activities[work.id]  # it was back in the queue, not among the leases
        return item

    def _leased_item(self, work: ActivityWork) -> ActivityWork | None:
        """The item `work` leased, if its lease token still matches (left in place).

        The item is either leased (perhaps expired, not yet re-granted) or back in the queue after
        its lease expired, still carrying that token until a fetch re-grants it. None when the
        item is gone or another lease was granted since (see `Store.write`).
        """
        token = work.lease_token
        if not token:
            return None  # never leased: nobody may complete or release it
        leased = self._leases.get(work.id)
        item = leased[0] if leased is not None else self._activities.get(work.id)
        return item if item is not None and item.lease_token == token else None

    def _complete(self, results: list[tuple[ActivityWork, Message]]) -> None:
        for work, message in results:
            # Gone (completed, purged) or re-leased to another worker: at most one result.
            if self._take(work) is not None:
                self._enqueue(message)

    def release_activities(self, works: list[ActivityWork]) -> None:
        with self._lock:
            # Reversed, so the items go back to the front of the queue in their fetched order.
            for work in reversed(works):
                item = self._take(work)
                if item is not None:
                    self._activities[work.id] = _copy(item, lease_token="")
                    self._activities.move_to_end(work.id, last=False)
            self._notify()

    # --- waiting -----------------------------------------------------------------------------------

    def next_wakeup(self) -> datetime | None:
        with self._lock:
            moments = [self._held[0][0]] if self._held else []
            moments.extend(expires for _, expires in self._leases.values())
            moments.extend(expires for _, expires in self._locks.values())
        if not moments:
            return None
        return datetime.fromtimestamp(min(moments)).astimezone()

    def _notify(self) -> None:
        """Count a change and wake the waiters (the caller holds the lock); nearly free when
        nobody waits, as in tests."""
        self._changes += 1
        if self._waiting and self._changed is not None:
            self._changed.notify_all()

    def change_mark(self) -> int:
        with self._lock:
            return self._changes

    def wait_for_change(self, timeout: float, since: Any = None) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            seen = self._changes if since is None else since
            if self._changed is None:
                self._changed = threading.Condition(self._lock)
            changed = self._changed
            self._waiting += 1
            try:
                while self._changes == seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    changed.wait(remaining)
                return True
            finally:
                self._waiting -= 1

    def close(self) -> None:
        with self._lock:
            self._notify()
