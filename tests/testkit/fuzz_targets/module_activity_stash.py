"""Bug class: an activity leaves its result in process memory and the orchestration reads it there.

`plan_picks` computes a pick list and, because the list is "too big for the history", stashes it
in a module dict and returns only its length; `buggy` takes the list out of the dict (``pop``, to
free the memory). The orchestration now depends on something the history does not hold: a replay
(after a restart, on another worker, or the replay check right after the turn) finds the stash
empty, fails with ``KeyError`` where the recorded run dispatched the picks, and diverges. On a
real deployment the activity usually runs in another process, so the stash is not even there.

Fix (`fixed`): the activity returns the pick list; its result is recorded and replayed.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()

_STASH: dict[str, list[dict[str, Any]]] = {}  # the bug: results passed through process memory


def reset() -> None:
    """Forget the process state (between tests)."""
    _STASH.clear()


def _picks(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"sku": sku, "bin": f"B-{i:02d}"} for i, sku in enumerate(order["skus"])]


@reg.activity
def plan_picks(order: dict[str, Any]) -> int:
    """Plan the warehouse picks; stash the list for the orchestration and return its size."""
    picks = _picks(order)
    _STASH[order["id"]] = picks
    return len(picks)


@reg.activity
def plan_picks_returned(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Plan the warehouse picks and return them (recorded in the history)."""
    return _picks(order)


@reg.activity
def dispatch_picks(picks: list[dict[str, Any]]) -> str:
    return f"wave-{len(picks)}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    count = await ctx.activity(plan_picks, order)
    picks = _STASH.pop(order["id"])  # take the list the activity left behind
    wave = await ctx.activity(dispatch_picks, picks)
    return {"picks": count, "wave": wave}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    picks = await ctx.activity(plan_picks_returned, order)
    wave = await ctx.activity(dispatch_picks, picks)
    return {"picks": len(picks), "wave": wave}


def dispatched_all(run: Any) -> None:
    """The instance never fails, and a completed one dispatched every sku of the order, once."""
    assert run.status != Status.FAILED, run.error
    if run.status != Status.COMPLETED:
        return
    [picks] = scheduled_inputs(run, "dispatch_picks")
    assert [p["sku"] for p in picks] == ORDER["skus"]


ORDER: dict[str, Any] = {"id": "o-7", "skus": ["sku-1", "sku-2", "sku-3"]}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": ORDER, "invariant": dispatched_all},
    "fixed": {"input": ORDER, "invariant": dispatched_all},
}

PLAIN: dict[str, Any] = {"input": ORDER, "output": {"picks": 3, "wave": "wave-3"}}
CAUGHT_BY_TESTENV = True
