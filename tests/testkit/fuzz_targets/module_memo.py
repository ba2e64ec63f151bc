"""Bug class: a module-level memo shared across executions decides whether to call an activity.

`buggy` remembers in a module set which customers it has welcomed, "so that replays do not send
the welcome mail again". But the set outlives the execution that filled it: a replay in the same
process (after a restart, an eviction, or the next turn's replay) finds the customer already in
it and skips `send_welcome`, so it issues other commands than the history recorded; and a later
instance for the same customer never welcomes at all. The fuzzer replays with module state as
the live execution left it, so the first replay diverges, and every later example (the memo
already full) skips the welcome: the invariant breaks.

Fix (`fixed`): no memo. The history already guarantees the activity is scheduled once per
instance: a replay finds it recorded and does not run it again.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()

_WELCOMED: set[str] = set()  # the bug: per process, not per instance


def reset() -> None:
    """Forget the process state (between tests)."""
    _WELCOMED.clear()


@reg.activity
def create_account(signup: dict[str, Any]) -> str:
    return f"acct-{signup['email']}"


@reg.activity
def send_welcome(account: str) -> str:
    return f"welcome sent to {account}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, signup: dict[str, Any]) -> dict[str, Any]:
    account = await ctx.activity(create_account, signup)
    if signup["email"] not in _WELCOMED:  # "do not welcome twice on replay"
        _WELCOMED.add(signup["email"])
        await ctx.activity(send_welcome, account)
    return {"account": account}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, signup: dict[str, Any]) -> dict[str, Any]:
    account = await ctx.activity(create_account, signup)
    await ctx.activity(send_welcome, account)  # recorded: a replay never schedules it again
    return {"account": account}


def welcomed_once(run: Any) -> None:
    """A completed signup scheduled exactly one welcome, for its own account."""
    if run.status == Status.COMPLETED:
        assert scheduled_inputs(run, "send_welcome") == [run.output["account"]], run.output


SIGNUP: dict[str, Any] = {"email": "ada@example.com", "plan": "pro"}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": SIGNUP, "invariant": welcomed_once},
    "fixed": {"input": SIGNUP, "invariant": welcomed_once},
}

PLAIN: dict[str, Any] = {"input": SIGNUP, "output": {"account": "acct-ada@example.com"}}
CAUGHT_BY_TESTENV = True
