"""Monitor: poll a service on a durable timer, forever or until a deadline, with continue_as_new.

Seeds: 000 ("Monitor Pattern": health check, alert on a status change, sleep, continue as new
until 24 h have passed; "State Management": continue_as_new keeps the history bounded), 003
("Long-Running Process Pattern").

Each generation does one check and one wait, then restarts itself with `continue_as_new`,
carrying the small `MonitorState` (check count, last status, start time) as its new input. The
history therefore never holds more than one round, however long the monitor runs. The wait is a
race between the polling interval and a ``StopMonitoring`` event, so an operator can end it early.

The monitor survives its own activities failing: a health check that fails (after its retry
policy gave up) counts as the status ``"check_failed"``, which is a status change like any
other and so raises an alert; an alert that cannot be sent is logged and the monitor carries
on. A monitor that died on the first network blip would stop watching exactly when it matters.

Replay-safe because the start time is taken from ``ctx.now()`` (the recorded turn time) and
carried in the state, the deadline check compares it with ``ctx.now()`` again, and everything
else comes from activity results. No wall clock, no module state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry, RetryPolicy
from orchestrate import history as h
from testkit import Run, fail, ok

reg = Registry()


@dataclass
class MonitorState:
    endpoint: str
    interval_minutes: int = 5
    duration_hours: int = 24
    checks: int = 0
    alerts: int = 0
    last_status: str = "unknown"
    started_at: str | None = None  # ISO time of the first check, set from ctx.now()


CHECK_FAILED = "check_failed"


@reg.activity(retry=RetryPolicy(max_attempts=2, initial_interval=timedelta(seconds=10)))
def check_service_health(endpoint: str) -> str:
    return "healthy" if endpoint.startswith("https://") else "unreachable"


@reg.activity
def send_alert(alert: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def monitor_service(ctx: OrchestrationContext, state: MonitorState) -> dict[str, Any]:
    if state.started_at is None:
        state.started_at = ctx.now().isoformat()

    try:
        status = await ctx.activity(
            check_service_health, state.endpoint, timeout=timedelta(minutes=1)
        )
    except ActivityFailed as failure:  # the check itself broke: that is news, not a crash
        ctx.log.warning("health check of %s failed: %s", state.endpoint, failure)
        status = CHECK_FAILED
    state.checks += 1
    if status != state.last_status and state.last_status != "unknown":
        ctx.log.warning("%s changed from %s to %s", state.endpoint, state.last_status, status)
        alert = {"endpoint": state.endpoint, "from": state.last_status, "to": status}
        try:
            await ctx.activity(send_alert, alert)
            state.alerts += 1
        except ActivityFailed as failure:
            ctx.log.error("could not send %s: %s; still monitoring", alert, failure)
    state.last_status = status
    ctx.set_status({"checks": state.checks, "last_status": status, "alerts": state.alerts})

    nap = ctx.timer(timedelta(minutes=state.interval_minutes))
    stop = ctx.event("StopMonitoring")
    if await ctx.any([nap, stop]) is stop:
        return _summary(state, "stopped")
    elapsed = ctx.now() - datetime.fromisoformat(state.started_at)
    if elapsed < timedelta(hours=state.duration_hours):
        ctx.continue_as_new(state)
    return _summary(state, "expired")


def _summary(state: MonitorState, reason: str) -> dict[str, Any]:
    return {
        "reason": reason,
        "checks": state.checks,
        "alerts": state.alerts,
        "last_status": state.last_status,
    }


# --- fuzzing: orch-fuzz examples/patterns/monitor.py:monitor_service -----------------------------

# A bounded monitor: one check every 20 minutes for an hour, so three checks, three generations.
FUZZ_STATE = MonitorState("https://api.example", interval_minutes=20, duration_hours=1)


def stops_after_its_checks_with_one_round_of_history(run: Run) -> None:
    """The monitor ends after duration/interval checks (fewer only when told to stop), alerts
    at most once per status change, and each generation's history holds a single round."""
    out = run.output
    start = run.history[0].input  # type: ignore[attr-defined]  # this generation's state
    limit = start["duration_hours"] * 60 // start["interval_minutes"]
    if out["reason"] == "expired":
        assert out["checks"] == limit, f"expired after {out['checks']} checks, not {limit}"
    else:
        assert out["reason"] == "stopped" and 1 <= out["checks"] <= limit, out
    assert out["alerts"] <= out["checks"] - 1, out
    assert out["checks"] == start["checks"] + 1, (start, out)  # one check per generation
    checks_never_overlap(run)


def checks_never_overlap(run: Run) -> None:
    """At no point are two health checks in flight: each check (and each retry of it) is
    scheduled only after the previous attempt finished, failed or timed out (a timed-out
    attempt is cancelled by the runtime; its late answer is recorded and ignored)."""
    open_checks: set[int] = set()
    timeout_of: dict[int, int] = {}  # timeout timer task id -> the check attempt it bounds
    last_check: int | None = None
    for e in run.history:
        if isinstance(e, h.ActivityScheduled) and e.name == "check_service_health":
            assert not open_checks, f"check {e.task_id} started while {open_checks} in flight"
            open_checks.add(e.task_id)
            last_check = e.task_id
        elif isinstance(e, h.TimerCreated) and e.purpose == "timeout" and last_check is not None:
            timeout_of[e.task_id] = last_check
        elif isinstance(e, h.TimerFired) and e.task_id in timeout_of:
            open_checks.discard(timeout_of[e.task_id])
        elif isinstance(e, h.ActivityCompleted | h.ActivityFailed):
            open_checks.discard(e.task_id)


FUZZ: dict[str, dict[str, Any]] = {
    "monitor_service": {
        "input": FUZZ_STATE,
        "outcomes": {
            check_service_health: [ok("healthy"), ok("degraded"), fail("connection reset")],
            send_alert: [ok(None), fail("pager service down")],
        },
        "events": {"StopMonitoring": None},
        "invariant": stops_after_its_checks_with_one_round_of_history,
    },
}
