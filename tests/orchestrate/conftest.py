"""Shared fixtures for the runtime tests: a manual clock and a synchronous harness around a Worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrate import Client, InstanceState, MemoryStore, Registry, Worker
from orchestrate.history import Event
from orchestrate.stores.contract import Store

START = datetime(2024, 1, 1, tzinfo=UTC)


class ManualClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | float) -> None:
        self.current += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)


class Harness:
    """A MemoryStore, a Client and a Worker on a ManualClock, driven on the test's thread."""

    def __init__(self, registry: Registry, **worker_options: Any) -> None:
        self.registry = registry
        self.clock = ManualClock()
        self.store = MemoryStore()
        self.client = Client(self.store, registry=registry, clock=self.clock)
        # Driven on the test's thread: sync activities one after another, so completion order
        # (and so every history) is the same on every run, unless a test asks for a pool.
        worker_options.setdefault("sync_activities", 1)
        self.worker = Worker(registry, self.store, clock=self.clock, **worker_options)

    def settle(self) -> int:
        """Run turns and activities until nothing is workable at the current time."""
        rounds = 0
        while self.worker.poll_once():
            rounds += 1
            assert rounds < 10_000, "the worker never settled"
        return rounds

    def start(self, orchestration: Callable[..., Any] | str, value: Any = None, **kw: Any) -> str:
        instance_id = self.client.start(orchestration, value, **kw)
        self.settle()
        return instance_id

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def state(self, instance_id: str) -> InstanceState:
        return self.client.state(instance_id)

    def history(self, instance_id: str) -> list[Event]:
        return self.client.history(instance_id)

    def kinds(self, instance_id: str) -> list[str]:
        return [e.kind for e in self.history(instance_id)]


@pytest.fixture
def reg() -> Registry:
    return Registry()


@pytest.fixture
def harness_factory() -> Callable[..., Harness]:
    return Harness


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store the contract covers, fresh and closed after the test (postgres: a new
    database on the session's throwaway cluster, see `tests/conftest.py`)."""
    from .stores import make_store

    if request.param == "postgres":
        made = make_store("postgres", tmp_path, request.getfixturevalue("pg_url"))
    else:
        made = make_store(request.param, tmp_path)
    yield made
    made.close()
