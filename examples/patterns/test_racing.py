from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Client, MemoryStore, Status, Worker
from orchestrate import history as h
from testkit import DEFAULT_START, FakeClock, TestEnv, delay, fail, hang

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


# --- the losers really are cancelled: the runtime's own Worker, stepped by hand ----------------


def _stepped_runtime() -> tuple[Client, Worker]:
    """A MemoryStore with a Client and a Worker on a FakeClock, stepped on this thread."""
    clock, store = FakeClock(), MemoryStore()
    worker = Worker(reg, store, clock=clock, sync_activities=1)
    return Client(store, registry=reg, clock=clock), worker


def test_losing_lookups_that_have_not_started_are_withdrawn_never_run() -> None:
    client, worker = _stepped_runtime()
    key = client.start(fetch_with_racing, "sku=42")
    worker.run_turns()  # schedules the three lookups and the deadline timer
    assert worker.run_activities(limit=1) == 1  # only the primary gets to run
    worker.run_turns()  # its answer wins the race: the turn cancels the losers

    assert client.state(key).output == {"source": "primary", "rows": ["sku=42"]}
    assert worker.run_activities() == 0  # cache and replica were withdrawn, not run late
    finished = [e for e in client.history(key) if isinstance(e, h.ActivityCompleted)]
    assert len(finished) == 1


def test_quotes_still_queued_after_the_first_success_are_withdrawn() -> None:
    client, worker = _stepped_runtime()
    key = client.start(first_successful_quote, 1000)
    worker.run_turns()
    assert worker.run_activities(limit=1) == 1  # stripe answers first
    worker.run_turns()  # chosen: the explicit task.cancel() withdraws paypal and adyen

    assert client.state(key).output == {"provider": "stripe", "fee": 59, "failures": []}
    assert worker.run_activities() == 0
