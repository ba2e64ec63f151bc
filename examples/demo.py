"""`make demo`: an order orchestration run end to end on the embedded SQLite default store.

It chains activities, fans out over the order lines, retries a flaky payment, waits on a durable
timer, and pauses for a human approval that this script raises as an external event. Everything
it does is recorded in ./orchestrate.db; `orchestrate show ID --db orchestrate.db` prints the
timeline afterwards.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, RetryPolicy, Runtime, activity_info

reg = Registry()
_payment_attempts: dict[str, int] = {}


@reg.activity
def validate(order: dict[str, Any]) -> dict[str, Any]:
    if not order["lines"]:
        raise ValueError("an order needs at least one line")
    return {**order, "valid": True}


@reg.activity
def reserve(line: dict[str, Any]) -> str:
    return f"res-{line['sku']}-{line['qty']}"


@reg.activity(
    name="Charge",
    retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(milliseconds=200), backoff=2.0),
)
def charge(order: dict[str, Any]) -> str:
    key = activity_info().idempotency_key  # the same on every attempt: safe to send to a PSP
    _payment_attempts[key] = _payment_attempts.get(key, 0) + 1
    if _payment_attempts[key] < 2:
        raise ConnectionError("payment gateway timed out")
    return f"tx-{order['id']}"


@reg.activity
def ship(order: dict[str, Any]) -> str:
    return f"shipped {order['id']} with {len(order['reservations'])} parcels"


@reg.orchestration
async def order_flow(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    ctx.set_status({"phase": "validating"})
    order = await ctx.activity(validate, order)
    reservations = await ctx.all([ctx.activity(reserve, line) for line in order["lines"]])
    ctx.set_status({"phase": "charging", "reserved": len(reservations)})
    tx = await ctx.activity("Charge", order)
    await ctx.sleep(timedelta(milliseconds=300))  # a durable timer
    ctx.set_status({"phase": "awaiting approval"})
    approval, timeout = ctx.event("Approval"), ctx.timer(timedelta(minutes=5))
    if await ctx.any([approval, timeout]) is timeout:
        return {"status": "expired", "tx": tx}
    decision = await approval
    shipment = await ctx.activity(ship, {**order, "reservations": reservations})
    ctx.set_status({"phase": "done"})
    return {"status": "approved" if decision["ok"] else "rejected", "tx": tx, "ship": shipment}


def main() -> None:
    order = {"id": "o-42", "lines": [{"sku": "tea", "qty": 2}, {"sku": "mug", "qty": 1}]}
    instance_id = f"order-{uuid.uuid4().hex[:8]}"
    with Runtime(reg) as rt:  # the embedded default: SQLite in ./orchestrate.db
        print(f"started {rt.start(order_flow, order, instance_id=instance_id)}")
        while (state := rt.state(instance_id)).custom_status != {"phase": "awaiting approval"}:
            if state.finished:
                break
            rt.store.wait_for_change(0.1)
        print(f"custom status: {rt.state(instance_id).custom_status}; approving")
        rt.raise_event(instance_id, "Approval", {"ok": True, "by": "demo"})
        final = rt.wait(instance_id, timeout=30)
        print(f"final status: {final.status}")
        print(f"output: {final.output}")
        history = rt.history(instance_id)
        print(f"history: {len(history)} events")
        for number, event in enumerate(history, 1):
            name = getattr(event, "name", "") or getattr(event, "purpose", "")
            print(f"  {number:>3}  {event.at:%H:%M:%S.%f}  {event.kind:<26} {name}")
    print(f"inspect it again with: orchestrate show {instance_id}")


if __name__ == "__main__":
    main()
