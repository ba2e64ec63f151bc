"""`CrashingStore`: the testkit's memory store, with the one fault a test can ask for.

A worker can die between computing a turn and committing it. `TestEnv` runs on this store so
that `Controller.crash("before_commit")` (and through it the fuzzer) can lose exactly the next
write that carries turns, at the store seam where a real crash would lose it.
"""

from __future__ import annotations

from orchestrate.state import Batch, OrchestrationWork, Written
from orchestrate.stores.memory import MemoryStore

__all__ = ["CrashingStore"]


class CrashingStore(MemoryStore):
    """The memory store plus one fault: the next write that carries turns is lost, as if the
    worker crashed just before it (`Controller.crash("before_commit")`).

    Nothing of the turns is applied and their locks are released, so they are redone; activity
    results the worker had already finished (the batch's completions and the results a cached
    turn carries) are kept, completed as ordinary messages, and nothing is leased.
    """

    def __init__(self) -> None:
        super().__init__()
        self.crash_before_commit = False

    def write(self, batch: Batch) -> Written:
        if not self.crash_before_commit or not batch.turns:
            return super().write(batch)
        self.crash_before_commit = False
        results = list(batch.completions)
        for commit in batch.turns:
            if commit.cached is not None:
                results += commit.cached.results
            else:  # nothing consumed, the lock released: the turn will be redone
                self.abandon(OrchestrationWork(commit.instance, [], commit.lock_token))
        if results:
            super().write(Batch(results))
        return Written([False] * len(batch.turns), [])
