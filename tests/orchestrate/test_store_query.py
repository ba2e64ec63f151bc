"""`Store.query_instances` (a filtered page of instances, newest first), on every store.

The memory store filters with `contract.query_matches`; the SQLite and PostgreSQL stores in SQL
(`stores/sql.py`). All must return the same pages for the same data.
"""

from __future__ import annotations

import dataclasses

import pytest

from orchestrate import history as h
from orchestrate.state import InstanceQuery, Status
from orchestrate.stores.contract import Store, query_key

from .stores import at, commit_for, create, finish, write_turns


def ids(store: Store, **kw) -> list[str]:
    return [s.instance_id for s in store.query_instances(InstanceQuery(**kw))]


def fail_turn(store: Store, key: str, *, finished: bool, custom: object = None) -> None:
    """Give `key` an error: failed (finished) or stuck (running, its last turn failed)."""
    works = store.fetch_orchestration_work(at(0), limit=100)
    [work] = [w for w in works if w.instance.instance_id == key]
    for other in works:
        if other is not work:
            store.abandon(other)
    error = h.ErrorInfo("NonDeterminismError" if not finished else "ValueError", "card <declined>")
    status = Status.FAILED if finished else Status.RUNNING
    state = {"status": status, "error": error, "custom_status": custom}
    assert write_turns(store, [commit_for(work, state=state)]) == [True]


@pytest.fixture
def populated(store: Store) -> Store:
    create(store, "order-1", "checkout", when=at(1))
    create(store, "order-2", "checkout", when=at(2))
    create(store, "ship-3", "shipping", when=at(3))
    create(store, "Order_4%", "checkout", when=at(4))
    create(store, "stuck-5", "shipping", when=at(5))
    finish(store, "order-1")
    fail_turn(store, "order-2", finished=True, custom={"phase": "Paid"})
    fail_turn(store, "stuck-5", finished=False)
    return store


def test_newest_first_with_a_limit(populated: Store) -> None:
    assert ids(populated) == ["stuck-5", "Order_4%", "ship-3", "order-2", "order-1"]
    assert ids(populated, limit=2) == ["stuck-5", "Order_4%"]
    assert ids(populated, limit=0) == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "completed"}, ["order-1"]),
        ({"status": Status.FAILED}, ["order-2"]),
        ({"name": "shipping"}, ["stuck-5", "ship-3"]),
        ({"stuck": True}, ["stuck-5"]),
        ({"created_from": at(2), "created_to": at(4)}, ["ship-3", "order-2"]),
        ({"text": "ORDER"}, ["Order_4%", "order-2", "order-1"]),  # ASCII case folded
        ({"text": "_4%"}, ["Order_4%"]),  # LIKE wildcards are literal
        ({"text": "r_"}, ["Order_4%"]),
        ({"text": "%"}, ["Order_4%"]),
        ({"text": "<declined>"}, ["stuck-5", "order-2"]),  # the error message
        ({"text": "nondeterminism"}, ["stuck-5"]),  # the error type
        ({"text": '"phase":"paid"'}, ["order-2"]),  # the custom status's compact JSON
        ({"text": "ship", "status": "pending"}, ["ship-3"]),
        ({"text": "nothing like it"}, []),
    ],
)
def test_filters(populated: Store, filters: dict, expected: list[str]) -> None:
    assert ids(populated, **filters) == expected


def test_keyset_pages_visit_every_instance_once(store: Store) -> None:
    # Equal creation times are ordered by id; a page after a cursor starts right after it.
    for n in range(23):
        create(store, f"i{n:02d}", when=at(n // 4))
    seen: list[str] = []
    query = InstanceQuery(limit=5)
    while True:
        page = store.query_instances(query)
        seen += [s.instance_id for s in page]
        if len(page) < query.limit:
            break
        last = page[-1]
        query = dataclasses.replace(query, before=(last.created_at, last.instance_id))
    everyone = sorted(store.list_instances(), key=query_key, reverse=True)
    assert seen == [s.instance_id for s in everyone]
    assert len(seen) == len(set(seen)) == 23


def test_a_cursor_with_filters_and_an_instance_without_creation_time(store: Store) -> None:
    create(store, "b", "x", when=at(2))
    create(store, "a", "x", when=at(1))
    create(store, "c", "y", when=at(3))
    assert ids(store, name="x", before=(at(2), "b")) == ["a"]
    assert ids(store, before=(None, "zzz")) == []  # nothing sorts before "no creation time"


def test_pages_are_copies(populated: Store) -> None:
    [first] = populated.query_instances(InstanceQuery(limit=1))
    first.status = Status.COMPLETED
    assert populated.query_instances(InstanceQuery(limit=1))[0].status == Status.RUNNING


def test_finished_instances_are_not_stuck(populated: Store) -> None:
    assert "order-2" not in ids(populated, stuck=True)
    [stuck] = populated.query_instances(InstanceQuery(stuck=True))
    assert stuck.error is not None and stuck.error.type == "NonDeterminismError"
