from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import Status
from testkit import TestEnv, delay, fail, hang, ok

from ._history import scheduled, timers
from .saga import (
    SHIPPING_TIMEOUT,
    cancel_shipment,
    credit_back,
    flag_for_manual_review,
    order_saga,
    refund_payment,
    reg,
    release_inventory,
    transfer_funds,
)

ORDER: dict[str, Any] = {"id": "o-9", "total": 120}
TRANSFER: dict[str, Any] = {"id": "t-1", "from": "acc-1", "to": "acc-2", "amount": 50}


def test_happy_path_runs_no_compensation() -> None:
    env = TestEnv(reg)
    run = env.run(order_saga, ORDER)

    assert run.output == {
        "status": "completed",
        "tx": "tx-o-9",
        "reservation": "res-o-9",
        "shipment": "ship-o-9",
    }
    assert scheduled(run.history) == [
        "process_payment",
        "reserve_inventory",
        "create_shipment",
        "confirm_order",
    ]


@pytest.mark.parametrize(
    ("failing", "compensations"),
    [
        ("process_payment", ["refund_payment"]),
        ("reserve_inventory", ["release_inventory", "refund_payment"]),
        ("create_shipment", ["cancel_shipment", "release_inventory", "refund_payment"]),
        ("confirm_order", ["cancel_shipment", "release_inventory", "refund_payment"]),
    ],
)
def test_failure_compensates_every_started_step_in_reverse(
    failing: str, compensations: list[str]
) -> None:
    env = TestEnv(reg)
    env.script(failing, fail("downstream said no"))
    run = env.run(order_saga, ORDER)

    assert run.output == {
        "status": "rolled_back",
        "failed_step": failing,
        "error_type": "Exception",
        "compensated": len(compensations),
    }
    names = scheduled(run.history)
    assert names[names.index(failing) + 1 :] == compensations
    # each compensation is keyed by the order, so it is known before its step runs
    for compensation in (refund_payment, release_inventory, cancel_shipment):
        expected = ["o-9"] if compensation.__name__ in compensations else []
        assert run.calls(compensation) == expected


def test_a_shipping_timeout_is_a_failure_that_compensates() -> None:
    env = TestEnv(reg)
    env.script("create_shipment", hang())
    run = env.run(order_saga, ORDER)

    assert run.output["status"] == "rolled_back"
    assert run.output["error_type"] == "TimeoutError"
    assert scheduled(run.history)[-3:] == ["cancel_shipment", "release_inventory", "refund_payment"]
    assert timers(run.history, "timeout") == [SHIPPING_TIMEOUT]


def test_a_shipment_created_after_its_timeout_is_still_cancelled() -> None:
    # The carrier answers 1 s after the saga gave up: the shipment exists. Because its
    # compensation was registered before the step, the saga cancels it anyway.
    env = TestEnv(reg)
    env.script("create_shipment", delay(SHIPPING_TIMEOUT + timedelta(seconds=1), ok("ship-late")))
    run = env.run(order_saga, ORDER)

    assert run.output["error_type"] == "TimeoutError"
    assert run.calls(cancel_shipment) == ["o-9"]


def test_a_failed_compensation_does_not_stop_the_others_and_is_flagged() -> None:
    env = TestEnv(reg)
    env.script("confirm_order", fail("confirmation service down"))
    env.script(release_inventory, fail("warehouse offline", retryable=False))
    run = env.run(order_saga, ORDER)

    assert run.output == {"status": "compensation_failed", "failed_step": "confirm_order"}
    assert run.calls(cancel_shipment) == ["o-9"]
    assert run.calls(refund_payment) == ["o-9"]  # still refunded after the release failed
    [case] = run.calls(flag_for_manual_review)
    assert case["failed_step"] == "confirm_order"
    assert len(case["problems"]) == 1 and "warehouse offline" in case["problems"][0]


@pytest.mark.parametrize(
    ("failing", "compensated"),
    [("debit_account", False), ("credit_account", True)],
)
def test_partial_compensation_only_undoes_what_happened(failing: str, compensated: bool) -> None:
    env = TestEnv(reg)
    env.script(failing, fail("ledger locked"))
    run = env.run(transfer_funds, TRANSFER)

    assert run.status == Status.FAILED
    assert run.error is not None and "ledger locked" in run.error.message
    assert run.calls(credit_back) == ([TRANSFER] if compensated else [])


def test_an_optional_step_failing_keeps_the_transfer() -> None:
    env = TestEnv(reg)
    env.script("update_analytics", fail("metrics cluster unavailable"))
    run = env.run(transfer_funds, TRANSFER)

    assert run.status == Status.COMPLETED
    assert run.output == {"debit": "debit-t-1", "credit": "credit-t-1", "analytics": "skipped"}
    assert run.calls(credit_back) == []
