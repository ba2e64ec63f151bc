from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Status
from testkit import DEFAULT_START, TestEnv, fail, ok

from ._history import scheduled, timers
from .retries import (
    MAX_ATTEMPTS,
    CardDeclined,
    charge_card,
    page_operator,
    pay_order,
    push_inventory,
    reg,
    sync_inventory,
)

PAYMENT = {"order": "o-5", "card": "4242"}
UPDATE = {"id": "u-1", "skus": ["a", "b", "c"]}


@pytest.mark.parametrize("failures", [0, 1, 3])
def test_the_policy_retries_with_capped_exponential_backoff(failures: int) -> None:
    env = TestEnv(reg)
    env.script(charge_card, [fail(ConnectionError("reset"))] * failures + [ok("ch-o-5")])
    run = env.run(pay_order, PAYMENT)

    assert run.output == {"paid": True, "charge": "ch-o-5"}
    assert len(run.calls(charge_card)) == failures + 1
    waits = [timedelta(seconds=s) for s in (1, 2, 3)][:failures]  # 1s, 2s, then capped at 3s
    assert timers(run.history, "retry") == waits
    assert env.clock.now() - DEFAULT_START == sum(waits, timedelta())


def test_the_policy_gives_up_after_max_attempts() -> None:
    env = TestEnv(reg)
    env.script(charge_card, fail(ConnectionError("reset")))
    run = env.run(pay_order, PAYMENT)

    assert run.output == {"paid": False, "reason": "ConnectionError", "message": "reset"}
    assert len(run.calls(charge_card)) == 4


def test_a_non_retryable_error_fails_at_once() -> None:
    env = TestEnv(reg)  # the real activity declines cards ending in 0000
    run = env.run(pay_order, {"order": "o-6", "card": "4000000000000000"})

    assert run.output["reason"] == CardDeclined.__name__
    assert len(run.calls(charge_card)) == 1
    assert timers(run.history, "retry") == []


@pytest.mark.parametrize("failures", [0, 1, 2, 3])
def test_custom_loop_sleeps_on_durable_timers_between_transient_failures(failures: int) -> None:
    env = TestEnv(reg)
    env.script(push_inventory, [fail(TimeoutError("slow"))] * failures + [ok(3)])
    run = env.run(sync_inventory, UPDATE)

    assert run.output == {"pushed": 3, "attempts": failures + 1}
    assert timers(run.history) == [timedelta(seconds=2**i) for i in range(failures)]
    assert scheduled(run.history) == ["push_inventory"] * (failures + 1)


def test_custom_loop_fails_when_transient_errors_outlast_the_attempts() -> None:
    env = TestEnv(reg)
    env.script(push_inventory, fail(ConnectionError("refused")))
    run = env.run(sync_inventory, UPDATE)

    assert run.status == Status.FAILED
    assert run.error is not None and "refused" in run.error.message
    assert len(run.calls(push_inventory)) == MAX_ATTEMPTS
    assert env.clock.now() - DEFAULT_START == timedelta(seconds=1 + 2 + 4)


def test_custom_loop_escalates_a_permanent_error_instead_of_retrying() -> None:
    env = TestEnv(reg)
    env.script(push_inventory, [fail(TimeoutError("slow")), fail(PermissionError("bad token"))])
    run = env.run(sync_inventory, UPDATE)

    assert run.output == {
        "pushed": 0,
        "attempts": 2,
        "escalated": "incident for u-1 (PermissionError)",
    }
    assert run.calls(page_operator) == [{"update": "u-1", "error": "PermissionError"}]
    assert len(run.calls(push_inventory)) == 2
