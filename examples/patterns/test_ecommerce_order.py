from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Client, MemoryStore, Worker
from testkit import FakeClock, TestEnv, delay, fail, hang, ok

from ._history import scheduled
from .ecommerce_order import (
    ORDER,
    STEP_TIMEOUT,
    VALIDATIONS,
    cancel_shipping_slot,
    charge_paypal,
    charge_stripe,
    complete_order,
    flag_for_manual_review,
    refund_charge,
    reg,
    release_inventory,
    restock_items,
    void_invoice,
    void_label,
)

STRIPE = {"provider": "stripe", "tx": "ch_o-7"}
PAYPAL = {"provider": "paypal", "tx": "PAY-o-7"}


def _refunds(run) -> list[str]:
    return sorted(r["provider"] for r in run.calls(refund_charge))


def test_happy_path_keeps_one_charge_and_refunds_the_losing_provider() -> None:
    env = TestEnv(reg)
    env.script(charge_paypal, delay(timedelta(seconds=2), ok(PAYPAL)))  # stripe is faster
    run = env.run(complete_order, ORDER)

    assert run.output["status"] == "completed"
    assert run.output["payment"] == STRIPE
    assert run.output["unsent"] == []
    assert _refunds(run) == ["paypal"]  # the loser is refunded, never kept
    assert run.custom_status == {
        "phase": "completed",
        "progress": 1.0,
        "steps": ["started", "validated", "reserved", "paid", "fulfilled", "completed"],
    }
    names = scheduled(run.history)
    assert names[:4] == [c.__name__ for c in VALIDATIONS]  # validations fan out together
    assert "release_inventory" not in names and "restock_items" not in names


def test_paypal_wins_when_stripe_declines() -> None:
    env = TestEnv(reg)
    env.script(charge_stripe, fail("card declined"))
    run = env.run(complete_order, ORDER)

    assert run.output["payment"] == PAYPAL
    assert _refunds(run) == ["stripe"]  # declined, so the refund is a no-op: still asked


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (ok(False), "failed checks: ['check_fraud']"),
        (fail("fraud service down"), "fraud service down"),
        (hang(), "TimeoutError"),
    ],
)
def test_a_failed_validation_rejects_before_anything_is_reserved(script, reason) -> None:
    env = TestEnv(reg)
    env.script("check_fraud", script)
    run = env.run(complete_order, ORDER)

    assert run.output["status"] == "rejected"
    assert reason in run.output["reason"]
    assert set(scheduled(run.history)) == {c.__name__ for c in VALIDATIONS}


def test_a_reservation_that_times_out_is_released_anyway() -> None:
    env = TestEnv(reg)
    env.script("reserve_shipping_slot", delay(STEP_TIMEOUT + timedelta(seconds=5), ok("late")))
    run = env.run(complete_order, ORDER)

    assert run.output["status"] == "failed"
    assert run.output["failed_step"] == "reserve_shipping_slot"
    assert run.calls(cancel_shipping_slot) == ["o-7"]  # registered before the step
    assert run.calls(release_inventory) == ["o-7"]
    assert run.calls(refund_charge) == []  # nothing was charged yet


def test_no_provider_charging_fails_the_order_and_refunds_both() -> None:
    env = TestEnv(reg)
    env.script(charge_stripe, fail("card declined"))
    env.script(charge_paypal, hang())
    run = env.run(complete_order, ORDER)

    assert run.output["status"] == "failed" and run.output["failed_step"] == "payment"
    assert _refunds(run) == ["paypal", "stripe"]
    assert run.calls(release_inventory) == run.calls(cancel_shipping_slot) == ["o-7"]


def test_a_partial_fulfilment_failure_undoes_everything() -> None:
    env = TestEnv(reg)
    env.script("generate_label", fail("printer jammed"))
    run = env.run(complete_order, ORDER)

    assert run.output["status"] == "failed" and run.output["failed_step"] == "generate_label"
    undo = scheduled(run.history)[-7:]
    assert undo == [
        "void_invoice",
        "void_label",
        "restock_items",  # fulfilment, newest first
        "refund_charge",
        "refund_charge",  # both providers
        "cancel_shipping_slot",
        "release_inventory",
    ]
    assert run.calls(restock_items) == run.calls(void_invoice) == ["o-7"]
    assert run.custom_status["phase"] == "failed"


def test_a_failing_compensation_is_flagged_and_the_others_still_run() -> None:
    env = TestEnv(reg)
    env.script("pick_items", fail("shelf empty"))
    env.script(void_label, fail("label service down", retryable=False))
    run = env.run(complete_order, ORDER)

    [case] = run.calls(flag_for_manual_review)
    assert case["failed_step"] == "pick_items" and "label service down" in case["problems"][0]
    assert run.calls(release_inventory) == ["o-7"]


def test_failed_notifications_do_not_fail_the_order() -> None:
    env = TestEnv(reg)
    env.script("send_sms", fail("SMS gateway down"))
    env.script("send_push", fail("no device token"))
    run = env.run(complete_order, ORDER)

    assert run.output["status"] == "completed"
    assert run.output["unsent"] == ["send_sms", "send_push"]


def test_a_client_reads_the_status_while_the_order_runs() -> None:
    clock, store = FakeClock(), MemoryStore()
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock, sync_activities=1)
    key = client.start(complete_order, ORDER)
    phases: list[str] = []
    while not client.state(key).finished:
        worker.run_turns()
        phase = client.state(key).custom_status["phase"]
        if not phases or phases[-1] != phase:
            phases.append(phase)
        worker.run_activities()
    assert phases == ["started", "validated", "reserved", "paid", "fulfilled", "completed"]
