"""How the SQL stores (SQLite, PostgreSQL) encode records as rows: compact JSON payloads and
events, integer times (`times`). Both stores share these, so a row means the same in either.

Encoding is the expensive part of a write, so the store calls these before it queues for the
write lock (`TurnRows` encodes a whole turn up front). Decoding failures raise `StoreError`
naming the row, so a damaged row fails its own instance and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import codec
from .. import history as h
from ..errors import StoreError
from ..state import (
    ActivityWork,
    InstanceState,
    Message,
    OrchestrationWork,
    Signal,
    Status,
    TurnCommit,
)
from .contract import child_starts, signal_outcome
from .times import from_micros, to_micros

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "INSTANCE_COLUMNS",
    "TurnRows",
    "decode_event",
    "decode_history",
    "decode_state",
    "decode_works",
    "dumps",
    "leased_works",
    "loads",
    "message_row",
    "micros",
    "queued_rows",
    "signal_rows",
    "state_row",
]

INSTANCE_COLUMNS = (
    "instance_id, name, status, input, output, error, custom_status, created_at, updated_at, "
    "generation, parent_instance, parent_generation, parent_task, history_len"
)

_ENCODE = codec.compact_json(allow_nan=True)  # one encoder, not one per call
_LOADS = codec.json_loads
_STATUS = {status.value: status for status in Status}  # a dict lookup, not an enum call
_STATUS_TEXT = {status: status.value for status in Status}  # and back, without Status.__str__


def dumps(value: Any) -> str:
    if value is None:
        return "null"
    return _ENCODE(value)


def loads(text: str) -> Any:
    return None if text == "null" else _LOADS(text)


def micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def decode_event(text: str, where: str, number: int, key: str) -> h.Event:
    """Decode one stored event; `where` (formatted with the row's number and instance id)
    names the row in errors, and is only formatted when there is one."""
    try:
        return codec.event_from_json(text)
    except StoreError as exc:
        detail = str(exc).removeprefix("event")
        raise StoreError(f"{where.format(number, key)}{detail}") from None


def decode_history(rows: Iterable[tuple[int, str]], key: str) -> list[h.Event]:
    """Instance `key`'s history from its ``(seq, event)`` rows, in the order given."""
    where = "history event {} of instance {!r}"
    return [decode_event(text, where, seq, key) for seq, text in rows]


def decode_works(
    keys: list[str],
    tokens: dict[str, str],
    state_rows: list[tuple[Any, ...]],
    message_rows: list[tuple[Any, ...]],
) -> tuple[list[OrchestrationWork], dict[str, StoreError]]:
    """The turns a fetch locked: instances `keys` (in order) with lock `tokens`, from their
    `INSTANCE_COLUMNS` rows and their visible ``(id, instance_id, generation, due, event)``
    message rows (each inbox is put in id order). An instance whose row or a message of which
    does not decode is left out and returned with its error, in `keys` order, for the store to
    quarantine: one damaged row fails its own instance and nothing else."""
    inbox: dict[str, list[Message]] = {key: [] for key in keys}
    broken: dict[str, StoreError] = {}
    unordered: set[str] = set()
    for mid, key, generation, due, text in message_rows:
        try:
            event = decode_event(text, "message {} to instance {!r}", mid, key)
        except StoreError as exc:
            broken.setdefault(key, exc)
            continue
        messages = inbox[key]
        if messages and messages[-1].id > mid:
            unordered.add(key)
        messages.append(Message(key, event, generation, from_micros(due) if due else None, mid))
    for key in unordered:
        inbox[key].sort(key=_message_id)
    states = {}
    for row in state_rows:
        try:
            states[row[0]] = decode_state(row)
        except StoreError as exc:
            broken.setdefault(row[0], exc)
    works = [OrchestrationWork(states[k], inbox[k], tokens[k]) for k in keys if k not in broken]
    return works, {key: broken[key] for key in keys if key in broken}


def _message_id(message: Message) -> int:
    return message.id


def message_row(m: Message) -> tuple[Any, ...]:
    """A message as the parameters of the queueing INSERT (encoded before taking the lock)."""
    due = 0 if m.visible_at is None else to_micros(m.visible_at)
    key = m.instance_id
    return (key, m.generation, due, codec.event_to_json(m.event), key)


class TurnRows:
    """One `TurnCommit` encoded to SQL parameters ahead of the transaction.

    Encoding (JSON, timestamps) is the expensive part of a commit; doing it before queueing for
    the write lock keeps the lock held only for SQL work.
    """

    __slots__ = (
        "activities",
        "children",
        "commit",
        "events",
        "messages",
        "starts",
        "state",
    )

    def __init__(self, commit: TurnCommit) -> None:
        state = commit.instance
        self.commit = commit
        self.events = codec.events_to_json(commit.new_events)
        output, custom, updated = state.output, state.custom_status, state.updated_at
        # status, input (None: kept as stored; it changes only with a new generation, and only
        # then is it written), output, error, custom_status, updated_at, generation
        self.state = (
            _STATUS_TEXT.get(state.status) or str(state.status),
            _ENCODE(state.input) if commit.reset_history else None,
            "null" if output is None else _ENCODE(output),
            None if state.error is None else _ENCODE(state.error.to_dict()),
            "null" if custom is None else _ENCODE(custom),
            None if updated is None else to_micros(updated),
            state.generation,
        )
        self.activities = [
            (w.instance_id, w.generation, w.task_id, w.name, _ENCODE(w.input), w.attempt, w.call_id)
            for w in commit.activities
        ]
        self.children = commit.children
        # Each child's start message, by position in `messages` (None: it has none), so that a
        # refused child's start is dropped and nothing else (see `store.child_starts`).
        self.starts = child_starts(commit) if commit.children else []
        self.messages = [message_row(m) for m in commit.messages] if commit.messages else []


def state_row(state: InstanceState, history_len: int) -> tuple[Any, ...]:
    return (
        state.name,
        _STATUS_TEXT.get(state.status) or str(state.status),
        dumps(state.input),
        dumps(state.output),
        None if state.error is None else dumps(state.error.to_dict()),
        dumps(state.custom_status),
        micros(state.created_at),
        micros(state.updated_at),
        state.generation,
        state.parent_instance,
        state.parent_generation,
        state.parent_task,
        history_len,
        state.instance_id,
    )


def decode_state(row: tuple[Any, ...]) -> InstanceState:
    """The `InstanceState` of an `INSTANCE_COLUMNS` row (a fetched turn reads one per instance)."""
    key, name, status, input, output, error, custom, created, updated = row[:9]
    try:
        return InstanceState(
            key,
            name,
            _STATUS.get(status) or Status(status),
            None if input == "null" else _LOADS(input),
            None if output == "null" else _LOADS(output),
            None if error is None else h.ErrorInfo.from_dict(_LOADS(error)),
            None if custom == "null" else _LOADS(custom),
            None if created is None else from_micros(created),
            None if updated is None else from_micros(updated),
            row[9],  # generation
            row[10],  # parent_instance
            row[11],  # parent_generation
            row[12],  # parent_task
            row[13],  # history_len
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreError(
            f"the stored state of instance {key!r} cannot be decoded ({exc}); the row is "
            "damaged. Inspect it with `orchestrate show`, then terminate or purge it"
        ) from None


def queued_rows(
    turns: Iterable[TurnRows],
    create: Callable[[InstanceState], bool],
    refusal: Callable[[InstanceState], tuple[Any, ...] | None],
) -> list[tuple[Any, ...]]:
    """Create the children of winning `turns` and return the message rows they queue.

    Children are created in commit order with `create` (False: the id is taken), so a later
    turn's child finds an earlier one's; messages come in commit order, each turn's refusal
    notices (`refusal`'s row for a refused child, None: nobody to tell) before its own messages,
    as the memory store does. A refused child's start must not reach the instance holding its
    id; only that start is dropped, never the start of another child with the same id.
    """
    messages: list[tuple[Any, ...]] = []
    for turn in turns:
        if not turn.children:
            messages.extend(turn.messages)
            continue
        refused: set[int] = set()
        for child, start in zip(turn.children, turn.starts, strict=True):
            if create(child):
                continue
            notice = refusal(child)
            if notice is not None:
                messages.append(notice)
            if start is not None:
                refused.add(start)
        messages.extend(row for i, row in enumerate(turn.messages) if i not in refused)
    return messages


def signal_rows(
    signals: list[Signal], status_of: Callable[[str], str | None]
) -> list[tuple[Any, ...]]:
    """The message rows of `signals` (events raised by turns) that are delivered, each followed
    by its answer to the sender (`contract.signal_outcome`); `status_of` reads an instance's
    stored status (None: no such instance)."""
    rows: list[tuple[Any, ...]] = []
    for signal in signals:
        deliver, reply = signal_outcome(signal, status_of(signal.message.instance_id))
        if deliver:
            rows.append(message_row(signal.message))
        rows.append(message_row(reply))
    return rows


def leased_works(rows: list[Any], tokens: list[str]) -> list[ActivityWork]:
    """Activity items just leased, from their rows (id, instance, generation, task, name, input,
    attempt, call, heartbeat details) and lease `tokens`, row for row. An input or heartbeat
    that does not decode is handed over as its raw text."""
    out: list[ActivityWork] = []
    for token, (aid, key, gen, task_id, name, text, attempt, call_id, beat) in zip(
        tokens, rows, strict=True
    ):
        try:
            value = loads(text)
        except ValueError:
            value = text  # the activity sees the raw text and fails on it, visibly
        work = ActivityWork(key, gen, task_id, name, value, attempt, call_id, aid, token)
        if beat is not None:
            try:
                work.heartbeat_details = loads(beat)
            except ValueError:
                work.heartbeat_details = beat
        out.append(work)
    return out
