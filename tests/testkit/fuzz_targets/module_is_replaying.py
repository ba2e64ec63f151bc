"""Bug class: a command issued only when ``ctx.is_replaying`` is False.

`buggy` sends the receipt mail only "when not replaying", believing a replay would mail the
customer again. But replays never run activities (their results come from the history), and
``is_replaying`` says whether *this execution* is catching up with the history, not whether the
work was done: an execution that replays past this point skips the command, so it issues other
commands than the history recorded. The live run, kept in memory, is fine; any replay (the
next turn's, a restarted worker's, the fuzzer's) diverges, and after a crash the mail is never
sent.

Fix (`fixed`): schedule the activity unconditionally (the history makes it happen once per
instance); keep ``is_replaying`` for silencing logs and metrics, never for commands.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()


@reg.activity
def take_payment(order: dict[str, Any]) -> str:
    return f"rcpt-{order['id']}"


@reg.activity
def mail_receipt(receipt: str) -> None:
    return None


@reg.activity
def fulfil(order: dict[str, Any]) -> str:
    return f"parcel-{order['id']}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    receipt = await ctx.activity(take_payment, order)
    if not ctx.is_replaying:  # "do not mail the customer again on replay"
        await ctx.activity(mail_receipt, receipt)
    parcel = await ctx.activity(fulfil, order)
    return {"receipt": receipt, "parcel": parcel}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    receipt = await ctx.activity(take_payment, order)
    await ctx.activity(mail_receipt, receipt)
    parcel = await ctx.activity(fulfil, order)
    return {"receipt": receipt, "parcel": parcel}


def receipt_mailed_once(run: Any) -> None:
    """A completed order mailed its receipt once."""
    if run.status == Status.COMPLETED:
        assert scheduled_inputs(run, "mail_receipt") == [run.output["receipt"]]


ORDER: dict[str, Any] = {"id": "o-5", "total": 40}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": ORDER, "invariant": receipt_mailed_once},
    "fixed": {"input": ORDER, "invariant": receipt_mailed_once},
}

PLAIN: dict[str, Any] = {"input": ORDER, "output": {"receipt": "rcpt-o-5", "parcel": "parcel-o-5"}}
CAUGHT_BY_TESTENV = True
