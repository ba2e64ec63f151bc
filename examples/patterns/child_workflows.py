"""Child workflows: a parent coordinates sub-orchestrations, each a durable instance of its own.

Seeds: 003 ("Standard Workflow Template" step 5: start a post-processing child workflow;
"Workflow Error Recovery": run a compensation child workflow), 001 ("Workflow Coordination":
a parent managing long-running parts).

`process_regions` starts one `reconcile_region` child per region (fan-out over children, with
explicit ids ``<parent>:region-<name>`` so each child can be found, queried or retried on its
own). A child that fails does not fail the parent: it reports the failure as
``SubOrchestrationFailed`` and the parent starts a `rollback_region` child for it. A clean run
ends with a `post_process` child the parent waits for.

Replay-safe because starting a child is a recorded command (``SubOrchestrationScheduled``) with
a deterministic id, and the child's result comes back as a recorded event; on replay the parent
does not start the children again.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, SubOrchestrationFailed

reg = Registry()


@reg.activity
def load_ledger(region: str) -> list[int]:
    return [len(region) * 10, 5, -3]


@reg.activity
def post_adjustment(entry: dict[str, Any]) -> str:
    if entry["amount"] < 0 and entry["region"] == "apac":
        raise ValueError(f"negative adjustment rejected in {entry['region']}")
    return f"adj-{entry['region']}-{entry['amount']}"


@reg.activity
def undo_adjustments(region: str) -> None:
    return None


@reg.activity
def publish_report(report: dict[str, Any]) -> str:
    return f"report with {len(report['regions'])} regions"


@reg.orchestration
async def reconcile_region(ctx: OrchestrationContext, region: str) -> dict[str, Any]:
    ledger = await ctx.activity(load_ledger, region)
    refs = [await ctx.activity(post_adjustment, {"region": region, "amount": a}) for a in ledger]
    return {"region": region, "balance": sum(ledger), "adjustments": refs}


@reg.orchestration
async def rollback_region(ctx: OrchestrationContext, failure: dict[str, Any]) -> str:
    await ctx.activity(undo_adjustments, failure["region"])
    return f"rolled back {failure['region']}"


@reg.orchestration
async def post_process(ctx: OrchestrationContext, results: list[dict[str, Any]]) -> str:
    report: str = await ctx.activity(publish_report, {"regions": results})
    return report


@reg.orchestration
async def process_regions(ctx: OrchestrationContext, regions: list[str]) -> dict[str, Any]:
    children = [
        ctx.sub_orchestration(reconcile_region, r, instance_id=f"{ctx.instance_id}:region-{r}")
        for r in regions
    ]
    outcomes = await ctx.all(children, return_exceptions=True)
    reconciled = [o for o in outcomes if not isinstance(o, SubOrchestrationFailed)]
    failed: dict[str, str] = {}
    for region, outcome in zip(regions, outcomes, strict=True):
        if isinstance(outcome, SubOrchestrationFailed):
            failed[region] = outcome.message
            await ctx.sub_orchestration(
                rollback_region,
                {"region": region, "error": outcome.message},
                instance_id=f"{ctx.instance_id}:rollback-{region}",
            )
    if failed:
        return {"status": "partial", "reconciled": len(reconciled), "failed": failed}
    report = await ctx.sub_orchestration(post_process, reconciled)
    return {"status": "done", "reconciled": len(reconciled), "report": report}
