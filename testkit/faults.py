"""`CrashingStore`: the testkit's store, with the one fault a test can ask for.

A worker can die between computing a turn and committing it. `TestEnv` runs on this store so
that `Controller.crash("before_commit")` (and through it the fuzzer) can lose exactly the next
write that carries turns, at the store seam where a real crash would lose it.

It wraps any `Store`: a `MemoryStore` by default, or the store of ``TestEnv(reg,
store="sqlite:///...")`` for tests that cross the real persistence layer. Every call but
`write` goes straight to the wrapped store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrate.state import (
    ActivityWork,
    Batch,
    InstanceQuery,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    Written,
)
from orchestrate.stores.memory import MemoryStore

if TYPE_CHECKING:
    from datetime import datetime

    from orchestrate import history as h
    from orchestrate.stores.contract import Store

__all__ = ["CrashingStore"]


class CrashingStore:
    """A store plus one fault: the next write that carries turns is lost, as if the worker
    crashed just before it (`Controller.crash("before_commit")`).

    Nothing of the turns is applied and their locks are released, so they are redone; activity
    results the worker had already finished (the batch's completions and the results a cached
    turn carries) are kept, completed as ordinary messages, and nothing is leased.
    """

    def __init__(self, inner: Store | None = None) -> None:
        self.inner: Store = inner if inner is not None else MemoryStore()
        self.crash_before_commit = False

    def write(self, batch: Batch) -> Written:
        inner = self.inner
        if not self.crash_before_commit or not batch.turns:
            return inner.write(batch)
        self.crash_before_commit = False
        results = list(batch.completions)
        for commit in batch.turns:
            if commit.cached is not None:
                results += commit.cached.results
            else:  # nothing consumed, the lock released: the turn will be redone
                inner.abandon(OrchestrationWork(commit.instance, [], commit.lock_token))
        if results:
            inner.write(Batch(results))
        return Written([False] * len(batch.turns), [])

    # --- everything else is the wrapped store's ------------------------------------------------

    def create_instance(
        self,
        state: InstanceState,
        start: Message,
        *,
        reuse: bool = False,
        event: Message | None = None,
    ) -> bool:
        return self.inner.create_instance(state, start, reuse=reuse, event=event)

    def get_instance(self, instance_id: str) -> InstanceState | None:
        return self.inner.get_instance(instance_id)

    def list_instances(
        self,
        *,
        status: Status | str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[InstanceState]:
        return self.inner.list_instances(status=status, name=name, limit=limit)

    def query_instances(self, query: InstanceQuery) -> list[InstanceState]:
        return self.inner.query_instances(query)

    def get_history(self, instance_id: str) -> list[h.Event]:
        return self.inner.get_history(instance_id)

    def send(self, message: Message) -> None:
        self.inner.send(message)

    def fetch_orchestration_work(
        self, now: datetime, *, limit: int = 1, lease: float = 60.0
    ) -> list[OrchestrationWork]:
        return self.inner.fetch_orchestration_work(now, limit=limit, lease=lease)

    def abandon(self, work: OrchestrationWork) -> None:
        self.inner.abandon(work)

    def retry(self, instance_id: str) -> bool:
        return self.inner.retry(instance_id)

    def fetch_activity_work(
        self, now: datetime, *, limit: int = 1, lease: float = 300.0
    ) -> list[ActivityWork]:
        return self.inner.fetch_activity_work(now, limit=limit, lease=lease)

    def release_activities(self, works: list[ActivityWork]) -> None:
        self.inner.release_activities(works)

    def next_wakeup(self) -> datetime | None:
        return self.inner.next_wakeup()

    def change_mark(self) -> Any:
        return self.inner.change_mark()

    def wait_for_change(self, timeout: float, since: Any = None) -> bool:
        return self.inner.wait_for_change(timeout, since)

    def purge(
        self, instance_id: str | None = None, *, finished_before: datetime | None = None
    ) -> int:
        return self.inner.purge(instance_id, finished_before=finished_before)

    def close(self) -> None:
        self.inner.close()
