"""Broken twin of `patterns/versioning.py`: a fraud check added without ``ctx.patched``.

The new code is correct for new instances, and deterministic, so neither the linter nor a
fuzzer run of today's code can object. Instances started before the deploy replay their old
history (charge first) against code that now schedules the fraud check first: a
``NonDeterminismError`` at the first turn after the deploy. Caught by replaying histories
recorded under the old code (``env.replay``, `testkit.replay_history`, or pytest's
``--orch-replay DIR`` guard). Fix: guard the change with ``ctx.patched("fraud-check")``.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry

reg = Registry()


@reg.activity
def score_fraud(order: dict[str, Any]) -> float:
    return 0.05


@reg.activity
def charge(order: dict[str, Any]) -> str:
    return f"tx-{order['id']}"


@reg.activity
def send_receipt(receipt: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def fulfil_order(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    await ctx.activity(score_fraud, order)  # BUG: new step, no ctx.patched guard
    tx = await ctx.activity(charge, order)
    packed = await ctx.event("Packed")
    await ctx.activity(send_receipt, {"order": order["id"], "tx": tx, "parcels": packed["parcels"]})
    return {"order": order["id"], "status": "fulfilled"}
