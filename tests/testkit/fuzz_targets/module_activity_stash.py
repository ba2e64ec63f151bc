"""Bug class: an activity leaves its result in process memory and the orchestration reads it there.

`plan_picks` computes a pick list and, because the list is "too big for the history", puts it in
a claim-check store and returns only the claim (key and size); `buggy` takes the list out of the
store with the claim. The store is `LocalBlobStore`, the in-memory stand-in for an object store
that the team uses in development and tests, and ``take`` removes the blob (to free the memory).
The orchestration now depends on something the history does not hold: a replay (after a
restart, on another worker, or the replay check right after the turn) finds the blob gone,
fails with ``KeyError`` where the recorded run dispatched the picks, and diverges. On a real
deployment the activity usually runs in another process, so the blob is not even there.

Why orch-lint cannot see it: `BLOBS` is an instance of a project class, not a list, dict or set
the linter knows to be mutable state, and ``BLOBS.take(...)`` is a method call on it that the
linter does not follow (nor would it help: inside, the dict popped is ``self._blobs``, an
attribute). Static analysis would need to know that the object is process-wide, that ``take``
mutates it, and that its content was written by an activity: a whole-program, type-aware view
of where data flows between activities and orchestrations.

How the fuzzer exposes it: every turn is replay-checked, so the very first step after
`plan_picks` completes replays against an empty store and raises ``KeyError``.

Fix (`fixed`): the activity returns the pick list; its result is recorded and replayed.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()


class LocalBlobStore:
    """Claim-check storage for payloads too big for the history; in memory (dev and tests)."""

    def __init__(self) -> None:
        self._blobs: dict[str, Any] = {}

    def put(self, key: str, blob: Any) -> str:
        """Store `blob` under `key`; return the claim key."""
        self._blobs[key] = blob
        return key

    def take(self, key: str) -> Any:
        """The blob stored under `key`, removed from the store."""
        return self._blobs.pop(key)

    def clear(self) -> None:
        self._blobs.clear()


BLOBS = LocalBlobStore()  # the bug: results passed through process memory


def reset() -> None:
    """Forget the process state (between tests)."""
    BLOBS.clear()


def _picks(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"sku": sku, "bin": f"B-{i:02d}"} for i, sku in enumerate(order["skus"])]


@reg.activity
def plan_picks(order: dict[str, Any]) -> dict[str, Any]:
    """Plan the warehouse picks; store the list and return a claim for it."""
    picks = _picks(order)
    return {"claim": BLOBS.put(f"picks/{order['id']}", picks), "count": len(picks)}


@reg.activity
def plan_picks_returned(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Plan the warehouse picks and return them (recorded in the history)."""
    return _picks(order)


@reg.activity
def dispatch_picks(picks: list[dict[str, Any]]) -> str:
    return f"wave-{len(picks)}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    claim = await ctx.activity(plan_picks, order)
    picks = BLOBS.take(claim["claim"])  # fetch the list the activity stored
    wave = await ctx.activity(dispatch_picks, picks)
    return {"picks": claim["count"], "wave": wave}


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
