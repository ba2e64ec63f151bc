"""Which turns of a batch the SQL stores (SQLite, PostgreSQL) apply: one store-neutral decision.

Each store reads, inside its write transaction, the rows a batch's guards depend on (with its own
SQL), then hands them to `decide`, which is plain Python and needs no database:

- `held`: per instance a lock-guarded turn names, ``(lock token or None, history length,
  status)``; absent when the instance is gone.
- `quiet`: per instance a cached turn names that is still quiet (no message visible at
  `moment`), ``(generation, created_at micros or None, history length, status, lock expiry
  micros or None)``; absent when gone or a message is visible.
- `mine`: per activity item a cached turn completes that still exists, ``(lease token or None,
  instance id)``.

A turn applies when its guard holds and no earlier turn of the batch applied to the same
instance. A cached turn (`TurnCommit.cached`) also needs its instance unchanged since it was
read, not finished, not locked by a live lock, and each of its results still leased by it; a
result is taken once per batch, so a second claim on it fails. A refused cached turn's results
are completed on their own, as messages.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..state import ActivityWork, Batch, Message, Status
from .rows import TurnRows, message_row
from .times import to_micros

__all__ = [
    "FINISHED",
    "Completion",
    "Encoded",
    "Guarded",
    "Won",
    "completions",
    "decide",
    "encode_batch",
]

# Stored status texts of finished instances. Compared as text: a damaged status is unfinished
# (it takes messages and is quarantined at its next turn), never an error in someone else's call.
FINISHED = tuple(s.value for s in Status if s.finished)

Completion = tuple[int, str, tuple[Any, ...]]  # (item id, lease token, result message row)
Won = tuple[TurnRows, int, str]  # a turn whose guard held, its history length, stored status


class Guarded(NamedTuple):
    """The decision on a batch's turns."""

    applied: list[bool]  # per turn, in batch order: whether it applies
    winners: list[Won]  # the turns that apply, in batch order
    refused: list[Completion]  # refused cached turns' results, to complete as messages
    taken: list[int]  # activity item ids of applied cached turns' results, to delete


class Encoded(NamedTuple):
    """A batch as the SQL stores write it, encoded before their transaction starts."""

    moment: int  # the batch's time in micros; 0 when nothing needs it (the clock is not read)
    expires: int  # when leases taken or renewed by the write expire, in micros
    turns: list[TurnRows]
    completions: list[Completion]


def encode_batch(batch: Batch) -> Encoded | None:
    """`batch` encoded for a SQL store's write; None when it writes nothing."""
    if not (batch.turns or batch.completions or batch.lease > 0 or batch.renewals):
        return None
    needs_now = batch.lease > 0 or bool(batch.renewals)
    needs_now = needs_now or any(turn.cached is not None for turn in batch.turns)
    moment = to_micros(batch.moment()) if needs_now else 0
    expires = moment + int(batch.lease_seconds * 1_000_000)
    turns = [TurnRows(commit) for commit in batch.turns]
    return Encoded(moment, expires, turns, completions(batch.completions))


def completions(results: list[tuple[ActivityWork, Message]]) -> list[Completion]:
    """Activity results as completions: (item id, lease token, result `message_row`)."""
    return [(work.id, work.lease_token, message_row(message)) for work, message in results]


def decide(
    turns: list[TurnRows],
    held: dict[str, tuple[str | None, int, str]],
    quiet: dict[str, tuple[Any, ...]],
    mine: dict[int, tuple[str | None, str]],
    moment: int,
) -> Guarded:
    """Which of `turns` apply, given the rows read for them (see the module docstring); `moment`
    is the batch's time in micros. `mine` is not changed."""
    mine = dict(mine)  # results are popped as they are taken
    applied: list[bool] = []
    winners: list[Won] = []
    refused: list[Completion] = []
    taken: list[int] = []
    won: set[str] = set()  # one applied turn per instance and batch
    for turn in turns:
        key = turn.commit.instance.instance_id
        base = turn.commit.cached
        found: tuple[int, str] | None = None
        if base is None:
            token, length, status = held.get(key, (None, 0, ""))
            if key not in won and token is not None and token == turn.commit.lock_token:
                found = (length, status)
        else:
            row = quiet.get(key)  # absent: gone, or a message is visible
            created = None if base.created_at is None else to_micros(base.created_at)
            if (
                key not in won
                and row is not None
                and (row[0], row[1], row[2]) == (base.generation, created, base.history_len)
                and row[3] not in FINISHED
                and (row[4] is None or row[4] <= moment)
                and all(mine.get(w.id, (None,))[0] == w.lease_token for w, _ in base.results)
            ):
                found = (base.history_len, row[3])
                taken.extend(w.id for w, _ in base.results)
                for w, _ in base.results:
                    mine.pop(w.id, None)  # taken: a second claim on it in the batch fails
            else:  # moved on, or a lease was lost: each result on its own (rare)
                refused.extend(completions(base.results))
        applied.append(found is not None)
        if found is not None:
            won.add(key)
            winners.append((turn, found[0], found[1]))
    return Guarded(applied, winners, refused, taken)
