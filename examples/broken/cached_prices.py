"""Broken twin of `patterns/function_chaining.py`: a module-level cache of prices.

The first run fills the cache; a replay in the same process finds it full and skips the
activity, so the replayed commands no longer match the history (and another worker process has
an empty cache). Caught by orch-lint (ORC111). Fix: no module state in orchestrations; the
activity result is already recorded, so replay never calls the price service again anyway.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry

reg = Registry()
_PRICE_CACHE: dict[str, float] = {}


@reg.activity
def fetch_price(sku: str) -> float:
    return 9.5


@reg.orchestration
async def price_order(ctx: OrchestrationContext, order: dict[str, Any]) -> float:
    total = 0.0
    for sku in order["skus"]:
        if sku not in _PRICE_CACHE:
            _PRICE_CACHE[sku] = await ctx.activity(fetch_price, sku)  # BUG: module state
        total += _PRICE_CACHE[sku]
    return total
