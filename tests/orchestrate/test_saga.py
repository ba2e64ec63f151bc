"""Saga compensations: reverse order, parallel, continue on error, CompensationFailed."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrate import ActivityFailed, CompensationFailed, OrchestrationContext, Registry, Saga

from .conftest import Harness

reg = Registry()
log: list[str] = []


@reg.activity
def step(name: str) -> str:
    if name == "ship":
        raise RuntimeError("carrier down")
    log.append(f"do {name}")
    return name


@reg.activity
def undo(name: str) -> None:
    if name == "stuck":
        raise RuntimeError("cannot undo stuck")
    log.append(f"undo {name}")


@reg.orchestration
async def checkout(ctx: OrchestrationContext, options: dict[str, Any]) -> dict[str, Any]:
    saga = Saga(ctx, parallel=options.get("parallel", False))
    try:
        for name in options["steps"]:
            await ctx.activity(step, name)
            saga.add(undo, name)
    except ActivityFailed as exc:
        try:
            await saga.compensate(continue_on_error=options.get("continue", False))
        except CompensationFailed as failed:
            return {"failed": exc.message, "compensation": [f.message for f in failed.failures]}
        return {"failed": exc.message}
    return {"ok": True}


@pytest.fixture(autouse=True)
def clear_log() -> None:
    log.clear()


def test_compensations_run_in_reverse_order_after_a_failure() -> None:
    hx = Harness(reg)
    iid = hx.start(checkout, {"steps": ["reserve", "charge", "ship"]})
    assert hx.state(iid).output == {"failed": "carrier down"}
    assert log == ["do reserve", "do charge", "undo charge", "undo reserve"]


def test_parallel_compensation_schedules_all_at_once() -> None:
    hx = Harness(reg)
    iid = hx.start(checkout, {"steps": ["a", "b", "ship"], "parallel": True})
    assert hx.state(iid).output == {"failed": "carrier down"}
    history = hx.history(iid)
    undo_index = [i for i, e in enumerate(history) if getattr(e, "name", "") == "undo"]
    first_result = next(
        i for i in range(undo_index[0], len(history)) if history[i].kind.startswith("ActivityC")
    )
    assert len(undo_index) == 2 and undo_index[1] < first_result
    assert [e.input for e in history if getattr(e, "name", "") == "undo"] == ["b", "a"]


@pytest.mark.parametrize(
    ("keep_going", "undone"),
    [(False, ["undo after"]), (True, ["undo after", "undo before"])],
)
def test_failed_compensation_is_reported(keep_going: bool, undone: list[str]) -> None:
    hx = Harness(reg)
    iid = hx.start(
        checkout, {"steps": ["before", "stuck", "after", "ship"], "continue": keep_going}
    )
    output = hx.state(iid).output
    assert output["failed"] == "carrier down"
    assert output["compensation"] == ["cannot undo stuck"]
    assert [line for line in log if line.startswith("undo")] == undone


def test_unknown_compensation_fails_at_registration() -> None:
    local = Registry()

    @local.orchestration
    async def sloppy(ctx: OrchestrationContext) -> None:
        Saga(ctx).add("no_such_activity")

    hx = Harness(local)
    state = hx.state(hx.start(sloppy))
    assert state.error is not None and "no activity named 'no_such_activity'" in state.error.message
