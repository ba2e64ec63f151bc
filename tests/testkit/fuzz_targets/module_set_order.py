"""Bug class: iterating over a set of strings to schedule work.

`buggy` parses the rollout request into a `RolloutPlan`, a frozen (hashable) dataclass whose
regions, de-duplicated, are therefore a ``frozenset``, and fans out one `deploy` per region in the
plan's iteration order. String hashes are salted per process (``PYTHONHASHSEED``), so that order
is stable inside one process (every test and in-process replay agrees) but differs in the next
one: a worker that restarts replays the history, schedules the deploys in another order and
fails with a non-determinism error. Only a replay under another hash seed (the fuzzer's
``hash_seeds``) shows it; with six distinct regions the orders agree by chance once in 720
seeds.

Why orch-lint cannot see it: it recognises a set by its construction in sight of the loop (a
set display or comprehension, ``set(...)``/``frozenset(...)``, set operators, or a local bound
to one). Here the loop runs over ``plan.regions``, an attribute of an object returned by a
classmethod; that it holds a frozenset is only in the field's annotation and in
``from_request``. Static analysis would need type inference (the return type of
``RolloutPlan.from_request`` and the declared type of its field) to know the iteration order is
the hash order.

Fix (`fixed`): iterate in a deterministic order (``sorted(plan.regions)``; or keep the regions
in a tuple de-duplicated with ``dict.fromkeys(...)`` to keep the input order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()


@dataclass(frozen=True)
class RolloutPlan:
    """A rollout: one version to the distinct regions asked for."""

    version: str
    regions: frozenset[str]

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> RolloutPlan:
        return cls(request["version"], frozenset(request["regions"]))


@reg.activity
def deploy(target: dict[str, Any]) -> str:
    return f"{target['region']}@{target['version']}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, rollout: dict[str, Any]) -> dict[str, Any]:
    plan = RolloutPlan.from_request(rollout)
    done = await ctx.all(
        [ctx.activity(deploy, {"region": r, "version": plan.version}) for r in plan.regions]
    )
    return {"deployed": sorted(done)}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, rollout: dict[str, Any]) -> dict[str, Any]:
    plan = RolloutPlan.from_request(rollout)
    done = await ctx.all(
        [ctx.activity(deploy, {"region": r, "version": plan.version}) for r in sorted(plan.regions)]
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
