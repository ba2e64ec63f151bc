"""Bug class: a retry budget measured with the process's monotonic clock.

`buggy` retries a flaky rate service every 45 s until a 30 s budget is spent, and measures the
budget with a small `RetryBudget` helper that reads ``time.monotonic()``. The clock is not in the
history: a replay re-runs the whole loop at one instant, sees no time elapsed, keeps retrying
where the recorded run gave up, and diverges (a timer where the history has the completion).
It only shows when the service fails twice in a row, so a plain happy-path test passes; the
fuzzer picks `fetch_rate`'s outcome per execution and replays with the clocks shifted.

Fix (`fixed`): measure the budget with ``ctx.now()``, the recorded time of each turn.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry, Status
from testkit import fail, ok

from ._helpers import scheduled_inputs

reg = Registry()

BUDGET = timedelta(seconds=30)
BACKOFF = timedelta(seconds=45)


class RetryBudget:
    """Time left for retries, on the process's monotonic clock (the bug)."""

    def __init__(self, budget: timedelta) -> None:
        self.seconds = budget.total_seconds()
        self.started = time.monotonic()

    def exhausted(self) -> bool:
        return time.monotonic() - self.started >= self.seconds


@reg.activity
def fetch_rate(pair: str) -> float:
    return 1.08


@reg.orchestration
async def buggy(ctx: OrchestrationContext, pair: str) -> dict[str, Any]:
    budget = RetryBudget(BUDGET)
    while True:
        try:
            return {"pair": pair, "rate": await ctx.activity(fetch_rate, pair)}
        except ActivityFailed:
            if budget.exhausted():
                return {"pair": pair, "rate": None}
            await ctx.sleep(BACKOFF)


@reg.orchestration
async def fixed(ctx: OrchestrationContext, pair: str) -> dict[str, Any]:
    deadline = ctx.now() + BUDGET
    while True:
        try:
            return {"pair": pair, "rate": await ctx.activity(fetch_rate, pair)}
        except ActivityFailed:
            if ctx.now() >= deadline:
                return {"pair": pair, "rate": None}
            await ctx.sleep(BACKOFF)


def gives_up_after_two_failures(run: Any) -> None:
    """At most two calls (one retry fits in the budget); no answer only after both failed."""
    calls = scheduled_inputs(run, "fetch_rate")
    assert len(calls) <= 2, f"{len(calls)} calls for a budget of one retry"
    if run.status == Status.COMPLETED and run.output["rate"] is None:
        assert len(calls) == 2


OUTCOMES = {fetch_rate: [ok(1.08), fail("rate service unavailable")]}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": "EURUSD", "outcomes": OUTCOMES, "invariant": gives_up_after_two_failures},
    "fixed": {"input": "EURUSD", "outcomes": OUTCOMES, "invariant": gives_up_after_two_failures},
}

PLAIN: dict[str, Any] = {"input": "EURUSD", "output": {"pair": "EURUSD", "rate": 1.08}}
CAUGHT_BY_TESTENV = False
CALLS_THE_CLOCK = True  # the call guard stops it at the call
