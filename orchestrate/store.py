"""The `Store` protocol: the one seam between the runtime and its durable storage.

A store keeps instances, their histories, the message inbox of each instance (results, timers,
raised events) and the activity work queue. Its contract, which every implementation's tests check:

- `commit_turns` applies each `TurnCommit` atomically: new history events, the instance's new
  state, outgoing activity work, outgoing messages (timers, notices to a parent, child starts) and
  the deletion of the consumed messages happen together or not at all. A commit whose lock was
  lost (another worker took the instance) is refused and changes nothing.
- `fetch_orchestration_work` locks an instance that has visible messages for `lease` seconds, so
  only one worker runs its turn; timers become visible at their due time.
- `fetch_activity_work` leases activity items; an expired lease makes the item available again
  (at-least-once), and `complete_activities` turns a finished item into a result message at most
  once (a second completion of the same item is dropped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from . import history as h
from .state import (
    ActivityWork,
    FollowUpTurn,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    TurnCommit,
)

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["FollowUpStore", "LeasingStore", "Store"]


@runtime_checkable
class Store(Protocol):
    """Durable storage for instances, histories, inboxes and the activity queue."""

    def create_instance(self, state: InstanceState, start: Message, *, reuse: bool = False) -> None:
        """Insert a new instance and its start message.

        Raises `DuplicateInstance` if the id exists, unless `reuse` is set and the old instance
        finished. Then the old one is replaced (its history, inbox, timers and activity work are
        dropped) and the new run continues the old run's generation count: `state.generation`,
        `start.generation` and the start event's `generation` become the old generation + 1, so
        nothing still addressed to the old run (a late result, a child's notice) reaches the new
        one, and the new run's child ids, seeds and idempotency keys differ from the old run's.
        """
        ...

    def get_instance(self, instance_id: str) -> InstanceState | None: ...

    def list_instances(
        self,
        *,
        status: Status | str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[InstanceState]: ...

    def get_history(self, instance_id: str) -> list[h.Event]:
        """The current generation's history; `InstanceNotFound` for an unknown id."""
        ...

    def send(self, message: Message) -> None:
        """Deliver a message from outside (raise_event, terminate).

        Raises `InstanceNotFound` for an unknown id and `InstanceNotRunning` for a finished one.
        """
        ...

    def fetch_orchestration_work(
        self, now: datetime, *, limit: int = 1, lease: float = 60.0
    ) -> list[OrchestrationWork]: ...

    def commit_turns(self, commits: list[TurnCommit]) -> list[bool]:
        """Commit turns; returns per commit whether it was applied (False: the lock was lost).

        An applied commit releases the instance's lock, unless it has `hold_until`: then the
        lock is kept (with the same token) until that time, and the instance is not fetched
        before it. Pending `TimerFired` messages of the commit's `cancelled_timers` are dropped.
        """
        ...

    def abandon(self, work: OrchestrationWork) -> None:
        """Release an instance's lock without consuming anything (the turn crashed)."""
        ...

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]: ...

    def complete_activities(self, results: list[tuple[ActivityWork, Message]]) -> None:
        """Remove finished items and enqueue their result messages, atomically, at most once.

        An item counts as this worker's only while its `lease_token` still matches: a result
        whose lease was lost and re-granted, or whose item is gone, is dropped.
        """
        ...

    def release_activities(self, works: list[ActivityWork]) -> None:
        """Give leased items back unrun (their lease token still matching), for other workers."""
        ...

    def next_wakeup(self) -> datetime | None:
        """When the earliest held-back message (timer) or expired lease becomes workable."""
        ...

    def wait_for_change(self, timeout: float) -> None:
        """Block up to `timeout` seconds or until something may have changed."""
        ...

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        """Delete a finished instance (or all finished before a time); returns how many."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class LeasingStore(Protocol):
    """An optional store capability: commit turns and lease activity work in one transaction.

    A worker that runs the activities its own turns schedule would otherwise commit, then fetch
    them back in a second transaction, reading their rows and writing their leases again.
    `Worker.poll_once` uses this method when the store has it (`SqliteStore` does); a store
    without it keeps working through `commit_turns` and `fetch_activity_work`.
    """

    def commit_turns_and_lease(
        self, commits: list[TurnCommit], now: datetime, *, limit: int, lease: float = 300.0
    ) -> tuple[list[bool], list[ActivityWork]]:
        """Apply `commits` exactly as `commit_turns` does, and in the same transaction lease up
        to `limit` activity items due at `now` to the caller, as `fetch_activity_work(now,
        limit=limit, lease=lease)` right after the commit would (queue order; the items the
        commits just scheduled included). Returns (applied per commit, leased items)."""
        ...


@runtime_checkable
class FollowUpStore(Protocol):
    """An optional store capability: complete activities together with the turns they cause.

    A worker that has an instance's execution cached can run the turn an activity result causes
    right away, instead of queueing the result, fetching it back and locking the instance in two
    more transactions. `Worker` uses this method when the store has it (`SqliteStore` and
    `MemoryStore` do; the testkit's env too, through `Worker.complete_with_follow_ups`).
    """

    def complete_with_turns(
        self,
        results: list[tuple[ActivityWork, Message]],
        turns: list[FollowUpTurn],
        now: datetime,
        *,
        limit: int,
        lease: float = 300.0,
    ) -> tuple[list[bool], list[ActivityWork]]:
        """In one transaction: complete `results` as `complete_activities` does; for each of
        `turns`, complete its results and apply its commit as `commit_turns` would, but only if
        its instance is still the run, generation and history length the turn was computed on
        (`created_at`, `generation`, `history_len`), not finished, unlocked, and has no visible
        message (otherwise its results are completed as ordinary messages instead);
        and lease up to `limit` due activity items as `commit_turns_and_lease` does. A result
        whose lease was lost is dropped, with its turn. Returns (applied per turn, leased items).
        """
        ...
