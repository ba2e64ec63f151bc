from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from orchestrate import history as h
from testkit import TestEnv, fail, ok

from . import side_effects
from .side_effects import (
    COOL_DOWN,
    FAILURE_THRESHOLD,
    CircuitBreaker,
    call_payment_gateway,
    charge_with_breaker,
    checkout_with_flags,
    reg,
)


@pytest.fixture(autouse=True)
def fresh_breaker_and_flags(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(side_effects, "BREAKER", CircuitBreaker())
    monkeypatch.setattr(side_effects, "FEATURE_FLAGS", {"one_click_checkout": True})
    yield


def test_a_side_effect_is_recorded_and_replayed_not_rerun() -> None:
    env = TestEnv(reg)
    run = env.run(checkout_with_flags, {"id": "c-1"})
    assert run.output["receipt"] == "1click-c-1"
    assert [e.value for e in run.history if isinstance(e, h.SideEffectRecorded)] == [
        {"one_click_checkout": True}
    ]

    side_effects.FEATURE_FLAGS["one_click_checkout"] = False  # an operator flips the flag
    assert env.replay(run.history).output == run.output  # the old instance keeps its path
    assert env.run(checkout_with_flags, {"id": "c-2"}).output["receipt"] == "classic-c-2"


def test_failures_open_the_breaker_and_later_charges_are_rejected_without_a_call() -> None:
    env = TestEnv(reg)
    env.script(call_payment_gateway, fail("gateway 503", retryable=False))
    for i in range(FAILURE_THRESHOLD):  # separate instances share the worker's breaker
        assert env.run(charge_with_breaker, [{"id": f"p-{i}"}]).output[0]["status"] == "failed"

    rejected = env.run(charge_with_breaker, [{"id": "p-9"}])
    assert rejected.output == [{"status": "rejected", "reason": "circuit open for payment-gateway"}]
    assert rejected.calls(call_payment_gateway) == []


def test_after_the_cool_down_one_probe_closes_it() -> None:
    env = TestEnv(reg)
    env.script(call_payment_gateway, [fail("gateway 503", retryable=False)] * 3 + [ok("tx")])
    opened = env.run(charge_with_breaker, [{"id": f"p-{i}"} for i in range(4)])
    assert [r["status"] for r in opened.output] == ["failed"] * 3 + ["rejected"]
    env.advance(COOL_DOWN - timedelta(seconds=1))
    assert env.run(charge_with_breaker, [{"id": "early"}]).output[0]["status"] == "rejected"
    env.advance(timedelta(seconds=1))
    assert env.run(charge_with_breaker, [{"id": "probe"}]).output[0]["status"] == "charged"
    assert side_effects.BREAKER.failures == {}


def test_a_history_recorded_while_closed_replays_the_same_after_the_breaker_opened() -> None:
    env = TestEnv(reg)
    charged = env.run(charge_with_breaker, [{"id": "p-1"}])
    side_effects.BREAKER.record_failure("payment-gateway", env.clock.now())
    side_effects.BREAKER.failures["payment-gateway"] = FAILURE_THRESHOLD
    side_effects.BREAKER.opened_at["payment-gateway"] = env.clock.now().isoformat()

    assert env.replay(charged.history).output == [{"status": "charged", "tx": "tx-p-1"}]
    # replay did not report the success to the breaker again: side effects never re-run
    assert side_effects.BREAKER.failures["payment-gateway"] == FAILURE_THRESHOLD
