from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Status
from testkit import TestEnv, fail, hang, ok

from ._history import timers
from .resilient import (
    MAX_RECOVERY_ATTEMPTS,
    execute_main_logic,
    recovery_strategy,
    reg,
    resilient_workflow,
    send_escalation_alert,
    undo_partial_work,
)

WORK = {"id": "w-1"}
DB = fail("db connection reset", error_type="DatabaseError")


@pytest.mark.parametrize(
    ("error_type", "strategy"),
    [
        ("DatabaseError", "retry"),
        ("ExternalApiError", "retry"),
        ("TimeoutError", "retry"),
        ("TenantValidationFailed", "escalate"),
        ("InvalidInput", "escalate"),
        ("QuotaExceeded", "compensate"),
        ("Exception", "compensate"),
    ],
)
def test_errors_are_classified_by_type(error_type: str, strategy: str) -> None:
    assert recovery_strategy(error_type) == strategy


def test_transient_errors_are_retried_with_exponential_backoff() -> None:
    env = TestEnv(reg)
    env.script(execute_main_logic, [DB, DB, hang(), ok({"resource": "r"})])
    run = env.run(resilient_workflow, WORK)

    assert run.output == {"status": "completed", "result": {"resource": "r"}, "recoveries": 3}
    assert timers(run.history, "timer") == [timedelta(seconds=s) for s in (1, 2, 4)]
    assert run.calls(send_escalation_alert) == []


def test_retries_exhausted_escalate_and_fail() -> None:
    env = TestEnv(reg)
    env.script(execute_main_logic, DB)
    run = env.run(resilient_workflow, WORK)

    assert run.status == Status.FAILED
    assert "escalated (retries exhausted) after 4 attempt(s)" in str(run.error)
    assert len(run.calls(execute_main_logic)) == MAX_RECOVERY_ATTEMPTS + 1
    [alert] = run.calls(send_escalation_alert)
    assert alert["level"] == "critical" and "db connection reset" in alert["error"]


def test_a_business_failure_is_compensated_by_a_child_workflow() -> None:
    env = TestEnv(reg)
    env.script(execute_main_logic, fail("quota exceeded", error_type="QuotaExceeded"))
    run = env.run(resilient_workflow, WORK)

    assert run.output["status"] == "compensated" and run.output["outcome"] == "compensated w-1"
    child = f"{run.instance_id}:compensation"
    assert env.state(child).status == Status.COMPLETED
    assert env.calls(child, undo_partial_work) == [WORK]
    assert len(run.calls(execute_main_logic)) == 1  # not retried


def test_an_error_needing_a_human_escalates_at_once() -> None:
    env = TestEnv(reg)
    env.script(execute_main_logic, fail("tenant suspended", error_type="TenantValidationFailed"))
    run = env.run(resilient_workflow, WORK)

    assert run.status == Status.FAILED and "needs a human" in str(run.error)
    assert len(run.calls(send_escalation_alert)) == 1
    assert [s.instance_id for s in env.instances()] == [run.instance_id]  # no child
