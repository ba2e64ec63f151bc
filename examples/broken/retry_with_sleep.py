"""Broken twin of `patterns/retries.py`: a retry loop that sleeps with ``time.sleep``.

The sleep blocks the worker thread (every other instance on it waits), is not durable (a restart
forgets it) and is repeated on every replay. Caught by orch-lint (ORC103). Fix:
``await ctx.sleep(...)``, a durable timer, or a `RetryPolicy` on the activity.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry

reg = Registry()


@reg.activity
def sync_inventory(store: dict[str, Any]) -> int:
    return 3


@reg.orchestration
async def sync_with_retries(ctx: OrchestrationContext, store: dict[str, Any]) -> int:
    for attempt in range(4):
        try:
            synced: int = await ctx.activity(sync_inventory, store)
            return synced
        except ActivityFailed:
            time.sleep(2**attempt)  # BUG: blocks the worker, not durable
    raise RuntimeError("inventory sync failed 4 times")
