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

from orchestrate import OrchestrationContext, Registry, Status, SubOrchestrationFailed
from orchestrate import history as h
from testkit import Run, fail, ok

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


# --- fuzzing: orch-fuzz examples/patterns/child_workflows.py:process_regions ---------------------


def _children(run: Run) -> list[h.SubOrchestrationScheduled]:
    return [e for e in run.history if isinstance(e, h.SubOrchestrationScheduled)]


def every_failed_region_rolled_back_once(run: Run) -> None:
    """process_regions: one findable child per region; each region is reconciled or failed,
    every failed one gets exactly one rollback child, and the report runs only when none
    failed."""
    regions = run.history[0].input  # type: ignore[attr-defined]
    children = _children(run)
    recon = [c for c in children if c.name == "reconcile_region"]
    assert [c.instance_id for c in recon] == [f"{run.instance_id}:region-{r}" for r in regions]
    failed_ids = {e.task_id for e in run.history if isinstance(e, h.SubOrchestrationFailed)}
    failed = [c.input for c in recon if c.task_id in failed_ids]
    rollbacks = [c.input["region"] for c in children if c.name == "rollback_region"]
    assert rollbacks == failed, f"failed {failed}, rolled back {rollbacks}"
    assert sorted(run.output.get("failed", {})) == sorted(failed), run.output
    assert run.output["reconciled"] == len(regions) - len(failed), run.output
    reported = any(c.name == "post_process" for c in children)
    assert reported == (not failed) == (run.output["status"] == "done"), run.output


def posts_every_ledger_entry_in_order(run: Run) -> None:
    """reconcile_region: one adjustment per ledger entry, posted one at a time in ledger
    order; the balance is the ledger's sum; a failed post stops the region."""
    calls = {e.task_id: e for e in run.history if isinstance(e, h.ActivityScheduled)}
    done = [e for e in run.history if isinstance(e, h.ActivityCompleted | h.ActivityFailed)]
    assert [e.task_id for e in done] == list(calls)[: len(done)], "calls overlapped"
    if run.status == Status.FAILED:
        assert isinstance(done[-1], h.ActivityFailed), run.error
        return
    ledger = done[0].result  # type: ignore[union-attr]
    posted = [calls[e.task_id].input["amount"] for e in done[1:]]
    assert posted == ledger, f"posted {posted} for ledger {ledger}"
    assert run.output["balance"] == sum(ledger), run.output
    assert run.output["adjustments"] == [e.result for e in done[1:]], run.output  # type: ignore[union-attr]


def returns_what_its_one_activity_did(run: Run) -> None:
    """rollback_region / post_process: exactly one activity, and the output reports it."""
    calls = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
    assert len(calls) == 1, calls
    if run.status == Status.COMPLETED and calls[0].name == "undo_adjustments":
        assert run.output == f"rolled back {calls[0].input}", run.output
    elif run.status == Status.COMPLETED:
        [result] = [e.result for e in run.history if isinstance(e, h.ActivityCompleted)]
        assert run.output == result, run.output


FUZZ: dict[str, dict[str, Any]] = {
    "process_regions": {
        # (with "apac" in the list its child always fails: the real code rejects its entry)
        "input": ["emea", "us"],
        "outcomes": {load_ledger: [load_ledger, fail("ledger unavailable")]},
        "invariant": every_failed_region_rolled_back_once,
    },
    "reconcile_region": {
        "input": "emea",
        "outcomes": {post_adjustment: [post_adjustment, fail("ledger locked")]},
        "invariant": posts_every_ledger_entry_in_order,
    },
    "rollback_region": {
        "input": {"region": "apac", "error": "negative adjustment rejected in apac"},
        "outcomes": {undo_adjustments: [ok(None), fail("ledger locked")]},
        "invariant": returns_what_its_one_activity_did,
    },
    "post_process": {
        "input": [{"region": "emea", "balance": 42, "adjustments": ["adj-emea-40"]}],
        "outcomes": {publish_report: [publish_report, fail("report store unavailable")]},
        "invariant": returns_what_its_one_activity_did,
    },
}
