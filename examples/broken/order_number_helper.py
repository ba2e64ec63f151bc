"""Broken twin of `patterns/standard_template.py`: the order number comes from a helper.

The orchestration looks clean; the non-determinism hides two calls down, in ``uuid.uuid4()``.
orch-lint follows helpers and reports the line inside the helper with the call chain
(``open_order -> new_order_number -> _suffix``). Fix: ``ctx.uuid()`` (or pass ``ctx`` down).
"""

from __future__ import annotations

import uuid
from typing import Any

from orchestrate import OrchestrationContext, Registry

reg = Registry()


@reg.activity
def create_order(order: dict[str, Any]) -> str:
    return str(order["number"])


def _suffix() -> str:
    return uuid.uuid4().hex[:8]  # BUG: random on every replay


def new_order_number(customer: str) -> str:
    return f"{customer}-{_suffix()}"


@reg.orchestration
async def open_order(ctx: OrchestrationContext, order: dict[str, Any]) -> str:
    number = new_order_number(order["customer"])
    created: str = await ctx.activity(create_order, {**order, "number": number})
    return created
