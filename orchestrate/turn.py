"""The turn as a pure function: from an instance's state, its messages and what its execution did,
to the `TurnCommit` a store writes.

Nothing here touches a store, a thread or a clock: the worker fetches, runs the execution, calls
`decide` (or one of the shortcuts for a turn that runs no code) and writes the result. That keeps
the rules of a turn in one place, tested with hand-built inputs (`tests/orchestrate/test_turn.py`):

- messages are applied in `apply_order` (a generation's start first, timers by due time);
- the commit carries the new events, the new state, activity work, timers, child starts (each
  with its start message) and, when the generation ends, the notice to a parent;
- continue-as-new replaces the history and queues the next generation's start;
- a turn whose code no longer replays its history (`nondeterminism`) fails the turn, not the
  instance: nothing is consumed and the instance is held back for a retry, except that an
  operator's terminate still ends it;
- an instance that cannot run here (code removed, history unreadable) fails without an execution.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Protocol

from . import history as h
from .errors import StoreError
from .state import ActivityWork, InstanceState, Message, Signal, Status, TurnCommit

__all__ = [
    "Executed",
    "apply_order",
    "build_commit",
    "current_events",
    "decide",
    "fail_without_execution",
    "finished_turn",
]


class Executed(Protocol):
    """What a turn needs from the execution that ran it (`replay.Execution` is one).

    `new_events` are the events this turn appended (commands and applied results);
    `cancelled_timers` the task ids of timers it cancelled; `result` the terminal event once the
    generation ended (possibly recorded by an earlier turn); `terminated` whether an operator
    ended it; `carry_over` the raised events (and a terminate) left for the next generation;
    `nondeterminism` the error when the code no longer replays the history;
    `cancelled_children` the ids of children whose tasks this turn cancelled, and
    `open_children` (child id, `on_parent_close` policy) of the children still running.
    """

    @property
    def new_events(self) -> list[h.Event]: ...
    @property
    def cancelled_timers(self) -> list[int]: ...
    @property
    def withdrawn(self) -> list[int]: ...
    @property
    def result(self) -> h.Event | None: ...
    @property
    def terminated(self) -> bool: ...
    @property
    def carry_over(self) -> list[h.Event]: ...
    @property
    def nondeterminism(self) -> Exception | None: ...
    @property
    def cancelled_children(self) -> list[str]: ...
    @property
    def open_children(self) -> list[tuple[str, str]]: ...


# errors of a running instance whose turn was not applied and is retried (see `worker`)
_HELD_BACK = frozenset(
    {"NonDeterminismError", "NonDeterministicCallError", "UnknownOrchestration"}
)


def apply_order(messages: list[Message]) -> list[Message]:
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


def current_events(state: InstanceState, messages: list[Message]) -> list[h.Event]:
    """The events of `messages` meant for the instance's current generation (a late result of
    an earlier generation, or of an earlier run of a reused id, is consumed and ignored)."""
    generation = state.generation
    return [
        m.event
        for m in messages
        if (m.generation is None or m.generation == generation) and _addressed_to(state, m.event)
    ]


def _addressed_to(state: InstanceState, event: h.Event) -> bool:
    """False for a parent's terminate that reached an instance that is not its child (the id
    it asked for was already held by another instance): that one must not be ended."""
    if isinstance(event, h.OrchestrationTerminated) and event.parent is not None:
        return event.parent == state.parent_instance
    return True


def finished_turn(state: InstanceState, token: str, consumed: list[int]) -> TurnCommit:
    """A finished instance's turn: consume what arrived late, change nothing else."""
    return TurnCommit(state, token, [], consumed)


def decide(
    state: InstanceState,
    token: str,
    consumed: list[int],
    events: list[h.Event],
    exe: Executed,
    now: datetime,
    *,
    nondeterminism_retry: float | None = 60.0,
) -> TurnCommit:
    """The commit of a turn that applied `events` (the consumed messages' events, in order) to
    `exe` at `now`.

    With `nondeterminism_retry` set (seconds) and an execution that no longer replays its
    history, the turn fails instead (see `_failed_turn`); with None the execution's own outcome
    is committed (``Worker(on_nondeterminism="fail")``: it failed the instance).
    """
    if exe.nondeterminism is not None and nondeterminism_retry is not None:
        stop = next((e for e in events if isinstance(e, h.OrchestrationTerminated)), None)
        if stop is not None:  # an operator may always end an instance stuck this way
            commit = _terminate_stuck(state, token, consumed, stop, now)
            # the children the replay reached before it diverged follow their policy
            _close_children(commit, exe, None, now, terminated=True)
            return commit
        return _failed_turn(state, token, exe.nondeterminism, now, nondeterminism_retry)
    return build_commit(state, token, consumed, exe, now)


def _terminate_stuck(
    state: InstanceState,
    token: str,
    consumed: list[int],
    stop: h.OrchestrationTerminated,
    now: datetime,
) -> TurnCommit:
    """Terminate an instance whose code no longer replays: the one turn that needs no replay."""
    ended = dataclasses.replace(
        state,
        status=Status.TERMINATED,
        error=h.ErrorInfo("Terminated", stop.reason or "terminated"),
        updated_at=now,
    )
    commit = TurnCommit(ended, token, [h.OrchestrationTerminated(now, stop.reason)], consumed)
    _notify_parent(commit, state, None, now)
    return commit


def _failed_turn(
    state: InstanceState, token: str, error: Exception, now: datetime, retry: float
) -> TurnCommit:
    """The code no longer replays this instance's history: fail the turn, not the instance.

    Nothing is consumed or appended; the instance keeps its status, shows the error, and stays
    locked for `retry` seconds (by then the deploy may be rolled back or fixed with
    ctx.patched()), so it is retried after a back-off, not in a hot loop.
    """
    held = dataclasses.replace(
        state,
        error=h.ErrorInfo(
            type(error).__name__,
            f"{error} (the turn was not applied; the instance is retried every "
            f"{retry:g} s until the code replays its history again)",
        ),
        updated_at=now,
    )
    return TurnCommit(held, token, [], [], hold_until=now + timedelta(seconds=retry))


def fail_without_execution(
    state: InstanceState,
    token: str,
    consumed: list[int],
    now: datetime,
    exc: Exception,
    history: list[h.Event] | None = None,
) -> TurnCommit:
    """The instance cannot run here (code removed: `UnknownOrchestration`; history unreadable:
    `StoreError`): fail it, consume its messages and tell its parent. With its `history` (when
    it can be read), its running children are closed by their policy, as for any ending."""
    kind = type(exc).__name__
    if isinstance(exc, StoreError):
        message = f"the stored history of {state.instance_id!r} cannot be read: {exc}"
    else:
        message = f"{exc}. The instance was started with code this worker does not have."
    info = h.ErrorInfo(kind, message)
    failed = h.OrchestrationFailed(now, info)
    new_state = dataclasses.replace(state, status=Status.FAILED, error=info, updated_at=now)
    commit = TurnCommit(new_state, token, [failed], consumed)
    _notify_parent(commit, state, failed, now)
    for child_id in open_children_of(history or []):
        why = "it failed (the child was started with on_parent_close='terminate')"
        _stop_child(commit, child_id, why, now)
    return commit


def open_children_of(history: list[h.Event]) -> list[str]:
    """Ids of the children a history started with ``on_parent_close="terminate"`` and has no
    result of yet: what an ending closes when no execution can be asked."""
    started = {
        e.task_id: e for e in history
        if isinstance(e, h.SubOrchestrationScheduled) and e.on_parent_close == "terminate"
    }
    for event in history:
        if isinstance(event, h.SubOrchestrationCompleted | h.SubOrchestrationFailed):
            started.pop(event.task_id, None)
    return [event.instance_id for event in started.values()]


def build_commit(
    state: InstanceState, token: str, consumed: list[int], exe: Executed, now: datetime
) -> TurnCommit:
    """The commit of the turn `exe` just ran from `state` (see the module docstring)."""
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
    withdrawn: set[int] = set()  # activity attempts cancelled: scheduled this turn or before
    if exe.withdrawn:
        withdrawn.update(exe.withdrawn)
    for event in new:
        if not event.is_command:
            continue
        if isinstance(event, h.ActivityScheduled):
            if event.task_id in withdrawn:
                withdrawn.discard(event.task_id)  # cancelled in the turn that scheduled it
                continue
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
            _start_child(commit, state, event, now)
        elif isinstance(event, h.EventSent):
            raised = Message(event.instance_id, h.EventRaised(now, event.name, event.input))
            commit.signals.append(Signal(raised, key, gen, event.task_id))
        elif isinstance(event, h.CustomStatusSet):
            next_state.custom_status = event.status
    if withdrawn:
        commit.withdrawn = [(gen, task_id) for task_id in sorted(withdrawn)]
    if next_state.error is not None and next_state.error.type in _HELD_BACK:
        next_state.error = None  # an earlier turn failed or was left to others: this one ran
    for child_id in exe.cancelled_children:
        _stop_child(commit, child_id, "its sub-orchestration task was cancelled", now)
    result = exe.result
    if result is None and not exe.terminated:
        return commit  # the generation goes on
    is_new = result is not None and any(e is result for e in reversed(new))
    if exe.terminated or is_new:
        _close_children(commit, exe, result, now)
    if exe.terminated:
        reason = next((e.reason for e in new if isinstance(e, h.OrchestrationTerminated)), "")
        next_state.status = Status.TERMINATED
        next_state.error = h.ErrorInfo("Terminated", reason or "terminated")
        # Work this very turn scheduled before the terminate (a child started and ended by its
        # parent at once) would only run for nobody: not dispatched; the history keeps it.
        commit.activities = []
        commit.messages = [m for m in commit.messages if m.instance_id != state.instance_id]
        _notify_parent(commit, state, None, now)
    elif isinstance(result, h.OrchestrationCompleted) and is_new:
        next_state.status = Status.COMPLETED
        next_state.output = result.output
        _notify_parent(commit, state, result, now)
    elif isinstance(result, h.OrchestrationFailed) and is_new:
        next_state.status = Status.FAILED
        next_state.error = result.error
        _notify_parent(commit, state, result, now)
    elif isinstance(result, h.ContinuedAsNew) and is_new:
        _continue_as_new(commit, exe.carry_over, result, now)
    return commit


def _continue_as_new(
    commit: TurnCommit, carry_over: list[h.Event], result: h.ContinuedAsNew, now: datetime
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
        {"name": e.name, "input": e.input} for e in carry_over if isinstance(e, h.EventRaised)
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
    for event in carry_over:
        if isinstance(event, h.OrchestrationTerminated):  # it arrived as the generation ended
            commit.messages.append(Message(state.instance_id, event))


_ENDED_AS: dict[type[h.Event], str] = {
    h.OrchestrationCompleted: "completed",
    h.OrchestrationFailed: "failed",
    h.ContinuedAsNew: "continued as new",
}


def _close_children(
    commit: TurnCommit,
    exe: Executed,
    result: h.Event | None,
    now: datetime,
    *,
    terminated: bool = False,
) -> None:
    """The generation ended: terminate its running children whose policy says so."""
    if terminated or exe.terminated or result is None:
        ended = "was terminated"
    else:
        ended = _ENDED_AS[type(result)]
    for child_id, policy in exe.open_children:
        if policy == "terminate":
            why = f"it {ended} (the child was started with on_parent_close='terminate')"
            _stop_child(commit, child_id, why, now)


def _stop_child(commit: TurnCommit, child_id: str, why: str, now: datetime) -> None:
    """Queue a terminate for child `child_id` of the commit's instance, naming the cause."""
    parent = commit.instance.instance_id
    reason = f"parent {parent!r}: {why}"
    commit.messages.append(Message(child_id, h.OrchestrationTerminated(now, reason, parent)))


def _start_child(
    commit: TurnCommit, parent: InstanceState, event: h.SubOrchestrationScheduled, now: datetime
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
    commit: TurnCommit, state: InstanceState, result: h.Event | None, now: datetime
) -> None:
    """Tell the parent (if any) how its child ended: completed, failed, or (None) terminated."""
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
