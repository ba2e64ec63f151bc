"""Bug class: a seeded module-level `random.Random(42)` used by the orchestration.

Seeding makes the sequence reproducible per *process*, not per instance: the generator is shared
by every execution, so each replay draws the next numbers rather than the ones the recorded run
drew. `buggy` spreads its calls to a rate-limited API with a random pause from such a generator;
the replay creates its timer with another due time than the history recorded and diverges (the
replay check compares timer due times). A plain test passes: the first run is fine.

Fix (`fixed`): draw from ``ctx.random()``, seeded from the instance id and the call count, so
every replay of the instance draws the same numbers.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()

_RNG = random.Random(42)  # the bug: "seeded, so deterministic"
MAX_JITTER_MS = 30_000


def reset() -> None:
    """Reseed the shared generator (between tests)."""
    _RNG.seed(42)


def jitter() -> timedelta:
    """A pause of up to 30 s to spread the calls, from the shared seeded generator."""
    return timedelta(milliseconds=_RNG.randrange(MAX_JITTER_MS))


@reg.activity
def fetch_quote(request: dict[str, Any]) -> dict[str, Any]:
    return {"symbol": request["symbol"], "price": 101}


@reg.orchestration
async def buggy(ctx: OrchestrationContext, request: dict[str, Any]) -> dict[str, Any]:
    await ctx.sleep(jitter())
    quote = await ctx.activity(fetch_quote, request)
    return {"price": quote["price"]}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, request: dict[str, Any]) -> dict[str, Any]:
    await ctx.sleep(timedelta(milliseconds=ctx.random().randrange(MAX_JITTER_MS)))
    quote = await ctx.activity(fetch_quote, request)
    return {"price": quote["price"]}


def quoted_once(run: Any) -> None:
    """A completed instance fetched one quote, for the requested symbol."""
    if run.status == Status.COMPLETED:
        assert scheduled_inputs(run, "fetch_quote") == [REQUEST]
        assert run.output == {"price": 101}


REQUEST: dict[str, Any] = {"symbol": "ACME"}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": REQUEST, "invariant": quoted_once},
    "fixed": {"input": REQUEST, "invariant": quoted_once},
}

PLAIN: dict[str, Any] = {"input": REQUEST, "output": {"price": 101}}
CAUGHT_BY_TESTENV = True
