"""Bug class: a command issued only when ``is_replaying`` is False.

The team wraps the context in `ReplaySafe`, a helper for "things that must happen once, not on
every replay": its ``log`` writes only when the execution is not replaying (the documented use of
``is_replaying``), and its ``notify`` schedules a customer notice the same way, "so that a replay
does not mail the customer again". `buggy` mails the receipt through ``once.notify``. But replays
never run activities (their results come from the history), and ``is_replaying`` says whether
*this execution* is catching up with the history, not whether the work was done: an execution
that replays past this point skips the command, so it issues other commands than the history
recorded. The live run, kept in memory, is fine; any replay (the next turn's, a restarted
worker's, the fuzzer's) diverges, and after a crash the mail is never sent.

Why orch-lint cannot see it: it reports ``is_replaying`` read on the context itself (a name it
knows holds the context, in the orchestration or in a helper it is passed to). Here the branch
is in a method of a wrapper object, on ``self._ctx.is_replaying``, and the orchestration only
calls ``once.notify(...)`` on a local variable, a call the linter does not follow. Static analysis
would need to resolve the method through the variable's type and track the context into the
object's attributes (alias analysis); and ``log`` shows that the same read is fine when it only
guards output, so it would also need to tell what each branch does.

Fix (`fixed`): schedule the activity unconditionally (the history makes it happen once per
instance); keep ``is_replaying`` for silencing logs and metrics, never for commands.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()
logger = logging.getLogger(__name__)


class ReplaySafe:
    """What an orchestration does once, not again on every replay: logs and customer notices."""

    def __init__(self, ctx: OrchestrationContext) -> None:
        self._ctx = ctx

    def log(self, message: str, *args: Any) -> None:
        if not self._ctx.is_replaying:
            logger.info(message, *args)

    async def notify(self, activity: Any, payload: Any) -> None:
        """Send a notice, "once": not again when replaying (the bug)."""
        if not self._ctx.is_replaying:
            await self._ctx.activity(activity, payload)


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
    once = ReplaySafe(ctx)
    receipt = await ctx.activity(take_payment, order)
    once.log("paid %s: %s", order["id"], receipt)
    await once.notify(mail_receipt, receipt)
    parcel = await ctx.activity(fulfil, order)
    return {"receipt": receipt, "parcel": parcel}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    once = ReplaySafe(ctx)
    receipt = await ctx.activity(take_payment, order)
    once.log("paid %s: %s", order["id"], receipt)
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
