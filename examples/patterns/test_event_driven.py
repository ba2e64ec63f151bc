from __future__ import annotations

from datetime import timedelta

from orchestrate import Status
from testkit import TestEnv, fail

from ._history import timers
from .event_driven import (
    EVENT_TIMEOUT,
    EVENTS_PER_GENERATION,
    event_driven_workflow,
    execute_followup,
    reg,
)

EVENT = "workflow_event"


def test_events_are_processed_until_a_closing_event() -> None:
    env = TestEnv(reg)
    run = env.run(event_driven_workflow, {"workflow_id": "wf-1"})
    assert sorted(run.waiting_for) == [f"event {EVENT!r}", "timer at 2024-01-02T00:00:00Z"]

    env.raise_event(run.instance_id, EVENT, {"type": "add", "amount": 5})
    env.raise_event(run.instance_id, EVENT, {"type": "add", "amount": 7})
    assert run.custom_status == {"event_count": 2, "state": {"total": 12}}
    env.raise_event(run.instance_id, EVENT, {"type": "close"})

    assert run.output == {"final_state": {"total": 12}, "event_count": 3, "reason": "completed"}


def test_every_event_resets_the_24h_timeout() -> None:
    env = TestEnv(reg)
    run = env.run(event_driven_workflow, {"workflow_id": "wf-2"})
    for _ in range(3):  # an event every 23 hours keeps it alive for 69 hours
        env.advance(timedelta(hours=23))
        env.raise_event(run.instance_id, EVENT, {"type": "add", "amount": 1})
    assert run.status == Status.RUNNING

    env.advance(EVENT_TIMEOUT - timedelta(seconds=1))
    assert run.status == Status.RUNNING  # one second before the deadline
    env.advance(timedelta(seconds=1))
    assert run.output == {"final_state": {"total": 3}, "event_count": 3, "reason": "timeout"}
    assert timers(run.history) == [EVENT_TIMEOUT] * 4


def test_an_escalation_runs_its_follow_up_and_a_failing_one_fails_the_workflow() -> None:
    env = TestEnv(reg)
    run = env.run(event_driven_workflow, {"workflow_id": "wf-3"})
    env.raise_event(run.instance_id, EVENT, {"type": "escalate", "reason": "limit"})
    assert run.calls(execute_followup) == [{"notify": "ops", "reason": "limit"}]

    env.script(execute_followup, fail("pager down", retryable=False))
    env.raise_event(run.instance_id, EVENT, {"type": "escalate"})
    assert run.status == Status.FAILED and "pager down" in str(run.error)


def test_a_long_stream_continues_as_new_and_loses_no_event() -> None:
    env = TestEnv(reg)
    run = env.run(event_driven_workflow, {"workflow_id": "wf-4"})
    total = EVENTS_PER_GENERATION * 2 + 5
    for _ in range(total):
        env.client.raise_event(run.instance_id, EVENT, {"type": "add", "amount": 1})
    env.raise_event(run.instance_id, EVENT, {"type": "close"})

    assert run.output == {
        "final_state": {"total": total},
        "event_count": total + 1,
        "reason": "completed",
    }
    assert env.state(run.instance_id).generation == 2
