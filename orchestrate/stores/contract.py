"""The `Store` protocol: the one seam between the runtime and its durable storage.

A store keeps instances, their histories, the message inbox of each instance (results, timers,
raised events) and the activity work queue. It has one write, `write`, whose contract is stated
on it below; everything else is a read, a claim (`fetch_orchestration_work`,
`fetch_activity_work`, giving a claim back with `abandon` / `release_activities`) or an operator
action (`create_instance`, `send`, `retry`, `purge`). The contract suite
(`tests/orchestrate/test_store_contract.py` and `test_store_write.py`) checks it on every
implementation.

- `fetch_orchestration_work` locks an instance that has visible messages for `lease` seconds, so
  only one worker runs its turn; timers become visible at their due time.
- `fetch_activity_work` leases activity items; an expired lease makes the item available again
  (at-least-once), and only the holder of an item's current lease can complete it (`write`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .. import codec
from .. import history as h
from ..errors import DuplicateInstance, InstanceNotFound, InstanceNotRunning
from ..state import (
    ActivityWork,
    Batch,
    InstanceQuery,
    InstanceState,
    Message,
    OrchestrationWork,
    Signal,
    Status,
    TurnCommit,
    Written,
)

if TYPE_CHECKING:
    from datetime import datetime

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)

__all__ = [
    "Store",
    "child_refused",
    "child_starts",
    "must_be_finished",
    "must_be_running",
    "next_run",
    "purged_family",
    "query_key",
    "query_matches",
    "reused_generation",
    "signal_outcome",
]


@runtime_checkable
class Store(Protocol):
    """Durable storage for instances, histories, inboxes and the activity queue."""

    def create_instance(
        self,
        state: InstanceState,
        start: Message,
        *,
        reuse: bool = False,
        event: Message | None = None,
    ) -> bool:
        """Insert a new instance and its start message; True when it was created.

        With `event` (signal-with-start, an `EventRaised` for `state.instance_id`): the event is
        queued after the start of a created instance; and when the id is held by an instance
        that has not finished, the event is queued to that one instead of raising, and False is
        returned. Both in one transaction: of two callers racing on one id, one creates the
        instance and the other's event reaches it.

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

    def query_instances(self, query: InstanceQuery) -> list[InstanceState]:
        """One page of instances, newest first, filtered and cut as `query` says (see
        `InstanceQuery`; `query_matches` and `query_key` state the filter and the order).

        For browsing many instances (`orchestrate ui`): a page after a cursor costs about the
        same as the first, and a store filters before it decodes payloads where it can.
        """
        ...

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

    def write(self, batch: Batch) -> Written:
        """The one write: apply `batch` in one transaction, all of it or (on an error) none.

        **Turns.** Each of `batch.turns` is applied whole or not at all: its new history events
        (replacing the history when `reset_history`), the instance's new state, its outgoing
        activity work, its outgoing messages (timers, notices to a parent, child starts; a
        child whose id is taken is not created, its start is dropped and its parent gets a
        `SubOrchestrationFailed`), and the deletion of the messages it `consumed`. Pending
        `TimerFired` messages of its `cancelled_timers` are dropped, and the activity items of
        its `withdrawn` attempts are removed, queued or leased (their holders' renewals and
        results then find them gone). A turn is guarded:

        - by its `lock_token`: applied only while the instance's lock still carries that token
          (no other worker took the instance since the fetch);
        - or, when `turn.cached` is set (a turn a worker computed on its cached execution from
          its own activity results, without fetching), by where it was computed: applied only
          if the instance is still that run (`created_at`), `generation` and `history_len`, is
          not finished, is not locked (an expired lock does not count), has no visible message,
          and every one of `cached.results` still holds its lease. Then those results' items
          are removed with the turn (their messages are not queued: the turn applied them).

        Its `signals` (events raised to other instances) are checked after all that, against
        the instances as the batch's turns left them (after every applied turn): each is queued if its instance exists and has not
        finished, and the sender gets the answer (`signal_outcome`).

        A refused turn changes nothing, with one exception: the results of a refused cached turn
        whose leases still hold are completed as ordinary result messages (as `completions`),
        so an ordinary turn takes them. At most one turn per instance applies in a batch.
        An applied turn releases the instance's lock, unless it has `hold_until`: then the
        instance stays locked until that time and is not fetched before it.

        **Completions.** Each of `batch.completions` (an activity item with its result message)
        removes its item and queues its message, at most once: only while the item still
        carries the caller's `lease_token`. A result whose lease was lost (expired and granted
        again) or whose item is gone (completed, purged) is dropped.

        **Lease-back.** After the turns and completions, up to `batch.lease` activity items due
        at `batch.now` are leased to the caller for `batch.lease_seconds`, in queue order, as
        `fetch_activity_work` right after the write would (the items the turns just scheduled
        included), and returned in `Written.leased`.

        **Renewals.** Each of `batch.renewals` (an item the caller holds and still runs) has its
        lease extended to `batch.now + batch.lease_seconds`, only while the item still carries
        the caller's `lease_token` (an expired lease not yet granted again still counts). This is
        how a worker keeps short leases on long activities; an item nobody renews comes back
        within one lease. Renewals are applied after the turns (an item a turn of the same
        batch withdrew is not renewed) and before the completions (an attempt failed in the
        batch, e.g. for a missed heartbeat, still leaves its last details for the next one).
        A renewal with `heartbeat_details` stores them for the item's call: whoever leases
        that call's next attempt (the item again, or a retry) gets them.

        Returns `Written(applied, leased, renewed)`: `applied[i]` says whether `batch.turns[i]`
        applied, `renewed[i]` whether `batch.renewals[i]` still holds its lease.
        """
        ...

    def abandon(self, work: OrchestrationWork) -> None:
        """Release an instance's lock without consuming anything (the turn crashed)."""
        ...

    def retry(self, instance_id: str) -> bool:
        """Operator action: release the lock holding instance `instance_id` back (a turn that
        failed, e.g. on non-determinism, holds it until its retry time), so the next fetch runs
        its turn now. True if a lock was released. A worker still computing a turn of it loses
        the race safely: its commit no longer carries the current lock token.

        Raises `InstanceNotFound` for an unknown id and `InstanceNotRunning` for a finished one.
        """
        ...

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]: ...

    def release_activities(self, works: list[ActivityWork]) -> None:
        """Give leased items back unrun (their lease token still matching), for other workers."""
        ...

    def next_wakeup(self) -> datetime | None:
        """When the earliest held-back message (timer) or expired lease becomes workable."""
        ...

    def change_mark(self) -> Any:
        """A mark of the changes this store has seen so far, for `wait_for_change`.

        Taken before looking at the store (a worker's round, a client's read of a state), it
        lets the wait after the look end at once for a change made during the look, which a
        wait begun afterwards would sleep through.
        """
        ...

    def wait_for_change(self, timeout: float, since: Any = None) -> bool:
        """Block up to `timeout` seconds or until something may have changed (since the mark
        `since` from `change_mark`, when given); True on a change, False when the time ran out.
        A closed store returns False at once (nothing will change), never earlier otherwise."""
        ...

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        """Delete a finished instance (or all finished before a time); returns how many.

        Each purged instance takes its children with it (and theirs, see `purged_family`):
        finished ones, and running ones started with ``on_parent_close="terminate"`` (their
        terminate may still be on its way); a running child started with "abandon" is left
        alone. The count includes the children.
        """
        ...

    def close(self) -> None: ...


# --- helpers every store shares, so they behave alike ---------------------------------------


def child_starts(commit: TurnCommit) -> list[int | None]:
    """For each of `commit.children`, the index in `commit.messages` of its start message.

    A child's start is the `OrchestrationStarted` addressed to it that names the same parent and
    parent task, paired in order, each message at most once: two children with one id (in one
    turn) each get their own, so refusing one drops only that one's start. Both stores use this
    so they refuse children identically. None when a child has no start message.
    """
    waiting: dict[tuple[str, str | None, int | None], list[int]] = {}
    for index, message in enumerate(commit.messages):
        event = message.event
        if isinstance(event, h.OrchestrationStarted):
            key = (message.instance_id, event.parent_instance, event.parent_task)
            waiting.setdefault(key, []).append(index)
    found: list[int | None] = []
    for child in commit.children:
        indexes = waiting.get((child.instance_id, child.parent_instance, child.parent_task))
        found.append(indexes.pop(0) if indexes else None)
    return found


def child_refused(child: InstanceState, holder: str) -> Message | None:
    """The `SubOrchestrationFailed` telling `child`'s parent that its id is taken by a `holder`
    (name) instance; None when it has no parent to tell. Every store sends this one."""
    if child.parent_instance is None or child.parent_task is None:
        return None
    notice = h.SubOrchestrationFailed(
        child.created_at or _dt.datetime.now().astimezone(),
        child.parent_task,
        "DuplicateInstance",
        f"cannot start sub-orchestration {child.name!r}: instance id {child.instance_id!r} is "
        f"already used by a {holder!r} instance; pass a unique instance_id",
    )
    return Message(child.parent_instance, notice, child.parent_generation)


def next_run(start: Message, generation: int) -> Message:
    """`start` re-addressed to generation `generation` (a reused id continues the count)."""
    event = start.event
    if isinstance(event, h.OrchestrationStarted):
        event = dataclasses.replace(event, generation=generation)
    return Message(start.instance_id, event, generation, start.visible_at)


def reused_generation(
    instance_id: str, status: Status | str, generation: int, *, reuse: bool, signal: bool
) -> int | None:
    """What `create_instance` does when `instance_id` is taken by a run in `status` at
    `generation`: None when a signal-with-start (`signal`) leaves a running holder alone, to
    take the event; the new run's generation when `reuse` replaces a finished one. Otherwise it
    raises `DuplicateInstance`. Every store decides so (a status is finished as in
    `signal_outcome`: compared as text, so a damaged one counts as running).

    The new run continues the old one's generation count, so nothing still addressed to the old
    run (a late result, a child's notice) counts in the new one.
    """
    finished = str(status) in _FINISHED
    if signal and not finished:
        return None
    if not (reuse and finished):
        hint = (
            "pass reuse=True to start a new instance under this id"
            if finished
            else "it is still running; wait for it or terminate it first"
        )
        raise DuplicateInstance(
            f"an instance with id {instance_id!r} already exists ({status}); {hint}"
        )
    return generation + 1


def must_be_running(instance_id: str, status: Status | str | None, then: str) -> None:
    """Raise unless `instance_id` exists (`status` is not None) and is not finished; `then`
    ends the message, saying what a finished instance does not do (``"it takes no more
    messages"``)."""
    if status is None:
        raise InstanceNotFound(f"no instance with id {instance_id!r}; check the id with `list`")
    if str(status) in _FINISHED:
        raise InstanceNotRunning(f"instance {instance_id!r} is {status}; {then}")


def must_be_finished(instance_id: str, status: Status | str | None) -> None:
    """Raise unless `instance_id` exists (`status` is not None) and is finished (to purge it)."""
    if status is None:
        raise InstanceNotFound(f"no instance with id {instance_id!r}")
    if str(status) not in _FINISHED:
        raise InstanceNotRunning(
            f"instance {instance_id!r} is {status}; terminate it before purging"
        )


def purged_family(
    roots: list[str],
    children_of: Callable[[str], list[InstanceState]],
    history_of: Callable[[str], list[h.Event]],
) -> list[str]:
    """The ids `purge` deletes for `roots` (finished instances): each root, then its children
    that are finished or that the parent started with ``on_parent_close="terminate"``, and
    theirs, parents before children. A running child whose policy is "abandon" stays, with
    everything below it. The policy is read from the parent's history (only asked for a
    parent with a running child); a child the history no longer names (an earlier generation)
    counts as "terminate", the default. Both stores use this, so they purge alike.
    """
    doomed: list[str] = []
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        key = pending.pop(0)
        if key in seen:
            continue
        seen.add(key)
        doomed.append(key)
        children = [c for c in children_of(key) if c.instance_id not in seen]
        running = [c for c in children if not c.finished]
        abandoned: set[str] = set()
        if running:
            abandoned = {
                e.instance_id
                for e in history_of(key)
                if isinstance(e, h.SubOrchestrationScheduled) and e.on_parent_close == "abandon"
            }
        pending.extend(
            c.instance_id for c in children if c.finished or c.instance_id not in abandoned
        )
    return doomed


def query_key(state: InstanceState) -> tuple[int, str]:
    """Where `state` sorts in `query_instances` (descending): creation time in microseconds
    since the epoch (0 when unknown), then the id. A cursor is compared with the same key."""
    created = state.created_at
    return (_micros(created), state.instance_id)


def _micros(moment: datetime | None) -> int:
    if moment is None:
        return 0
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_CUSTOM_JSON = codec.compact_json(allow_nan=True)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def query_matches(query: InstanceQuery, state: InstanceState) -> bool:
    """Whether `state` passes every filter of `query` (its cursor included; not its limit).

    The custom status is matched as its compact JSON text (``null`` for none), as the SQLite
    store keeps it. Text matches fold ASCII letters only, as SQL ``LIKE`` does, so every store
    answers alike for any text.
    """
    if query.status is not None and state.status != str(Status(query.status)):
        return False
    if query.name is not None and state.name != query.name:
        return False
    if query.stuck and (state.finished or state.error is None):
        return False
    created = _micros(state.created_at)
    if query.created_from is not None and created < _micros(query.created_from):
        return False
    if query.created_to is not None and created >= _micros(query.created_to):
        return False
    if query.before is not None:
        moment, key = query.before
        if (created, state.instance_id) >= (_micros(moment), key):
            return False
    if query.text:
        needle = query.text.translate(_ASCII_LOWER)
        fields = [state.instance_id, state.name, _CUSTOM_JSON(state.custom_status)]
        if state.error is not None:
            fields += [state.error.type, state.error.message]
        if not any(needle in f.translate(_ASCII_LOWER) for f in fields):
            return False
    return True


def signal_outcome(signal: Signal, target: Status | str | None) -> tuple[bool, Message]:
    """Whether to queue `signal.message` to an instance whose status is `target` (None: no such
    instance), and the answer for the sender: `EventDelivered` or `EventDeliveryFailed` naming
    ``InstanceNotFound`` / ``InstanceNotRunning``. Both stores use this, so they answer alike."""
    event = signal.message.event
    assert isinstance(event, h.EventRaised)
    key = signal.message.instance_id
    answer: h.Event
    if target is None:
        answer = h.EventDeliveryFailed(
            event.at,
            signal.task_id,
            "InstanceNotFound",
            f"cannot raise event {event.name!r} to {key!r}: no instance has that id; check "
            "the id, or start the instance first (client.start with if_running='raise_event' "
            "starts it and delivers the event in one step)",
        )
    elif str(target) in _FINISHED:
        answer = h.EventDeliveryFailed(
            event.at,
            signal.task_id,
            "InstanceNotRunning",
            f"cannot raise event {event.name!r} to {key!r}: that instance is {target} and takes "
            "no more events; catch RaiseEventFailed if it may end first",
        )
    else:
        answer = h.EventDelivered(event.at, signal.task_id)
    reply = Message(signal.sender, answer, signal.generation)
    return isinstance(answer, h.EventDelivered), reply


_FINISHED = frozenset(s.value for s in Status if s.finished)
