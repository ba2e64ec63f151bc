"""Many rows per statement: every row written, updated and deleted, in order, in few shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrate.stores import sqlite_batch
from orchestrate.stores.sqlite_db import Database


@pytest.mark.parametrize("count", [0, 1, 2, 7, 128, 333, 1000])
def test_multi_row_helpers_write_every_row_in_order(
    tmp_path: Path, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(str(tmp_path / "m.db"))
    with db.write() as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT, a, b, c, d)")
        # Five values a row, so 1,000 rows take several statements (999 values at most each).
        sqlite_batch.insert_rows(
            conn,
            "INSERT INTO t (k, a, b, c, d)",
            [(f"k{i}", i, -i, None, "x") for i in range(count)],
        )
        rows = conn.execute("SELECT id, k, a, b, c, d FROM t ORDER BY id").fetchall()
        assert [r[1:] for r in rows] == [(f"k{i}", i, -i, None, "x") for i in range(count)]
        assert [r[0] for r in rows] == list(range(1, count + 1))  # ids follow the given order
        for update_from in (True, False):  # UPDATE ... FROM, and executemany before SQLite 3.33
            monkeypatch.setattr(sqlite_batch, "UPDATE_FROM", update_from)
            changes = [(f"n{i}", i * 10, f"k{i}") for i in range(0, count, 2)]
            sqlite_batch.update_rows(conn, "t", "k", ("c", "a"), changes)
            got = conn.execute("SELECT k, a, c FROM t ORDER BY id").fetchall()
            assert got == [
                (f"k{i}", i * 10, f"n{i}") if i % 2 == 0 else (f"k{i}", i, None)
                for i in range(count)
            ]
            conn.execute("UPDATE t SET a = -b, c = NULL")  # back, for the other way round
        sqlite_batch.delete_in(conn, "DELETE FROM t WHERE k", [f"k{i}" for i in range(0, count, 3)])
        left = [r[0] for r in conn.execute("SELECT k FROM t ORDER BY id")]
        assert left == [f"k{i}" for i in range(count) if i % 3]
    db.close()


@pytest.mark.parametrize("count", [1, 2, 3, 100, 512, 513, 1300])
def test_in_lists_cover_every_key_with_few_shapes(count: int) -> None:
    keys = [f"k{i}" for i in range(count)]
    lists = list(sqlite_batch.in_lists(keys))
    assert [k for _, part in lists for k in part if k not in keys] == []
    assert {k for _, part in lists for k in part} == set(keys)
    for marks, part in lists:
        assert marks.count("?") == len(part) <= 512
        assert len(part) & (len(part) - 1) == 0  # a power of two
