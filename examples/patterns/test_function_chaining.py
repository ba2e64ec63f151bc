from __future__ import annotations

from typing import Any

import pytest

from orchestrate import Status
from testkit import TestEnv, fail

from ._history import scheduled
from .function_chaining import (
    process_order,
    process_payment,
    reg,
    reserve_inventory,
    ship_order,
    validate_order,
)

ORDER: dict[str, Any] = {
    "id": "o-42",
    "lines": [{"sku": "A1", "qty": 2, "unit_price": 9.5}, {"sku": "B7", "qty": 1, "unit_price": 3}],
}
STEPS = [validate_order, reserve_inventory, process_payment, ship_order]


def test_steps_run_in_order_each_fed_the_previous_result() -> None:
    env = TestEnv(reg)
    run = env.run(process_order, ORDER)

    assert run.status == Status.COMPLETED
    assert run.output == {
        "order": "o-42",
        "total": 22.0,
        "reservation": "res-o-42-A1-B7",
        "payment": "tx-o-42-22.00",
        "tracking": "track-res-o-42-A1-B7",
    }
    assert scheduled(run.history) == [s.__name__ for s in STEPS]
    # the validated order (with its total) is what the next steps receive
    assert run.calls(reserve_inventory) == [{**ORDER, "total": 22.0}]
    assert run.calls(ship_order) == [{"reservation": "res-o-42-A1-B7", "payment": "tx-o-42-22.00"}]


@pytest.mark.parametrize("failing", range(len(STEPS)), ids=[s.__name__ for s in STEPS])
def test_a_failing_step_stops_the_chain(failing: int) -> None:
    env = TestEnv(reg)
    env.script(STEPS[failing], fail(RuntimeError("service unavailable")))
    run = env.run(process_order, ORDER)

    assert run.status == Status.FAILED
    assert run.error is not None and "service unavailable" in run.error.message
    assert scheduled(run.history) == [s.__name__ for s in STEPS[: failing + 1]]
    for later in STEPS[failing + 1 :]:
        assert run.calls(later) == []


def test_invalid_order_fails_with_the_activity_error_type() -> None:
    env = TestEnv(reg)
    run = env.run(process_order, {"id": "o-0", "lines": []})

    assert run.status == Status.FAILED
    assert run.error is not None
    assert "InvalidOrder" in str(run.error) and "has no lines" in run.error.message
    assert scheduled(run.history) == ["validate_order"]
