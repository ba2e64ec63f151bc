"""The reads the SQLite and PostgreSQL stores share: one logic, written once, in either dialect.

A `Dialect` holds what differs between the two for these statements, and nothing else: how a
parameter is marked, how "this column is one of these values" is written, how instance ids are
ordered, how a JSON field is read, and whether ``LIKE`` folds case. The builders here return the
statement and its arguments; each store runs them in its own transactions.

Both dialects give a statement one text per shape: PostgreSQL binds a list as one array
(``= ANY(%b)``), whatever its length, so its statements are prepared once; SQLite writes one mark
per value (its lists here have a fixed length or are bounded by the caller). Ids are ordered
byte-wise in both: SQLite's default collation is binary, PostgreSQL needs ``COLLATE "C"`` (its
database's collation may be anything). Text matches fold ASCII letters only, as
`contract.query_matches` (the memory store) does: SQLite's ``LIKE`` does that itself; PostgreSQL's
is case-sensitive, so the column and the pattern are lowered with ``translate``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..state import InstanceQuery, Status
from .guards import FINISHED
from .rows import INSTANCE_COLUMNS, micros

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Dialect",
    "finished_sql",
    "history_sql",
    "instance_sql",
    "list_sql",
    "query_sql",
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
    by_id: str
    """``instance_id`` as an ordering and comparison term that orders ids byte-wise."""
    json_text: str
    """A JSON field of a text column as text; ``{column}`` and ``{key}`` are filled in."""
    folds_like: bool
    """Whether ``LIKE`` already matches ASCII letters case-insensitively."""

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


# The two side by side, in the order of the fields: (mark, array, by_id, json_text, folds_like).
POSTGRES = Dialect("%s", "%b", 'instance_id COLLATE "C"', "({column}::json ->> '{key}')", False)
SQLITE = Dialect("?", "", "instance_id", "json_extract({column}, '$.{key}')", True)


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
