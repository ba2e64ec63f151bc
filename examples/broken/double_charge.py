"""Broken twin of `patterns/activity_template.py`: a charge that is not idempotent.

The activity charges the card without passing ``activity_info().idempotency_key`` to the
provider. Activities run at least once: when two workers get the same item, or a worker dies
after charging and before its result is stored, the card is charged twice. The orchestration
is deterministic, so no linter objects and every ordinary test passes. The fuzzer injects
duplicate deliveries and worker crashes and finds the second charge. Fix: pass the key.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry
from testkit import Run

from ..patterns.activity_template import PaymentProvider

reg = Registry()
PROVIDER = PaymentProvider()


@reg.activity
def charge_card(payment: dict[str, Any]) -> str:
    charge = PROVIDER.charge(payment["amount"], payment["card"], payment["reference"])  # BUG
    return str(charge["id"])


@reg.orchestration
async def pay(ctx: OrchestrationContext, order: dict[str, Any]) -> str:
    payment = {"amount": order["total"], "card": order["card"], "reference": ctx.instance_id}
    charge_id: str = await ctx.activity(charge_card, payment)
    return charge_id


def charged_at_most_once(run: Run) -> None:
    """The card was charged at most once for this order, whatever was redelivered."""
    charges = [c for c in PROVIDER.log if c["reference"] == run.instance_id]
    assert len(charges) <= 1, f"charged {len(charges)} times for one order"


FUZZ: dict[str, dict[str, Any]] = {
    "pay": {
        "input": {"total": 120, "card": "4242"},
        "invariant": charged_at_most_once,
    },
}
