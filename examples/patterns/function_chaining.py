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

from orchestrate import OrchestrationContext, Registry, Status
from orchestrate import history as h
from testkit import Run, fail

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


# --- fuzzing: orch-fuzz examples/patterns/function_chaining.py:process_order ----------------------

STEPS = ["validate_order", "reserve_inventory", "process_payment", "ship_order"]


def strictly_in_order(run: Run) -> None:
    """Each step is scheduled only after the previous one completed, in chain order; a failed
    step is the last one scheduled; a completed chain returns what its steps returned."""
    names = {e.task_id: e.name for e in run.history if isinstance(e, h.ActivityScheduled)}
    events = [
        e
        for e in run.history
        if isinstance(e, h.ActivityScheduled | h.ActivityCompleted | h.ActivityFailed)
    ]
    expected_kinds = ["ActivityScheduled", "ActivityCompleted"] * len(STEPS)
    kinds = [e.kind for e in events]
    if run.status == Status.FAILED:
        assert kinds[-1] == "ActivityFailed", f"failed without a failed step: {kinds}"
        kinds[-1] = "ActivityCompleted"
    assert kinds == expected_kinds[: len(kinds)], f"steps overlapped or ran out of order: {kinds}"
    assert list(names.values()) == STEPS[: len(names)], (
        f"chain order broken: {list(names.values())}"
    )
    if run.status == Status.COMPLETED:
        results = {names[e.task_id]: e.result for e in events if isinstance(e, h.ActivityCompleted)}
        assert run.output["payment"] == results["process_payment"], run.output
        assert run.output["tracking"] == results["ship_order"], run.output


FUZZ: dict[str, dict[str, Any]] = {
    "process_order": {
        "input": {
            "id": "o-42",
            "lines": [
                {"sku": "A1", "qty": 2, "unit_price": 9.5},
                {"sku": "B7", "qty": 1, "unit_price": 3},
            ],
        },
        "outcomes": {
            process_payment: [process_payment, fail("card declined")],
            ship_order: [ship_order, fail(RuntimeError("carrier unavailable"))],
        },
        "invariant": strictly_in_order,
    },
}
