"""Status tracking: publish progress with ctx.set_status; clients read it while the job runs.

Seeds: 001 (Pattern 7 "Workflow Status Tracking": phases with progress 0.2 .. 1.0, a "failed"
status naming the stage and error; "Workflow Coordination": long-running orchestrations with
status tracking), 003 ("Long-Running Process Pattern": progress notifications).

`data_processing_job` runs five stages in order. Before each it publishes
``{"phase", "progress", "completed"}``; a failing stage publishes ``phase="failed"`` with the
stage and error, then fails the instance. A client (`Client.state(id).custom_status`, or
``run.custom_status`` in tests) sees the latest value at any moment, without touching the
orchestration.

Replay-safe because ``set_status`` is a recorded command (``CustomStatusSet``): on replay it is
matched, not re-published, and the value is built only from the input and recorded results.
"""

from __future__ import annotations

from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry, Status
from orchestrate import history as h
from testkit import Run, fail

reg = Registry()


@reg.activity
def download_data(job: dict[str, Any]) -> int:
    return len(job["files"])


@reg.activity
def validate_data(job: dict[str, Any]) -> int:
    return len(job["files"])


@reg.activity
def transform_data(job: dict[str, Any]) -> int:
    return len(job["files"])


@reg.activity
def upload_results(job: dict[str, Any]) -> str:
    return f"s3://results/{job['id']}/"


@reg.activity
def notify_completion(job: dict[str, Any]) -> None:
    return None


STAGES = [
    ("download", 0.2, download_data),
    ("validate", 0.4, validate_data),
    ("transform", 0.6, transform_data),
    ("upload", 0.8, upload_results),
    ("notify", 1.0, notify_completion),
]


@reg.orchestration
async def data_processing_job(ctx: OrchestrationContext, job: dict[str, Any]) -> dict[str, Any]:
    completed: list[str] = []
    results: dict[str, Any] = {}
    for phase, progress, stage in STAGES:
        ctx.set_status({"phase": phase, "progress": progress, "completed": list(completed)})
        try:
            results[phase] = await ctx.activity(stage, job)
        except ActivityFailed as exc:
            ctx.set_status(
                {
                    "phase": "failed",
                    "progress": progress,
                    "completed": completed,
                    "error": {"stage": phase, "type": exc.error_type, "message": exc.message},
                }
            )
            raise
        completed.append(phase)
    ctx.set_status({"phase": "done", "progress": 1.0, "completed": completed})
    return {"job": job["id"], "location": results["upload"]}


# --- fuzzing: orch-fuzz examples/patterns/status_tracking.py:data_processing_job -----------------


def status_tells_where_it_is(run: Run) -> None:
    """Statuses advance stage by stage with rising progress; the last one says done (with
    every stage), or names the stage that failed and its error, with the stages before it."""
    phases = [phase for phase, _, _ in STAGES]
    published = [e.status for e in run.history if isinstance(e, h.CustomStatusSet)]
    progress = [s["progress"] for s in published]
    assert progress == sorted(progress), f"progress went back: {progress}"
    last = published[-1]
    assert run.custom_status == last, (run.custom_status, last)
    if run.status == Status.COMPLETED:
        assert last == {"phase": "done", "progress": 1.0, "completed": phases}, last
        return
    [failure] = [e for e in run.history if isinstance(e, h.ActivityFailed)]
    stage = phases[len(last["completed"])]
    names = {e.task_id: e.name for e in run.history if isinstance(e, h.ActivityScheduled)}
    assert STAGES[phases.index(stage)][2].__name__ == names[failure.task_id], (stage, failure)
    assert last["error"] == {
        "stage": stage,
        "type": failure.error_type,
        "message": failure.message,
    }, last


FUZZ: dict[str, dict[str, Any]] = {
    "data_processing_job": {
        "input": {"id": "job-3", "files": ["a.csv", "b.csv"]},
        "outcomes": {
            validate_data: [validate_data, validate_data, fail(ValueError("b.csv: bad header"))],
            upload_results: [upload_results, fail(OSError("disk full"))],
        },
        "invariant": status_tells_where_it_is,
    },
}
