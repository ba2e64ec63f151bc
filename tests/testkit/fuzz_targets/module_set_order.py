"""Bug class: iterating over a set of strings to schedule work.

`buggy` de-duplicates the regions of a rollout with ``set(...)`` and fans out one `deploy` per
region in the set's iteration order. String hashes are salted per process (``PYTHONHASHSEED``),
so that order is stable inside one process (every test and in-process replay agrees) but differs
in the next one: a worker that restarts replays the history, schedules the deploys in another
order and fails with a non-determinism error. Only a replay under another hash seed (the
fuzzer's ``hash_seeds``) shows it; with six distinct regions the orders agree by chance once in
720 seeds.

Fix (`fixed`): de-duplicate in a deterministic order (``sorted(set(...))``, or
``dict.fromkeys(...)`` to keep the input order).
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()


@reg.activity
def deploy(target: dict[str, Any]) -> str:
    return f"{target['region']}@{target['version']}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, rollout: dict[str, Any]) -> dict[str, Any]:
    regions = set(rollout["regions"])  # de-duplicate
    done = await ctx.all(
        [ctx.activity(deploy, {"region": r, "version": rollout["version"]}) for r in regions]
    )
    return {"deployed": sorted(done)}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, rollout: dict[str, Any]) -> dict[str, Any]:
    regions = sorted(set(rollout["regions"]))
    done = await ctx.all(
        [ctx.activity(deploy, {"region": r, "version": rollout["version"]}) for r in regions]
    )
    return {"deployed": sorted(done)}


def each_region_once(run: Any) -> None:
    """Every distinct region is deployed exactly once."""
    regions = sorted(t["region"] for t in scheduled_inputs(run, "deploy"))
    if run.status == Status.COMPLETED:
        assert regions == sorted(set(ROLLOUT["regions"])), regions


ROLLOUT: dict[str, Any] = {
    "version": "v2.4.1",
    "regions": [
        "eu-west-1",
        "us-east-1",
        "ap-south-1",
        "eu-central-1",
        "us-west-2",
        "sa-east-1",
        "us-east-1",
        "eu-west-1",
    ],
}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": ROLLOUT, "invariant": each_region_once},
    "fixed": {"input": ROLLOUT, "invariant": each_region_once},
}

PLAIN: dict[str, Any] = {
    "input": ROLLOUT,
    "output": {"deployed": [f"{r}@v2.4.1" for r in sorted(set(ROLLOUT["regions"]))]},
}
CAUGHT_BY_TESTENV = False
