"""`query_instances` for the SQLite store: an `InstanceQuery` as one SELECT.

The filters run in SQL, before any payload is decoded; the page is cut with a keyset condition
on (created_at, instance_id), so a deep page costs what the first does. SQL ``LIKE`` folds ASCII
letters only, which is what `contract.query_matches` (the memory store's filter) does too.
"""

from __future__ import annotations

from typing import Any

from ..state import InstanceQuery, Status
from .rows import INSTANCE_COLUMNS, micros

__all__ = ["query_sql"]

_FINISHED = tuple(s.value for s in Status if s.finished)
_KEY = "coalesce(created_at, 0)"


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query_sql(query: InstanceQuery) -> tuple[str, list[Any]]:
    """The SELECT of `INSTANCE_COLUMNS` answering `query`, and its arguments."""
    where: list[str] = []
    args: list[Any] = []
    if query.status is not None:
        where.append("status = ?")
        args.append(str(Status(query.status)))
    if query.name is not None:
        where.append("name = ?")
        args.append(query.name)
    if query.stuck:
        marks = ", ".join("?" for _ in _FINISHED)
        where.append(f"error IS NOT NULL AND status NOT IN ({marks})")
        args.extend(_FINISHED)
    if query.created_from is not None:
        where.append(f"{_KEY} >= ?")
        args.append(micros(query.created_from))
    if query.created_to is not None:
        where.append(f"{_KEY} < ?")
        args.append(micros(query.created_to))
    if query.before is not None:
        moment, key = query.before
        where.append(f"({_KEY}, instance_id) < (?, ?)")
        args.extend([micros(moment) or 0, key])
    if query.text:
        pattern = _like(query.text)
        columns = (
            "instance_id",
            "name",
            "custom_status",
            "json_extract(error, '$.type')",
            "json_extract(error, '$.message')",
        )
        where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        args.extend([pattern] * len(columns))
    sql = f"SELECT {INSTANCE_COLUMNS} FROM instances"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_KEY} DESC, instance_id DESC LIMIT ?"
    args.append(max(query.limit, 0))
    return sql, args
