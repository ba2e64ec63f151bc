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

from orchestrate import ActivityFailed, OrchestrationContext, Registry, RetryPolicy, Status
from orchestrate import history as h
from testkit import Run, fail, ok

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


# --- fuzzing: orch-fuzz examples/patterns/retries.py:pay_order ------------------------------------


def _attempts(run: Run) -> list[h.ActivityCompleted | h.ActivityFailed]:
    """Each attempt's result event, in order."""
    return [e for e in run.history if isinstance(e, h.ActivityCompleted | h.ActivityFailed)]


def retried_by_the_policy_only(run: Run) -> None:
    """pay_order: at most max_attempts charges, a decline is never retried, the backoff waits
    are 1 s, 2 s, then capped at 3 s, and the answer is the last attempt's."""
    attempts = _attempts(run)
    assert 1 <= len(attempts) <= CHARGE_RETRY.max_attempts, attempts
    failures = [e for e in attempts[:-1] if isinstance(e, h.ActivityFailed)]
    assert len(failures) == len(attempts) - 1, attempts
    assert all(e.error_type != "CardDeclined" for e in failures), "a decline was retried"
    waits = [e.fire_at - e.at for e in run.history if isinstance(e, h.TimerCreated)]
    assert waits == [timedelta(seconds=s) for s in (1, 2, 3)][: len(attempts) - 1], waits
    last = attempts[-1]
    if isinstance(last, h.ActivityCompleted):
        assert run.output == {"paid": True, "charge": last.result}, run.output
    else:
        assert run.output["paid"] is False and run.output["reason"] == last.error_type, run.output
        assert last.error_type == "CardDeclined" or len(attempts) == CHARGE_RETRY.max_attempts


def backs_off_then_escalates(run: Run) -> None:
    """sync_inventory: transient errors are retried after 1, 2, 4 s, at most MAX_ATTEMPTS
    times; a permanent error pages the operator once and stops retrying."""
    tries = sum(
        isinstance(e, h.ActivityScheduled) and e.name == "push_inventory" for e in run.history
    )
    pushes = _attempts(run)[:tries]  # page_operator, if any, comes after the last push
    assert 1 <= len(pushes) <= MAX_ATTEMPTS, pushes
    for failure in pushes[:-1]:
        assert isinstance(failure, h.ActivityFailed) and failure.error_type in TRANSIENT, failure
    waits = [e.fire_at - e.at for e in run.history if isinstance(e, h.TimerCreated)]
    assert waits == [timedelta(seconds=2**i) for i in range(len(pushes) - 1)], waits
    paged = [
        e for e in run.history if isinstance(e, h.ActivityScheduled) and e.name == "page_operator"
    ]
    last = pushes[-1]
    if isinstance(last, h.ActivityCompleted):
        assert run.output == {"pushed": last.result, "attempts": len(pushes)} and not paged
    elif last.error_type in TRANSIENT:
        assert run.status == Status.FAILED and len(pushes) == MAX_ATTEMPTS and not paged
    else:
        assert len(paged) == 1 and run.output["attempts"] == len(pushes), run.output


FUZZ: dict[str, dict[str, Any]] = {
    "pay_order": {
        "input": {"order": "o-5", "card": "4242"},
        "outcomes": {
            charge_card: [
                ok("ch-o-5"),
                fail(ConnectionError("reset")),
                fail(CardDeclined("card 4242 declined")),
            ],
        },
        "invariant": retried_by_the_policy_only,
    },
    "sync_inventory": {
        "input": {"id": "u-1", "skus": ["a", "b", "c"]},
        "outcomes": {
            push_inventory: [
                ok(3),
                fail(TimeoutError("slow")),
                fail(ConnectionError("refused")),
                fail(PermissionError("bad token")),
            ],
        },
        "invariant": backs_off_then_escalates,
    },
}
