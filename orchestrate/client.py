"""`Client`: start, signal, inspect and steer instances through a `Store` (no worker needed)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import history as h
from .clock import Clock, SystemClock
from .errors import (
    InstanceNotFound,
    InstanceNotRunning,
    InvalidInstanceId,
    StoreError,
    UnknownOrchestration,
)
from .payload import DEFAULT_MAX_PAYLOAD_BYTES, check_payload_size, to_json_value, valid_limit
from .registry import Registry
from .state import InstanceState, Message, Status
from .stores.contract import Store
from .stores.url import store_or_url
from .waits import describe_timeout

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["Client", "check_instance_id", "is_stuck"]

_FIRST_POLL, _LAST_POLL = 0.005, 0.25
_IF_RUNNING = ("raise", "raise_event")  # seconds between state reads of `wait_async`


def is_stuck(state: InstanceState) -> bool:
    """An unfinished instance whose last turn failed (its code no longer replays its history):
    it keeps its status and its turn is retried later, so only its `error` tells it apart."""
    return not state.finished and state.error is not None


def check_instance_id(instance_id: object) -> str:
    """`instance_id` if it is a non-empty string; else a `ValueError`/`TypeError` saying so (an
    empty id must not silently become a random one, nor a number a string)."""
    if not isinstance(instance_id, str):
        raise InvalidInstanceId(
            f"instance_id must be a non-empty string, got {type(instance_id).__name__} "
            f"{instance_id!r}; pass str(...) of it, or leave it out for a new random id"
        )
    if not instance_id:
        raise InvalidInstanceId(
            "instance_id is the empty string; pass a non-empty id, or leave it out "
            "(None) for a new random id"
        )
    return instance_id


class Client:
    """The caller's half of the runtime: a web process can start instances without running them.

    With a `registry`, orchestrations can be named by function and unknown names are refused at
    start; without one, a function's `__name__` is used and the worker reports unknown names.
    `store` is a `Store` or a store URL (see `open_store`). Inputs and event data that encode
    to more than `max_payload_bytes` (2 MiB by default; None: no limit) raise `PayloadTooLarge`.
    """

    def __init__(
        self,
        store: Store | str,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.max_payload_bytes = valid_limit(max_payload_bytes)
        self.store: Store = store_or_url(store, "Client")  # last: a refused call opens nothing
        self.registry = registry
        self.clock: Clock = clock or SystemClock()

    def _name(self, orchestration: Callable[..., Any] | str) -> str:
        if self.registry is not None:
            return self.registry.get_orchestration(orchestration).name
        if isinstance(orchestration, str):
            return orchestration
        name = getattr(orchestration, "__name__", None)
        if name is None:
            raise UnknownOrchestration(f"{orchestration!r} is neither a function nor a name")
        return str(name)

    def start(
        self,
        orchestration: Callable[..., Any] | str,
        input: Any = None,
        *,
        instance_id: str | None = None,
        reuse: bool = False,
        if_running: str = "raise",
        event: tuple[str, Any] | None = None,
    ) -> str:
        """Create an instance and return its id (a new UUID when none is given).

        Raises `DuplicateInstance` when the id is taken, unless the old instance finished and
        `reuse=True`; `SerializationError` naming the path when the input is not JSON.

        Signal-with-start: ``if_running="raise_event", event=(name, data)`` starts the instance
        and raises the event to it, or, when an instance with this id is running (or pending),
        only raises the event to that one. One store operation: of two callers racing on one
        id, one starts it and both events reach it. A finished holder of the id is treated as
        with ``if_running="raise"`` (`DuplicateInstance` unless `reuse=True`).
        """
        if if_running not in _IF_RUNNING:
            raise ValueError(
                f"if_running={if_running!r}: pass 'raise' (DuplicateInstance when the id runs) "
                "or 'raise_event' (deliver `event` to the running instance instead)"
            )
        if (if_running == "raise_event") != (event is not None):
            raise ValueError(
                "signal-with-start needs both: pass if_running='raise_event' together with "
                "event=(name, data), or neither"
            )
        name = self._name(orchestration)
        payload = to_json_value(input, "input")
        check_payload_size(payload, f"input of {name!r}", self.max_payload_bytes)
        key = uuid.uuid4().hex if instance_id is None else check_instance_id(instance_id)
        now = self.clock.now()
        state = InstanceState(key, name, Status.PENDING, payload, created_at=now, updated_at=now)
        start = Message(key, h.OrchestrationStarted(now, name, payload, key, 0), 0)
        signal = None if event is None else self._event_message(key, *event, now=now)
        self.store.create_instance(state, start, reuse=reuse, event=signal)
        return key

    def _event_message(
        self, instance_id: str, name: str, data: Any, *, now: datetime | None = None
    ) -> Message:
        payload = to_json_value(data, "event data")
        check_payload_size(payload, f"data of event {name!r}", self.max_payload_bytes)
        moment = self.clock.now() if now is None else now
        return Message(instance_id, h.EventRaised(moment, name, payload))

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Deliver an external event (FIFO per name; buffered until the instance waits for it)."""
        check_instance_id(instance_id)
        self.store.send(self._event_message(instance_id, name, data))

    def terminate(self, instance_id: str, reason: str = "") -> None:
        """Stop a running instance at its next turn; its status becomes `terminated`."""
        check_instance_id(instance_id)
        self.store.send(Message(instance_id, h.OrchestrationTerminated(self.clock.now(), reason)))

    def state(self, instance_id: str) -> InstanceState:
        """The instance's current state, without waiting; `InstanceNotFound` for an unknown id."""
        found = self.store.get_instance(instance_id)
        if found is None:
            raise InstanceNotFound(f"no instance with id {instance_id!r}; check the id with `list`")
        return found

    def history(self, instance_id: str) -> list[h.Event]:
        """The current generation's history events."""
        return self.store.get_history(instance_id)

    def list(
        self,
        *,
        status: Status | str | None = None,
        name: str | None = None,
        limit: int | None = None,
        stuck: bool = False,
    ) -> list[InstanceState]:
        """Instances, oldest first; `stuck` keeps only those whose last turn failed (`is_stuck`)."""
        if not stuck:
            return self.store.list_instances(status=status, name=name, limit=limit)
        found = [s for s in self.store.list_instances(status=status, name=name) if is_stuck(s)]
        return found if limit is None else found[:limit]

    def retry(self, instance_id: str) -> bool:
        """Retry the failed turn of a stuck instance (`is_stuck`) now instead of at its retry
        time (after a fix or a rollback is deployed); a worker runs it. False if the instance
        is not stuck (nothing changed). `InstanceNotFound` / `InstanceNotRunning` otherwise."""
        state = self.state(instance_id)
        if state.finished:
            raise InstanceNotRunning(
                f"instance {instance_id!r} is {state.status}; there is no turn to retry"
            )
        if not is_stuck(state):
            return False
        self.store.retry(instance_id)
        return True

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        """Delete one finished instance, or every one finished before a time; returns how many."""
        return self.store.purge(instance_id, finished_before=finished_before)

    def wait(self, instance_id: str, timeout: float | None = None) -> InstanceState:
        """Block until the instance finishes and return its final state.

        After `timeout` s, `TimeoutError` saying what the instance still waits for (a timer, an
        event, an activity...), and asking whether a worker runs only when work is untaken.

        Wakes on this store's changes at once; a finish another process commits may go
        unannounced (a PostgreSQL worker notifies only of work it leaves to others), so reads
        also come every 5 ms, backing off to 250 ms.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _FIRST_POLL
        while True:
            mark = self.store.change_mark()  # before the read: a finish right after it counts
            state = self.state(instance_id)
            if state.finished:
                return state
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(state, timeout)
            wait = min(remaining, pause)
            began = time.monotonic()
            if not self.store.wait_for_change(wait, mark) and time.monotonic() - began < wait / 2:
                # only a closed store gives up early: reading on would spin
                raise StoreError(
                    f"the store was closed while waiting for {instance_id!r} to finish; wait "
                    "through a client whose store is open (Runtime.close() closes its store)"
                )
            pause = min(pause * 2, _LAST_POLL)

    def _timed_out(self, state: InstanceState, timeout: float | None) -> TimeoutError:
        try:
            history = self.history(state.instance_id)
        except InstanceNotFound:  # purged meanwhile
            history = []
        message = describe_timeout(state, history, timeout, self.clock.now(), self.registry)
        return TimeoutError(message)

    # --- asyncio variants ---------------------------------------------------------------------

    async def start_async(
        self, orchestration: Callable[..., Any] | str, input: Any = None, **kw: Any
    ) -> str:
        return await asyncio.to_thread(self.start, orchestration, input, **kw)

    async def raise_event_async(self, instance_id: str, name: str, data: Any = None) -> None:
        await asyncio.to_thread(self.raise_event, instance_id, name, data)

    async def state_async(self, instance_id: str) -> InstanceState:
        return await asyncio.to_thread(self.state, instance_id)

    async def wait_async(self, instance_id: str, timeout: float | None = None) -> InstanceState:
        """`wait` for asyncio: holds no thread while waiting.

        Polls the instance's state (each read a short trip to a worker thread) with
        `asyncio.sleep` between reads, backing off from 5 ms to 250 ms, so any number of waits
        leave the default executor free for `start_async`, `raise_event_async`... and the rest
        of the application.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        pause = _FIRST_POLL
        while True:
            state = await asyncio.to_thread(self.state, instance_id)
            if state.finished:
                return state
            if deadline is not None and loop.time() >= deadline:
                raise await asyncio.to_thread(self._timed_out, state, timeout)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LAST_POLL)

    async def terminate_async(self, instance_id: str, reason: str = "") -> None:
        await asyncio.to_thread(self.terminate, instance_id, reason)
