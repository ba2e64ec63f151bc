"""Broken twin of `patterns/fan_out_fan_in.py`: the fan-out iterates over a set of SKUs.

A set of strings iterates in an order that depends on the process's hash seed, so after a
restart (another ``PYTHONHASHSEED``) the activities are scheduled in another order and replay
fails. Caught by orch-lint (ORC108); the fuzzer's hash-seed replays find it too. Fix: iterate
``sorted(set(...))`` or keep the list.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry

reg = Registry()


@reg.activity
def reserve(sku: str) -> str:
    return f"res-{sku}"


@reg.orchestration
async def reserve_all(ctx: OrchestrationContext, order: dict[str, Any]) -> list[str]:
    skus = set(order["skus"])  # de-duplicate...
    return await ctx.all([ctx.activity(reserve, sku) for sku in skus])  # BUG: set order


FUZZ: dict[str, dict[str, Any]] = {
    "reserve_all": {"input": {"skus": ["tea", "mug", "pot", "cup", "jar"]}},
}
