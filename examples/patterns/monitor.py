"""Monitor: poll a service on a durable timer, forever or until a deadline, with continue_as_new.

Seeds: 000 ("Monitor Pattern": health check, alert on a status change, sleep, continue as new
until 24 h have passed; "State Management": continue_as_new keeps the history bounded), 003
("Long-Running Process Pattern").

Each generation does one check and one wait, then restarts itself with `continue_as_new`,
carrying the small `MonitorState` (check count, last status, start time) as its new input. The
history therefore never holds more than one round, however long the monitor runs. The wait is a
race between the polling interval and a ``StopMonitoring`` event, so an operator can end it early.

Replay-safe because the start time is taken from ``ctx.now()`` (the recorded turn time) and
carried in the state, the deadline check compares it with ``ctx.now()`` again, and everything
else comes from activity results. No wall clock, no module state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry
from orchestrate import history as h
from testkit import Run, ok

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


@reg.activity
def check_service_health(endpoint: str) -> str:
    return "healthy" if endpoint.startswith("https://") else "unreachable"


@reg.activity
def send_alert(alert: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def monitor_service(ctx: OrchestrationContext, state: MonitorState) -> dict[str, Any]:
    if state.started_at is None:
        state.started_at = ctx.now().isoformat()

    status = await ctx.activity(check_service_health, state.endpoint)
    state.checks += 1
    if status != state.last_status and state.last_status != "unknown":
        ctx.log.warning("%s changed from %s to %s", state.endpoint, state.last_status, status)
        alert = {"endpoint": state.endpoint, "from": state.last_status, "to": status}
        await ctx.activity(send_alert, alert)
        state.alerts += 1
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
    checks = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
    assert len(checks) <= 2 and checks[0].name == "check_service_health", checks


FUZZ: dict[str, dict[str, Any]] = {
    "monitor_service": {
        "input": FUZZ_STATE,
        "outcomes": {check_service_health: [ok("healthy"), ok("degraded")]},
        "events": {"StopMonitoring": None},
        "invariant": stops_after_its_checks_with_one_round_of_history,
    },
}
