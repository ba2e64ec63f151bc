"""Long-running process: batches, progress, checkpoints (continue-as-new) and heartbeating batches.

Seed: 003 ("3. Long-Running Process Pattern": items processed in batches of 10 by an activity
with a heartbeat timeout and a retry policy; per-item successes and failures counted; progress
checkpointed and reported every few batches; a final summary and a completion notification).

* `process_item_batch` heartbeats after every item with the results so far. If its worker dies
  (or it goes quiet for longer than `HEARTBEAT_TIMEOUT`), the next attempt starts from
  ``activity_info().heartbeat_details`` and does not redo the items already processed.
* A failing *item* is data, not an error: the batch reports it and the process goes on; a
  failing *batch* is retried by the activity's policy.
* Every `BATCHES_PER_CHECKPOINT` batches the orchestration records progress (an activity
  and `ctx.set_status`) and then checkpoints with ``continue_as_new``: the next generation
  starts from the cursor with a fresh history, so a million items never make a million-event
  history. The checkpoint carries only counters and the failed items, never the results.

Replay-safe: the cursor and counters travel in the input; the batches are cut from the input
deterministically; time comes from ``ctx.now()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, RetryPolicy, Status, activity_info
from orchestrate import history as h
from testkit import Run, fail

reg = Registry()

BATCH_SIZE = 10
BATCHES_PER_CHECKPOINT = 5
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


@dataclass
class Job:
    process_id: str
    items: list[str]
    cursor: int = 0  # items before this index are done
    succeeded: int = 0
    failed: list[list[str]] = field(default_factory=list)  # [item, error]
    started_at: str | None = None


def process_one(item: str) -> str | None:
    """The real work on one item; returns an error message, or None on success."""
    return "malformed" if item.endswith("!") else None


@reg.activity(
    retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=10)),
    heartbeat_timeout=HEARTBEAT_TIMEOUT,
)
def process_item_batch(batch: dict[str, Any]) -> list[dict[str, Any]]:
    info = activity_info()
    done: list[dict[str, Any]] = list(info.heartbeat_details or [])  # resume a dead attempt
    for item in batch["items"][len(done) :]:
        error = process_one(item)
        done.append({"item": item, "ok": error is None, "error": error})
        info.heartbeat(done)  # progress survives this attempt; raises if we were cancelled
    return done


@reg.activity
def record_progress(progress: dict[str, Any]) -> None:
    return None


@reg.activity
def send_completion(summary: dict[str, Any]) -> None:
    return None


@reg.orchestration
async def long_running_process(ctx: OrchestrationContext, job: Job) -> dict[str, Any]:
    if job.started_at is None:
        job.started_at = ctx.now().isoformat()
    for _ in range(BATCHES_PER_CHECKPOINT):
        if job.cursor >= len(job.items):
            break
        items = job.items[job.cursor : job.cursor + BATCH_SIZE]
        results = await ctx.activity(
            process_item_batch,
            {"process_id": job.process_id, "cursor": job.cursor, "items": items},
            timeout=timedelta(minutes=5),
        )
        job.cursor += len(items)
        job.succeeded += sum(1 for r in results if r["ok"])
        job.failed += [[r["item"], r["error"]] for r in results if not r["ok"]]
        ctx.set_status(_progress(job))
    if job.cursor < len(job.items):
        await ctx.activity(record_progress, _progress(job))
        ctx.continue_as_new(job)  # checkpoint: a fresh history from the cursor on
    summary = {
        **_progress(job),
        "status": "completed_with_errors" if job.failed else "completed",
        "failed_items": job.failed,
        "duration_s": (ctx.now() - datetime.fromisoformat(job.started_at)).total_seconds(),
    }
    await ctx.activity(send_completion, summary)
    return summary


def _progress(job: Job) -> dict[str, Any]:
    total = len(job.items)
    return {
        "process_id": job.process_id,
        "done": job.cursor,
        "total": total,
        "percent": round(100 * job.cursor / total, 1) if total else 100.0,
        "succeeded": job.succeeded,
        "failed": len(job.failed),
    }


# --- fuzzing: orch-fuzz examples/patterns/long_running.py:long_running_process -------------------

FUZZ_JOB = Job("p-1", [f"item-{i}" for i in range(55)] + ["bad!"])


def every_item_counted_once(run: Run) -> None:
    """Whatever crashed or retried, each generation processes each of its items in exactly one
    batch (counted once), at most `BATCHES_PER_CHECKPOINT` batches per history, and the
    final counts add up to the number of items."""
    batches = [
        e
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name == "process_item_batch" and e.attempt == 1
    ]
    assert len(batches) <= BATCHES_PER_CHECKPOINT, len(batches)
    cursors = [e.input["cursor"] for e in batches]
    assert cursors == sorted(set(cursors)), f"a batch ran twice: {cursors}"
    if run.status == Status.COMPLETED:
        out = run.output
        assert out["done"] == out["total"] == out["succeeded"] + out["failed"], out
        assert out["failed_items"] == [["bad!", "malformed"]], out


FUZZ: dict[str, dict[str, Any]] = {
    "long_running_process": {
        "input": Job("p-1", FUZZ_JOB.items),
        "outcomes": {send_completion: [None, fail("mail server down")]},
        "invariant": every_item_counted_once,
    },
}
