"""Bug class: a process-wide memo shared across executions decides whether to call an activity.

`buggy` asks a `OnceGuard` (a small project utility that remembers which keys it has seen)
whether this customer was welcomed already, "so that replays do not send the welcome mail
again". But the guard lives in the module, and outlives the execution that filled it: a replay
in the same process (after a restart, an eviction, or the next turn's replay) finds the customer
already seen and skips `send_welcome`, so it issues other commands than the history recorded;
and a later instance for the same customer never welcomes at all. The fuzzer replays with
process state as the live execution left it, so the first replay diverges, and every later
example (the guard already holding the customer) skips the welcome: the invariant breaks.

Why orch-lint cannot see it: the memo is an instance of a project class, not a list, dict or set
bound at module level, and the orchestration only calls a method on it
(``WELCOME_MAILS.first_time(...)``), which reads like a pure question. The ``add`` happens on
``self._seen`` inside the class, where nothing is module-level. Static analysis would need to
resolve the method through the object's type, see that it mutates the instance, and know that
the instance is shared by every execution in the process.

Fix (`fixed`): no memo. The history already guarantees the activity is scheduled once per
instance: a replay finds it recorded and does not run it again.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()


class OnceGuard:
    """Remembers keys, so that work keyed by them is done once."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def first_time(self, key: str) -> bool:
        """True the first time `key` is asked about, False ever after."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def forget(self) -> None:
        self._seen.clear()


WELCOME_MAILS = OnceGuard()  # the bug: per process, not per instance


def reset() -> None:
    """Forget the process state (between tests)."""
    WELCOME_MAILS.forget()


@reg.activity
def create_account(signup: dict[str, Any]) -> str:
    return f"acct-{signup['email']}"


@reg.activity
def send_welcome(account: str) -> str:
    return f"welcome sent to {account}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, signup: dict[str, Any]) -> dict[str, Any]:
    account = await ctx.activity(create_account, signup)
    if WELCOME_MAILS.first_time(signup["email"]):  # "do not welcome twice on replay"
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
