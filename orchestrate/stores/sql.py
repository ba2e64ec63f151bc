"""What the SQLite and PostgreSQL stores share: one logic, written once, in either dialect.

A `Dialect` holds what differs between the two for these statements, and nothing else: how a
parameter is marked, how "this column is one of these values" is written, how instance ids are
ordered, how a JSON field is read, whether ``LIKE`` folds case and whether a write locks the rows
it reads. The builders (``*_sql``) return a statement and its arguments; the few functions that
take a connection (`quarantine`, `status_of`, `refused_notice`) run plain statements on it. Each
store runs them inside its own transactions, which stay its own.

Both dialects give a statement one text per shape: PostgreSQL binds a list as one array
(``= ANY(%b)``), whatever its length, so its statements are prepared once; SQLite writes one mark
per value (the lists here have a fixed length). Ids are ordered
byte-wise in both: SQLite's default collation is binary, PostgreSQL needs ``COLLATE "C"`` (its
database's collation may be anything). Text matches fold ASCII letters only, as
`contract.query_matches` (the memory store) does: SQLite's ``LIKE`` does that itself; PostgreSQL's
is case-sensitive, so the column and the pattern are lowered with ``translate``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from .. import history as h
from ..errors import StoreError
from ..state import InstanceQuery, InstanceState, Message, Status
from .contract import child_refused
from .guards import FINISHED
from .rows import INSTANCE_COLUMNS, dumps, message_row, micros
from .times import to_micros

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Connection",
    "Dialect",
    "finished_sql",
    "history_sql",
    "instance_sql",
    "list_sql",
    "quarantine",
    "query_sql",
    "refused_notice",
    "status_of",
]

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_KEY = "coalesce(created_at, 0)"  # instances are ordered by creation, those without a time first
# What a text search looks at in an instance row; an error is stored as JSON text.
_SEARCHED = ("instance_id", "name", "custom_status")
_ERROR_FIELDS = ("type", "message")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """What the shared statements need to know of one database's SQL."""

    mark: str
    """One parameter: ``%s`` (psycopg) or ``?`` (sqlite3)."""
    array: str
    """A list as one parameter (psycopg's binary array ``%b``, compared with ``= ANY(%b)``), or
    ``""`` where there is none and a list is one mark per value (``IN (?, ?)``)."""
    collate: str
    """What makes ``instance_id`` order byte-wise (see `by_id`): ``COLLATE "C"`` or nothing."""
    json_text: str
    """A JSON field of a text column as text; ``{column}`` and ``{key}`` are filled in."""
    folds_like: bool
    """Whether ``LIKE`` already matches ASCII letters case-insensitively."""
    row_locks: bool
    """Whether a write locks the instance rows it reads before it changes them (PostgreSQL's
    READ COMMITTED transactions run side by side); SQLite's ``BEGIN IMMEDIATE`` holds the
    whole database for the transaction instead."""

    @property
    def by_id(self) -> str:
        """``instance_id`` as an ordering and comparison term that orders ids byte-wise."""
        return f"instance_id{self.collate}"

    def among(
        self, column: str, values: Sequence[Any], *, negated: bool = False
    ) -> tuple[str, list[Any]]:
        """The condition "`column` is (not) one of `values`" and its arguments."""
        if self.array:
            return f"{'NOT ' if negated else ''}{column} = ANY({self.array})", [list(values)]
        marks = ", ".join(self.mark for _ in values)
        return f"{column} {'NOT ' if negated else ''}IN ({marks})", list(values)

    def contains(self, column: str) -> str:
        """The condition "`column` matches a `pattern` parameter", case-folded as `pattern` is."""
        if self.folds_like:
            return f"{column} LIKE {self.mark} ESCAPE '\\'"
        return f"translate({column}, '{_UPPER}', '{_LOWER}') LIKE {self.mark}"

    def pattern(self, text: str) -> str:
        """`text` as a `contains` pattern matching it anywhere, its wildcards taken literally
        (``\\`` escapes, PostgreSQL's default and SQLite's by ``ESCAPE``)."""
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        if not self.folds_like:
            escaped = escaped.translate(str.maketrans(_UPPER, _LOWER))
        return f"%{escaped}%"


# The two side by side, fields in order: mark, array, collate, json_text, folds_like, row_locks.
POSTGRES = Dialect("%s", "%b", ' COLLATE "C"', "({column}::json ->> '{key}')", False, True)
SQLITE = Dialect("?", "", "", "json_extract({column}, '$.{key}')", True, False)


class Connection(Protocol):
    """What the functions here use of a connection: sqlite3's and psycopg's both have it."""

    def execute(self, sql: str, args: Sequence[Any], /) -> Any: ...


def instance_sql(d: Dialect, instance_id: str) -> tuple[str, list[Any]]:
    """The row (`INSTANCE_COLUMNS`) of one instance."""
    return f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = {d.mark}", [instance_id]


def history_sql(d: Dialect, instance_id: str) -> tuple[str, list[Any]]:
    """The (seq, event) rows of one instance's history, in order."""
    sql = f"SELECT seq, event FROM history WHERE instance_id = {d.mark} ORDER BY seq"
    return sql, [instance_id]


def list_sql(
    d: Dialect, status: Status | str | None, name: str | None, limit: int | None
) -> tuple[str, list[Any]]:
    """`Store.list_instances`: instances of `status` and `name` (None: any), oldest first."""
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append(f"status = {d.mark}")
        args.append(str(Status(status)))
    if name is not None:
        where.append(f"name = {d.mark}")
        args.append(name)
    sql = f"SELECT {INSTANCE_COLUMNS} FROM instances"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_KEY}, {d.by_id}"
    if limit is not None:
        sql += f" LIMIT {d.mark}"
        args.append(limit)
    return sql, args


def finished_sql(d: Dialect, finished_before: int | None) -> tuple[str, list[Any]]:
    """The ids of finished instances, those last updated before `finished_before` (integer
    microseconds; None: all of them): what `Store.purge` without an id removes."""
    sql, args = d.among("status", FINISHED)
    sql = f"SELECT instance_id FROM instances WHERE {sql}"
    if finished_before is not None:
        sql += f" AND updated_at IS NOT NULL AND updated_at < {d.mark}"
        args.append(finished_before)
    return sql, args


def query_sql(d: Dialect, query: InstanceQuery) -> tuple[str, list[Any]]:
    """`Store.query_instances`: the SELECT of `INSTANCE_COLUMNS` answering `query`, newest first.

    The filters run in SQL, before any payload is decoded; the page is cut with a keyset
    condition on (created_at, instance_id), so a deep page costs what the first does.
    """
    where: list[str] = []
    args: list[Any] = []
    if query.status is not None:
        where.append(f"status = {d.mark}")
        args.append(str(Status(query.status)))
    if query.name is not None:
        where.append(f"name = {d.mark}")
        args.append(query.name)
    if query.stuck:
        finished, values = d.among("status", FINISHED, negated=True)
        where.append(f"error IS NOT NULL AND {finished}")
        args.extend(values)
    if query.created_from is not None:
        where.append(f"{_KEY} >= {d.mark}")
        args.append(micros(query.created_from))
    if query.created_to is not None:
        where.append(f"{_KEY} < {d.mark}")
        args.append(micros(query.created_to))
    if query.before is not None:
        moment, key = query.before
        where.append(f"({_KEY}, {d.by_id}) < ({d.mark}, {d.mark})")
        args.extend([micros(moment) or 0, key])
    if query.text:
        columns = _SEARCHED + tuple(
            d.json_text.format(column="error", key=key) for key in _ERROR_FIELDS
        )
        where.append("(" + " OR ".join(d.contains(column) for column in columns) + ")")
        args.extend([d.pattern(query.text)] * len(columns))
    sql = f"SELECT {INSTANCE_COLUMNS} FROM instances"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_KEY} DESC, {d.by_id} DESC LIMIT {d.mark}"
    args.append(max(query.limit, 0))
    return sql, args


def status_of(conn: Connection, d: Dialect, key: str) -> str | None:
    """The stored status of instance `key`; None when there is no such instance."""
    sql = f"SELECT status FROM instances WHERE instance_id = {d.mark}"
    row = conn.execute(sql, (key,)).fetchone()
    return None if row is None else str(row[0])


def refused_notice(conn: Connection, d: Dialect, child: InstanceState) -> tuple[Any, ...] | None:
    """The `SubOrchestrationFailed` message row telling a refused child's parent that its id is
    taken (None: it has no parent); names the holder's orchestration, ``?`` if it is gone."""
    sql = f"SELECT name FROM instances WHERE instance_id = {d.mark}"
    row = conn.execute(sql, (child.instance_id,)).fetchone()
    notice = child_refused(child, row[0] if row else "?")
    return None if notice is None else message_row(notice)


def quarantine(
    conn: Connection, d: Dialect, key: str, token: str, cause: StoreError, now: datetime
) -> tuple[Any, ...] | None:
    """Fail instance `key`, whose row or messages no longer decode, if `token` still locks it.

    Without this, one bad row would make every fetch fail and stall the whole queue. Its pending
    messages are dropped (they cannot be delivered) and its lock released; unless it has finished,
    its state says what is wrong (`cause`) and the returned message row, for the caller to queue
    in the same transaction, tells its parent it failed (None: nothing to queue).
    """
    info = h.ErrorInfo("StoreError", f"{cause}; the instance was failed to protect the others")
    lock = " FOR NO KEY UPDATE OF i" if d.row_locks else ""
    row = conn.execute(
        "SELECT l.token, parent_instance, parent_generation, parent_task, status "
        "FROM instances AS i JOIN locks AS l ON l.instance_id = i.instance_id "
        f"WHERE i.instance_id = {d.mark}{lock}",
        (key,),
    ).fetchone()
    if row is None or row[0] != token:
        return None
    conn.execute(f"DELETE FROM messages WHERE instance_id = {d.mark}", (key,))
    conn.execute(f"DELETE FROM locks WHERE instance_id = {d.mark}", (key,))
    if row[4] in FINISHED:  # a finished instance ignores messages anyway
        return None
    m = d.mark
    conn.execute(
        f"UPDATE instances SET status = {m}, error = {m}, updated_at = {m} WHERE instance_id = {m}",
        (Status.FAILED.value, dumps(info.to_dict()), to_micros(now), key),
    )
    parent, generation, task = row[1], row[2], row[3]
    if parent is None or task is None:
        return None
    notice = h.SubOrchestrationFailed(now, task, info.type, info.message)
    return message_row(Message(parent, notice, generation))
