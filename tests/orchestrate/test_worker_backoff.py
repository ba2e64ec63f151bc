"""A store that turns read-only or stays locked while a worker runs: one clear log line per retry,
retries spaced out exponentially (capped), no traceback storm; the first round that works resets
the backoff and says so."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from orchestrate import (
    Client,
    MemoryStore,
    OrchestrationContext,
    Registry,
    Status,
    StoreError,
    Worker,
)
from orchestrate.backoff import Backoff

reg = Registry()


@reg.orchestration
async def hello(ctx: OrchestrationContext) -> str:
    return "hi"


READ_ONLY = (
    "'app.db' is read-only: attempt to write a readonly database. Orchestrate writes to its "
    "database; make the file writable"
)


class FailingStore(MemoryStore):
    """A MemoryStore whose reads and writes fail with `StoreError` while `failures` > 0."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError(READ_ONLY)

    def fetch_orchestration_work(self, *args: Any, **kwargs: Any) -> Any:
        self._maybe_fail()
        return super().fetch_orchestration_work(*args, **kwargs)


def run_loop(worker: Worker, until: Any) -> list[float]:
    """Run the worker's thread loop on this thread, recording its pauses, until `until()`."""
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        assert len(pauses) <= 100, "the loop keeps failing: stopped it"

    def wait_for_work(mark: Any) -> None:
        worker._stopping = bool(until()) or len(pauses) > 100

    worker._pause = pause  # type: ignore[method-assign]
    worker._wait_for_work = wait_for_work  # type: ignore[method-assign]
    worker._loop()
    return pauses


def test_a_failing_store_is_retried_with_capped_exponential_backoff_and_one_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingStore(failures=12)
    worker = Worker(reg, store, backoff_cap=5.0)
    Client(store, registry=reg).start(hello, instance_id="h")
    with caplog.at_level(logging.WARNING, logger="orchestrate.worker"):
        pauses = run_loop(worker, lambda: store.get_instance("h").status == Status.COMPLETED)
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    assert store.get_instance("h").status == Status.COMPLETED  # it recovered by itself
    records = [r for r in caplog.records if r.name == "orchestrate.worker"]
    assert len(records) == 13
    assert all(r.exc_info is None for r in records)  # no tracebacks
    first = records[0].getMessage()
    assert first.startswith("store unavailable (1 failed round in a row), retrying in 0.1 s")
    assert READ_ONLY in first
    assert "12 failed rounds in a row), retrying in 5.0 s" in records[11].getMessage()
    assert records[12].getMessage() == "store available again after 12 failed rounds"
    assert worker.backoff.failures == 0


def test_a_bug_keeps_its_traceback_and_backs_off_too(caplog: pytest.LogCaptureFixture) -> None:
    backoff = Backoff(0.5, 2.0)
    with caplog.at_level(logging.WARNING, logger="orchestrate.worker"):
        delays = [backoff.failed(KeyError("bug")) for _ in range(4)]
    assert delays == [0.5, 1.0, 2.0, 2.0]
    assert all(r.exc_info is not None for r in caplog.records)
    with pytest.raises(ValueError, match="give 0 < first <= cap"):
        Backoff(1.0, 0.5)
