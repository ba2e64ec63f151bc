"""Bug class: a helper in another module reads the process clock to build an activity input.

`buggy` refunds an order with a request id from `_helpers.request_id`, which stamps it with the
current millisecond of a clock it takes as a parameter, defaulting to ``SYSTEM_CLOCK`` (the
usual way to make a helper testable: unit tests pass a fake clock). The orchestration passes no
clock, so the default, the process clock, is read. A replay computes a new id, issues `refund`
with another input than the history recorded, and diverges (the fuzzer compares inputs and
shifts the wall clock by a day on replay). The id also defeats its own purpose: a retried
refund carries a new id, so the payment API cannot de-duplicate it.

Why orch-lint cannot see it: it follows `request_id` into `_helpers`, but there the time is read
by ``clock.millis()``, a method call on a parameter typed by a `Clock` protocol. Which code runs
is decided at run time by the default value; static analysis would need to know that `clock` is
`SYSTEM_CLOCK`, a `SystemClock`, and that its ``millis`` calls ``time.time()`` (type inference
through a default argument, then dispatch through a protocol). No line the linter reads calls a
clock function.

Fix (`fixed`): derive the id from what the history holds: the instance id (or ``ctx.uuid()``).
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import request_id, scheduled_inputs

reg = Registry()


@reg.activity
def refund(request: dict[str, Any]) -> str:
    return f"refunded {request['amount']} ({request['request_id'].split('-')[0]})"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    request = {"order": order["id"], "amount": order["total"], "request_id": request_id("refund")}
    return {"refund": await ctx.activity(refund, request)}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    request_id = f"refund-{ctx.uuid()}"  # recorded-deterministic: stable on every replay
    request = {"order": order["id"], "amount": order["total"], "request_id": request_id}
    return {"refund": await ctx.activity(refund, request)}


def one_refund(run: Any) -> None:
    """A completed instance refunded the order once, for its total."""
    if run.status == Status.COMPLETED:
        [request] = scheduled_inputs(run, "refund")
        assert (request["order"], request["amount"]) == (ORDER["id"], ORDER["total"])


ORDER: dict[str, Any] = {"id": "o-11", "total": 35}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": ORDER, "invariant": one_refund},
    "fixed": {"input": ORDER, "invariant": one_refund},
}

PLAIN: dict[str, Any] = {"input": ORDER, "output": {"refund": "refunded 35 (refund)"}}
CAUGHT_BY_TESTENV = True
CALLS_THE_CLOCK = True  # the call guard stops it at the call
