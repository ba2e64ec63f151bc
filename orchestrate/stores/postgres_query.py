"""`query_instances` for the PostgreSQL store: an `InstanceQuery` as one SELECT.

The filters run in SQL, before any payload is decoded; the page is cut with a keyset condition
on (created_at, instance_id), so a deep page costs what the first does. Text matches fold ASCII
letters only (``translate`` to lower case, then ``LIKE``), as `contract.query_matches` and the
SQLite store's ``LIKE`` do, so every store answers alike for any text; ids compare byte-wise
(``COLLATE "C"``), as Python and SQLite compare them, whatever the database's collation.
"""

from __future__ import annotations

from typing import Any

from ..state import InstanceQuery, Status
from .rows import INSTANCE_COLUMNS, micros

__all__ = ["query_sql"]

_FINISHED = [s.value for s in Status if s.finished]
_KEY = "coalesce(created_at, 0)"
_ID = 'instance_id COLLATE "C"'
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere (ASCII-lowered), its wildcards literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.translate(str.maketrans(_UPPER, _LOWER))}%"


def query_sql(query: InstanceQuery) -> tuple[str, list[Any]]:
    """The SELECT of `INSTANCE_COLUMNS` answering `query`, and its arguments."""
    where: list[str] = []
    args: list[Any] = []
    if query.status is not None:
        where.append("status = %s")
        args.append(str(Status(query.status)))
    if query.name is not None:
        where.append("name = %s")
        args.append(query.name)
    if query.stuck:
        where.append("error IS NOT NULL AND NOT status = ANY(%b)")
        args.append(_FINISHED)
    if query.created_from is not None:
        where.append(f"{_KEY} >= %s")
        args.append(micros(query.created_from))
    if query.created_to is not None:
        where.append(f"{_KEY} < %s")
        args.append(micros(query.created_to))
    if query.before is not None:
        moment, key = query.before
        where.append(f"({_KEY}, {_ID}) < (%s, %s)")
        args.extend([micros(moment) or 0, key])
    if query.text:
        pattern = _like(query.text)
        columns = (
            "instance_id",
            "name",
            "custom_status",
            "(error::json ->> 'type')",
            "(error::json ->> 'message')",
        )
        where.append(
            "("
            + " OR ".join(f"translate({c}, '{_UPPER}', '{_LOWER}') LIKE %s" for c in columns)
            + ")"
        )
        args.extend([pattern] * len(columns))
    sql = f"SELECT {INSTANCE_COLUMNS} FROM instances"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_KEY} DESC, {_ID} DESC LIMIT %s"
    args.append(max(query.limit, 0))
    return sql, args
