"""`orchestrate.ui.list_page`: query strings become store queries; pages link to the next one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrate import MemoryStore
from orchestrate.state import InstanceQuery, Status
from orchestrate.ui.list_page import MAX_LIMIT, cursor_of, list_body, parse_filters

from ..stores import at, create


@pytest.mark.parametrize(
    ("params", "query"),
    [
        ({}, InstanceQuery()),
        ({"status": "failed", "name": "", "text": ""}, InstanceQuery(status="failed")),
        ({"name": "checkout", "text": "card"}, InstanceQuery(name="checkout", text="card")),
        ({"stuck": "1", "limit": "10"}, InstanceQuery(stuck=True, limit=10)),
        (
            {"from": "2024-01-01T10:00", "to": "2024-01-02T00:00:00Z"},
            InstanceQuery(
                created_from=datetime(2024, 1, 1, 10, tzinfo=UTC),
                created_to=datetime(2024, 1, 2, tzinfo=UTC),
            ),
        ),
        ({"cursor": "1704067200000000:order-7"}, InstanceQuery(before=(datetime(2024, 1, 1, tzinfo=UTC), "order-7"))),
        ({"cursor": "0:a:b"}, InstanceQuery(before=(None, "a:b"))),
    ],
)
def test_parse_filters(params: dict, query: InstanceQuery) -> None:
    filters = parse_filters(params)
    assert filters.errors == []
    assert filters.query == query


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"status": "exploded"}, "status 'exploded' is unknown"),
        ({"limit": "0"}, f"from 1 to {MAX_LIMIT}"),
        ({"limit": "lots"}, f"from 1 to {MAX_LIMIT}"),
        ({"from": "yesterday"}, "from 'yesterday' is not a date"),
        ({"cursor": "nonsense"}, "is not one this page made"),
    ],
)
def test_bad_values_are_reported_and_left_out(params: dict, error: str) -> None:
    filters = parse_filters(params)
    [message] = filters.errors
    assert error in message
    assert filters.query == InstanceQuery()
    assert error.split(" ")[0] in list_body(filters, [])  # shown on the page


def test_pages_chain_through_every_instance_by_cursor() -> None:
    store = MemoryStore()
    for n in range(7):
        create(store, f"i{n}", when=at(n))
    params = {"limit": "3", "status": "pending"}
    seen: list[str] = []
    while True:
        filters = parse_filters(params)
        page = store.query_instances(filters.query)
        seen += [s.instance_id for s in page]
        body = list_body(filters, page)
        if len(page) < 3:
            assert 'class="next"' not in body
            break
        assert f"cursor={cursor_of(page[-1])}".replace(":", "%3A") in body
        assert "status=pending" in body and "limit=3" in body  # the filters carry over
        params = {**params, "cursor": cursor_of(page[-1])}
    assert seen == [f"i{n}" for n in reversed(range(7))]
    assert 'class="first"' in body  # back to the newest page


def test_rows_show_state_and_escape_everything() -> None:
    store = MemoryStore()
    evil = "<script>x()</script>\x1b]0;title\x07"
    create(store, evil, evil, when=at(1))
    page = store.query_instances(InstanceQuery())
    body = list_body(parse_filters({"text": evil}), page)
    assert "<script>x()" not in body and "\x1b" not in body and "\x07" not in body
    assert "&lt;script&gt;x()&lt;/script&gt;\\x1b]0;title\\x07" in body
    assert 'href="/instance?id=%3Cscript%3Ex%28%29%3C%2Fscript%3E%1B%5D0%3Btitle%07"' in body
    assert f'<span class="badge {Status.PENDING}">' in body
    assert 'value="&lt;script&gt;' in body  # the filter form echoes the text escaped


def test_no_match() -> None:
    assert "no instances match" in list_body(parse_filters({}), [])


def test_a_cursor_before_1970() -> None:
    filters = parse_filters({"cursor": "-1000000:old"})
    assert filters.errors == []
    assert filters.query.before == (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), "old")
