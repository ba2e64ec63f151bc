from __future__ import annotations

from datetime import timedelta

from orchestrate import Status
from testkit import DEFAULT_START, TestEnv

from .saga_timeouts import (
    SAGA_TIMEOUT,
    STATE_TIMEOUTS,
    find_stale_sagas,
    refund_payment,
    reg,
    release_inventory,
    timed_order_saga,
)

ORDER = {"id": "ORDER-1", "total": 99}


def _drive(env: TestEnv, key: str, *events: tuple[str, dict[str, str]]) -> None:
    for name, data in events:
        env.raise_event(key, name, data)


def test_events_drive_the_saga_to_completed() -> None:
    env = TestEnv(reg)
    run = env.run(timed_order_saga, ORDER)
    _drive(
        env,
        run.instance_id,
        ("PaymentProcessed", {"tx": "T"}),
        ("InventoryReserved", {"reservation": "R"}),
        ("OrderShipped", {"tracking": "K"}),
    )

    assert run.output["state"] == "Completed"
    assert run.output["path"] == [
        "AwaitingPayment",
        "AwaitingInventory",
        "AwaitingShipment",
        "Completed",
    ]
    assert run.calls(refund_payment) == []


def test_a_state_timeout_fails_the_saga_and_compensates() -> None:
    env = TestEnv(reg)
    run = env.run(timed_order_saga, ORDER)
    _drive(env, run.instance_id, ("PaymentProcessed", {"tx": "T"}))
    env.advance(STATE_TIMEOUTS["AwaitingInventory"])

    assert run.output["state"] == "Failed"
    assert run.output["data"]["failure"] == "AwaitingInventory timed out after 4:00:00"
    assert run.calls(refund_payment) == ["T"]


def test_the_whole_saga_deadline_beats_states_that_are_each_in_time() -> None:
    env = TestEnv(reg)
    run = env.run(timed_order_saga, ORDER)
    env.advance(timedelta(hours=23))  # each state well inside its own timeout...
    _drive(env, run.instance_id, ("PaymentProcessed", {"tx": "T"}))
    env.advance(timedelta(hours=3))
    _drive(env, run.instance_id, ("InventoryReserved", {"reservation": "R"}))
    env.advance(timedelta(hours=21, minutes=59))
    assert run.status == Status.RUNNING  # 47h59m in; AwaitingShipment allows 36 h
    env.advance(timedelta(minutes=1))  # ...but the saga as a whole has 48 h

    assert run.output["state"] == "Failed"
    assert (
        run.output["data"]["failure"] == f"saga timed out after {SAGA_TIMEOUT} in AwaitingShipment"
    )
    assert run.calls(release_inventory) == ["R"] and run.calls(refund_payment) == ["T"]
    assert env.clock.now() - DEFAULT_START == SAGA_TIMEOUT


def test_stale_sagas_are_found_by_state_and_age() -> None:
    env = TestEnv(reg)
    paid = env.run(timed_order_saga, {"id": "A"}, instance_id="A")
    env.run(timed_order_saga, {"id": "B"}, instance_id="B")
    env.advance(timedelta(hours=2))
    env.run(timed_order_saga, {"id": "C"}, instance_id="C")  # young
    _drive(env, paid.instance_id, ("PaymentProcessed", {"tx": "T"}))  # moves on
    env.advance(timedelta(hours=1))

    def stale(state: str, hours: int) -> list[str]:
        found = find_stale_sagas(
            env.client, state=state, older_than=timedelta(hours=hours), now=env.clock.now()
        )
        return [s.instance_id for s in found]

    assert stale("AwaitingPayment", 3) == ["B"]
    assert stale("AwaitingPayment", 1) == ["B", "C"]
    assert stale("AwaitingInventory", 1) == ["A"]
    assert stale("AwaitingInventory", 2) == []
