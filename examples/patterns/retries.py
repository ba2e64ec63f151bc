"""Retries: a declarative RetryPolicy, and a hand-written retry loop on durable timers.

Seeds: 000 ("Simple Retry with Backoff": three attempts, doubling delay), 003 (activity
``RetryPolicy`` with initial/maximum interval and maximum attempts; "Workflow Error Recovery":
classify the error, retry transient ones with exponential backoff, escalate the rest).

* `charge_card` relies on the activity's ``RetryPolicy``: the runtime records every attempt and
  every backoff timer (``TimerCreated`` with purpose ``"retry"``); a ``CardDeclined`` error is
  non-retryable and fails at once.
* `sync_inventory` writes the loop itself, for when the decision needs orchestration logic: it
  retries only errors it classifies as transient, sleeps ``2 ** (attempt - 1)`` seconds on a
  durable timer between attempts, and escalates to an operator instead of retrying when the
  error is not transient.

Replay-safe because attempts and backoff waits are ordinary recorded commands: after a restart
the loop replays the same failures, the same sleeps and resumes at the attempt it had reached.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry, RetryPolicy

reg = Registry()

CHARGE_RETRY = RetryPolicy(
    max_attempts=4,
    initial_interval=timedelta(seconds=1),
    backoff=2.0,
    max_interval=timedelta(seconds=3),
    non_retryable=("CardDeclined",),
)


class CardDeclined(Exception):
    """The issuer refused the charge: retrying will not change its mind."""


@reg.activity(retry=CHARGE_RETRY)
def charge_card(payment: dict[str, Any]) -> str:
    if payment["card"].endswith("0000"):
        raise CardDeclined(f"card {payment['card']} declined")
    return f"ch-{payment['order']}"


@reg.orchestration
async def pay_order(ctx: OrchestrationContext, payment: dict[str, Any]) -> dict[str, Any]:
    try:
        charge = await ctx.activity(charge_card, payment)
    except ActivityFailed as exc:
        return {"paid": False, "reason": exc.error_type, "message": exc.message}
    return {"paid": True, "charge": charge}


# --- a custom retry loop ----------------------------------------------------------------------

TRANSIENT = frozenset({"ConnectionError", "TimeoutError", "ServiceUnavailable"})
MAX_ATTEMPTS = 4


@reg.activity
def push_inventory(update: dict[str, Any]) -> int:
    return len(update["skus"])


@reg.activity
def page_operator(incident: dict[str, Any]) -> str:
    return f"incident for {incident['update']} ({incident['error']})"


@reg.orchestration
async def sync_inventory(ctx: OrchestrationContext, update: dict[str, Any]) -> dict[str, Any]:
    delay = timedelta(seconds=1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            pushed = await ctx.activity(push_inventory, update)
            return {"pushed": pushed, "attempts": attempt}
        except ActivityFailed as exc:
            if exc.error_type not in TRANSIENT:
                incident = {"update": update["id"], "error": exc.error_type}
                ticket = await ctx.activity(page_operator, incident)
                return {"pushed": 0, "attempts": attempt, "escalated": ticket}
            if attempt == MAX_ATTEMPTS:
                raise
            ctx.log.info("attempt %d failed (%s); retrying in %s", attempt, exc, delay)
            await ctx.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable: the loop returns or raises")
