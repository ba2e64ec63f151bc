"""Broken twin of `patterns/ecommerce_order.py`: compensation skipped under one interleaving.

Inventory and the shipping slot are reserved in parallel, and each reservation's release is
registered only when the saga *sees* it succeed. When the slot fails first, ``ctx.all`` fails
fast and the saga compensates at once; the inventory reservation that completes a moment
later (while the customer is being notified) was never registered and stays reserved for ever. Every test that finishes the calls in
order passes; no linter can see it. The fuzzer finds it: it chooses the completion order.
Fix: register each compensation before its step (see `patterns/ecommerce_order.py`).
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Saga, TaskFailed
from orchestrate import history as h
from testkit import Run, fail, ok

reg = Registry()


@reg.activity
def reserve_inventory(order_id: str) -> str:
    return f"inv-{order_id}"


@reg.activity
def release_inventory(order_id: str) -> None:
    return None


@reg.activity
def reserve_shipping_slot(order_id: str) -> str:
    return f"slot-{order_id}"


@reg.activity
def cancel_shipping_slot(order_id: str) -> None:
    return None


@reg.activity
def notify_customer(message: dict[str, Any]) -> None:
    return None


UNDO = {"reserve_inventory": "release_inventory", "reserve_shipping_slot": "cancel_shipping_slot"}


@reg.orchestration
async def reserve_order(ctx: OrchestrationContext, order_id: str) -> str:
    saga = Saga(ctx)
    steps = {name: ctx.activity(name, order_id) for name in UNDO}
    try:
        async for done in ctx.as_completed(list(steps.values())):
            done.result()  # raises on a failed reservation
            name = next(n for n, task in steps.items() if task is done)
            saga.add(UNDO[name], order_id)  # BUG: registered only once seen to succeed
    except TaskFailed:
        await saga.compensate()
        await ctx.activity(notify_customer, {"order": order_id, "status": "cancelled"})
        return "rolled back"
    return "reserved"


def everything_reserved_is_released(run: Run) -> None:
    """On rollback, every reservation that completed (even after the failure) was released."""
    names = {e.task_id: e.name for e in run.history if isinstance(e, h.ActivityScheduled)}
    reserved = {
        names[e.task_id]
        for e in run.history
        if isinstance(e, h.ActivityCompleted) and names[e.task_id] in UNDO
    }
    released = {n for n in names.values() if n in UNDO.values()}
    assert run.output in ("reserved", "rolled back"), run.error
    if run.output == "rolled back":
        leaked = {r for r in reserved if UNDO[r] not in released}
        assert not leaked, f"rolled back but still reserved: {sorted(leaked)}"


FUZZ: dict[str, dict[str, Any]] = {
    "reserve_order": {
        "input": "o-1",
        "outcomes": {
            reserve_inventory: [ok("inv-o-1"), fail("out of stock")],
            reserve_shipping_slot: [ok("slot-o-1"), fail("no slot")],
        },
        "invariant": everything_reserved_is_released,
    },
}
