"""Bug class: a non-idempotent activity, double-counted under duplicate delivery.

Activities run at least once: a worker that dies after charging but before the result is stored,
or an item delivered to two workers, runs `charge` again. `charge` appends to `LEDGER` (a stand-in
for the payment provider) every time it runs, so a repeat charges the customer twice. The
history looks perfect (one `charge` recorded), replays are fine, a plain test passes; only the
fuzzer's duplicate deliveries and crashes between an activity's run and its result expose it, through
the invariant (the ledger holds exactly one charge for the order).

Fix (`fixed` calls `charge_once`): the activity passes `activity_info().idempotency_key` (the
same for every execution of one call) to the provider, which charges a key only once.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status, activity_info

reg = Registry()

LEDGER: list[tuple[str, int]] = []  # the payment provider's charges: (order id, amount)
_RECEIPTS: dict[str, str] = {}  # the provider's idempotency table: key -> receipt


def reset() -> None:
    """Forget the process state (between tests)."""
    LEDGER.clear()
    _RECEIPTS.clear()


@reg.activity
def reserve_stock(payment: dict[str, Any]) -> str:
    return f"res-{payment['order_id']}"


@reg.activity
def charge(payment: dict[str, Any]) -> str:
    """Charge the card: every execution is a new charge."""
    LEDGER.append((payment["order_id"], payment["amount"]))
    return f"ch-{len(LEDGER)}"


@reg.activity
def charge_once(payment: dict[str, Any]) -> str:
    """Charge the card once per call: a repeat with the same idempotency key is a no-op."""
    key = activity_info().idempotency_key
    if key not in _RECEIPTS:
        LEDGER.append((payment["order_id"], payment["amount"]))
        _RECEIPTS[key] = f"ch-{len(LEDGER)}"
    return _RECEIPTS[key]


@reg.activity
def ship(payment: dict[str, Any]) -> str:
    return f"ship-{payment['order_id']}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    payment = {"order_id": ctx.instance_id, "amount": order["total"]}  # the instance is the order
    await ctx.activity(reserve_stock, payment)
    receipt = await ctx.activity(charge, payment)
    tracking = await ctx.activity(ship, payment)
    return {"receipt": receipt, "tracking": tracking}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    payment = {"order_id": ctx.instance_id, "amount": order["total"]}
    await ctx.activity(reserve_stock, payment)
    receipt = await ctx.activity(charge_once, payment)
    tracking = await ctx.activity(ship, payment)
    return {"receipt": receipt, "tracking": tracking}


def charged_once(run: Any) -> None:
    """The provider charged this order at most once, and exactly once if it completed."""
    charges = [row for row in LEDGER if row[0] == run.instance_id]
    assert len(charges) <= 1, f"{run.instance_id} charged {len(charges)} times: {charges}"
    if run.status == Status.COMPLETED:
        assert charges == [(run.instance_id, ORDER["total"])], charges


ORDER: dict[str, Any] = {"id": "o-42", "total": 120}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": ORDER, "invariant": charged_once},
    "fixed": {"input": ORDER, "invariant": charged_once},
}


def _plain(run: Any) -> None:
    assert run.output == {"receipt": "ch-1", "tracking": f"ship-{run.instance_id}"}
    charged_once(run)


PLAIN: dict[str, Any] = {"input": ORDER, "check": _plain}
CAUGHT_BY_TESTENV = False
