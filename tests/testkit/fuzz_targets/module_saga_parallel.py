"""Bug class: a parallel saga that skips a compensation under one completion order.

`buggy` books a flight, a hotel and a car in parallel and, like a sequential saga ("undo steps
N-1..1"), undoes only the bookings that completed *before* the first failure, in completion
order. With parallel steps, a booking that succeeds *after* another one failed is never
cancelled: the customer keeps paying for a hotel on a trip that does not exist. Every plain test
passes (scripted outcomes finish in one order); the fuzzer, choosing each booking's outcome
(``ok``/``fail``) and the order in which they complete, finds the interleaving, and the
invariant (every booking that succeeded is cancelled when the trip failed) breaks.

Fix (`fixed`): wait for every booking, then compensate every one that succeeded, whatever the
completion order (`ctx.all(..., return_exceptions=True)` and a `Saga`).
"""

from __future__ import annotations

from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry, Saga, Status
from testkit import fail, ok

from ._helpers import results

reg = Registry()


@reg.activity
def book_flight(trip: dict[str, Any]) -> str:
    return f"F-{trip['id']}"


@reg.activity
def book_hotel(trip: dict[str, Any]) -> str:
    return f"H-{trip['id']}"


@reg.activity
def book_car(trip: dict[str, Any]) -> str:
    return f"C-{trip['id']}"


@reg.activity
def cancel_flight(confirmation: str) -> None:
    return None


@reg.activity
def cancel_hotel(confirmation: str) -> None:
    return None


@reg.activity
def cancel_car(confirmation: str) -> None:
    return None


STEPS = [(book_flight, cancel_flight), (book_hotel, cancel_hotel), (book_car, cancel_car)]
UNDO = {book.__name__: undo.__name__ for book, undo in STEPS}


@reg.orchestration
async def buggy(ctx: OrchestrationContext, trip: dict[str, Any]) -> dict[str, Any]:
    tasks = [ctx.activity(book, trip) for book, _ in STEPS]
    undo_of: dict[Any, Any] = {task: undo for task, (_, undo) in zip(tasks, STEPS, strict=True)}
    finished: list[tuple[Any, Any]] = []  # (compensation, confirmation or failure), as completed
    async for task in ctx.as_completed(tasks):
        try:
            finished.append((undo_of[task], await task))
        except ActivityFailed as exc:
            finished.append((undo_of[task], exc))
    failures = [i for i, (_, value) in enumerate(finished) if isinstance(value, ActivityFailed)]
    if not failures:
        return {"booked": sorted(value for _, value in finished)}
    for undo, confirmation in reversed(finished[: failures[0]]):  # the steps before the failure
        await ctx.activity(undo, confirmation)
    raise finished[failures[0]][1]


@reg.orchestration
async def fixed(ctx: OrchestrationContext, trip: dict[str, Any]) -> dict[str, Any]:
    tasks = [ctx.activity(book, trip) for book, _ in STEPS]
    outcomes = await ctx.all(tasks, return_exceptions=True)
    saga = Saga(ctx, continue_on_error=True)
    for (_, undo), outcome in zip(STEPS, outcomes, strict=True):
        if not isinstance(outcome, ActivityFailed):
            saga.add(undo, outcome)
    errors = [outcome for outcome in outcomes if isinstance(outcome, ActivityFailed)]
    if not errors:
        return {"booked": sorted(outcomes)}
    await saga.compensate()
    raise errors[0]


def every_success_compensated(run: Any) -> None:
    """A failed trip cancelled every booking that succeeded; a completed one cancelled none."""
    for book, undo in UNDO.items():
        booked = [confirmation for _, confirmation in results(run, book)]
        cancelled = run.calls(undo)
        if run.status == Status.FAILED:
            missing = [c for c in booked if c not in cancelled]
            assert not missing, f"{book} succeeded ({missing}) but {undo} never ran"
        elif run.status == Status.COMPLETED:
            assert cancelled == [], f"{undo} ran on a completed trip"


TRIP: dict[str, Any] = {"id": "t-5", "to": "Lisbon"}
OUTCOMES = {
    book_flight: [ok("F-t-5"), fail("no seats left")],
    book_hotel: [ok("H-t-5"), fail("fully booked")],
    book_car: [ok("C-t-5"), fail("no cars")],
}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": TRIP, "outcomes": OUTCOMES, "invariant": every_success_compensated},
    "fixed": {"input": TRIP, "outcomes": OUTCOMES, "invariant": every_success_compensated},
}

PLAIN: dict[str, Any] = {"input": TRIP, "output": {"booked": ["C-t-5", "F-t-5", "H-t-5"]}}
CAUGHT_BY_TESTENV = False
