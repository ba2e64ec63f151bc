"""Bug class: a monitor that keeps its state in process memory across `continue_as_new`.

`buggy` polls a job every 10 minutes, continuing as new after each poll to keep its history
short, and gives up after `MAX_POLLS` polls. It asks a `PollBudget` for the job how many polls
it has had, because the input is "just the job"; the budget keeps its counts in a class-level
registry, so that every budget for the same job agrees. But every execution of the body counts,
replays included (the replay check, a restarted worker, a shadow replay of the next turn), and
the count is shared by every instance that monitors the same job: a replay reaches another
count than the recorded run, so it gives up (or reports another poll count) where the history
continued, and diverges. The invariant (the reported poll count is the number of generations)
breaks as well. The fuzzer needs one poll and its timer: every turn's replay check counts too,
so when the first generation ends and is replayed from scratch, the limit is already reached.

Why orch-lint cannot see it: nothing module-level is mutated in the orchestration. The counts
live in a class attribute (``PollBudget._counts``), updated through ``self._counts`` inside a
method, and the orchestration only builds a `PollBudget` and calls ``record_poll()`` on it,
calls the linter does not follow. Static analysis would need to resolve the method through the
object's type and know that a class attribute is one object per process, shared by every
instance of the class, every orchestration instance and every replay.

Fix (`fixed`): carry the count in the ``continue_as_new`` input, which the history records.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from orchestrate import OrchestrationContext, Registry, Status
from orchestrate import history as h
from testkit import ok

reg = Registry()

MAX_POLLS = 4
INTERVAL = timedelta(minutes=10)


class PollBudget:
    """How many polls a job has had, against a limit; every budget for a job shares its count."""

    _counts: ClassVar[dict[str, int]] = {}  # the bug: job id -> polls so far, per process

    def __init__(self, job_id: str, limit: int) -> None:
        self.job_id = job_id
        self.limit = limit

    def record_poll(self) -> int:
        """Count one more poll of the job; return the polls so far."""
        self._counts[self.job_id] = self._counts.get(self.job_id, 0) + 1
        return self._counts[self.job_id]

    def exhausted(self) -> bool:
        return self._counts.get(self.job_id, 0) >= self.limit

    @classmethod
    def forget_all(cls) -> None:
        cls._counts.clear()


def reset() -> None:
    """Forget the process state (between tests)."""
    PollBudget.forget_all()


@reg.activity
def check_job(job: dict[str, Any]) -> str:
    return "running"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, job: dict[str, Any]) -> dict[str, Any]:
    budget = PollBudget(job["id"], MAX_POLLS)
    polls = budget.record_poll()
    state = await ctx.activity(check_job, job)
    if state == "done":
        return {"job": job["id"], "state": "done", "polls": polls}
    if budget.exhausted():
        return {"job": job["id"], "state": "timed_out", "polls": polls}
    await ctx.sleep(INTERVAL)
    ctx.continue_as_new(job)
    raise AssertionError("unreachable")


@reg.orchestration
async def fixed(ctx: OrchestrationContext, job: dict[str, Any]) -> dict[str, Any]:
    polls = job.get("polls", 0) + 1
    state = await ctx.activity(check_job, job)
    if state == "done":
        return {"job": job["id"], "state": "done", "polls": polls}
    if polls >= MAX_POLLS:
        return {"job": job["id"], "state": "timed_out", "polls": polls}
    await ctx.sleep(INTERVAL)
    ctx.continue_as_new({**job, "polls": polls})
    raise AssertionError("unreachable")


def polls_match_generations(run: Any) -> None:
    """The reported poll count is the generation count; only the last poll may time out."""
    if run.status == Status.COMPLETED:
        started = run.history[0]
        assert isinstance(started, h.OrchestrationStarted)
        assert run.output["polls"] == started.generation + 1, run.output
        if run.output["state"] == "timed_out":
            assert run.output["polls"] == MAX_POLLS, run.output


JOB: dict[str, Any] = {"id": "job-17"}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {
        "input": JOB,
        "outcomes": {check_job: [ok("running"), ok("done")]},
        "invariant": polls_match_generations,
    },
    "fixed": {
        "input": JOB,
        "outcomes": {check_job: [ok("running"), ok("done")]},
        "invariant": polls_match_generations,
    },
}

PLAIN: dict[str, Any] = {
    "input": JOB,
    "scripts": {check_job: [ok("running"), ok("running"), ok("done")]},
    "output": {"job": "job-17", "state": "done", "polls": 3},
}
CAUGHT_BY_TESTENV = True
