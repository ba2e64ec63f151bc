"""Human-in-the-loop: wait for an approval event, with a deadline and one escalation.

Seeds: 000 ("Human-in-the-Loop": select between an approval event and a 24 h timer, escalate on
timeout), 001 (Pattern 5 "Human-in-the-Loop with Timeout": on timeout auto-reject or escalate;
a denial ends the request).

Flow: send the request to the approver, then race ``ctx.event("ApprovalResponse")`` against a
24 h timer with ``ctx.any``. An answer decides; silence escalates to a manager and races a fresh
event wait against a shorter timer; silence again auto-rejects. The losing side of each race is
cancelled: a lost timer never fires into the orchestration, a lost event wait is withdrawn, so a
late answer cannot be consumed by a wait that no longer exists.

Replay-safe because the winner of each race is decided by the order of ``TimerFired`` and
``EventRaised`` in the history, not by the wall clock; the deadlines are durable timers, so a
worker restart during the 24 hours changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry
from orchestrate import history as h
from testkit import Run

reg = Registry()

APPROVAL_TIMEOUT = timedelta(hours=24)
ESCALATION_TIMEOUT = timedelta(hours=8)


@reg.activity
def send_approval_request(request: dict[str, Any]) -> str:
    return f"mail to {request['approver']}: please approve {request['id']}"


@reg.activity
def escalate_approval(request: dict[str, Any]) -> str:
    return f"mail to {request['manager']}: {request['id']} is waiting since 24h"


@reg.activity
def process_approved_request(request: dict[str, Any]) -> str:
    return f"provisioned {request['id']}"


@reg.activity
def notify_requester(message: dict[str, Any]) -> None:
    return None


async def _answer_within(ctx: OrchestrationContext, limit: timedelta) -> dict[str, Any] | None:
    """The next ApprovalResponse, or None if `limit` passes first."""
    answer, deadline = ctx.event("ApprovalResponse"), ctx.timer(limit)
    winner = await ctx.any([answer, deadline])
    if winner is deadline:
        return None
    response: dict[str, Any] = await answer
    return response


@reg.orchestration
async def approval_workflow(ctx: OrchestrationContext, request: dict[str, Any]) -> dict[str, Any]:
    await ctx.activity(send_approval_request, request)
    ctx.set_status({"stage": "awaiting approval", "approver": request["approver"]})
    response = await _answer_within(ctx, APPROVAL_TIMEOUT)
    decided_by = request["approver"]
    if response is None:
        ctx.log.warning("approval for %s timed out; escalating", request["id"])
        await ctx.activity(escalate_approval, request)
        ctx.set_status({"stage": "escalated", "approver": request["manager"]})
        response = await _answer_within(ctx, ESCALATION_TIMEOUT)
        decided_by = request["manager"]
    if response is None:
        outcome = {"id": request["id"], "outcome": "auto-rejected", "by": None}
    elif not response["approved"]:
        reason = response.get("reason", "")
        outcome = {"id": request["id"], "outcome": "denied", "by": decided_by, "reason": reason}
    else:
        result = await ctx.activity(process_approved_request, request)
        outcome = {"id": request["id"], "outcome": "approved", "by": decided_by, "result": result}
    ctx.set_status({"stage": "done", "outcome": outcome["outcome"]})
    await ctx.activity(notify_requester, outcome)
    return outcome


# --- fuzzing: orch-fuzz examples/patterns/human_in_the_loop.py:approval_workflow -----------------


def decided_once_by_the_right_person(run: Run) -> None:
    """The answer that won decides: provisioning happens only on an approval, by the approver
    before the deadline or the manager after escalation; silence twice auto-rejects; the
    requester is told the outcome exactly once, last."""
    request = run.history[0].input  # type: ignore[attr-defined]
    out = run.output
    scheduled = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
    names = [e.name for e in scheduled]
    escalated = "escalate_approval" in names
    fired = sum(isinstance(e, h.TimerFired) for e in run.history)
    assert fired == (2 if out["outcome"] == "auto-rejected" else int(escalated)), (fired, out)
    assert ("process_approved_request" in names) == (out["outcome"] == "approved"), (names, out)
    if out["outcome"] == "auto-rejected":
        assert escalated and out["by"] is None, out
    else:
        assert out["by"] == request["manager" if escalated else "approver"], out
        answers = [e.input for e in run.history if isinstance(e, h.EventRaised)]
        assert answers and answers[0]["approved"] == (out["outcome"] == "approved"), answers
    assert names.count("notify_requester") == 1 and scheduled[-1].input == out, names


FUZZ: dict[str, dict[str, Any]] = {
    "approval_workflow": {
        "input": {"id": "req-7", "approver": "ann", "manager": "max"},
        "events": {
            "ApprovalResponse": [{"approved": True}, {"approved": False, "reason": "budget"}],
        },
        "invariant": decided_once_by_the_right_person,
    },
}
