from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from orchestrate import Status
from testkit import TestEnv

from . import activity_template as at
from .activity_template import ORDER, CircuitBreaker, CircuitOpen, place_order, reg


@pytest.fixture(autouse=True)
def fresh_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(at, "PROVIDER", at.PaymentProvider())
    monkeypatch.setattr(at, "DATABASE", at.OrderDatabase())
    monkeypatch.setattr(at, "RATES_BREAKER", CircuitBreaker())
    yield


def test_an_order_is_priced_charged_and_recorded() -> None:
    env = TestEnv(reg)
    run = env.run(place_order, ORDER)

    assert run.output == {"order_id": 1, "charge_id": "ch_1", "usd": 108}
    assert list(at.PROVIDER.charges) == [f"{run.instance_id}:0:2"]
    assert (at.DATABASE.count("orders"), at.DATABASE.count("lines")) == (1, 1)


def test_a_charge_run_twice_with_one_key_charges_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker ran the charge, then died before storing its result: the retry runs it again
    # with the same idempotency key, and the provider returns the first charge.
    real = at.PaymentProvider.charge
    lost: list[str] = []

    def charge_then_die_once(self, amount, card, reference, idempotency_key):
        result = real(self, amount, card, reference, idempotency_key)
        if not lost:
            lost.append(idempotency_key)
            raise ConnectionError("worker died before storing the result")
        return result

    monkeypatch.setattr(at.PaymentProvider, "charge", charge_then_die_once)
    env = TestEnv(reg)
    run = env.run(place_order, ORDER)

    assert len(run.calls(at.charge_card)) == 2
    assert len(at.PROVIDER.log) == 1 and run.output["charge_id"] == "ch_1"


def test_the_database_write_is_idempotent_and_all_or_nothing() -> None:
    db = at.OrderDatabase()
    first = db.record("i:0:4", ORDER)
    assert db.record("i:0:4", ORDER) == first  # the second run writes nothing
    assert (db.count("orders"), db.count("lines")) == (1, 1)

    bad = {**ORDER, "lines": [{"sku": "mug", "qty": 1}, {"sku": "pot", "qty": 0}]}
    with pytest.raises(sqlite3.IntegrityError):
        db.record("i:0:9", bad)  # the second line breaks the CHECK: nothing is kept
    assert (db.count("orders"), db.count("lines")) == (1, 1)


def test_invalid_input_fails_with_the_field_named() -> None:
    env = TestEnv(reg)
    run = env.run(place_order, {**ORDER, "card": ""})

    assert run.status == Status.FAILED
    assert run.error is not None and "the payment has no 'card'" in run.error.message


def test_the_breaker_opens_after_repeated_failures_and_fails_fast(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    monkeypatch.setattr(at, "RATES_BREAKER", CircuitBreaker(clock=lambda: now[0]))
    monkeypatch.setattr(at, "rates_api", lambda pair: (_ for _ in ()).throw(OSError("503")))
    env = TestEnv(reg)
    first = env.run(place_order, ORDER)  # 3 attempts, 3 failures: the breaker opens
    assert first.status == Status.FAILED and "OSError" in str(first.error)

    second = env.run(place_order, ORDER)
    assert second.error is not None and second.error.message.startswith(
        "fetch_exchange_rate failed with CircuitOpen"
    )
    assert len(second.calls(at.fetch_exchange_rate)) == 1  # non-retryable: no hammering
    monkeypatch.setattr(at, "rates_api", lambda pair: 1.08)
    now[0] = 31.0  # after the cool-down the next call goes through and closes it
    assert env.run(place_order, ORDER).status == Status.COMPLETED
    assert at.RATES_BREAKER.failures == 0


def test_circuit_open_is_an_exception_naming_the_service() -> None:
    breaker = CircuitBreaker(threshold=1, clock=lambda: 0.0)
    with pytest.raises(OSError):
        breaker.call("x", lambda: (_ for _ in ()).throw(OSError("down")))
    with pytest.raises(CircuitOpen, match="x: circuit open after 1 failures"):
        breaker.call("x", lambda: 1)
