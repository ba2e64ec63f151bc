"""The complete e-commerce order: every phase of seed 001's ``CompleteOrder`` in one orchestration.

Seed: 001 ("Complete Orchestration Example: E-Commerce Order Orchestration", Restate).

1. **Validation, fail-fast fan-out.** Inventory, payment method, shipping and fraud are checked
   at once (`ctx.all`); the first failure, or any ``False``, rejects the order before anything is
   reserved.
2. **Reservations under a saga, compensation first.** Each compensation is added to the `Saga`
   *before* its step runs (the seed's ``SafeStep``: "compensation-before-action"), keyed by the
   order id, so a reservation that times out but happened anyway is still released.
3. **Payment racing two providers.** Stripe and PayPal are charged at once and the first success
   wins; a provider still queued is withdrawn (`task.cancel()`), and every losing provider gets a
   refund for this order, which is a no-op when it charged nothing. The losing charge is never
   kept. Refunds for both providers are also registered with the saga before the race, so a
   failure later (or a race nobody wins) refunds whatever was charged.
4. **Fulfilment, fail-fast fan-out.** Picking, the shipping label and the invoice run at once;
   their compensations are registered first, so a partial failure undoes the parts that
   happened and then everything before them.
5. **Notifications, best effort.** Email, SMS and push are sent at once; failures are counted
   and logged, never fatal.
6. **Status queryable while it runs.** Every phase publishes ``{"phase", "progress", "steps"}``
   with `ctx.set_status`; a `Client` reads it from the store at any time.

Compensations run with ``continue_on_error=True``: if one fails, the others still run and the
order is flagged for manual review. Replay-safe: every decision comes from recorded results and
the recorded completion order (`ctx.as_completed`), nothing from clocks or module state.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import (
    CompensationFailed,
    OrchestrationContext,
    Registry,
    Saga,
    Status,
    Task,
    TaskFailed,
)
from orchestrate import history as h
from testkit import Run, fail, hang, ok

reg = Registry()

CHECK_TIMEOUT = timedelta(seconds=10)
STEP_TIMEOUT = timedelta(seconds=30)


class PaymentDeclined(Exception):
    """No provider charged the order (all failed or timed out)."""


# --- phase 1: validation ------------------------------------------------------------------------


@reg.activity
def check_inventory(order: dict[str, Any]) -> bool:
    return bool(order["items"])


@reg.activity
def validate_payment_method(order: dict[str, Any]) -> bool:
    return order["payment_method"] in ("card", "wallet")


@reg.activity
def check_shipping(order: dict[str, Any]) -> bool:
    return bool(order["address"])


@reg.activity
def check_fraud(order: dict[str, Any]) -> bool:
    return int(order["total"]) < 10_000


VALIDATIONS = (check_inventory, validate_payment_method, check_shipping, check_fraud)

# --- phase 2: reservations and their compensations ------------------------------------------------


@reg.activity
def reserve_inventory(order: dict[str, Any]) -> str:
    return f"inv-{order['id']}"


@reg.activity
def release_inventory(order_id: str) -> None:
    """Release the order's reservation, if any (idempotent)."""


@reg.activity
def reserve_shipping_slot(order: dict[str, Any]) -> str:
    return f"slot-{order['id']}"


@reg.activity
def cancel_shipping_slot(order_id: str) -> None:
    """Cancel the order's shipping slot, if any (idempotent)."""


# --- phase 3: payment race -------------------------------------------------------------------------


@reg.activity
def charge_stripe(order: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "stripe", "tx": f"ch_{order['id']}"}


@reg.activity
def charge_paypal(order: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "paypal", "tx": f"PAY-{order['id']}"}


@reg.activity
def refund_charge(refund: dict[str, Any]) -> None:
    """Refund whatever `provider` charged for `order` (nothing charged: nothing to do)."""


PROVIDERS = {"stripe": charge_stripe, "paypal": charge_paypal}

# --- phase 4: fulfilment and its compensations -----------------------------------------------------


@reg.activity
def pick_items(order: dict[str, Any]) -> str:
    return f"pick-{order['id']}"


@reg.activity
def restock_items(order_id: str) -> None:
    """Put picked items back on the shelf, if any were picked."""


@reg.activity
def generate_label(order: dict[str, Any]) -> str:
    return f"label-{order['id']}"


@reg.activity
def void_label(order_id: str) -> None:
    """Void the order's shipping label, if one was printed."""


@reg.activity
def generate_invoice(order: dict[str, Any]) -> str:
    return f"inv-doc-{order['id']}"


@reg.activity
def void_invoice(order_id: str) -> None:
    """Void the order's invoice, if one was issued."""


@reg.activity
def flag_for_manual_review(case: dict[str, Any]) -> None:
    return None


# --- phase 5: notifications ----------------------------------------------------------------------


@reg.activity
def send_email(order: dict[str, Any]) -> None:
    return None


@reg.activity
def send_sms(order: dict[str, Any]) -> None:
    return None


@reg.activity
def send_push(order: dict[str, Any]) -> None:
    return None


NOTIFICATIONS = (send_email, send_sms, send_push)

# --- the orchestration ---------------------------------------------------------------------------


@reg.orchestration
async def complete_order(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    steps: list[str] = []

    def phase(name: str, progress: float) -> None:
        steps.append(name)
        ctx.set_status({"phase": name, "progress": progress, "steps": list(steps)})

    phase("started", 0.0)
    checks = [ctx.activity(check, order, timeout=CHECK_TIMEOUT) for check in VALIDATIONS]
    try:
        verdicts = await ctx.all(checks)
    except TaskFailed as failure:
        phase("rejected", 0.0)
        return {"status": "rejected", "reason": str(failure)}
    refused = [check.__name__ for check, ok_ in zip(VALIDATIONS, verdicts, strict=True) if not ok_]
    if refused:
        phase("rejected", 0.0)
        return {"status": "rejected", "reason": f"failed checks: {refused}"}
    phase("validated", 0.2)

    saga = Saga(ctx, continue_on_error=True)
    try:
        saga.add(release_inventory, order["id"])
        inventory = await ctx.activity(reserve_inventory, order, timeout=STEP_TIMEOUT)
        saga.add(cancel_shipping_slot, order["id"])
        slot = await ctx.activity(reserve_shipping_slot, order, timeout=STEP_TIMEOUT)
        phase("reserved", 0.4)

        for provider in PROVIDERS:
            saga.add(refund_charge, {"provider": provider, "order": order["id"]})
        payment = await _race_payment(ctx, order)
        phase("paid", 0.6)

        for undo in (restock_items, void_label, void_invoice):
            saga.add(undo, order["id"])
        picked, label, invoice = await ctx.all(
            [
                ctx.activity(step, order, timeout=STEP_TIMEOUT)
                for step in (pick_items, generate_label, generate_invoice)
            ]
        )
        phase("fulfilled", 0.8)
    except (TaskFailed, PaymentDeclined) as failure:
        phase("compensating", 0.0)
        failed_step = failure.name if isinstance(failure, TaskFailed) else "payment"
        try:
            await saga.compensate()
        except CompensationFailed as exc:
            await ctx.activity(
                flag_for_manual_review,
                {
                    "order": order["id"],
                    "failed_step": failed_step,
                    "problems": [str(f) for f in exc.failures],
                },
            )
        phase("failed", 0.0)
        return {"status": "failed", "failed_step": failed_step, "reason": str(failure)}

    sent = await ctx.all([ctx.activity(n, order) for n in NOTIFICATIONS], return_exceptions=True)
    unsent = [
        n.__name__ for n, r in zip(NOTIFICATIONS, sent, strict=True) if isinstance(r, Exception)
    ]
    if unsent:
        ctx.log.warning("order %s: notifications not sent: %s", order["id"], unsent)
    phase("completed", 1.0)
    return {
        "status": "completed",
        "reservation": {"inventory": inventory, "slot": slot},
        "payment": payment,
        "fulfilment": {"pick": picked, "label": label, "invoice": invoice},
        "unsent": unsent,
    }


async def _race_payment(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    """Charge every provider at once; keep the first success, refund every other provider."""
    charges: dict[str, Task[Any]] = {
        name: ctx.activity(charge, order, timeout=STEP_TIMEOUT)
        for name, charge in PROVIDERS.items()
    }
    winner: dict[str, Any] | None = None
    errors: list[str] = []
    async for done in ctx.as_completed(list(charges.values())):
        if done.failed():
            errors.append(str(done.exception()))
            continue
        winner = done.result()
        break
    for task in charges.values():
        if not task.done():
            task.cancel()  # still queued: withdrawn; already running: told to stop
    if winner is None:
        raise PaymentDeclined(f"no provider charged order {order['id']}: {errors}")
    losers = [name for name in PROVIDERS if name != winner["provider"]]
    # A loser may have charged before it was cancelled (or after its timeout): refund it now.
    await ctx.all(
        [ctx.activity(refund_charge, {"provider": p, "order": order["id"]}) for p in losers]
    )
    return winner


# --- fuzzing: orch-fuzz examples/patterns/ecommerce_order.py:complete_order ---------------------

ORDER: dict[str, Any] = {
    "id": "o-7",
    "items": [{"sku": "tea", "qty": 2}],
    "total": 3400,
    "payment_method": "card",
    "address": "1 Tea Lane",
}

_UNDO = {  # each step whose effect must not outlive a failed order -> its compensation
    "reserve_inventory": "release_inventory",
    "reserve_shipping_slot": "cancel_shipping_slot",
    "pick_items": "restock_items",
    "generate_label": "void_label",
    "generate_invoice": "void_invoice",
}


def charged_at_most_once_and_nothing_left_reserved(run: Run) -> None:
    """Payments: exactly one provider's charge is kept on a completed order (every other
    provider refunded), none on a failed one. Sagas: on failure, everything that was started
    (reserved, picked, labelled, invoiced; late or not) is undone; on success nothing is."""
    scheduled = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
    started = {e.name for e in scheduled}
    refunded = {e.input["provider"] for e in scheduled if e.name == "refund_charge"}
    undone = {e.name for e in scheduled if e.name in _UNDO.values()}
    assert run.status == Status.COMPLETED, f"the orchestration itself failed: {run.error}"
    out = run.output
    if out["status"] == "completed":
        kept = set(PROVIDERS) - refunded
        assert kept == {out["payment"]["provider"]}, f"charges kept: {kept}, output {out}"
        assert undone == set(), f"a completed order was compensated: {undone}"
    elif out["status"] == "failed":
        charged = {p for p, f in PROVIDERS.items() if f.__name__ in started}
        assert refunded >= charged, f"charged by {charged}, refunded only {refunded}"
        must_undo = {_UNDO[n] for n in started if n in _UNDO}
        assert undone == must_undo, f"undid {undone}, started {started}"
    else:
        assert out["status"] == "rejected", out
        assert started <= {c.__name__ for c in VALIDATIONS}, f"rejected after {started}"


FUZZ: dict[str, dict[str, Any]] = {
    "complete_order": {
        "input": ORDER,
        "outcomes": {
            check_fraud: [ok(True), ok(False), fail("fraud service down")],
            reserve_inventory: [ok("inv-o-7"), hang(), fail("out of stock")],
            charge_stripe: [ok({"provider": "stripe", "tx": "ch_o-7"}), fail("card declined")],
            charge_paypal: [ok({"provider": "paypal", "tx": "PAY-o-7"}), hang()],
            generate_label: [ok("label-o-7"), fail("printer jammed")],
            send_sms: [ok(None), fail("SMS gateway down")],
            void_label: [ok(None), fail("label service down", retryable=False)],
        },
        "invariant": charged_at_most_once_and_nothing_left_reserved,
    },
}
