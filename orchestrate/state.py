"""Instance state as clients see it, and the records that move between the worker and a store."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import history as h

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "ActivityWork",
    "Batch",
    "CachedBase",
    "InstanceQuery",
    "InstanceState",
    "Message",
    "OrchestrationWork",
    "Signal",
    "Status",
    "TurnCommit",
    "Written",
]


class Status(enum.StrEnum):
    """Lifecycle of an instance; a `str` so it compares with plain strings and prints cleanly."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.TERMINATED)


@dataclass
class InstanceState:
    """What a client reads about an instance: `.status .output .error .custom_status` and times."""

    instance_id: str
    name: str
    status: Status
    input: Any = None
    output: Any = None
    error: h.ErrorInfo | None = None
    custom_status: Any = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    generation: int = 0
    parent_instance: str | None = None
    parent_generation: int | None = None
    parent_task: int | None = None
    history_len: int = 0

    @property
    def finished(self) -> bool:
        return self.status in _ENDED


_ENDED = (Status.COMPLETED, Status.FAILED, Status.TERMINATED)


@dataclass(frozen=True)
class InstanceQuery:
    """One page of instances for a browser or a script (`Store.query_instances`).

    Instances come newest first, ordered by (`created_at`, `instance_id`) descending, an
    instance without a creation time counting as the oldest. Every filter given must hold:

    - `status`, `name`: equal (the name is the orchestration's registered name);
    - `text`: a substring, ASCII letters matched without regard to case, of the instance id,
      the name, the error's type or message, or the custom status's compact JSON text;
    - `created_from` (inclusive) and `created_to` (exclusive): the creation time's range;
    - `stuck`: only unfinished instances whose last turn failed (see `client.is_stuck`).

    `before` is a keyset cursor, the (`created_at`, `instance_id`) of the last instance of
    the previous page: only instances after it in this order are returned, so each page costs
    the same however deep it is. At most `limit` instances are returned.
    """

    status: Status | str | None = None
    name: str | None = None
    text: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    stuck: bool = False
    before: tuple[datetime | None, str] | None = None
    limit: int = 50


@dataclass
class Message:
    """A result event on its way to an instance.

    `generation` None means "whichever generation is current" (raised events, terminate).
    `visible_at` holds a timer back until it is due.
    """

    instance_id: str
    event: h.Event
    generation: int | None = None
    visible_at: datetime | None = None
    id: int = 0


@dataclass
class Signal:
    """An event one instance raises to another (`ctx.raise_event`), delivered with the turn.

    The store queues `message` (an `EventRaised`) if its instance exists and has not finished,
    and answers the sender (`sender`, generation `generation`) for command `task_id` with
    `EventDelivered` or `EventDeliveryFailed` (see `stores.contract.signal_outcome`).
    """

    message: Message
    sender: str
    generation: int
    task_id: int


@dataclass
class ActivityWork:
    """One scheduled activity attempt, leased to one worker at a time."""

    instance_id: str
    generation: int
    task_id: int
    name: str
    input: Any
    attempt: int = 1
    call_id: int = 0
    id: int = 0
    lease_token: str = ""
    # The details of the last heartbeat recorded for this item (see `activity_info()`): set
    # by a lease renewal, handed to whoever leases the item next.
    heartbeat_details: Any = None

    @property
    def idempotency_key(self) -> str:
        """Stable across re-executions and retries of one call: instance, generation, call."""
        return f"{self.instance_id}:{self.generation}:{self.call_id}"


@dataclass
class OrchestrationWork:
    """An instance locked for one turn, with the messages the turn will consume."""

    instance: InstanceState
    messages: list[Message]
    lock_token: str


@dataclass
class CachedBase:
    """Where a turn computed from a worker's cached execution started, instead of a lock.

    The worker ran the turn straight after its own activities finished, without fetching (and
    locking) the instance. `created_at` names the run (a purged and re-created id has another),
    `generation` and `history_len` where the execution stood (the commit's generation may be the
    next one, after continue_as_new). `results` are the finished attempts (one instance's, in
    completion order) the turn applied; the store completes them with the turn, or as ordinary
    result messages if the turn is refused (see `Store.write`).
    """

    created_at: datetime | None
    generation: int
    history_len: int
    results: list[tuple[ActivityWork, Message]]


@dataclass
class TurnCommit:
    """Everything one turn changes, committed atomically by the store.

    A turn is guarded by `lock_token` (the token of the fetch that locked its instance) or, when
    `cached` is set, by the run, generation and history length it was computed on (the token is
    then unused): see `Store.write`.

    `reset_history` replaces the history with `new_events` (continue_as_new starts a generation).
    `children` are instances to create (sub-orchestrations) with their start messages in
    `messages`; a child whose id is taken gets a `SubOrchestrationFailed` sent back instead.
    """

    instance: InstanceState
    lock_token: str
    new_events: list[h.Event]
    consumed: list[int]
    reset_history: bool = False
    activities: list[ActivityWork] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    children: list[InstanceState] = field(default_factory=list)
    # A failed turn (the code no longer replays its history): keep the instance locked until
    # then instead of releasing it, so it is retried after a back-off, not in a hot loop.
    hold_until: datetime | None = None
    # (generation, task id) of timers the turn cancelled: their pending TimerFired messages may
    # be dropped instead of waking the instance for nothing.
    cancelled_timers: list[tuple[int, int]] = field(default_factory=list)
    cached: CachedBase | None = None
    # Events raised to other instances (`ctx.raise_event`), checked and queued by the store
    # after the turn's own state, children and messages.
    signals: list[Signal] = field(default_factory=list)
    # (generation, task id) of activity attempts the turn cancelled (a lost race, task.cancel(),
    # a timeout): their items are withdrawn, queued or leased (a running one learns it at its
    # worker's next lease renewal).
    withdrawn: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Batch:
    """One atomic store write (see `Store.write`): activity results, turns, and a lease-back.

    `completions` are finished activity attempts with their result messages; `turns` are turn
    commits; `lease` is how many due activity items to lease to the caller in the same
    transaction, for `lease_seconds` from `now`. `renewals` are items the caller holds and is
    still running: each lease is extended to `now + lease_seconds` while it still carries the
    caller's token. `now` is needed when anything is leased or renewed or a turn is `cached`
    (it says which locks have expired and which messages are visible).
    """

    completions: list[tuple[ActivityWork, Message]] = field(default_factory=list)
    turns: list[TurnCommit] = field(default_factory=list)
    lease: int = 0
    now: datetime | None = None
    lease_seconds: float = 300.0
    renewals: list[ActivityWork] = field(default_factory=list)

    def moment(self) -> datetime:
        """`now`, which a batch that leases or carries a cached turn must have."""
        if self.now is None:
            raise ValueError(
                "Batch.now is None, but the batch leases or renews activity items or carries a turn "
                "guarded by `cached`; pass now=<the worker clock's now()> to Batch(...)"
            )
        return self.now


@dataclass
class Written:
    """What a `Store.write` did: `applied` per turn of the batch, the items it `leased`, and
    `renewed` per item of `Batch.renewals` (False: the lease is lost, the item was completed,
    withdrawn by its orchestration, purged, or leased to someone else; stop renewing it)."""

    applied: list[bool]
    leased: list[ActivityWork]
    renewed: list[bool] = field(default_factory=list)
