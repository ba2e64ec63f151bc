"""Function chaining: run activities one after another, each fed the previous one's result.

Seed: 000 (Duroxide "Function Chaining": validate -> reserve -> pay -> ship).

Replay-safe because the only thing the orchestration does is await activities in a fixed order
and build a dict from their results; on replay every ``ctx.activity`` call matches the recorded
``ActivityScheduled`` at the same position and returns the recorded result instead of running the
activity again. A failing step raises ``ActivityFailed`` and stops the chain: no later step is
ever scheduled, and the instance fails with that error.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry

reg = Registry()


class InvalidOrder(ValueError):
    """The order cannot be processed as submitted (not worth retrying)."""


@reg.activity
def validate_order(order: dict[str, Any]) -> dict[str, Any]:
    lines = order.get("lines", [])
    if not lines:
        raise InvalidOrder(f"order {order['id']} has no lines")
    if any(line["qty"] <= 0 for line in lines):
        raise InvalidOrder(f"order {order['id']} has a line with a non-positive quantity")
    total = sum(line["qty"] * line["unit_price"] for line in lines)
    return {**order, "total": round(total, 2)}


@reg.activity
def reserve_inventory(order: dict[str, Any]) -> str:
    skus = "-".join(line["sku"] for line in order["lines"])
    return f"res-{order['id']}-{skus}"


@reg.activity
def process_payment(order: dict[str, Any]) -> str:
    return f"tx-{order['id']}-{order['total']:.2f}"


@reg.activity
def ship_order(request: dict[str, Any]) -> str:
    return f"track-{request['reservation']}"


@reg.orchestration
async def process_order(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    """Validate, reserve, charge and ship, strictly in that order."""
    validated = await ctx.activity(validate_order, order)
    reservation = await ctx.activity(reserve_inventory, validated)
    payment = await ctx.activity(process_payment, validated)
    tracking = await ctx.activity(ship_order, {"reservation": reservation, "payment": payment})
    return {
        "order": order["id"],
        "total": validated["total"],
        "reservation": reservation,
        "payment": payment,
        "tracking": tracking,
    }
