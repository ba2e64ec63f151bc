"""Bug class: an ordering taken from process state that every run of an activity changes.

`probe` checks a job's target and counts, in a module dict, how many times it ran for that job;
`buggy` runs the jobs "healthiest first", sorting by that count. A count of runs is not a count
of attempts: a duplicate delivery, or a worker that dies after the probe ran but before its
result was stored, runs `probe` again without the orchestration seeing a retry, and the job is
demoted. The history shows every probe answered on its first attempt, yet the jobs run in
another order than a crash-free run of the same schedule: the outcome depends on crashes and
duplicate deliveries, and the invariant (jobs run in the order of their recorded attempts)
breaks. Plain tests and replays in one process agree, because the count is read after every
probe has finished.

Fix (`fixed`, with `probe_attempt`): the activity returns `activity_info().attempt` (the
runtime's retry count, the same for every delivery of one attempt), and the orchestration sorts
by the recorded results.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, RetryPolicy, Status, activity_info
from orchestrate import history as h

from ._helpers import first_occurrences

reg = Registry()

_RUNS: dict[str, int] = {}  # "batch/job" -> executions of `probe` in this process
RETRY = RetryPolicy(max_attempts=3)


def reset() -> None:
    """Forget the process state (between tests)."""
    _RUNS.clear()


@reg.activity(retry=RETRY)
def probe(job: dict[str, Any]) -> str:
    """Check the job's target; remember how many probes it took."""
    key = f"{job['batch']}/{job['name']}"
    _RUNS[key] = _RUNS.get(key, 0) + 1
    return "up"


@reg.activity(retry=RETRY)
def probe_attempt(job: dict[str, Any]) -> int:
    """Check the job's target; return the attempt that succeeded (1 when healthy)."""
    return activity_info().attempt


@reg.activity
def run_job(name: str) -> str:
    return f"{name} done"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, batch: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = batch["jobs"]
    await ctx.all([ctx.activity(probe, {"batch": ctx.instance_id, "name": n}) for n in names])
    order = sorted(names, key=lambda n: _RUNS[f"{ctx.instance_id}/{n}"])  # healthiest first
    for name in order:
        await ctx.activity(run_job, name)
    return {"order": order}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, batch: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = batch["jobs"]
    attempts = await ctx.all(
        [ctx.activity(probe_attempt, {"batch": ctx.instance_id, "name": n}) for n in names]
    )
    rank = dict(zip(names, attempts, strict=True))
    order = sorted(names, key=rank.__getitem__)  # healthiest first, from the recorded results
    for name in order:
        await ctx.activity(run_job, name)
    return {"order": order}


def healthiest_first(run: Any) -> None:
    """A completed batch ran its jobs in the order of their recorded probe attempts (ties: batch
    order), each once, whatever crashes and duplicate deliveries happened on the way."""
    if run.status != Status.COMPLETED:
        return
    probes = {
        e.task_id: e.input["name"]
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name in ("probe", "probe_attempt")
    }
    rank = {
        probes[e.task_id]: e.result if isinstance(e.result, int) else 1  # `probe` answers "up"
        for e in run.history
        if isinstance(e, h.ActivityCompleted) and e.task_id in probes
    }
    ran = first_occurrences(run.calls(run_job))
    assert ran == sorted(BATCH["jobs"], key=rank.__getitem__), f"ran {ran}, recorded {rank}"


BATCH: dict[str, Any] = {"jobs": ["backup", "reindex", "vacuum", "rotate-logs", "compact"]}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": BATCH, "invariant": healthiest_first},
    "fixed": {"input": BATCH, "invariant": healthiest_first},
}

PLAIN: dict[str, Any] = {"input": BATCH, "output": {"order": BATCH["jobs"]}}
CAUGHT_BY_TESTENV = False
