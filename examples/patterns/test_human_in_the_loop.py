from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import InstanceNotRunning, Status
from testkit import DEFAULT_START, TestEnv

from ._history import scheduled, statuses
from .human_in_the_loop import (
    APPROVAL_TIMEOUT,
    ESCALATION_TIMEOUT,
    approval_workflow,
    escalate_approval,
    notify_requester,
    process_approved_request,
    reg,
)

REQUEST: dict[str, Any] = {"id": "req-7", "approver": "ann", "manager": "max"}


def test_it_waits_for_the_approver_without_time_passing() -> None:
    env = TestEnv(reg)
    run = env.run(approval_workflow, REQUEST)

    assert run.status == Status.RUNNING
    assert sorted(run.waiting_for) == [
        "event 'ApprovalResponse'",
        "timer at 2024-01-02T00:00:00Z",
    ]
    assert run.custom_status == {"stage": "awaiting approval", "approver": "ann"}
    assert env.clock.now() == DEFAULT_START


@pytest.mark.parametrize(
    ("answer", "outcome", "processed"),
    [
        ({"approved": True}, "approved", 1),
        ({"approved": False, "reason": "budget"}, "denied", 0),
    ],
)
def test_an_answer_before_the_deadline_decides(
    answer: dict[str, Any], outcome: str, processed: int
) -> None:
    env = TestEnv(reg)
    run = env.run(approval_workflow, REQUEST)
    env.advance(APPROVAL_TIMEOUT - timedelta(minutes=1))
    env.raise_event(run.instance_id, "ApprovalResponse", answer)

    assert run.status == Status.COMPLETED
    assert run.output["outcome"] == outcome and run.output["by"] == "ann"
    assert len(run.calls(process_approved_request)) == processed
    assert run.calls(escalate_approval) == []
    assert run.calls(notify_requester) == [run.output]
    # the losing 24h timer was cancelled: it never fired
    assert "TimerFired" not in [e.kind for e in run.history]


def test_silence_escalates_then_the_manager_approves() -> None:
    env = TestEnv(reg)
    run = env.run(approval_workflow, REQUEST)
    env.advance(APPROVAL_TIMEOUT)

    assert run.calls(escalate_approval) == [REQUEST]
    assert run.custom_status == {"stage": "escalated", "approver": "max"}
    assert run.status == Status.RUNNING

    env.advance(ESCALATION_TIMEOUT / 2)
    env.raise_event(run.instance_id, "ApprovalResponse", {"approved": True})

    assert run.output == {
        "id": "req-7",
        "outcome": "approved",
        "by": "max",
        "result": "provisioned req-7",
    }
    assert scheduled(run.history) == [
        "send_approval_request",
        "escalate_approval",
        "process_approved_request",
        "notify_requester",
    ]
    assert [s["stage"] for s in statuses(run.history)] == [
        "awaiting approval",
        "escalated",
        "done",
    ]


def test_silence_twice_auto_rejects_and_late_answers_are_refused() -> None:
    env = TestEnv(reg)
    run = env.run(approval_workflow, REQUEST)
    env.advance(APPROVAL_TIMEOUT + ESCALATION_TIMEOUT)

    assert run.status == Status.COMPLETED
    assert run.output == {"id": "req-7", "outcome": "auto-rejected", "by": None}
    assert run.calls(process_approved_request) == []
    assert env.clock.now() - DEFAULT_START == APPROVAL_TIMEOUT + ESCALATION_TIMEOUT
    with pytest.raises(InstanceNotRunning):
        env.raise_event(run.instance_id, "ApprovalResponse", {"approved": True})


def test_the_deadline_is_exact_one_second_early_still_waits() -> None:
    env = TestEnv(reg)
    run = env.run(approval_workflow, REQUEST)
    env.advance(APPROVAL_TIMEOUT - timedelta(seconds=1))

    assert run.calls(escalate_approval) == []
    env.advance(timedelta(seconds=1))
    assert run.calls(escalate_approval) == [REQUEST]
