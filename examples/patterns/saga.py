"""Saga: undo the steps that succeeded, in reverse order, when a later step fails.

Seeds: 000 ("Saga Pattern": create A, create B, link; delete in reverse on failure), 002 (order
saga: payment -> inventory -> shipping, with refund / release / cancel), 001 (Pattern 6 "Saga
with Partial Compensation": only completed steps are compensated, an optional step's failure
does not undo the transaction; "Timeouts & Compensation": a step that does not answer in time
counts as failed and triggers compensation).

`order_saga` registers a compensation with `Saga.add` right after each step succeeds, so a
failure at step N compensates exactly steps N-1 .. 1. Shipping has an activity timeout: a carrier
that hangs fails the step with ``error_type == "TimeoutError"`` and compensates like any error.
If a compensation itself fails, the rest still run (``continue_on_error=True``) and the order is
flagged for manual follow-up instead of silently half-undone.

`transfer_funds` shows partial compensation: the debit/credit pair is critical, the analytics
update is optional; its failure is logged and the money stays moved.

Replay-safe because compensations are ordinary activities scheduled through ``ctx`` (recorded,
replayed, idempotency-keyed), and the list of compensations is rebuilt deterministically on
replay from the same recorded step results.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import (
    ActivityFailed,
    CompensationFailed,
    OrchestrationContext,
    Registry,
    Saga,
)

reg = Registry()

SHIPPING_TIMEOUT = timedelta(minutes=2)


# --- order saga activities --------------------------------------------------------------------


@reg.activity
def process_payment(order: dict[str, Any]) -> str:
    return f"tx-{order['id']}"


@reg.activity
def refund_payment(tx: str) -> None:
    return None


@reg.activity
def reserve_inventory(order: dict[str, Any]) -> str:
    return f"res-{order['id']}"


@reg.activity
def release_inventory(reservation: str) -> None:
    return None


@reg.activity
def create_shipment(order: dict[str, Any]) -> str:
    return f"ship-{order['id']}"


@reg.activity
def cancel_shipment(shipment: str) -> None:
    return None


@reg.activity
def confirm_order(order: dict[str, Any]) -> str:
    return f"confirmed {order['id']}"


@reg.activity
def flag_for_manual_review(case: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def order_saga(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    saga = Saga(ctx, continue_on_error=True)
    try:
        tx = await ctx.activity(process_payment, order)
        saga.add(refund_payment, tx)
        reservation = await ctx.activity(reserve_inventory, order)
        saga.add(release_inventory, reservation)
        shipment = await ctx.activity(create_shipment, order, timeout=SHIPPING_TIMEOUT)
        saga.add(cancel_shipment, shipment)
        await ctx.activity(confirm_order, order)
    except ActivityFailed as failure:
        undone = len(saga)
        try:
            await saga.compensate()
        except CompensationFailed as exc:
            problems = [str(f) for f in exc.failures]
            await ctx.activity(
                flag_for_manual_review,
                {"order": order["id"], "failed_step": failure.name, "problems": problems},
            )
            return {"status": "compensation_failed", "failed_step": failure.name}
        return {
            "status": "rolled_back",
            "failed_step": failure.name,
            "error_type": failure.error_type,
            "compensated": undone,
        }
    return {"status": "completed", "tx": tx, "reservation": reservation, "shipment": shipment}


# --- partial compensation -----------------------------------------------------------------------


@reg.activity
def debit_account(transfer: dict[str, Any]) -> str:
    return f"debit-{transfer['id']}"


@reg.activity
def credit_back(transfer: dict[str, Any]) -> None:
    return None


@reg.activity
def credit_account(transfer: dict[str, Any]) -> str:
    return f"credit-{transfer['id']}"


@reg.activity
def update_analytics(transfer: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def transfer_funds(ctx: OrchestrationContext, transfer: dict[str, Any]) -> dict[str, Any]:
    saga = Saga(ctx)
    try:
        debit = await ctx.activity(debit_account, transfer)
        saga.add(credit_back, transfer)  # only once the debit really happened
        credit = await ctx.activity(credit_account, transfer)
    except ActivityFailed:
        await saga.compensate()  # compensates the debit if it happened, nothing otherwise
        raise
    try:
        await ctx.activity(update_analytics, transfer)
        analytics = "recorded"
    except ActivityFailed as exc:
        ctx.log.warning("analytics update failed (%s); the transfer stands", exc)
        analytics = "skipped"
    return {"debit": debit, "credit": credit, "analytics": analytics}
