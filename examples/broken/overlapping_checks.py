"""Broken twin of `patterns/monitor.py`: a slow health check overlaps the next one.

To keep a steady rhythm, this monitor starts a check and waits for *either* the check or the
interval; when the check is slower than the interval it starts the next check anyway. The slow
check (cancelled as the race's loser, but maybe still running against the service) overlaps
the new one, doubling the load exactly when the service is struggling. Tests with instant
checks never see it; the fuzzer lets a check outlast the interval. Fix: await the check (with
a timeout shorter than the interval), then sleep (see `patterns/monitor.py`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry
from testkit import Run

from ..patterns.monitor import checks_never_overlap

reg = Registry()
INTERVAL = timedelta(minutes=5)


@reg.activity
def check_service_health(endpoint: str) -> str:
    return "healthy"


@reg.orchestration
async def monitor(ctx: OrchestrationContext, endpoint: str) -> dict[str, Any]:
    statuses: list[str] = []
    for _ in range(3):
        check = ctx.activity(check_service_health, endpoint)
        tick = ctx.timer(INTERVAL)
        if await ctx.any([check, tick]) is check:  # BUG: the timer may win: next check starts
            statuses.append(check.result())
            await ctx.sleep(INTERVAL)
    return {"statuses": statuses}


def checks_do_not_overlap(run: Run) -> None:
    checks_never_overlap(run)


FUZZ: dict[str, dict[str, Any]] = {
    "monitor": {"input": "https://shop.example/health", "invariant": checks_do_not_overlap},
}
