"""State-machine saga: an order saga driven by events, declared as states and transitions.

Seed: 004 (HeroMessaging "Orchestration Pattern": an `OrderSaga` with states Initial ->
AwaitingPayment -> AwaitingInventory -> AwaitingShipment -> Completed / Failed, compensations
registered as each step succeeds and run LIFO when the saga fails, correlation ids, conditional
transitions, final states, timeouts).

`order_saga` is an ``orchestrate.StateMachine`` compiled to one orchestration. The instance id
is the correlation id (the order id): services report back by raising events to it
(``PaymentProcessed``, ``InventoryReserved``, ``OrderShipped`` and their failure twins). Each
transition's action records data, registers the compensation for the step that just succeeded,
and sends the command for the next step as an activity. Entering ``Failed`` runs the registered
compensations in reverse. An underpaid payment is a conditional transition (the action returns
``"Failed"``); a payment that never arrives times out after 24 h. The current state and data are
the custom status, so "find the saga and its state" is a client read.

Replay-safe because the machine is an ordinary orchestration: it waits with ``ctx.event`` and
``ctx.timer``, acts through ``ctx.activity``, and keeps its state in local variables rebuilt
from the history on replay (no repository, no optimistic concurrency needed).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, SagaInstance, StateMachine
from orchestrate import history as h
from testkit import Run

reg = Registry()

PAYMENT_TIMEOUT = timedelta(hours=24)


# --- commands to other services, and compensations --------------------------------------------


@reg.activity
def request_payment(order: dict[str, Any]) -> None:
    return None


@reg.activity
def refund_payment(payment: dict[str, Any]) -> None:
    return None


@reg.activity
def request_inventory_reservation(order: dict[str, Any]) -> None:
    return None


@reg.activity
def release_inventory(reservation_id: str) -> None:
    return None


@reg.activity
def request_shipment(order: dict[str, Any]) -> None:
    return None


# --- the machine --------------------------------------------------------------------------------

order_saga = StateMachine(
    "order_saga", initial="Initial", final=["Completed", "Failed"], compensate_in=["Failed"]
)


@order_saga.transition("Initial", on="OrderCreated", to="AwaitingPayment")
async def order_created(
    ctx: OrchestrationContext, saga: SagaInstance, event: dict[str, Any]
) -> None:
    saga.data.update(order_id=event["order_id"], customer=event["customer"], total=event["total"])
    await ctx.activity(request_payment, {"order_id": event["order_id"], "amount": event["total"]})


@order_saga.transition("AwaitingPayment", on="PaymentProcessed", to="AwaitingInventory")
async def payment_processed(
    ctx: OrchestrationContext, saga: SagaInstance, event: dict[str, Any]
) -> str | None:
    saga.data["payment_tx"] = event["transaction_id"]
    saga.compensations.add(
        refund_payment, {"tx": event["transaction_id"], "amount": event["amount"]}
    )
    if event["amount"] < saga.data["total"]:
        saga.data["failure"] = f"underpaid: {event['amount']} of {saga.data['total']}"
        return "Failed"  # conditional transition; the refund above still runs
    await ctx.activity(request_inventory_reservation, {"order_id": saga.data["order_id"]})
    return None


@order_saga.transition("AwaitingPayment", on="PaymentFailed", to="Failed")
async def payment_failed(
    ctx: OrchestrationContext, saga: SagaInstance, event: dict[str, Any]
) -> None:
    saga.data["failure"] = event["reason"]


async def payment_timed_out(ctx: OrchestrationContext, saga: SagaInstance, _: Any) -> None:
    saga.data["failure"] = f"no payment within {PAYMENT_TIMEOUT}"


order_saga.timeout("AwaitingPayment", PAYMENT_TIMEOUT, to="Failed", action=payment_timed_out)


@order_saga.transition("AwaitingInventory", on="InventoryReserved", to="AwaitingShipment")
async def inventory_reserved(
    ctx: OrchestrationContext, saga: SagaInstance, event: dict[str, Any]
) -> None:
    saga.data["reservation_id"] = event["reservation_id"]
    saga.compensations.add(release_inventory, event["reservation_id"])
    await ctx.activity(request_shipment, {"order_id": saga.data["order_id"]})


@order_saga.transition("AwaitingInventory", on="InventoryReservationFailed", to="Failed")
@order_saga.transition("AwaitingShipment", on="ShipmentFailed", to="Failed")
async def step_failed(ctx: OrchestrationContext, saga: SagaInstance, event: dict[str, Any]) -> None:
    saga.data["failure"] = event["reason"]


@order_saga.transition("AwaitingShipment", on="OrderShipped", to="Completed")
async def order_shipped(
    ctx: OrchestrationContext, saga: SagaInstance, event: dict[str, Any]
) -> None:
    saga.data["tracking_number"] = event["tracking_number"]


run_order_saga = order_saga.register(reg)

# The transitions declared above, as data for the fuzz invariant (source, target).
DECLARED = {
    ("Initial", "AwaitingPayment"),
    ("AwaitingPayment", "AwaitingInventory"),
    ("AwaitingPayment", "Failed"),  # PaymentFailed, the timeout, or an underpayment
    ("AwaitingInventory", "AwaitingShipment"),
    ("AwaitingInventory", "Failed"),
    ("AwaitingShipment", "Completed"),
    ("AwaitingShipment", "Failed"),
}


# --- fuzzing: orch-fuzz examples/patterns/state_machine_saga.py:order_saga -----------------------


def failed_saga_compensates_what_succeeded(run: Run) -> None:
    """The saga moves along declared transitions only, and ends Completed with nothing undone,
    or Failed with exactly the succeeded steps compensated, newest first: the reservation
    released, then the payment refunded."""
    out = run.output
    data = out["data"]
    undone = [
        (e.name, e.input)
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and not e.name.startswith("request_")
    ]
    assert out["path"][0] == "Initial" and out["path"][-1] == out["state"], out["path"]
    undeclared = [
        step for step in zip(out["path"], out["path"][1:], strict=False) if step not in DECLARED
    ]
    assert undeclared == [], f"undeclared transitions: {undeclared}"
    if out["state"] == "Completed":
        assert undone == [] and "tracking_number" in data, (undone, data)
        return
    assert out["state"] == "Failed" and "failure" in data, out
    expected = []
    if "reservation_id" in data:
        expected.append(("release_inventory", data["reservation_id"]))
    if "payment_tx" in data:
        paid = [
            e.input["amount"]
            for e in run.history
            if isinstance(e, h.EventRaised) and e.name == "PaymentProcessed"
        ]
        expected.append(("refund_payment", {"tx": data["payment_tx"], "amount": paid[0]}))
    assert undone == expected, f"compensated {undone}, expected {expected}"


_FAILED = {"reason": "card expired"}
FUZZ: dict[str, dict[str, Any]] = {
    "order_saga": {
        # no input: the saga's data comes from its events; the instance id is the order id
        "events": {
            "OrderCreated": {"order_id": "ORDER-123", "customer": "CUST-456", "total": 99.99},
            "PaymentProcessed": [
                {"transaction_id": "TXN-789", "amount": 99.99},
                {"transaction_id": "TXN-790", "amount": 50},
            ],
            "PaymentFailed": _FAILED,
            "InventoryReserved": {"reservation_id": "RES-1"},
            "InventoryReservationFailed": _FAILED,
            "OrderShipped": {"tracking_number": "TRK-1"},
            "ShipmentFailed": _FAILED,
        },
        "max_event_raises": 1,
        "invariant": failed_saga_compensates_what_succeeded,
    },
}
