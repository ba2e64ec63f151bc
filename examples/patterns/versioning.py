"""Versioning: change a running orchestration's code without breaking instances already in flight.

Seeds: 002 ("use ``ctx.get_version()`` for workflow versioning"), 000 (best practice 7,
"Version carefully").

Three generations of `fulfil_order` have been deployed. Version 1 charged the card, waited for
the warehouse's ``Packed`` event and sent a plain receipt. Version 2 added a fraud check before
the charge and a receipt that includes the fraud score (patch ``fraud-check``). Version 3 (this
code) awards loyalty points once the order is packed (patch ``loyalty-points``). Instances that started under version 1 and are now
waiting for ``Packed`` must finish the way they started: their history has the charge where
version 2 would schedule the fraud check, and replaying version 2 unguarded there is a
``NonDeterminismError``.

``ctx.patched("fraud-check")`` makes the change safe: for a new instance (or one that reaches
this point for the first time under version 2) it records a ``PatchMarker`` and returns True; for
an instance whose history already went past this point without the marker it returns False, so
that instance keeps the version 1 path, including the plain receipt after ``Packed``. Once no
version 1 instance is left running, the ``else`` branches can be deleted (keep the
``patched`` call until then).

Each patch is decided where the code reaches it. A version 1 or 2 instance that was waiting for
``Packed`` when version 3 was deployed reaches the loyalty point for the first time under
version 3, so it records that marker and earns points; an instance whose history already went
past that point (a finished one, replayed) keeps the path it took. `test_versioning` replays
histories recorded under each earlier generation against this code.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry
from orchestrate import history as h
from testkit import Run, ok

reg = Registry()

FRAUD_PATCH = "fraud-check"
LOYALTY_PATCH = "loyalty-points"


@reg.activity
def score_fraud(order: dict[str, Any]) -> float:
    return 0.9 if order["total"] > 5000 else 0.05


@reg.activity
def charge(order: dict[str, Any]) -> str:
    return f"tx-{order['id']}"


@reg.activity
def send_receipt(receipt: dict[str, Any]) -> None:
    return None


@reg.activity
def award_points(order: dict[str, Any]) -> int:
    return int(order["total"]) // 10


@reg.activity
def hold_for_review(order: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def fulfil_order(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    score: float | None = None
    if ctx.patched(FRAUD_PATCH):
        score = await ctx.activity(score_fraud, order)
        if score > 0.5:
            await ctx.activity(hold_for_review, order)
            return {"order": order["id"], "status": "held", "fraud_score": score}
    tx = await ctx.activity(charge, order)
    packed = await ctx.event("Packed")
    receipt: dict[str, Any] = {"order": order["id"], "tx": tx, "parcels": packed["parcels"]}
    if score is not None:  # only instances that took the patched path have a score
        receipt["fraud_score"] = score
    if ctx.patched(LOYALTY_PATCH):
        receipt["points"] = await ctx.activity(award_points, order)
    await ctx.activity(send_receipt, receipt)
    return {
        "order": order["id"],
        "status": "fulfilled",
        "fraud_checked": score is not None,
        "points": receipt.get("points"),
    }


# --- fuzzing: orch-fuzz examples/patterns/versioning.py:fulfil_order -----------------------------


def new_instances_take_the_patched_path(run: Run) -> None:
    """A new instance records each patch marker where it reaches it and is fraud-checked
    before any charge: a risky order is held and never charged, a safe one is charged once,
    earns its points and gets the score and points on its receipt."""
    patches = [e.patch for e in run.history if isinstance(e, h.PatchMarker)]
    scheduled = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
    names = [e.name for e in scheduled]
    [score] = [e.result for e in run.history if isinstance(e, h.ActivityCompleted)][:1]
    if score > 0.5:
        assert patches == [FRAUD_PATCH], patches
        assert names == ["score_fraud", "hold_for_review"], names
        assert run.output["status"] == "held", run.output
    else:
        assert patches == [FRAUD_PATCH, LOYALTY_PATCH], patches
        assert names == ["score_fraud", "charge", "award_points", "send_receipt"], names
        assert scheduled[-1].input["fraud_score"] == score, scheduled[-1].input
        assert run.output["fraud_checked"] and run.output["points"] == 12, run.output


FUZZ: dict[str, dict[str, Any]] = {
    "fulfil_order": {
        "input": {"id": "o-1", "total": 120},
        "outcomes": {score_fraud: [ok(0.05), ok(0.9)]},
        "events": {"Packed": [{"parcels": 2}, {"parcels": 1}]},
        "invariant": new_instances_take_the_patched_path,
    },
}
