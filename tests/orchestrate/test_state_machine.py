"""StateMachine: event-driven transitions, timeouts, conditional targets, compensation, validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    OrchestrationContext,
    RegistrationError,
    Registry,
    SagaInstance,
    StateMachine,
)

from .conftest import Harness

reg = Registry()
done: list[str] = []


@reg.activity
def refund(tx: str) -> None:
    done.append(f"refund {tx}")


@reg.activity
def ship(order: dict[str, Any]) -> str:
    return f"track-{order['id']}"


order_saga = StateMachine(
    "order_saga", initial="AwaitingPayment", final=["Completed", "Failed"], compensate_in=["Failed"]
)


@order_saga.transition("AwaitingPayment", on="PaymentProcessed", to="AwaitingShipment")
async def paid(
    ctx: OrchestrationContext, saga: SagaInstance, payment: dict[str, Any]
) -> str | None:
    saga.data["tx"] = payment["tx"]
    saga.compensations.add(refund, payment["tx"])
    return "Failed" if payment.get("fraud") else None  # a conditional transition


@order_saga.transition("AwaitingShipment", on="ShipRequested", to="Completed")
async def shipped(ctx: OrchestrationContext, saga: SagaInstance, _: Any) -> None:
    saga.data["tracking"] = await ctx.activity(ship, saga.data)


order_saga.on("AwaitingShipment", "Cancelled", to="Failed")
order_saga.timeout("AwaitingPayment", timedelta(hours=1), to="Failed")
run_order_saga = order_saga.register(reg)


@pytest.fixture(autouse=True)
def clear() -> None:
    done.clear()


def test_happy_path_moves_through_states_and_publishes_them() -> None:
    hx = Harness(reg)
    iid = hx.start(run_order_saga, {"id": "o-1"})
    assert hx.state(iid).custom_status == {"state": "AwaitingPayment", "data": {"id": "o-1"}}
    hx.client.raise_event(iid, "ShipRequested")  # not handled yet: buffered for later
    hx.client.raise_event(iid, "PaymentProcessed", {"tx": "tx-1"})
    hx.settle()
    output = hx.state(iid).output
    assert output["state"] == "Completed"
    assert output["path"] == ["AwaitingPayment", "AwaitingShipment", "Completed"]
    assert output["data"] == {"id": "o-1", "tx": "tx-1", "tracking": "track-o-1"}
    assert done == []


@pytest.mark.parametrize(
    ("events", "path"),
    [
        ([("PaymentProcessed", {"tx": "t", "fraud": True})], ["AwaitingPayment", "Failed"]),
        (
            [("PaymentProcessed", {"tx": "t"}), ("Cancelled", None)],
            ["AwaitingPayment", "AwaitingShipment", "Failed"],
        ),
    ],
)
def test_failure_states_compensate(events: list[tuple[str, Any]], path: list[str]) -> None:
    hx = Harness(reg)
    iid = hx.start(run_order_saga, {"id": "o-2"})
    for name, payload in events:
        hx.client.raise_event(iid, name, payload)
    hx.settle()
    assert hx.state(iid).output["path"] == path
    assert done == ["refund t"]


def test_state_timeout_fires_when_no_event_arrives() -> None:
    hx = Harness(reg)
    iid = hx.start(run_order_saga, {"id": "o-3"})
    hx.advance(3600)
    assert hx.state(iid).output["path"] == ["AwaitingPayment", "Failed"]
    assert done == []  # nothing to compensate yet


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda sm: sm.on("Done", "X", to="Start"), "is a final state"),
        (
            lambda sm: (sm.on("Start", "X", to="Done"), sm.on("Start", "X", to="Done")),
            "already has",
        ),
        (lambda sm: (sm.on("Start", "X", to="Limbo"), sm.validate()), "wait forever"),
        (lambda sm: sm.timeout("Done", 5, to="Start"), "cannot time out"),
    ],
)
def test_invalid_machines_are_refused(build: Any, message: str) -> None:
    sm = StateMachine("m", initial="Start", final=["Done"])
    with pytest.raises(RegistrationError, match=message):
        build(sm)


def test_compensate_in_must_name_final_states() -> None:
    with pytest.raises(RegistrationError, match="not final states"):
        StateMachine("m", initial="A", final=["B"], compensate_in=["A"])
