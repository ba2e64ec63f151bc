"""Bug class: a race loser reused after `ctx.any` cancelled it.

`buggy` waits for an approval with hourly reminders, racing one event wait, created once before
the loop, against a new reminder timer per round. `ctx.any` cancels the losers: once a reminder
wins, the event wait is withdrawn, and the next round races an already-cancelled task, which
"wins" at once; awaiting it raises `TaskCancelled` and the instance fails, dropping an approval
that arrives later. Tests that raise the event right away never reach the second round; the
fuzzer raises the event late, twice or never, and the invariant (a request never fails, and
expires only after every reminder) breaks.

Fix (`fixed`): create a new ``ctx.event("Approval")`` each round (a withdrawn wait never consumes
an event; a new wait gets the next one, buffered or not).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()

REMIND_EVERY = timedelta(hours=1)
REMINDERS = 3


@reg.activity
def request_approval(request: dict[str, Any]) -> None:
    return None


@reg.activity
def send_reminder(request: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def buggy(ctx: OrchestrationContext, request: dict[str, Any]) -> dict[str, Any]:
    await ctx.activity(request_approval, request)
    approval = ctx.event("Approval")
    for _ in range(REMINDERS):
        if await ctx.any([approval, ctx.timer(REMIND_EVERY)]) is approval:
            return {"decision": (await approval)["decision"]}
        await ctx.activity(send_reminder, request)
    return {"decision": "expired"}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, request: dict[str, Any]) -> dict[str, Any]:
    await ctx.activity(request_approval, request)
    for _ in range(REMINDERS):
        approval = ctx.event("Approval")
        if await ctx.any([approval, ctx.timer(REMIND_EVERY)]) is approval:
            return {"decision": (await approval)["decision"]}
        await ctx.activity(send_reminder, request)
    return {"decision": "expired"}


def decided_or_expired(run: Any) -> None:
    """The request never fails; it expires only after every reminder was sent."""
    assert run.status != Status.FAILED, run.error
    if run.status == Status.COMPLETED and run.output["decision"] == "expired":
        assert len(scheduled_inputs(run, "send_reminder")) == REMINDERS


REQUEST: dict[str, Any] = {"id": "r-31", "what": "new laptop"}
EVENTS = {"Approval": [{"decision": "approved"}, {"decision": "rejected"}]}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": REQUEST, "events": EVENTS, "invariant": decided_or_expired},
    "fixed": {"input": REQUEST, "events": EVENTS, "invariant": decided_or_expired},
}

PLAIN: dict[str, Any] = {
    "input": REQUEST,
    "event": ("Approval", {"decision": "approved"}),
    "output": {"decision": "approved"},
}
CAUGHT_BY_TESTENV = False
