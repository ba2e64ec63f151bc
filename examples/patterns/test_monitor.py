from __future__ import annotations

from datetime import timedelta

from orchestrate import Status
from testkit import DEFAULT_START, TestEnv, fail, hang, ok

from ._history import kinds
from .monitor import (
    CHECK_FAILED,
    MonitorState,
    check_service_health,
    monitor_service,
    reg,
    send_alert,
)

THIRTY_DAYS = timedelta(days=30)


def test_a_thirty_day_monitor_runs_in_virtual_time_with_bounded_history() -> None:
    env = TestEnv(reg)
    # healthy for 100 checks, degraded for 20, then healthy again for good
    env.script(
        check_service_health, [ok("healthy")] * 100 + [ok("degraded")] * 20 + [ok("healthy")]
    )
    state = MonitorState("https://shop.example/health", interval_minutes=60, duration_hours=720)
    run = env.run(monitor_service, state)
    before = run.status
    assert before == Status.RUNNING  # it waits for the timer or a StopMonitoring event

    env.advance(THIRTY_DAYS)

    assert run.status == Status.COMPLETED
    assert run.output == {"reason": "expired", "checks": 720, "alerts": 2, "last_status": "healthy"}
    assert run.calls(send_alert) == [
        {"endpoint": state.endpoint, "from": "healthy", "to": "degraded"},
        {"endpoint": state.endpoint, "from": "degraded", "to": "healthy"},
    ]
    assert env.state(run.instance_id).generation == 719
    # continue_as_new kept the history to a single round, not 720 of them
    assert kinds(run.history) == [
        "OrchestrationStarted",
        "ActivityScheduled",
        "TimerCreated",  # the check's timeout
        "ActivityCompleted",
        "CustomStatusSet",
        "TimerCreated",
        "TimerFired",
        "OrchestrationCompleted",
    ]
    assert env.clock.now() - DEFAULT_START == THIRTY_DAYS


def test_state_is_carried_across_generations() -> None:
    env = TestEnv(reg)
    env.script(check_service_health, [ok("healthy"), ok("healthy"), ok("unreachable")])
    state = MonitorState("https://api.example", interval_minutes=5, duration_hours=1)
    run = env.run(monitor_service, state)
    env.advance(timedelta(minutes=10))

    assert env.state(run.instance_id).generation == 2
    assert run.custom_status == {"checks": 3, "last_status": "unreachable", "alerts": 1}
    [started] = [e for e in run.history if e.kind == "OrchestrationStarted"]
    carried = started.input  # type: ignore[attr-defined]
    assert carried["started_at"] == DEFAULT_START.isoformat()  # set once, in generation 0
    assert carried["checks"] == 2 and carried["last_status"] == "healthy"


def test_stop_event_ends_the_monitor_early() -> None:
    env = TestEnv(reg)
    run = env.run(monitor_service, MonitorState("https://api.example", interval_minutes=60))
    env.advance(timedelta(hours=3, minutes=30))
    env.raise_event(run.instance_id, "StopMonitoring")

    assert run.output == {"reason": "stopped", "checks": 4, "alerts": 0, "last_status": "healthy"}
    assert len(run.calls(check_service_health)) == 4


def test_a_failing_check_is_alerted_and_the_monitor_keeps_watching() -> None:
    env = TestEnv(reg)
    # healthy, then two checks whose both attempts fail, then healthy again
    env.script(
        check_service_health, [ok("healthy"), *[fail("connection reset")] * 4, ok("healthy")]
    )
    state = MonitorState("https://shop.example/health", interval_minutes=60, duration_hours=4)
    run = env.run(monitor_service, state)
    env.advance(timedelta(hours=5))

    assert run.status == Status.COMPLETED
    assert run.output["reason"] == "expired" and run.output["checks"] == 4
    assert run.calls(send_alert) == [
        {"endpoint": state.endpoint, "from": "healthy", "to": CHECK_FAILED},
        {"endpoint": state.endpoint, "from": CHECK_FAILED, "to": "healthy"},
    ]


def test_a_hung_check_times_out_and_an_unsendable_alert_does_not_stop_the_monitor() -> None:
    env = TestEnv(reg)
    env.script(check_service_health, [ok("healthy"), hang(), hang(), ok("healthy")])
    env.script(send_alert, fail("pager service down", retryable=False))
    state = MonitorState("https://shop.example/health", interval_minutes=60, duration_hours=3)
    run = env.run(monitor_service, state)
    env.advance(timedelta(hours=5))

    assert run.status == Status.COMPLETED
    assert run.output == {"reason": "expired", "checks": 3, "alerts": 0, "last_status": "healthy"}
    assert len(run.calls(send_alert)) == 2  # both tried, both failed, the monitor went on
