"""Broken twin of `patterns/racing.py`: the code assumes the primary always wins the race.

In every test the primary database answers first, so ``primary.result()`` works. In production
the replica sometimes answers first; then the primary task is not done (it was cancelled as the
race's loser) and reading its result fails the instance. The bug is in the *order* of events,
so only a tool that chooses the order finds it: the fuzzer. Fix: use the winner
``ctx.any`` returns (see `patterns/racing.py`).
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status
from testkit import Run

reg = Registry()


@reg.activity
def query_primary_db(query: str) -> dict[str, Any]:
    return {"source": "primary", "rows": [query]}


@reg.activity
def query_replica(query: str) -> dict[str, Any]:
    return {"source": "replica", "rows": [query]}


@reg.orchestration
async def fetch(ctx: OrchestrationContext, query: str) -> dict[str, Any]:
    primary = ctx.activity(query_primary_db, query)
    replica = ctx.activity(query_replica, query)
    await ctx.any([primary, replica])
    result: dict[str, Any] = primary.result()  # BUG: the replica may have won
    return result


def a_lookup_answers(run: Run) -> None:
    """The instance completes with whichever lookup answered first."""
    assert run.status == Status.COMPLETED, f"the race failed: {run.error}"


FUZZ: dict[str, dict[str, Any]] = {
    "fetch": {"input": "sku=42", "invariant": a_lookup_answers},
}
