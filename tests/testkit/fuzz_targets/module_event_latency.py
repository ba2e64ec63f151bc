"""Bug class: a branch on how long an event took to arrive, measured against the wall clock.

`buggy` notes ``ctx.now()`` when it asks for approval and, once the approval arrives, asks the
approval `Sla` (a small policy object shared with the team's dashboards) whether it was
breached since then. ``Sla.breached`` compares with the wall clock. On the recorded run the two
agree; on a replay the wall clock is *now*, not the moment the event was processed, so every
replay sees a breach. An approval that arrived in time (before the wait, or soon after) is
replayed as a late one: the replay schedules `report_breach` where the history has
`apply_decision`, and diverges. Late approvals replay fine, which is why a test that only raises
the event after the reminder passes; the fuzzer raises the event at every point and replays
with the wall clock shifted.

Why orch-lint cannot see it: the orchestration reads no clock; it calls a method of a
module-level configuration object (``APPROVAL_SLA.breached(asked)``), and the linter does not
follow method calls on objects, only functions and ``Class.method`` it can name. Static analysis
would need to know the type of `APPROVAL_SLA`, resolve ``breached`` on it and see the
``datetime.now`` inside: type inference over module globals, which a syntactic linter lacks.

Fix (`fixed`): measure with ``ctx.now()`` after the wait as well (``breached_between``): the
recorded time of the turn that handled the event, equal on every replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()

REMIND_AFTER = timedelta(hours=2)
GIVE_UP_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Sla:
    """A response-time target."""

    name: str
    limit: timedelta

    def breached(self, since: datetime) -> bool:
        """Whether more than `limit` has passed since `since`, by the wall clock (the bug)."""
        return datetime.now(UTC) - since > self.limit

    def breached_between(self, start: datetime, end: datetime) -> bool:
        """Whether more than `limit` passed between `start` and `end`."""
        return end - start > self.limit


APPROVAL_SLA = Sla("approval", timedelta(hours=1))


@reg.activity
def request_approval(request: dict[str, Any]) -> None:
    return None


@reg.activity
def send_reminder(request: dict[str, Any]) -> None:
    return None


@reg.activity
def report_breach(request: dict[str, Any]) -> None:
    return None


@reg.activity
def apply_decision(decision: dict[str, Any]) -> str:
    return "approved" if decision.get("approved") else "rejected"


async def _await_approval(ctx: OrchestrationContext, request: dict[str, Any]) -> Any:
    """The approval payload, or None after the give-up deadline (with one reminder on the way)."""
    approval = ctx.event("Approval")
    reminder = ctx.timer(REMIND_AFTER)
    if await ctx.any([approval, reminder]) is approval:
        return await approval
    await ctx.activity(send_reminder, request)
    approval = ctx.event("Approval")
    deadline = ctx.timer(GIVE_UP_AFTER - REMIND_AFTER)
    if await ctx.any([approval, deadline]) is approval:
        return await approval
    return None


@reg.orchestration
async def buggy(ctx: OrchestrationContext, request: dict[str, Any]) -> dict[str, Any]:
    asked = ctx.now()
    await ctx.activity(request_approval, request)
    decision = await _await_approval(ctx, request)
    if decision is None:
        return {"outcome": "expired", "breached": True}
    breached = APPROVAL_SLA.breached(asked)
    if breached:
        await ctx.activity(report_breach, request)
    outcome = await ctx.activity(apply_decision, decision)
    return {"outcome": outcome, "breached": breached}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, request: dict[str, Any]) -> dict[str, Any]:
    asked = ctx.now()
    await ctx.activity(request_approval, request)
    decision = await _await_approval(ctx, request)
    if decision is None:
        return {"outcome": "expired", "breached": True}
    breached = APPROVAL_SLA.breached_between(asked, ctx.now())
    if breached:
        await ctx.activity(report_breach, request)
    outcome = await ctx.activity(apply_decision, decision)
    return {"outcome": outcome, "breached": breached}


def breach_reported_iff_late(run: Any) -> None:
    """A decided request reports a breach exactly when it said the SLA was breached."""
    if run.status == Status.COMPLETED and run.output["outcome"] != "expired":
        reports = scheduled_inputs(run, "report_breach")
        assert len(reports) == (1 if run.output["breached"] else 0), run.output


REQUEST: dict[str, Any] = {"id": "r-8", "amount": 900}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {
        "input": REQUEST,
        "events": {"Approval": [{"approved": True}, {"approved": False}]},
        "invariant": breach_reported_iff_late,
    },
    "fixed": {
        "input": REQUEST,
        "events": {"Approval": [{"approved": True}, {"approved": False}]},
        "invariant": breach_reported_iff_late,
    },
}

PLAIN: dict[str, Any] = {
    "input": REQUEST,
    "event": ("Approval", {"approved": True}),
    "output": {"outcome": "approved", "breached": False},
}
CAUGHT_BY_TESTENV = True
CALLS_THE_CLOCK = True  # the call guard stops it at the call
