"""Broken twin of `patterns/monitor.py`: the monitor's deadline uses the wall clock.

``datetime.now()`` differs on every replay, so a replayed generation can decide "expired" where
the recorded one decided "continue". Caught by orch-lint (ORC101). Fix: ``ctx.now()``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry

reg = Registry()


@reg.activity
def check_service_health(endpoint: str) -> str:
    return "healthy"


@reg.orchestration
async def monitor_service(ctx: OrchestrationContext, state: dict[str, Any]) -> dict[str, Any]:
    started = state.get("started_at") or datetime.now().isoformat()  # BUG: wall clock
    await ctx.activity(check_service_health, state["endpoint"])
    await ctx.sleep(timedelta(minutes=5))
    if datetime.now() - datetime.fromisoformat(started) < timedelta(hours=24):  # BUG again
        ctx.continue_as_new({**state, "started_at": started})
    return {"reason": "expired"}
