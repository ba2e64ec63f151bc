"""Broken twin of `patterns/saga_timeouts.py`: every state accepts every event.

Waiting for all events in every state is simpler than a transition table, and works while the
other services send events in the documented order. When ``OrderShipped`` arrives while the
saga still awaits payment (a retried message, a misrouted event), the saga jumps to
``Completed`` without ever being paid: a transition nobody declared. The fuzzer raises the
events in every order and finds it. Fix: wait only for the events the current state declares.
"""

from __future__ import annotations

import itertools
from typing import Any

from orchestrate import OrchestrationContext, Registry
from testkit import Run

from ..patterns.saga_timeouts import TRANSITIONS

reg = Registry()
TARGET = {event: to for edges in TRANSITIONS.values() for event, to in edges.items()}


@reg.orchestration
async def order_saga(ctx: OrchestrationContext, order_id: str) -> dict[str, Any]:
    state, path = "AwaitingPayment", ["AwaitingPayment"]
    while state not in ("Completed", "Failed"):
        waits = {name: ctx.event(name) for name in TARGET}  # BUG: all events, in any state
        winner = await ctx.any(list(waits.values()))
        state = TARGET[next(n for n, t in waits.items() if t is winner)]
        path.append(state)
    return {"state": state, "path": path}


def only_declared_transitions(run: Run) -> None:
    """Each step of the path is a transition the table declares."""
    path = run.output["path"]
    for source, target in itertools.pairwise(path):
        assert target in TRANSITIONS[source].values(), f"undeclared {source} -> {target}"


FUZZ: dict[str, dict[str, Any]] = {
    "order_saga": {
        "input": "ORDER-1",
        "events": {
            "PaymentProcessed": {"tx": "T"},
            "InventoryReserved": {"reservation": "R"},
            "OrderShipped": {"tracking": "K"},
        },
        "max_event_raises": 1,
        "invariant": only_declared_transitions,
    },
}
