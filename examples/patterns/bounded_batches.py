"""Bounded batches: fan out over many items without flooding the downstream service.

Seeds: 001 (Pattern 3 "Batch Processing with Concurrency Control": at most 10 concurrent calls;
"DON'T over-parallelize"), 000 ("State Management": process a batch per generation and continue
as new), 003 ("Long-Running Process Pattern": batches, progress checkpoints).

* `process_users` uses ``ctx.map(activity, items, max_concurrency=n)``: at most `n` calls are in
  flight; as one finishes the next item starts. Results come back in input order, whatever the
  completion order, and the first failure fails the whole map (fail fast, like ``ctx.all``).
* `process_in_batches` handles a large list one batch per generation: each batch fans out in
  parallel, its results are folded into the state, progress is published, and the instance
  continues as new with the rest, so the history holds one batch, not the whole job.

Replay-safe because ``ctx.map`` starts items in input order and starts the next one in reaction
to recorded completions, so the interleaving on replay is the recorded one; the batch cursor is
part of the recorded input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status
from orchestrate import history as h
from testkit import Run, fail

reg = Registry()

DEFAULT_MAX_CONCURRENCY = 10


@reg.activity
def process_user(user_id: str) -> dict[str, Any]:
    if user_id.startswith("banned"):
        raise PermissionError(f"{user_id} may not be processed")
    return {"user": user_id, "mailbox": f"{user_id}@example.org"}


@reg.orchestration
async def process_users(ctx: OrchestrationContext, job: dict[str, Any]) -> dict[str, Any]:
    limit = job.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
    results = await ctx.map(process_user, job["users"], max_concurrency=limit)
    ctx.log.info("batch complete: %d users", len(results))
    return {"processed": len(results), "mailboxes": [r["mailbox"] for r in results]}


@dataclass
class BatchJob:
    items: list[int]
    batch_size: int = 10
    done: int = 0
    total: int = 0
    failed: list[int] = field(default_factory=list)


@reg.activity
def score_item(item: int) -> int:
    if item % 13 == 0:
        raise ValueError(f"item {item} is corrupt")
    return item * 2


@reg.orchestration
async def process_in_batches(ctx: OrchestrationContext, job: BatchJob) -> dict[str, Any]:
    batch = job.items[job.done : job.done + job.batch_size]
    results = await ctx.all([ctx.activity(score_item, i) for i in batch], return_exceptions=True)
    for item, result in zip(batch, results, strict=True):
        if isinstance(result, int):
            job.total += result
        else:
            job.failed.append(item)
    job.done += len(batch)
    ctx.set_status({"done": job.done, "of": len(job.items), "failed": len(job.failed)})
    if job.done < len(job.items):
        ctx.continue_as_new(job)
    return {"processed": job.done, "total": job.total, "failed": job.failed}


# --- fuzzing: orch-fuzz examples/patterns/bounded_batches.py:process_users -----------------------


def never_over_the_limit_and_in_input_order(run: Run) -> None:
    """process_users: at most max_concurrency calls in flight at any point; the mailboxes come
    back in input order; after a failure no further user is started."""
    job = run.history[0].input  # type: ignore[attr-defined]
    limit = job.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
    in_flight: set[int] = set()
    failed = False
    for e in run.history:
        if isinstance(e, h.ActivityScheduled):
            assert not failed, f"started {e.input} after a failure"
            in_flight.add(e.task_id)
            assert len(in_flight) <= limit, f"{len(in_flight)} in flight, limit {limit}"
        elif isinstance(e, h.ActivityCompleted | h.ActivityFailed):
            in_flight.discard(e.task_id)
            failed = failed or isinstance(e, h.ActivityFailed)
    if run.status == Status.COMPLETED:
        results = {e.task_id: e.result for e in run.history if isinstance(e, h.ActivityCompleted)}
        started = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
        assert [s.input for s in started] == job["users"], "a user was skipped or started twice"
        assert run.output["mailboxes"] == [results[s.task_id]["mailbox"] for s in started]
    else:
        assert failed, run.error


def every_item_scored_or_listed_as_failed(run: Run) -> None:
    """process_in_batches: after the last generation every item is accounted for once: its
    score in the total, or listed as failed; each generation's history holds one batch."""
    job = run.history[0].input  # type: ignore[attr-defined]  # this generation's BatchJob
    out = run.output
    assert out["processed"] == len(job["items"]), out
    assert set(out["failed"]) <= set(job["items"]), out
    assert out["total"] == 2 * sum(i for i in job["items"] if i not in out["failed"]), out
    batch = sum(isinstance(e, h.ActivityScheduled) for e in run.history)
    assert batch <= job["batch_size"], f"{batch} items in one generation"


FUZZ: dict[str, dict[str, Any]] = {
    "process_users": {
        "input": {"users": [f"user-{i}" for i in range(6)], "max_concurrency": 2},
        "outcomes": {process_user: [process_user, process_user, fail("mail server busy")]},
        "invariant": never_over_the_limit_and_in_input_order,
    },
    "process_in_batches": {
        # 13 is corrupt (the real code rejects it); three batches, three generations
        "input": BatchJob(items=list(range(1, 16)), batch_size=5),
        "outcomes": {score_item: [score_item, fail(ConnectionError("scoring service reset"))]},
        "invariant": every_item_scored_or_listed_as_failed,
    },
}
