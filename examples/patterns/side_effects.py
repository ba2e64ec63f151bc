"""Side effects: record a non-deterministic value once, replay it after; a breaker read that way.

Seed: 002 ("Deterministic Execution": use ``ctx.side_effect()`` for non-deterministic operations
and ``ctx.mutable_side_effect()`` for cached ones; "3. Circuit Breaker Pattern": the failure
count read through ``mutable_side_effect("circuit_count", ...)`` and compared with a threshold).

* `checkout_with_flags` reads the feature flags, which operators change at any time, through
  ``ctx.side_effect(load_feature_flags)``: the first execution runs the function and records its
  result in the history (``SideEffectRecorded``); every replay returns the recorded value, so an
  instance that started with the new checkout keeps it even after the flag is turned off.
  Reading `FEATURE_FLAGS` directly in the orchestration would change its path on replay.
* `charge_with_breaker` asks a process-wide `CircuitBreaker` whether the payment gateway may be
  called, through a side effect: the decision is recorded, so replaying a history taken while
  the breaker was closed still takes the "call" path after the breaker opened. The outcome is
  reported back through side effects too (`record_success`/`record_failure` run once, never on
  replay), and the cool-down is measured with ``ctx.now()`` passed in, not the wall clock.

The breaker is per worker process (like a client library's breaker); instances on one worker
share it. For one breaker across all workers see `circuit_breaker.py` (an orchestration as the
breaker). Functions given to ``ctx.side_effect`` must be quick, synchronous, and return JSON;
anything slow or that must be retried is an activity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry
from orchestrate import history as h
from testkit import Run, fail, ok

reg = Registry()

FEATURE_FLAGS: dict[str, bool] = {"one_click_checkout": True}  # edited by operators at run time
FAILURE_THRESHOLD = 3
COOL_DOWN = timedelta(minutes=1)


def load_feature_flags() -> dict[str, bool]:
    return dict(FEATURE_FLAGS)


@reg.activity
def one_click_checkout(cart: dict[str, Any]) -> str:
    return f"1click-{cart['id']}"


@reg.activity
def classic_checkout(cart: dict[str, Any]) -> str:
    return f"classic-{cart['id']}"


@reg.orchestration
async def checkout_with_flags(ctx: OrchestrationContext, cart: dict[str, Any]) -> dict[str, Any]:
    flags = await ctx.side_effect(load_feature_flags)  # recorded once, replayed after
    step = one_click_checkout if flags.get("one_click_checkout") else classic_checkout
    receipt = await ctx.activity(step, cart)
    return {"receipt": receipt, "flags": flags}


@dataclass
class CircuitBreaker:
    """Consecutive failures per service; open for `COOL_DOWN` once they reach the threshold."""

    failures: dict[str, int] = field(default_factory=dict)
    opened_at: dict[str, str] = field(default_factory=dict)

    def allow(self, service: str, now: datetime) -> bool:
        opened = self.opened_at.get(service)
        if opened is None:
            return True
        return now - datetime.fromisoformat(opened) >= COOL_DOWN  # half-open: one probe

    def record_success(self, service: str) -> None:
        self.failures.pop(service, None)
        self.opened_at.pop(service, None)

    def record_failure(self, service: str, now: datetime) -> None:
        self.failures[service] = self.failures.get(service, 0) + 1
        if self.failures[service] >= FAILURE_THRESHOLD:
            self.opened_at[service] = now.isoformat()


BREAKER = CircuitBreaker()  # this worker process's breaker


@reg.activity
def call_payment_gateway(payment: dict[str, Any]) -> str:
    return f"tx-{payment['id']}"


@reg.orchestration
async def charge_with_breaker(ctx: OrchestrationContext, payments: list[Any]) -> list[Any]:
    """Charge each payment in turn, asking the breaker before every call."""
    return [await _charge_one(ctx, payment) for payment in payments]


async def _charge_one(ctx: OrchestrationContext, payment: dict[str, Any]) -> dict[str, Any]:
    service, now = "payment-gateway", ctx.now()

    def may_call() -> bool:
        return BREAKER.allow(service, now)

    def record_success() -> None:
        BREAKER.record_success(service)

    def record_failure() -> None:
        BREAKER.record_failure(service, now)

    if not await ctx.side_effect(may_call):
        return {"status": "rejected", "reason": f"circuit open for {service}"}
    try:
        tx = await ctx.activity(call_payment_gateway, payment, timeout=timedelta(seconds=30))
    except ActivityFailed as exc:
        await ctx.side_effect(record_failure)
        return {"status": "failed", "reason": str(exc)}
    await ctx.side_effect(record_success)
    return {"status": "charged", "tx": tx}


# --- fuzzing: orch-fuzz examples/patterns/side_effects.py:charge_with_breaker --------------------


def recorded_decisions_are_obeyed(run: Run) -> None:
    """The breaker's recorded decisions rule, payment by payment: a recorded "no" means the
    gateway is not called and the payment is rejected; a recorded "yes" means it is called
    once and its outcome reported back once. The breaker opens after `FAILURE_THRESHOLD`
    consecutive failures. (Resets the shared breaker, so every example starts closed.)"""
    global BREAKER
    BREAKER = CircuitBreaker()
    effects = [e for e in run.history if isinstance(e, h.SideEffectRecorded)]
    calls = [e for e in run.history if isinstance(e, h.ActivityScheduled) and e.attempt == 1]
    results: list[dict[str, Any]] = run.output
    position, failures = 0, 0
    for result in results:
        allowed = effects[position].value
        position += 1 if allowed is False else 2
        if allowed is False:
            assert result["status"] == "rejected", result
            assert failures >= FAILURE_THRESHOLD, f"rejected after {failures} failures"
        else:
            assert result["status"] in ("charged", "failed"), result
            failures = failures + 1 if result["status"] == "failed" else 0
    assert position == len(effects), f"{len(effects)} side effects for {results}"
    assert len(calls) == sum(r["status"] != "rejected" for r in results), calls


def flags_decide_the_path(run: Run) -> None:
    """The checkout path is the one the recorded flags chose."""
    [flags] = [e.value for e in run.history if isinstance(e, h.SideEffectRecorded)]
    expected = "one_click_checkout" if flags["one_click_checkout"] else "classic_checkout"
    assert [e.name for e in run.history if isinstance(e, h.ActivityScheduled)] == [expected]


FUZZ: dict[str, dict[str, Any]] = {
    "charge_with_breaker": {
        "input": [{"id": f"p-{i}", "amount": 10} for i in range(5)],
        "outcomes": {call_payment_gateway: [ok("tx"), fail("gateway 503", retryable=False)]},
        "invariant": recorded_decisions_are_obeyed,
        # The breaker is shared process state: a re-run of a schedule without its injected
        # crashes would start from the state the crashed run left, so no crash injection.
        "crashes": False,
    },
    "checkout_with_flags": {
        "input": {"id": "c-1"},
        "invariant": flags_decide_the_path,
    },
}
