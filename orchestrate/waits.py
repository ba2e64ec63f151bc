"""What an unfinished instance waits for, read from its history: for `wait()` timeouts.

"Is a worker running?" is the right question only when there is work nobody took (a start no
worker picked up, a timer past due); an instance that simply waits for its timer, an event or a
long activity should say so instead. The history shows every timer, activity attempt and child
that is still open; with the registry, a replay of the history also finds the open event waits
(which are not recorded) and drops the race losers (a cancelled timer leaves no trace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import history as h
from .registry import Registry
from .state import InstanceState, Status

__all__ = ["WORKER_HINT", "Waits", "describe_timeout", "waits_of"]

WORKER_HINT = "is a worker running? (`Runtime` runs one; `orchestrate worker` starts one)"
_OVERDUE = timedelta(seconds=2)  # a timer this far past due should have been fired by a worker
_RESULTS = (
    h.ActivityCompleted,
    h.ActivityFailed,
    h.TimerFired,
    h.SubOrchestrationCompleted,
    h.SubOrchestrationFailed,
)


@dataclass
class Waits:
    """What an instance waits for (`items`, readable) and the work nobody took (`untaken`)."""

    items: list[str] = field(default_factory=list)
    untaken: list[str] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def waits_of(
    state: InstanceState,
    history: list[h.Event],
    now: datetime,
    registry: Registry | None = None,
) -> Waits:
    """The open timers, activities, children (and, with `registry`, event waits) of `state`."""
    found = Waits()
    if state.status == Status.PENDING or not history:
        found.untaken.append("no worker has taken its first turn")
        return found
    done = {e.task_id for e in history if isinstance(e, _RESULTS)}
    commands = {
        e.task_id: e
        for e in history
        if isinstance(e, (h.ActivityScheduled, h.TimerCreated, h.SubOrchestrationScheduled))
        and e.task_id not in done
    }
    replayed = _replay(state, history, registry)
    if replayed is not None:
        # An open attempt is work in flight even if nobody awaits it any more; a timer or a
        # child the replay does not wait on lost a race or was cancelled.
        open_ids, events = replayed
        commands = {
            k: v for k, v in commands.items() if k in open_ids or isinstance(v, h.ActivityScheduled)
        }
    else:
        events = []
    retried: dict[int, str] = {}  # task id of a retry timer -> the activity it retries
    names: dict[int, str] = {}
    failed = "?"
    for event in history:  # a retry's backoff timer follows the failure it retries
        if isinstance(event, h.ActivityScheduled):
            names[event.task_id] = event.name
        elif isinstance(event, h.ActivityFailed):
            failed = names.get(event.task_id, "?")
        elif isinstance(event, h.TimerCreated) and event.purpose == "retry":
            retried[event.task_id] = failed
    for task_id in sorted(commands):
        command = commands[task_id]
        if isinstance(command, h.ActivityScheduled):
            found.items.append(
                f"activity {command.name!r} (attempt {command.attempt}, scheduled "
                f"{_iso(command.at)}; running, or not yet taken by a worker)"
            )
        elif isinstance(command, h.SubOrchestrationScheduled):
            found.items.append(f"sub-orchestration {command.name!r} ({command.instance_id!r})")
        elif isinstance(command, h.TimerCreated) and command.purpose != "timeout":
            when = _iso(command.fire_at)
            what = f"timer at {when}"
            if command.purpose == "retry":
                what = f"the retry of activity {retried.get(task_id, '?')!r} at {when}"
            found.items.append(what)
            if command.fire_at <= now - _OVERDUE:
                found.untaken.append(f"{what} is past due and has not fired")
    found.items.extend(f"event {name!r}" for name in events)
    return found


def _replay(
    state: InstanceState, history: list[h.Event], registry: Registry | None
) -> tuple[set[int], list[str]] | None:
    """(open task ids, open event waits) from replaying `history`; None when it cannot replay."""
    if registry is None:
        return None
    from .replay import Execution  # the executor, only for this diagnosis

    try:
        exe = Execution(registry, registry.get_orchestration(state.name), state.instance_id)
        exe.begin_turn()
        exe.replay(history)
    except Exception:
        return None
    if exe.nondeterminism is not None or exe.done:
        return None
    waits = exe.waits()
    ids = {w.task_id for w in waits if w.task_id is not None and w.kind != "event"}
    return ids, [w.name for w in waits if w.kind == "event"]


def describe_timeout(
    state: InstanceState,
    history: list[h.Event],
    timeout: float | None,
    now: datetime,
    registry: Registry | None = None,
) -> str:
    """The message of a `wait()` that timed out: what the instance waits for, and a worker hint
    only when there is work nobody took."""
    head = f"instance {state.instance_id!r} is still {state.status} after {timeout} s"
    if state.error is not None:
        return f"{head}; its last turn failed: {state.error.type}: {state.error.message}"
    found = waits_of(state, history, now, registry)
    parts = [head]
    if found.items:
        parts.append(f": waiting for {', '.join(found.items)}")
    elif not found.untaken:
        parts.append(
            ": it waits for nothing its history shows (an external event, if the code awaits "
            "one: raise it; or a message no worker has taken yet)"
        )
    if found.untaken:
        parts.append(f"; {'; '.join(found.untaken)}: {WORKER_HINT}")
    return "".join(parts)
