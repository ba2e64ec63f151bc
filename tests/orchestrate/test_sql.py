"""`stores/sql.py`: the statements the SQLite and PostgreSQL stores share, in each dialect.

These pin the exact text and arguments: PostgreSQL prepares a statement by its text (one text
per shape, a list bound as one array), SQLite caches it by its text, and the ordering terms keep
both stores ordering ids byte-wise. The functions that take a connection run on a `Recorder`
of their statements. What the statements do to real data is the business of the store suites
(`test_store_query.py`, `test_store_contract.py`, the damaged-row tests), run on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrate import history as h
from orchestrate.errors import StoreError
from orchestrate.state import InstanceQuery, InstanceState, Message, Status
from orchestrate.stores.rows import INSTANCE_COLUMNS, dumps, message_row
from orchestrate.stores.sql import (
    POSTGRES,
    SQLITE,
    Dialect,
    finished_sql,
    history_sql,
    instance_sql,
    list_sql,
    quarantine,
    query_sql,
    refused_notice,
    status_of,
)

SELECT = f"SELECT {INSTANCE_COLUMNS} FROM instances"
FINISHED = ["completed", "failed", "terminated"]
KEY = "coalesce(created_at, 0)"
PG_ID = 'instance_id COLLATE "C"'
FOLD = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"
T1 = datetime(2026, 1, 2, tzinfo=UTC)
T2 = datetime(2026, 1, 3, tzinfo=UTC)
T1_US, T2_US = int(T1.timestamp()) * 1_000_000, int(T2.timestamp()) * 1_000_000


class Recorder:
    """A connection that records each statement and answers `fetchone` from `rows`, in turn."""

    def __init__(self, *rows: tuple[Any, ...] | None) -> None:
        self.rows = list(rows)
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, args: Sequence[Any], /) -> Recorder:
        self.statements.append((sql, list(args)))
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows.pop(0)


def by_dialect(postgres: object, sqlite: object) -> pytest.MarkDecorator:
    """Parametrize `d` and `expected` over both dialects."""
    return pytest.mark.parametrize(
        ("d", "expected"), [(POSTGRES, postgres), (SQLITE, sqlite)], ids=["postgres", "sqlite"]
    )


@by_dialect(
    ("status = ANY(%b)", [["a", "b"]]),
    ("status IN (?, ?)", ["a", "b"]),
)
def test_among_binds_an_array_or_one_mark_per_value(d: Dialect, expected: object) -> None:
    assert d.among("status", ("a", "b")) == expected


@by_dialect(
    ("NOT status = ANY(%b)", [["a"]]),
    ("status NOT IN (?)", ["a"]),
)
def test_among_negated(d: Dialect, expected: object) -> None:
    assert d.among("status", ["a"], negated=True) == expected


def test_a_postgres_list_keeps_one_statement_text_whatever_its_length() -> None:
    assert POSTGRES.among("k", ["a"])[0] == POSTGRES.among("k", ["a", "b", "c"])[0]


@by_dialect(
    (f"translate(name, {FOLD}) LIKE %s", "%a\\%b\\_c\\\\d ef%"),
    ("name LIKE ? ESCAPE '\\'", "%A\\%b\\_c\\\\d Ef%"),
)
def test_contains_folds_ascii_where_like_does_not(d: Dialect, expected: object) -> None:
    assert (d.contains("name"), d.pattern("A%b_c\\d Ef")) == expected


def test_pattern_folds_ascii_letters_only() -> None:
    assert POSTGRES.pattern("ÄÉ Zz") == "%ÄÉ zz%"


@by_dialect(
    (f"{SELECT} WHERE instance_id = %s", ["order-1"]),
    (f"{SELECT} WHERE instance_id = ?", ["order-1"]),
)
def test_instance_sql(d: Dialect, expected: object) -> None:
    assert instance_sql(d, "order-1") == expected


@by_dialect(
    ("SELECT seq, event FROM history WHERE instance_id = %s ORDER BY seq", ["order-1"]),
    ("SELECT seq, event FROM history WHERE instance_id = ? ORDER BY seq", ["order-1"]),
)
def test_history_sql(d: Dialect, expected: object) -> None:
    assert history_sql(d, "order-1") == expected


@by_dialect(
    (f"{SELECT} ORDER BY {KEY}, {PG_ID}", []),
    (f"{SELECT} ORDER BY {KEY}, instance_id", []),
)
def test_list_sql_without_filters(d: Dialect, expected: object) -> None:
    assert list_sql(d, None, None, None) == expected


@by_dialect(
    (
        f"{SELECT} WHERE status = %s AND name = %s ORDER BY {KEY}, {PG_ID} LIMIT %s",
        ["running", "checkout", 10],
    ),
    (
        f"{SELECT} WHERE status = ? AND name = ? ORDER BY {KEY}, instance_id LIMIT ?",
        ["running", "checkout", 10],
    ),
)
def test_list_sql_with_every_filter(d: Dialect, expected: object) -> None:
    assert list_sql(d, Status.RUNNING, "checkout", 10) == expected


@by_dialect(
    ("SELECT instance_id FROM instances WHERE status = ANY(%b)", [FINISHED]),
    ("SELECT instance_id FROM instances WHERE status IN (?, ?, ?)", FINISHED),
)
def test_finished_sql_takes_every_finished_status(d: Dialect, expected: object) -> None:
    assert finished_sql(d, None) == expected


@by_dialect(
    (
        "SELECT instance_id FROM instances WHERE status = ANY(%b) "
        "AND updated_at IS NOT NULL AND updated_at < %s",
        [FINISHED, 42],
    ),
    (
        "SELECT instance_id FROM instances WHERE status IN (?, ?, ?) "
        "AND updated_at IS NOT NULL AND updated_at < ?",
        [*FINISHED, 42],
    ),
)
def test_finished_sql_before_a_moment(d: Dialect, expected: object) -> None:
    assert finished_sql(d, 42) == expected


@by_dialect(
    (f"{SELECT} ORDER BY {KEY} DESC, {PG_ID} DESC LIMIT %s", [50]),
    (f"{SELECT} ORDER BY {KEY} DESC, instance_id DESC LIMIT ?", [50]),
)
def test_query_sql_default_page(d: Dialect, expected: object) -> None:
    assert query_sql(d, InstanceQuery()) == expected


PG_TEXT = " OR ".join(
    f"translate({c}, {FOLD}) LIKE %s"
    for c in (
        "instance_id",
        "name",
        "custom_status",
        "(error::json ->> 'type')",
        "(error::json ->> 'message')",
    )
)
SQLITE_TEXT = " OR ".join(
    f"{c} LIKE ? ESCAPE '\\'"
    for c in (
        "instance_id",
        "name",
        "custom_status",
        "json_extract(error, '$.type')",
        "json_extract(error, '$.message')",
    )
)


@by_dialect(
    (
        f"{SELECT} WHERE status = %s AND name = %s AND error IS NOT NULL AND NOT status = "
        f"ANY(%b) AND {KEY} >= %s AND {KEY} < %s AND ({KEY}, {PG_ID}) < (%s, %s) AND "
        f"({PG_TEXT}) ORDER BY {KEY} DESC, {PG_ID} DESC LIMIT %s",
        ["running", "checkout", FINISHED, T1_US, T2_US, T2_US, "order-9"] + ["%card 5%"] * 5 + [0],
    ),
    (
        f"{SELECT} WHERE status = ? AND name = ? AND error IS NOT NULL AND status NOT IN "
        f"(?, ?, ?) AND {KEY} >= ? AND {KEY} < ? AND ({KEY}, instance_id) < (?, ?) AND "
        f"({SQLITE_TEXT}) ORDER BY {KEY} DESC, instance_id DESC LIMIT ?",
        ["running", "checkout", *FINISHED, T1_US, T2_US, T2_US, "order-9"] + ["%Card 5%"] * 5 + [0],
    ),
)
def test_query_sql_with_every_filter(d: Dialect, expected: object) -> None:
    query = InstanceQuery(
        status="running",
        name="checkout",
        text="Card 5",
        created_from=T1,
        created_to=T2,
        stuck=True,
        before=(T2, "order-9"),
        limit=-3,  # a negative limit is an empty page, not SQL's "no limit"
    )
    assert query_sql(d, query) == expected


@by_dialect(([0, "order-9", 50]), ([0, "order-9", 50]))
def test_query_sql_cursor_without_a_creation_time_counts_as_zero(
    d: Dialect, expected: object
) -> None:
    assert query_sql(d, InstanceQuery(before=(None, "order-9")))[1] == expected


@pytest.mark.parametrize("d", [POSTGRES, SQLITE], ids=["postgres", "sqlite"])
def test_by_id_orders_ids_byte_wise(d: Dialect) -> None:
    assert d.by_id == (PG_ID if d is POSTGRES else "instance_id")


@by_dialect("%s", "?")
def test_status_of(d: Dialect, expected: str) -> None:
    conn = Recorder(("running",), None)
    assert status_of(conn, d, "a") == "running"
    assert status_of(conn, d, "b") is None
    sql = f"SELECT status FROM instances WHERE instance_id = {expected}"
    assert conn.statements == [(sql, ["a"]), (sql, ["b"])]


CHILD = InstanceState(
    "child-1",
    "payment",
    Status.PENDING,
    created_at=T1,
    parent_instance="order-1",
    parent_generation=2,
    parent_task=7,
)


@by_dialect("%s", "?")
def test_refused_notice_names_the_holder_or_a_question_mark(d: Dialect, expected: str) -> None:
    conn = Recorder(("refund",), None)
    first, second = refused_notice(conn, d, CHILD), refused_notice(conn, d, CHILD)
    sql = f"SELECT name FROM instances WHERE instance_id = {expected}"
    assert conn.statements == [(sql, ["child-1"]), (sql, ["child-1"])]
    assert first is not None and second is not None
    assert "already used by a 'refund' instance" in first[3]
    assert "already used by a '?' instance" in second[3]
    assert (first[0], first[1]) == ("order-1", 2)


@pytest.mark.parametrize("d", [POSTGRES, SQLITE], ids=["postgres", "sqlite"])
def test_refused_notice_without_a_parent_is_none(d: Dialect) -> None:
    orphan = InstanceState("child-1", "payment", Status.PENDING, created_at=T1)
    assert refused_notice(Recorder(("refund",)), d, orphan) is None


CAUSE = StoreError("bad row")
INFO = h.ErrorInfo("StoreError", "bad row; the instance was failed to protect the others")
LOCKED = (
    "SELECT l.token, parent_instance, parent_generation, parent_task, status "
    "FROM instances AS i JOIN locks AS l ON l.instance_id = i.instance_id WHERE i.instance_id = "
)
QUARANTINED = {
    "postgres": [
        (LOCKED + "%s FOR NO KEY UPDATE OF i", ["bad"]),
        ("DELETE FROM messages WHERE instance_id = %s", ["bad"]),
        ("DELETE FROM locks WHERE instance_id = %s", ["bad"]),
        (
            "UPDATE instances SET status = %s, error = %s, updated_at = %s WHERE instance_id = %s",
            ["failed", dumps(INFO.to_dict()), T1_US, "bad"],
        ),
    ],
    "sqlite": [
        (LOCKED + "?", ["bad"]),
        ("DELETE FROM messages WHERE instance_id = ?", ["bad"]),
        ("DELETE FROM locks WHERE instance_id = ?", ["bad"]),
        (
            "UPDATE instances SET status = ?, error = ?, updated_at = ? WHERE instance_id = ?",
            ["failed", dumps(INFO.to_dict()), T1_US, "bad"],
        ),
    ],
}


@by_dialect(QUARANTINED["postgres"], QUARANTINED["sqlite"])
def test_quarantine_fails_the_instance_and_tells_its_parent(
    d: Dialect, expected: list[tuple[str, list[Any]]]
) -> None:
    conn = Recorder(("tok", "order-1", 2, 7, "running"))
    notice = quarantine(conn, d, "bad", "tok", CAUSE, T1)
    assert conn.statements == expected
    told = h.SubOrchestrationFailed(T1, 7, "StoreError", INFO.message)
    assert notice == message_row(Message("order-1", told, 2))


@by_dialect(QUARANTINED["postgres"], QUARANTINED["sqlite"])
def test_quarantine_without_a_parent_queues_nothing(
    d: Dialect, expected: list[tuple[str, list[Any]]]
) -> None:
    conn = Recorder(("tok", None, None, None, "running"))
    assert quarantine(conn, d, "bad", "tok", CAUSE, T1) is None
    assert conn.statements == expected


@by_dialect(QUARANTINED["postgres"][:3], QUARANTINED["sqlite"][:3])
def test_quarantine_of_a_finished_instance_only_drops_its_messages_and_lock(
    d: Dialect, expected: list[tuple[str, list[Any]]]
) -> None:
    conn = Recorder(("tok", "order-1", 2, 7, "completed"))
    assert quarantine(conn, d, "bad", "tok", CAUSE, T1) is None
    assert conn.statements == expected


@pytest.mark.parametrize("row", [None, ("someone-else", None, None, None, "running")])
@by_dialect(QUARANTINED["postgres"][:1], QUARANTINED["sqlite"][:1])
def test_quarantine_leaves_an_instance_whose_lock_is_not_ours(
    d: Dialect, expected: list[tuple[str, list[Any]]], row: tuple[Any, ...] | None
) -> None:
    conn = Recorder(row)
    assert quarantine(conn, d, "bad", "tok", CAUSE, T1) is None
    assert conn.statements == expected
