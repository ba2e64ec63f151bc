from __future__ import annotations

from typing import Any

import pytest

from orchestrate import Status
from testkit import Run, TestEnv

from ._history import scheduled, statuses
from .state_machine_saga import (
    PAYMENT_TIMEOUT,
    refund_payment,
    reg,
    release_inventory,
    request_inventory_reservation,
    request_shipment,
)

Event = tuple[str, dict[str, Any]]

CREATED: dict[str, Any] = {"order_id": "ORDER-123", "customer": "CUST-456", "total": 99.99}
PAID: dict[str, Any] = {"transaction_id": "TXN-789", "amount": 99.99}
RESERVED: dict[str, Any] = {"reservation_id": "RES-1"}
SHIPPED: dict[str, Any] = {"tracking_number": "TRK-1"}
HAPPY: list[Event] = [
    ("OrderCreated", CREATED),
    ("PaymentProcessed", PAID),
    ("InventoryReserved", RESERVED),
    ("OrderShipped", SHIPPED),
]


def start(env: TestEnv, order_id: str = "ORDER-123") -> Run:
    return env.run("order_saga", instance_id=order_id)  # the correlation id is the instance id


def send(env: TestEnv, run: Run, events: list[Event]) -> None:
    for name, data in events:
        env.raise_event(run.instance_id, name, data)


def test_events_drive_the_saga_to_completed() -> None:
    env = TestEnv(reg)
    run = start(env)
    send(env, run, HAPPY)

    assert run.status == Status.COMPLETED
    assert run.output["path"] == [
        "Initial",
        "AwaitingPayment",
        "AwaitingInventory",
        "AwaitingShipment",
        "Completed",
    ]
    assert run.output["data"] == {
        "order_id": "ORDER-123",
        "customer": "CUST-456",
        "total": 99.99,
        "payment_tx": "TXN-789",
        "reservation_id": "RES-1",
        "tracking_number": "TRK-1",
    }
    assert scheduled(run.history) == [
        "request_payment",
        "request_inventory_reservation",
        "request_shipment",
    ]
    assert [s["state"] for s in statuses(run.history)] == run.output["path"]


def test_the_current_state_is_queryable_between_events() -> None:
    env = TestEnv(reg)
    run = start(env)
    send(env, run, HAPPY[:2])

    assert run.custom_status["state"] == "AwaitingInventory"
    assert run.custom_status["data"]["payment_tx"] == "TXN-789"
    assert sorted(run.waiting_for) == [
        "event 'InventoryReservationFailed'",
        "event 'InventoryReserved'",
    ]


@pytest.mark.parametrize(
    ("events", "compensations"),
    [
        ([("PaymentFailed", {"reason": "card expired"})], []),
        (
            [
                ("PaymentProcessed", PAID),
                ("InventoryReservationFailed", {"reason": "card expired"}),
            ],
            ["refund_payment"],
        ),
        (
            [
                ("PaymentProcessed", PAID),
                ("InventoryReserved", RESERVED),
                ("ShipmentFailed", {"reason": "card expired"}),
            ],
            ["release_inventory", "refund_payment"],
        ),
    ],
    ids=["payment-failed", "inventory-failed", "shipment-failed"],
)
def test_failure_compensates_completed_steps_in_reverse(
    events: list[Event], compensations: list[str]
) -> None:
    env = TestEnv(reg)
    run = start(env)
    send(env, run, [("OrderCreated", CREATED), *events])

    assert run.status == Status.COMPLETED  # the saga ended, in its Failed state
    assert run.output["state"] == "Failed"
    assert run.output["data"]["failure"] == "card expired"
    names = scheduled(run.history)
    assert [n for n in names if not n.startswith("request_")] == compensations
    if compensations:
        assert run.calls(refund_payment) == [{"tx": "TXN-789", "amount": 99.99}]


def test_underpayment_is_a_conditional_transition_to_failed_with_a_refund() -> None:
    env = TestEnv(reg)
    run = start(env)
    send(env, run, [("OrderCreated", CREATED), ("PaymentProcessed", {**PAID, "amount": 50})])

    assert run.output["path"] == ["Initial", "AwaitingPayment", "Failed"]
    assert run.output["data"]["failure"] == "underpaid: 50 of 99.99"
    assert run.calls(refund_payment) == [{"tx": "TXN-789", "amount": 50}]
    assert run.calls(request_inventory_reservation) == []


def test_no_payment_within_the_timeout_fails_the_saga() -> None:
    env = TestEnv(reg)
    run = start(env)
    send(env, run, HAPPY[:1])
    env.advance(PAYMENT_TIMEOUT)

    assert run.output["state"] == "Failed"
    assert run.output["data"]["failure"] == "no payment within 1 day, 0:00:00"
    assert run.calls(refund_payment) == []


def test_an_early_event_waits_in_the_buffer_for_its_state() -> None:
    env = TestEnv(reg)
    run = start(env)
    # the carrier reports the shipment before inventory confirmed the reservation
    send(
        env, run, [("OrderCreated", CREATED), ("PaymentProcessed", PAID), ("OrderShipped", SHIPPED)]
    )
    assert run.custom_status["state"] == "AwaitingInventory"

    send(env, run, [("InventoryReserved", RESERVED)])

    assert run.output["state"] == "Completed"
    assert run.output["data"]["tracking_number"] == "TRK-1"
    assert len(run.calls(request_shipment)) == 1


def test_instances_are_correlated_by_id_and_do_not_interfere() -> None:
    env = TestEnv(reg)
    first, second = start(env, "ORDER-1"), start(env, "ORDER-2")
    send(env, first, HAPPY)
    send(env, second, [("OrderCreated", {**CREATED, "order_id": "ORDER-2"})])

    assert first.output["state"] == "Completed"
    assert second.custom_status["state"] == "AwaitingPayment"
    assert second.calls(release_inventory) == []
