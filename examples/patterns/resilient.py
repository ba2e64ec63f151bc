"""Resilient workflow: classify a failure, then retry it, compensate through a child, or escalate.

Seed: 003 ("Error Handling Patterns: 1. Workflow Error Recovery": the main logic runs in a loop;
on failure ``determine_recovery_strategy`` maps the error to Retry (database or external API
errors: exponential backoff on a durable timer, at most 3 recoveries), Compensate (start a
compensation child workflow and end as compensated) or Escalate (tenant validation or invalid
input: alert operations and fail)).

The classification is a pure function of the recorded error's type (`TaskFailed.error_type`),
so the same failure always takes the same branch, on replay too. Backoff sleeps are durable
timers (1 s, 2 s, 4 s), not ``time.sleep``. The compensation runs as a child orchestration with
an id derived from the parent's, so an operator can find it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status, TaskFailed
from orchestrate import history as h
from testkit import Run, fail, ok

reg = Registry()

MAX_RECOVERY_ATTEMPTS = 3
RETRYABLE = {"DatabaseError", "ExternalApiError", "ConnectionError", "TimeoutError"}
ESCALATE = {"TenantValidationFailed", "InvalidInput", "PermissionError"}


def recovery_strategy(error_type: str) -> str:
    """``retry`` for transient infrastructure errors, ``escalate`` for errors a human must
    look at, ``compensate`` for everything else (a business step that cannot succeed)."""
    if error_type in RETRYABLE:
        return "retry"
    if error_type in ESCALATE:
        return "escalate"
    return "compensate"


@reg.activity
def execute_main_logic(work: dict[str, Any]) -> dict[str, Any]:
    return {"resource": f"res-{work['id']}"}


@reg.activity
def undo_partial_work(work: dict[str, Any]) -> None:
    return None


@reg.activity
def send_escalation_alert(alert: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def compensation_workflow(ctx: OrchestrationContext, failure: dict[str, Any]) -> str:
    await ctx.activity(undo_partial_work, failure["input"])
    return f"compensated {failure['input']['id']}"


@reg.orchestration
async def resilient_workflow(ctx: OrchestrationContext, work: dict[str, Any]) -> dict[str, Any]:
    recoveries = 0
    while True:
        try:
            result = await ctx.activity(execute_main_logic, work, timeout=timedelta(minutes=1))
            return {"status": "completed", "result": result, "recoveries": recoveries}
        except TaskFailed as error:
            recoveries += 1
            strategy = recovery_strategy(error.error_type)
            ctx.log.warning("attempt %d failed (%s): %s", recoveries, strategy, error)
            if strategy == "retry" and recoveries <= MAX_RECOVERY_ATTEMPTS:
                await ctx.sleep(timedelta(seconds=2 ** (recoveries - 1)))
                continue
            if strategy == "compensate":
                outcome = await ctx.sub_orchestration(
                    compensation_workflow,
                    {"input": work, "reason": str(error)},
                    instance_id=f"{ctx.instance_id}:compensation",
                )
                return {
                    "status": "compensated",
                    "error": str(error),
                    "outcome": outcome,
                    "recoveries": recoveries,
                }
            await ctx.activity(
                send_escalation_alert,
                {"workflow": ctx.instance_id, "error": str(error), "level": "critical"},
            )
            reason = "retries exhausted" if strategy == "retry" else "needs a human"
            raise RuntimeError(
                f"escalated ({reason}) after {recoveries} attempt(s): {error}"
            ) from error


# --- fuzzing: orch-fuzz examples/patterns/resilient.py:resilient_workflow --------------------------


def each_failure_handled_by_its_class(run: Run) -> None:
    """Every failed attempt before the last was a retryable one (so it was retried, at most
    `MAX_RECOVERY_ATTEMPTS` times, after 1, 2, 4 s); the ending matches the last failure's
    class: compensated only through the child, escalated only with an alert."""
    names = {e.task_id: e.name for e in run.history if isinstance(e, h.ActivityScheduled)}
    timeouts = {
        e.task_id for e in run.history if isinstance(e, h.TimerCreated) and e.purpose == "timeout"
    }
    failures = [
        "TimeoutError" if isinstance(e, h.TimerFired) else e.error_type
        for e in run.history
        if (isinstance(e, h.ActivityFailed) and names[e.task_id] == "execute_main_logic")
        or (isinstance(e, h.TimerFired) and e.task_id in timeouts)
    ]
    assert all(recovery_strategy(t) == "retry" for t in failures[:-1]), failures
    assert len(failures) <= MAX_RECOVERY_ATTEMPTS + 1, failures
    sleeps = [
        e.fire_at - e.at
        for e in run.history
        if isinstance(e, h.TimerCreated) and e.purpose == "timer"
    ]
    assert sleeps == [timedelta(seconds=2**i) for i in range(len(sleeps))], sleeps
    alerted = "send_escalation_alert" in names.values()
    children = [e for e in run.history if isinstance(e, h.SubOrchestrationScheduled)]
    if run.status == Status.COMPLETED and run.output["status"] == "completed":
        assert not alerted and not children
    elif run.status == Status.COMPLETED:
        assert recovery_strategy(failures[-1]) == "compensate" and len(children) == 1
    else:
        assert alerted and not children, (failures, alerted)


FUZZ: dict[str, dict[str, Any]] = {
    "resilient_workflow": {
        "input": {"id": "w-1"},
        "outcomes": {
            execute_main_logic: [
                ok({"resource": "res-w-1"}),
                fail("db connection reset", error_type="DatabaseError"),
                fail("tenant suspended", error_type="TenantValidationFailed"),
                fail("quota exceeded", error_type="QuotaExceeded"),
            ],
        },
        "invariant": each_failure_handled_by_its_class,
    },
    "compensation_workflow": {"input": {"input": {"id": "w-1"}, "reason": "test"}},
}
