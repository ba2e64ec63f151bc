"""Event-driven workflow: react to external events until a closing event or 24 h of silence.

Seed: 003 ("4. Event-Driven Workflow Pattern": a signal loop raced against a 24-hour timer that
is reset after every event; each event is processed by an activity that returns the new state,
whether to complete and an optional follow-up action).

Each loop iteration races ``ctx.event("workflow_event")`` against a fresh 24 h timer. The loser
of `ctx.any` is cancelled, so when an event wins, its timer never fires and the next iteration
starts a new one: the timeout counts from the last event, not from the start. A long-lived
instance continues as new every `EVENTS_PER_GENERATION` events (state and count carried), so its
history stays bounded; events raised meanwhile are carried over, none is lost.

Replay-safe: the order of events and timers is the recorded one; the state only changes through
the recorded results of `process_event`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status
from orchestrate import history as h
from testkit import Run

reg = Registry()

EVENT_TIMEOUT = timedelta(hours=24)
EVENTS_PER_GENERATION = 50


@reg.activity
def process_event(work: dict[str, Any]) -> dict[str, Any]:
    """Apply one event to the state: ``add`` counts, ``escalate`` asks for a follow-up,
    ``close`` completes the workflow."""
    event, state = work["event"], dict(work["state"])
    state["total"] = state.get("total", 0) + int(event.get("amount", 0))
    followup = None
    if event["type"] == "escalate":
        followup = {"notify": "ops", "reason": event.get("reason", "escalated")}
    return {"state": state, "complete": event["type"] == "close", "followup": followup}


@reg.activity
def execute_followup(action: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def event_driven_workflow(ctx: OrchestrationContext, job: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = job.get("state", {})
    count: int = job.get("event_count", 0)
    for _ in range(EVENTS_PER_GENERATION):
        event, timeout = ctx.event("workflow_event"), ctx.timer(EVENT_TIMEOUT)
        if await ctx.any([event, timeout]) is timeout:
            return {"final_state": state, "event_count": count, "reason": "timeout"}
        count += 1
        result = await ctx.activity(process_event, {"event": await event, "state": state})
        state = result["state"]
        ctx.set_status({"event_count": count, "state": state})
        if result["complete"]:
            return {"final_state": state, "event_count": count, "reason": "completed"}
        if result["followup"] is not None:
            await ctx.activity(execute_followup, result["followup"])
    ctx.continue_as_new({**job, "state": state, "event_count": count})
    raise AssertionError("unreachable: continue_as_new does not return")


# --- fuzzing: orch-fuzz examples/patterns/event_driven.py:event_driven_workflow --------------------


def times_out_only_after_24h_of_silence(run: Run) -> None:
    """Every timer is a fresh 24 h from its creation; a timeout ending comes 24 h after the
    last event was taken (the timer was reset by it), a completed one ends on a ``close``."""
    created = [e for e in run.history if isinstance(e, h.TimerCreated)]
    assert all(e.fire_at - e.at == EVENT_TIMEOUT for e in created), created
    assert run.status == Status.COMPLETED, run.error
    out = run.output
    taken = [e for e in run.history if isinstance(e, h.EventRaised)]
    if out["reason"] == "timeout":
        fired = [e for e in run.history if isinstance(e, h.TimerFired)]
        assert len(fired) == 1, f"{len(fired)} timers fired into the loop"
        last = max([e.at for e in taken if e.at <= fired[0].at], default=run.history[0].at)
        assert fired[0].at - last >= EVENT_TIMEOUT, f"timed out {fired[0].at - last} after {last}"
    else:
        assert out["reason"] == "completed", out
    followups = [
        e
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name == "execute_followup"
    ]
    assert all(e.input["notify"] == "ops" for e in followups), followups


FUZZ: dict[str, dict[str, Any]] = {
    "event_driven_workflow": {
        "input": {"workflow_id": "wf-1"},
        "events": {
            "workflow_event": [
                {"type": "add", "amount": 5},
                {"type": "escalate", "reason": "limit"},
                {"type": "close"},
            ]
        },
        "invariant": times_out_only_after_24h_of_silence,
    },
}
