"""Racing: ask several services at once, take the first answer, give up after a deadline.

Seeds: 001 (Pattern 4 "Service Racing with Timeout": primary DB, cache and replica raced; the
payment phase of the e-commerce example races two providers and takes the first success).

* `fetch_with_racing` races three lookups and a timer with ``ctx.any``: the first task to
  finish wins, whatever it is; the losers are cancelled. Cancelled means: a losing lookup still
  queued is withdrawn and never runs; one already running sees ``activity_info().cancelled``
  (its ``heartbeat()`` raises `ActivityCancelled`), so it can stop; a result it still returns
  is recorded in the history but never reaches the orchestration. The losing timer never
  fires. `test_racing` proves the withdrawal on the runtime's own worker.
* `first_successful_quote` wants the first *successful* answer: it walks
  ``ctx.as_completed`` over the providers and a deadline timer, skipping failures, and cancels
  whatever is still running once it has its answer.

Replay-safe because which task "won" is decided by the order the completions were recorded in
the history, not by which service happens to answer first during a replay.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status, Task
from orchestrate import history as h
from testkit import Run, fail

reg = Registry()

LOOKUP_DEADLINE = timedelta(seconds=2)
QUOTE_DEADLINE = timedelta(seconds=10)


@reg.activity
def query_primary_db(query: str) -> dict[str, Any]:
    return {"source": "primary", "rows": [query]}


@reg.activity
def query_cache(query: str) -> dict[str, Any]:
    return {"source": "cache", "rows": [query]}


@reg.activity
def query_replica(query: str) -> dict[str, Any]:
    return {"source": "replica", "rows": [query]}


@reg.orchestration
async def fetch_with_racing(ctx: OrchestrationContext, query: str) -> dict[str, Any]:
    lookups = [ctx.activity(f, query) for f in (query_primary_db, query_cache, query_replica)]
    deadline = ctx.timer(LOOKUP_DEADLINE)
    winner = await ctx.any([*lookups, deadline])
    if winner is deadline:
        return {"source": None, "timed_out": True}
    result: dict[str, Any] = await winner  # raises if the fastest answer was a failure
    return result


@reg.activity
def quote_from_stripe(amount: int) -> dict[str, Any]:
    return {"provider": "stripe", "fee": round(amount * 0.029 + 30)}


@reg.activity
def quote_from_paypal(amount: int) -> dict[str, Any]:
    return {"provider": "paypal", "fee": round(amount * 0.034 + 35)}


@reg.activity
def quote_from_adyen(amount: int) -> dict[str, Any]:
    return {"provider": "adyen", "fee": round(amount * 0.03 + 12)}


PROVIDERS = (quote_from_stripe, quote_from_paypal, quote_from_adyen)


@reg.orchestration
async def first_successful_quote(ctx: OrchestrationContext, amount: int) -> dict[str, Any]:
    quotes = [ctx.activity(p, amount) for p in PROVIDERS]
    deadline = ctx.timer(QUOTE_DEADLINE)
    failures: list[str] = []
    chosen: dict[str, Any] | None = None
    async for done in ctx.as_completed([*quotes, deadline]):
        if done is deadline:
            break
        if done.failed():
            failures.append(str(done.exception()))
            if len(failures) == len(quotes):
                break
            continue
        chosen = done.result()
        break
    pending: list[Task[Any]] = [t for t in [*quotes, deadline] if not t.done()]
    for task in pending:
        task.cancel()
    if chosen is None:
        return {"provider": None, "failures": failures}
    return {**chosen, "failures": failures}


# --- fuzzing: orch-fuzz examples/patterns/racing.py:fetch_with_racing ----------------------------


def _finishes(run: Run) -> list[tuple[str, h.Event]]:
    """(what finished, its event) in history order: an activity's name, or "deadline"."""
    names = {e.task_id: e.name for e in run.history if isinstance(e, h.ActivityScheduled)}
    return [
        (names[e.task_id] if not isinstance(e, h.TimerFired) else "deadline", e)
        for e in run.history
        if isinstance(e, h.ActivityCompleted | h.ActivityFailed | h.TimerFired)
    ]


def the_first_to_finish_wins(run: Run) -> None:
    """fetch_with_racing: the outcome is the first recorded finish: a lookup's answer (or its
    failure, which fails the instance) or the deadline; nothing that finished later counts."""
    name, first = _finishes(run)[0]
    if name == "deadline":
        assert run.output == {"source": None, "timed_out": True}, run.output
    elif isinstance(first, h.ActivityCompleted):
        assert run.output == first.result, f"{name} won but the output is {run.output}"
    else:
        assert run.status == Status.FAILED and first.message in str(run.error), run.error  # type: ignore[attr-defined]


def the_first_success_wins(run: Run) -> None:
    """first_successful_quote: the chosen quote is the first success recorded, with every
    failure before it listed in order; no quote only when all failed (then at once) or the
    deadline came first."""
    failures: list[str] = []
    chosen: dict[str, Any] | None = None
    for name, event in _finishes(run):
        if name == "deadline":
            break
        if isinstance(event, h.ActivityCompleted):
            chosen = event.result
            break
        failures.append(event.message)  # type: ignore[attr-defined]
        if len(failures) == len(PROVIDERS):
            break
    if len(failures) == len(PROVIDERS):  # all failed: it gave up at once, not at the deadline
        assert not any(isinstance(e, h.TimerFired) for e in run.history), "waited for nothing"
    reported = run.output["failures"]
    assert run.output == {**(chosen or {"provider": None}), "failures": reported}, run.output
    assert len(reported) == len(failures), f"{failures} failed, reported {reported}"
    assert all(m in r for m, r in zip(failures, reported, strict=True)), (failures, reported)


_FLAKY = fail("node evicted")
FUZZ: dict[str, dict[str, Any]] = {
    "fetch_with_racing": {
        "input": "sku=42",
        "outcomes": {
            query_primary_db: [query_primary_db, _FLAKY],
            query_cache: [query_cache, _FLAKY],
            query_replica: [query_replica, _FLAKY],
        },
        "invariant": the_first_to_finish_wins,
    },
    "first_successful_quote": {
        "input": 1000,
        "outcomes": {p: [p, fail("rate limited")] for p in PROVIDERS},
        "invariant": the_first_success_wins,
    },
}
