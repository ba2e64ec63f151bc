"""Saga timeouts and stale sagas: a whole-saga deadline beside per-state ones; finding stuck sagas.

Seed: 004 (HeroMessaging: "Timeout Handling" configures a default timeout for the whole saga
besides the states' own; "Monitoring and Observability" finds sagas by state
(``FindByStateAsync("AwaitingPayment")``) and stale ones by age (``FindStaleAsync(24h)``)).

`timed_order_saga` is an order saga whose states and transitions are plain data
(`TRANSITIONS`), driven by events raised to the instance (the correlation id). In every state it
races three things: the events that state accepts, the state's own timeout (`STATE_TIMEOUTS`)
and the whole saga's deadline (`SAGA_TIMEOUT` after it started, measured with ``ctx.now()``).
Whichever comes first decides: an event moves along a declared transition, either timeout
moves to ``Failed``, and ``Failed`` compensates what succeeded (LIFO). No slow state can stretch
the saga past its deadline, and no chain of fast states can either.

Each state change publishes ``{"state", "entered_at", "data"}`` as the custom status, so
`find_stale_sagas` can ask any `Client` (a web process, a cron job, a test) for the sagas in a
given state for longer than a given age: it is a read of the store, not orchestration code.

Replay-safe: timers are durable, the deadline is computed from recorded times, and the
transition table is module-level constant data (never mutated).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from orchestrate import Client, InstanceState, OrchestrationContext, Registry, Saga, Status
from orchestrate import history as h
from testkit import Run

reg = Registry()

SAGA_TIMEOUT = timedelta(hours=48)
STATE_TIMEOUTS = {
    "AwaitingPayment": timedelta(hours=24),
    "AwaitingInventory": timedelta(hours=4),
    "AwaitingShipment": timedelta(hours=36),
}
TRANSITIONS: dict[str, dict[str, str]] = {
    "AwaitingPayment": {"PaymentProcessed": "AwaitingInventory", "PaymentFailed": "Failed"},
    "AwaitingInventory": {
        "InventoryReserved": "AwaitingShipment",
        "InventoryReservationFailed": "Failed",
    },
    "AwaitingShipment": {"OrderShipped": "Completed", "ShipmentFailed": "Failed"},
}
FINAL = ("Completed", "Failed")


@reg.activity
def request_payment(order: dict[str, Any]) -> None:
    return None


@reg.activity
def refund_payment(tx: str) -> None:
    return None


@reg.activity
def request_inventory(order: dict[str, Any]) -> None:
    return None


@reg.activity
def release_inventory(reservation_id: str) -> None:
    return None


@reg.activity
def request_shipment(order: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def timed_order_saga(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    deadline = ctx.now() + SAGA_TIMEOUT
    saga = Saga(ctx, continue_on_error=True)
    data: dict[str, Any] = {"order_id": order["id"]}
    state, path = "AwaitingPayment", ["AwaitingPayment"]
    await ctx.activity(request_payment, order)
    _publish(ctx, state, data)
    while state not in FINAL:
        waits = {name: ctx.event(name) for name in TRANSITIONS[state]}
        state_timer = ctx.timer(STATE_TIMEOUTS[state])
        saga_timer = ctx.timer(deadline - ctx.now())
        winner = await ctx.any([*waits.values(), state_timer, saga_timer])
        if winner is state_timer:
            target, data["failure"] = "Failed", f"{state} timed out after {STATE_TIMEOUTS[state]}"
        elif winner is saga_timer:
            target, data["failure"] = "Failed", f"saga timed out after {SAGA_TIMEOUT} in {state}"
        else:
            event = next(name for name, task in waits.items() if task is winner)
            target = TRANSITIONS[state][event]
            await _act(ctx, saga, event, winner.result(), data, order)
        state = target
        path.append(state)
        if state == "Failed":
            await saga.compensate()
        _publish(ctx, state, data)
    return {"state": state, "path": path, "data": data}


async def _act(
    ctx: OrchestrationContext,
    saga: Saga,
    event: str,
    payload: Any,
    data: dict[str, Any],
    order: dict[str, Any],
) -> None:
    """What each transition does: record, register the compensation, send the next command."""
    if event == "PaymentProcessed":
        data["tx"] = payload["tx"]
        saga.add(refund_payment, payload["tx"])
        await ctx.activity(request_inventory, order)
    elif event == "InventoryReserved":
        data["reservation"] = payload["reservation"]
        saga.add(release_inventory, payload["reservation"])
        await ctx.activity(request_shipment, order)
    elif event == "OrderShipped":
        data["tracking"] = payload["tracking"]
    else:
        data["failure"] = payload.get("reason", event)


def _publish(ctx: OrchestrationContext, state: str, data: dict[str, Any]) -> None:
    ctx.set_status({"state": state, "entered_at": ctx.now().isoformat(), "data": data})


def find_stale_sagas(
    client: Client, *, state: str, older_than: timedelta, now: datetime
) -> list[InstanceState]:
    """Running `timed_order_saga` instances that entered `state` at least `older_than` ago,
    oldest first: ``FindByStateAsync`` and ``FindStaleAsync`` as one store read."""
    stale = []
    for found in client.list(status=Status.RUNNING, name="timed_order_saga"):
        status = found.custom_status or {}
        if status.get("state") != state:
            continue
        if now - datetime.fromisoformat(status["entered_at"]) >= older_than:
            stale.append(found)
    return stale


# --- fuzzing: orch-fuzz examples/patterns/saga_timeouts.py:timed_order_saga --------------------


def only_declared_transitions_within_the_deadline(run: Run) -> None:
    """The path follows declared transitions only (or a timeout into Failed); the saga ends
    within `SAGA_TIMEOUT` and no state lasted longer than its own timeout; Failed undid what
    succeeded, newest first."""
    out = run.output
    for source, target in zip(out["path"], out["path"][1:], strict=False):
        assert target in TRANSITIONS[source].values() or target == "Failed", (source, target)
    statuses = [e for e in run.history if isinstance(e, h.CustomStatusSet)]
    started = run.history[0].at
    assert statuses[-1].at - started <= SAGA_TIMEOUT, f"ended after {statuses[-1].at - started}"
    for before, after in itertools.pairwise(statuses):
        state = before.status["state"]
        assert after.at - before.at <= STATE_TIMEOUTS[state], f"{state} lasted too long"
    undone = [
        (e.name, e.input)
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name in ("refund_payment", "release_inventory")
    ]
    expected = []
    if out["state"] == "Failed":
        if "reservation" in out["data"]:
            expected.append(("release_inventory", out["data"]["reservation"]))
        if "tx" in out["data"]:
            expected.append(("refund_payment", out["data"]["tx"]))
    assert undone == expected, f"undid {undone}, expected {expected}"


FUZZ: dict[str, dict[str, Any]] = {
    "timed_order_saga": {
        "input": {"id": "ORDER-1", "total": 99},
        "events": {
            "PaymentProcessed": {"tx": "TXN-1"},
            "PaymentFailed": {"reason": "card expired"},
            "InventoryReserved": {"reservation": "RES-1"},
            "InventoryReservationFailed": {"reason": "out of stock"},
            "OrderShipped": {"tracking": "TRK-1"},
            "ShipmentFailed": {"reason": "carrier strike"},
        },
        "max_event_raises": 1,
        "invariant": only_declared_transitions_within_the_deadline,
    },
}
