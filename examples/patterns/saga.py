"""Saga: undo the steps that succeeded, in reverse order, when a later step fails.

Seeds: 000 ("Saga Pattern": create A, create B, link; delete in reverse on failure), 002 (order
saga: payment -> inventory -> shipping, with refund / release / cancel), 001 (Pattern 6 "Saga
with Partial Compensation": only completed steps are compensated, an optional step's failure
does not undo the transaction; "Timeouts & Compensation": a step that does not answer in time
counts as failed and triggers compensation).

`order_saga` registers each step's compensation with `Saga.add` *before* running the step
(seed 001's ``SafeStep``: "compensation-before-action"), so a failure at step N undoes steps
N .. 1. Registering after the step would leak whatever a step did but could not report: a
carrier that creates the shipment only after the activity's timeout fired (the saga saw a
``TimeoutError``, the shipment exists anyway). Compensations are therefore keyed by the order id,
which is known before the step runs, and must be idempotent no-ops when there is nothing to undo
("refund order o-9" when no charge exists refunds nothing). If a compensation itself fails, the
rest still run (``continue_on_error=True``) and the order is flagged for manual follow-up instead
of silently half-undone.

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
    Status,
)
from orchestrate import history as h
from testkit import Run, fail, hang, ok

reg = Registry()

SHIPPING_TIMEOUT = timedelta(minutes=2)


# --- order saga activities --------------------------------------------------------------------


@reg.activity
def process_payment(order: dict[str, Any]) -> str:
    return f"tx-{order['id']}"


@reg.activity
def refund_payment(order_id: str) -> None:
    """Refund whatever was charged for the order; nothing charged, nothing refunded."""
    return None


@reg.activity
def reserve_inventory(order: dict[str, Any]) -> str:
    return f"res-{order['id']}"


@reg.activity
def release_inventory(order_id: str) -> None:
    """Release the order's reservation, if it has one."""
    return None


@reg.activity
def create_shipment(order: dict[str, Any]) -> str:
    return f"ship-{order['id']}"


@reg.activity
def cancel_shipment(order_id: str) -> None:
    """Cancel the order's shipment, including one created after its caller gave up."""
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
        # Each compensation is registered before its step: a step that fails, times out, or
        # happens late is undone too (its compensation is a no-op if it did nothing).
        saga.add(refund_payment, order["id"])
        tx = await ctx.activity(process_payment, order)
        saga.add(release_inventory, order["id"])
        reservation = await ctx.activity(reserve_inventory, order)
        saga.add(cancel_shipment, order["id"])
        shipment = await ctx.activity(create_shipment, order, timeout=SHIPPING_TIMEOUT)
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


# --- fuzzing: orch-fuzz examples/patterns/saga.py:order_saga --------------------------------------

_COMPENSATION_OF = {
    "process_payment": "refund_payment",
    "reserve_inventory": "release_inventory",
    "create_shipment": "cancel_shipment",
}


def _activity_results(run: Run) -> list[tuple[str, bool, Any]]:
    """(activity name, succeeded, result) for every recorded activity result, in order."""
    names = {e.task_id: e.name for e in run.history if isinstance(e, h.ActivityScheduled)}
    return [
        (names[e.task_id], isinstance(e, h.ActivityCompleted), getattr(e, "result", None))
        for e in run.history
        if isinstance(e, h.ActivityCompleted | h.ActivityFailed)
    ]


def every_started_step_compensated_in_reverse(run: Run) -> None:
    """The saga's guarantee: a completed order compensated nothing; a failed one undid every
    step it started (the one that failed included: it may have happened, late or partly),
    newest first, each keyed by the order id. So nothing reserved stays reserved, including a
    shipment whose creation completed after its timeout."""
    started = [
        e.name
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name in _COMPENSATION_OF
    ]
    order_id = run.history[0].input["id"]  # type: ignore[attr-defined]
    expected = [(_COMPENSATION_OF[n], order_id) for n in reversed(started)]
    undone = [
        (e.name, e.input)
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name in _COMPENSATION_OF.values()
    ]
    assert run.status == Status.COMPLETED, f"the saga itself failed: {run.error}"
    if run.output["status"] == "completed":
        assert undone == [], f"a completed order was compensated: {undone}"
    else:
        assert undone == expected, f"compensated {undone}, expected {expected} (for {started})"
        flagged = any(
            isinstance(e, h.ActivityScheduled) and e.name == "flag_for_manual_review"
            for e in run.history
        )
        assert flagged == (run.output["status"] == "compensation_failed"), (
            f"{run.output['status']} but flag_for_manual_review scheduled: {flagged}"
        )


def money_moved_or_returned(run: Run) -> None:
    """transfer_funds: a failed transfer credited back exactly a debit that happened; a
    completed one has both legs and undid nothing, whatever the optional analytics did."""
    results = {name: succeeded for name, succeeded, _ in _activity_results(run)}
    credited_back = run.calls(credit_back)
    if run.status == Status.FAILED:
        if results.get("debit_account"):
            assert credited_back, "the debit happened and the transfer failed: no credit back"
        else:
            assert not credited_back, f"credited back a debit that never happened: {credited_back}"
    else:
        assert results.get("debit_account") and results.get("credit_account"), results
        assert not credited_back, f"a completed transfer was credited back: {credited_back}"
        skipped = results.get("update_analytics") is False
        assert run.output["analytics"] == ("skipped" if skipped else "recorded"), run.output


FUZZ: dict[str, dict[str, Any]] = {
    "order_saga": {
        "input": {"id": "o-9", "total": 120},
        "outcomes": {
            process_payment: [ok("tx-o-9"), fail("card declined")],
            reserve_inventory: [ok("res-o-9"), fail("out of stock")],
            create_shipment: [ok("ship-o-9"), fail("carrier rejected the parcel"), hang()],
            confirm_order: [ok("confirmed o-9"), fail("confirmation service down")],
            release_inventory: [ok(None), fail("warehouse offline", retryable=False)],
        },
        "invariant": every_started_step_compensated_in_reverse,
    },
    "transfer_funds": {
        "input": {"id": "t-1", "from": "acc-1", "to": "acc-2", "amount": 50},
        "outcomes": {
            debit_account: [ok("debit-t-1"), fail("ledger locked")],
            credit_account: [ok("credit-t-1"), fail("ledger locked")],
            update_analytics: [ok(None), fail("metrics cluster unavailable")],
        },
        "invariant": money_moved_or_returned,
    },
}
