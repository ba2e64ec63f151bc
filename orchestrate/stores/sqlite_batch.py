"""Many rows per SQLite statement: multi-row INSERT, IN lists, UPDATE ... FROM.

`executemany` runs SQLite's VM once per row, and around each run the sqlite3 module releases and
takes back the GIL and SQLite enters and leaves its connection mutex per bound value. A batch of
turns writes hundreds of rows per table: these functions write them with one statement per chunk
of rows instead (one VM run, one GIL release). Chunks are powers of two of at most 32 rows, so
a few small statement shapes per table cover every batch size and stay in the connection's
statement cache, and a statement binds at most 999 values (SQLite's limit before 3.32).
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["UPDATE_FROM", "delete_in", "in_lists", "in_sql", "insert_rows", "update_rows"]

_MAX_VALUES = 999
# Rows per INSERT or UPDATE statement at most. Preparing a statement costs about as much as
# running it once per row, and every pooled connection prepares each shape it meets for itself:
# shapes of up to 256 rows (511 rows' worth of SQL per kind of statement) cost more to prepare
# than a short-lived worker saves by running fewer statements. Past 32 rows per statement, the
# fixed cost of one more statement is lost in the cost of its rows.
_MAX_ROWS = 32
# UPDATE ... FROM, for updating many rows with different values in one statement, is 3.33+.
UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)


def _chunks(total: int, largest: int) -> Iterator[tuple[int, int]]:
    """(start, size) pieces of `total` rows, each a power of two no larger than `largest`."""
    start = 0
    size = 1 << max(0, min(largest, _MAX_ROWS).bit_length() - 1)
    while start < total:
        while size > total - start:
            size >>= 1
        yield start, size
        start += size


@functools.lru_cache(maxsize=512)
def _values(width: int, rows: int) -> str:
    """``(?,?),(?,?),...``: `rows` rows of `width` parameters; ``?,?,...`` for width 0."""
    if width == 0:
        return ",".join("?" * rows)
    mark = "(" + ",".join("?" * width) + ")"
    return ",".join([mark] * rows)


@functools.lru_cache(maxsize=512)
def _statement(head: str, width: int, rows: int) -> str:
    """``{head} VALUES (...), ...``, one string object per shape: the sqlite3 module finds a
    prepared statement by its text, and a cached string keeps its hash (a new one would be
    built and hashed, kilobytes of it, on every call)."""
    return f"{head} VALUES {_values(width, rows)}"


@functools.lru_cache(maxsize=512)
def _update_statement(table: str, key: str, columns: tuple[str, ...], rows: int) -> str:
    """``UPDATE {table} SET ... FROM (VALUES ...)`` for `rows` rows, cached like `_statement`."""
    sets = ", ".join(f"{column} = v.column{i}" for i, column in enumerate(columns, 1))
    match = f"{table}.{key} = v.column{len(columns) + 1}"
    values = _values(len(columns) + 1, rows)
    return f"UPDATE {table} SET {sets} FROM (VALUES {values}) AS v WHERE {match}"


@functools.lru_cache(maxsize=512)
def in_sql(template: str, marks: str) -> str:
    """`template` with ``{marks}`` replaced by an `in_lists` list, cached like `_statement`."""
    return template.replace("{marks}", marks)


def in_lists(keys: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
    """``?,?,...`` and the parameters of ``IN (...)`` lists for `keys`, 512 keys at most each,
    padded to a power of two with repeats of the last key (which match nothing more), so that
    a few statement shapes serve every batch size."""
    for start in range(0, len(keys), 512):
        part = list(keys[start : start + 512])
        size = 1 << (len(part) - 1).bit_length()
        part += [part[-1]] * (size - len(part))
        yield _values(0, size), part


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]]) -> None:
    """``{head} VALUES (...), (...), ...`` for `rows`, inserted in their order."""
    if not rows:
        return
    width = len(rows[0])
    chain = itertools.chain.from_iterable
    for start, size in _chunks(len(rows), _MAX_VALUES // width):
        part = rows[start : start + size]
        conn.execute(_statement(head, width, size), list(chain(part)))


def delete_in(conn: sqlite3.Connection, head: str, keys: Sequence[Any]) -> None:
    """``{head} IN (?, ?, ...)`` for `keys`, e.g. ``DELETE FROM t WHERE id``: one statement per
    512 keys, padded as `in_lists` pads (a repeated key deletes nothing more)."""
    for marks, part in in_lists(keys):
        conn.execute(in_sql(head + " IN ({marks})", marks), part)


def update_rows(
    conn: sqlite3.Connection, table: str, key: str, columns: Sequence[str], rows: Sequence[Any]
) -> None:
    """Set `columns` of the rows of `table` whose `key` is each row's last value, the values in
    the order of `columns` before it: ``UPDATE ... FROM (VALUES ...)`` where SQLite has it, one
    ``executemany`` otherwise."""
    if not rows:
        return
    if not UPDATE_FROM:
        sets = ", ".join(f"{column} = ?" for column in columns)
        conn.executemany(f"UPDATE {table} SET {sets} WHERE {key} = ?", rows)
        return
    names = tuple(columns)
    chain = itertools.chain.from_iterable
    for start, size in _chunks(len(rows), _MAX_VALUES // (len(names) + 1)):
        part = rows[start : start + size]
        conn.execute(_update_statement(table, key, names, size), list(chain(part)))
