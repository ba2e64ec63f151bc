from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import Status
from testkit import Run, TestEnv, fail, ok

from .circuit_breaker import (
    COOL_DOWN,
    FAILURE_THRESHOLD,
    REQUESTS_PER_GENERATION,
    BreakerState,
    call_payment_gateway,
    deliver_reply,
    payment_gateway_breaker,
    reg,
)

DOWN = fail(ConnectionError("gateway unreachable"))


def send(env: TestEnv, run: Run, n: int, start: int = 0) -> list[str]:
    """Raise `n` requests, one at a time; return the outcomes delivered for them."""
    for i in range(start, start + n):
        env.raise_event(run.instance_id, "Request", {"id": f"r{i}", "payload": {"order": i}})
    replies: list[dict[str, Any]] = run.calls(deliver_reply)
    return [r["outcome"] for r in replies[start : start + n]]


def test_closed_breaker_passes_calls_through() -> None:
    env = TestEnv(reg)
    run = env.run(payment_gateway_breaker, BreakerState())

    assert send(env, run, 3) == ["ok", "ok", "ok"]
    assert run.custom_status == {"state": "closed", "failures": 0, "rejected": 0}
    assert run.calls(deliver_reply)[0] == {"id": "r0", "outcome": "ok", "result": "auth-0"}


def test_threshold_failures_open_it_and_open_rejects_without_calling_the_gateway() -> None:
    env = TestEnv(reg)
    env.script(call_payment_gateway, DOWN)
    run = env.run(payment_gateway_breaker, BreakerState())

    assert send(env, run, FAILURE_THRESHOLD) == ["failed"] * FAILURE_THRESHOLD
    assert run.custom_status["state"] == "open"
    assert send(env, run, 5, start=FAILURE_THRESHOLD) == ["rejected"] * 5
    assert len(run.calls(call_payment_gateway)) == FAILURE_THRESHOLD  # the rejects cost nothing
    assert run.custom_status == {"state": "open", "failures": 3, "rejected": 5}


def test_success_resets_the_failure_count() -> None:
    env = TestEnv(reg)
    env.script(call_payment_gateway, [DOWN, DOWN, ok("auth"), DOWN, DOWN])
    run = env.run(payment_gateway_breaker, BreakerState())

    assert send(env, run, 5) == ["failed", "failed", "ok", "failed", "failed"]
    assert run.custom_status["state"] == "closed"


def test_after_the_cool_down_one_probe_closes_it_again() -> None:
    env = TestEnv(reg)
    env.script(call_payment_gateway, [DOWN] * FAILURE_THRESHOLD + [ok("auth-probe")])
    run = env.run(payment_gateway_breaker, BreakerState())
    send(env, run, FAILURE_THRESHOLD)

    env.advance(COOL_DOWN - timedelta(seconds=1))
    assert send(env, run, 1, start=3) == ["rejected"]
    env.advance(timedelta(seconds=1))
    assert send(env, run, 2, start=4) == ["ok", "ok"]
    assert run.custom_status["state"] == "closed"


def test_a_failed_probe_reopens_it_for_a_fresh_cool_down() -> None:
    env = TestEnv(reg)
    env.script(call_payment_gateway, DOWN)
    run = env.run(payment_gateway_breaker, BreakerState())
    send(env, run, FAILURE_THRESHOLD)
    env.advance(COOL_DOWN)

    assert send(env, run, 2, start=3) == ["failed", "rejected"]  # the probe, then open again
    assert len(run.calls(call_payment_gateway)) == FAILURE_THRESHOLD + 1
    assert run.custom_status["state"] == "open"


def test_breaker_state_survives_continue_as_new() -> None:
    env = TestEnv(reg)
    env.script(call_payment_gateway, [ok("auth")] * (REQUESTS_PER_GENERATION - 2) + [DOWN])
    run = env.run(payment_gateway_breaker, BreakerState())

    outcomes = send(env, run, REQUESTS_PER_GENERATION + 3)

    assert env.state(run.instance_id).generation == 1
    # two failures at the end of generation 0, the third in generation 1 opens the breaker
    assert outcomes[-5:] == ["failed", "failed", "failed", "rejected", "rejected"]
    env.raise_event(run.instance_id, "Shutdown")
    assert run.status == Status.COMPLETED
    assert run.output == {"state": "open", "handled": REQUESTS_PER_GENERATION + 3}
