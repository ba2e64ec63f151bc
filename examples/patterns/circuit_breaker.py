"""Circuit breaker: breaker state kept durably by a long-lived orchestration fed by events.

Seeds: 000 ("Circuit Breaker Pattern": closed / open / half-open, open after 3 failures, try
again after a minute), 002 (circuit breaker on a durable counter instead of process memory).

`payment_gateway_breaker` is an entity-like instance: callers raise ``Request`` events to it
(``{"id": ..., "payload": ...}``); it answers each one through the `deliver_reply` activity.

* closed: call `call_payment_gateway`; count consecutive failures; at `FAILURE_THRESHOLD` open.
* open: reject at once, without touching the gateway, until `COOL_DOWN` has passed since it
  opened; then half-open.
* half-open: let one probe through; success closes the breaker, failure re-opens it.

The state lives in a `BreakerState` dataclass that is the orchestration's input; every
`REQUESTS_PER_GENERATION` requests it continues as new with that state, so the breaker can run
for months with a small history and its state survives restarts and redeploys. The current
state is published with ``ctx.set_status`` for dashboards. A ``Shutdown`` event ends it.

Replay-safe because "has the cool-down passed?" compares ``ctx.now()`` (the recorded time of
the turn the request arrived in) with ``opened_at`` from the state, never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry
from orchestrate import history as h
from testkit import Run, fail, ok

reg = Registry()

FAILURE_THRESHOLD = 3
COOL_DOWN = timedelta(minutes=1)
REQUESTS_PER_GENERATION = 20


@dataclass
class BreakerState:
    state: str = "closed"  # "closed", "open" or "half-open"
    failures: int = 0
    opened_at: str | None = None  # ISO time the breaker last opened
    handled: int = 0
    rejected: int = 0


@reg.activity
def call_payment_gateway(payload: dict[str, Any]) -> str:
    return f"auth-{payload['order']}"


@reg.activity
def deliver_reply(reply: dict[str, Any]) -> None:
    return None


def _publish(ctx: OrchestrationContext, breaker: BreakerState) -> None:
    ctx.set_status(
        {"state": breaker.state, "failures": breaker.failures, "rejected": breaker.rejected}
    )


@reg.orchestration
async def payment_gateway_breaker(
    ctx: OrchestrationContext, breaker: BreakerState
) -> dict[str, Any]:
    _publish(ctx, breaker)
    for _ in range(REQUESTS_PER_GENERATION):
        request, shutdown = ctx.event("Request"), ctx.event("Shutdown")
        if await ctx.any([request, shutdown]) is shutdown:
            return {"state": breaker.state, "handled": breaker.handled}
        call: dict[str, Any] = request.result()
        breaker.handled += 1

        if breaker.state == "open":
            assert breaker.opened_at is not None
            if ctx.now() - datetime.fromisoformat(breaker.opened_at) >= COOL_DOWN:
                breaker.state = "half-open"
            else:
                breaker.rejected += 1
                await ctx.activity(deliver_reply, {"id": call["id"], "outcome": "rejected"})
                _publish(ctx, breaker)
                continue

        try:
            result = await ctx.activity(call_payment_gateway, call["payload"])
        except ActivityFailed as exc:
            breaker.failures += 1
            if breaker.state == "half-open" or breaker.failures >= FAILURE_THRESHOLD:
                breaker.state, breaker.opened_at = "open", ctx.now().isoformat()
                ctx.log.error("breaker opened after %d failures", breaker.failures)
            reply = {"id": call["id"], "outcome": "failed", "error": exc.error_type}
        else:
            breaker.state, breaker.failures, breaker.opened_at = "closed", 0, None
            reply = {"id": call["id"], "outcome": "ok", "result": result}
        await ctx.activity(deliver_reply, reply)
        _publish(ctx, breaker)
    ctx.continue_as_new(breaker)
    raise AssertionError("unreachable: continue_as_new does not return")


# --- fuzzing: orch-fuzz examples/patterns/circuit_breaker.py:payment_gateway_breaker -------------


def open_breaker_spares_the_gateway(run: Run) -> None:
    """Every request gets exactly one reply, in order; after FAILURE_THRESHOLD failures in a
    row the breaker rejects without calling the gateway (no time passes here, so the cool-down
    never ends); only requests that reached the gateway can fail or succeed."""
    requests = [
        e.input["id"] for e in run.history if isinstance(e, h.EventRaised) and e.name == "Request"
    ]
    scheduled = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
    replies = [e.input for e in scheduled if e.name == "deliver_reply"]
    gateway = [e for e in scheduled if e.name == "call_payment_gateway"]
    assert run.output["handled"] == len(replies) <= len(requests), (run.output, replies)
    assert [r["id"] for r in replies] == requests[: len(replies)], replies
    outcomes = [r["outcome"] for r in replies]
    assert len(gateway) == outcomes.count("ok") + outcomes.count("failed"), (gateway, outcomes)
    streak = 0
    for outcome in outcomes:
        if streak >= FAILURE_THRESHOLD:
            assert outcome == "rejected", f"called the gateway while open: {outcomes}"
        else:
            assert outcome != "rejected", f"rejected while closed: {outcomes}"
            streak = streak + 1 if outcome == "failed" else 0
    assert run.output["state"] == ("open" if streak >= FAILURE_THRESHOLD else "closed"), run.output


FUZZ: dict[str, dict[str, Any]] = {
    "payment_gateway_breaker": {
        "input": BreakerState(),
        "outcomes": {
            call_payment_gateway: [ok("auth"), fail(ConnectionError("gateway unreachable"))],
        },
        "events": {
            "Request": [
                {"id": "r-1", "payload": {"order": 1}},
                {"id": "r-2", "payload": {"order": 2}},
            ],
            "Shutdown": None,
        },
        "max_event_raises": 5,
        "invariant": open_breaker_spares_the_gateway,
    },
}
