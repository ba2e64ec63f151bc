"""Helpers for the store contract suites (`test_store_contract.py`, `test_store_write.py`) and
other tests that drive a store by hand: hand-built instances, fetches and turn commits."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrate import history as h
from orchestrate.state import (
    ActivityWork,
    Batch,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    TurnCommit,
)
from orchestrate.stores.contract import Store
from orchestrate.stores.memory import MemoryStore
from orchestrate.stores.sqlite import SqliteStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_store(kind: str, tmp_path: Path, url: str = "") -> Store:
    """A fresh store of `kind` ("memory", "sqlite" in `tmp_path`, or "postgres" at `url`)."""
    if kind == "postgres":
        from orchestrate.stores.postgres import PostgresStore

        return PostgresStore(url)
    return MemoryStore() if kind == "memory" else SqliteStore(str(tmp_path / "c.db"))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def create(store: Store, key: str, name: str = "flow", *, when: datetime = T0, **kw) -> None:
    state = InstanceState(key, name, Status.PENDING, {"n": 1}, created_at=when, updated_at=when)
    start = Message(key, h.OrchestrationStarted(when, name, {"n": 1}, key, 0), 0)
    store.create_instance(state, start, **kw)


def fetch_one(store: Store, now: datetime = T0, **kw) -> OrchestrationWork:
    works = store.fetch_orchestration_work(now, **kw)
    assert len(works) == 1, works
    return works[0]


def commit_for(work: OrchestrationWork, *events: h.Event, **changes) -> TurnCommit:
    """A turn that consumes every fetched message and appends `events`."""
    state = dataclasses.replace(work.instance, **changes.pop("state", {}))
    return TurnCommit(
        state, work.lock_token, list(events), [m.id for m in work.messages], **changes
    )


def finish(store: Store, key: str, now: datetime = T0) -> None:
    """Complete instance `key` in one turn (other fetched instances are released untouched)."""
    works = store.fetch_orchestration_work(now, limit=100)
    [work] = [w for w in works if w.instance.instance_id == key]
    for other in works:
        if other is not work:
            store.abandon(other)
    done = h.OrchestrationCompleted(now, "ok")
    state = {"status": Status.COMPLETED, "output": "ok", "updated_at": now}
    assert write_turns(store, [commit_for(work, done, state=state)]) == [True]


def write_turns(store: Store, commits: list[TurnCommit]) -> list[bool]:
    """Write lock-guarded turns alone (the shape a fetched round writes); applied per turn."""
    return store.write(Batch(turns=commits)).applied


def write_results(store: Store, results: list[tuple[ActivityWork, Message]]) -> None:
    """Write activity results alone (the shape of a round without follow-up turns)."""
    store.write(Batch(results))
