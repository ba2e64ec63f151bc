from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Status
from orchestrate import history as h
from testkit import DEFAULT_START, TestEnv, delay, fail, hang

from .racing import (
    LOOKUP_DEADLINE,
    QUOTE_DEADLINE,
    fetch_with_racing,
    first_successful_quote,
    query_cache,
    query_primary_db,
    query_replica,
    quote_from_adyen,
    quote_from_paypal,
    quote_from_stripe,
    reg,
)

LOOKUPS = {"primary": query_primary_db, "cache": query_cache, "replica": query_replica}


@pytest.mark.parametrize("fastest", list(LOOKUPS))
def test_the_fastest_service_wins_without_waiting_for_the_others(fastest: str) -> None:
    env = TestEnv(reg)
    for name, activity in LOOKUPS.items():
        ms = 100 if name == fastest else 900
        env.script(activity, delay(timedelta(milliseconds=ms), {"source": name, "rows": []}))
    run = env.run(fetch_with_racing, "sku=42")

    assert run.status == Status.COMPLETED
    assert run.output == {"source": fastest, "rows": []}
    assert env.clock.now() - DEFAULT_START == timedelta(milliseconds=100)
    # it finished at the winner's time: no loser result was waited for or recorded
    completed = [e for e in run.history if isinstance(e, h.ActivityCompleted)]
    assert [e.result["source"] for e in completed] == [fastest]


def test_the_deadline_wins_when_every_service_hangs() -> None:
    env = TestEnv(reg)
    for activity in LOOKUPS.values():
        env.script(activity, hang())
    run = env.run(fetch_with_racing, "sku=42")

    assert run.output == {"source": None, "timed_out": True}
    assert env.clock.now() - DEFAULT_START == LOOKUP_DEADLINE


def test_a_fast_failure_wins_the_plain_race_and_fails_the_instance() -> None:
    env = TestEnv(reg)
    env.script(query_cache, delay(timedelta(milliseconds=5), fail("cache node evicted")))
    env.script(query_primary_db, delay(timedelta(seconds=1), {"source": "primary", "rows": []}))
    env.script(query_replica, delay(timedelta(seconds=1), {"source": "replica", "rows": []}))
    run = env.run(fetch_with_racing, "sku=42")

    assert run.status == Status.FAILED
    assert run.error is not None and "cache node evicted" in run.error.message


@pytest.mark.parametrize(
    ("stripe", "paypal", "adyen", "provider", "failures"),
    [
        (delay(1, {"provider": "stripe"}), delay(2, {"provider": "paypal"}), hang(), "stripe", 0),
        (delay(1, fail("rate limited")), delay(3, {"provider": "paypal"}), hang(), "paypal", 1),
        (delay(1, fail("a")), delay(2, fail("b")), delay(4, {"provider": "adyen"}), "adyen", 2),
    ],
    ids=["first-wins", "skips-a-failure", "skips-two-failures"],
)
def test_first_successful_quote_skips_failures(
    stripe: object, paypal: object, adyen: object, provider: str, failures: int
) -> None:
    env = TestEnv(reg)
    env.script(quote_from_stripe, stripe)  # type: ignore[arg-type]
    env.script(quote_from_paypal, paypal)  # type: ignore[arg-type]
    env.script(quote_from_adyen, adyen)  # type: ignore[arg-type]
    run = env.run(first_successful_quote, 1000)

    assert run.output["provider"] == provider
    assert len(run.output["failures"]) == failures


@pytest.mark.parametrize(
    ("outcome", "elapsed"),
    [(hang(), QUOTE_DEADLINE), (fail("down"), timedelta(0))],
    ids=["all-hang-until-deadline", "all-fail-at-once"],
)
def test_first_successful_quote_gives_up(outcome: object, elapsed: timedelta) -> None:
    env = TestEnv(reg)
    for provider in (quote_from_stripe, quote_from_paypal, quote_from_adyen):
        env.script(provider, outcome)  # type: ignore[arg-type]
    run = env.run(first_successful_quote, 1000)

    assert run.output["provider"] is None
    assert env.clock.now() - DEFAULT_START == elapsed
