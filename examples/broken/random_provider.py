"""Broken twin of `patterns/racing.py`: a random payment provider for load balancing.

``random.choice`` picks another provider on replay, and the replayed command no longer matches
the recorded one. Caught by orch-lint (ORC102). Fix: ``ctx.random().choice(...)``, seeded from
the instance id and equal on replay.
"""

from __future__ import annotations

import random
from typing import Any

from orchestrate import OrchestrationContext, Registry

reg = Registry()


@reg.activity
def charge_stripe(order: dict[str, Any]) -> str:
    return "stripe"


@reg.activity
def charge_paypal(order: dict[str, Any]) -> str:
    return "paypal"


@reg.orchestration
async def charge(ctx: OrchestrationContext, order: dict[str, Any]) -> str:
    provider = random.choice([charge_stripe, charge_paypal])  # BUG: not replay-safe
    result: str = await ctx.activity(provider, order)
    return result
