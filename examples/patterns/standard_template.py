"""The standard workflow template: validate the tenant, branch on the operation, audit, post-process.

Seed: 003 ("1. Standard Workflow Template": tenant access validated first with its own timeout
and retry policy; the operation type picks the business step; an audit entry stamped with
``ctx.now()``; a post-processing child workflow only when the result asks for one).

* Tenant validation is security critical: it runs first, with a 30 s timeout and a retry policy
  of 3 attempts (1 s, then 2 s, capped at 10 s). A refusal fails the workflow with a
  `PermissionError` naming the reason, and nothing else runs.
* The operation (``create``, ``update`` or ``delete``) picks the business activity; an unknown one
  fails at once with a `ValueError` listing the valid ones.
* The audit entry's timestamp is ``ctx.now()``: the recorded turn time, equal on replay (a wall
  clock read here would differ on every replay).
* A child orchestration post-processes the resource only when the business step says so; its
  instance id is derived from the parent's, so it can be found.

Replay-safe: every branch is decided by the input or by recorded activity results.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, RetryPolicy, Status
from orchestrate import history as h
from testkit import Run, fail, ok

reg = Registry()

VALIDATION_RETRY = RetryPolicy(
    max_attempts=3,
    initial_interval=timedelta(seconds=1),
    backoff=2.0,
    max_interval=timedelta(seconds=10),
)


@reg.activity(retry=VALIDATION_RETRY)
def validate_tenant_access(request: dict[str, Any]) -> dict[str, Any]:
    allowed = request["tenant_id"].startswith("t-")
    return {"is_valid": allowed, "reason": "" if allowed else "unknown tenant"}


BUSINESS_RETRY = RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=1))


@reg.activity(retry=BUSINESS_RETRY)
def create_resource(request: dict[str, Any]) -> dict[str, Any]:
    return {"resource_id": f"res-{request['name']}", "requires_post_processing": True}


@reg.activity(retry=BUSINESS_RETRY)
def update_resource(request: dict[str, Any]) -> dict[str, Any]:
    return {"resource_id": request["resource_id"], "requires_post_processing": False}


@reg.activity(retry=BUSINESS_RETRY)
def delete_resource(request: dict[str, Any]) -> dict[str, Any]:
    return {"resource_id": request["resource_id"], "requires_post_processing": False}


OPERATIONS = {"create": create_resource, "update": update_resource, "delete": delete_resource}


@reg.activity
def audit_log(entry: dict[str, Any]) -> None:
    return None


@reg.activity
def index_resource(resource_id: str) -> str:
    return f"indexed {resource_id}"


@reg.orchestration
async def post_processing(ctx: OrchestrationContext, resource_id: str) -> str:
    result: str = await ctx.activity(index_resource, resource_id)
    return result


@reg.orchestration
async def standard_business_workflow(
    ctx: OrchestrationContext, request: dict[str, Any]
) -> dict[str, Any]:
    ctx.log.info("workflow started for %s", request["operation"])
    validation = await ctx.activity(
        validate_tenant_access,
        {"user_id": request["user_id"], "tenant_id": request["tenant_id"]},
        timeout=timedelta(seconds=30),
    )
    if not validation["is_valid"]:
        raise PermissionError(
            f"tenant validation failed for user {request['user_id']} in tenant "
            f"{request['tenant_id']}: {validation['reason']}"
        )
    operation = OPERATIONS.get(request["operation"])
    if operation is None:
        raise ValueError(
            f"unknown operation {request['operation']!r}; use one of {sorted(OPERATIONS)}"
        )
    result = await ctx.activity(operation, request, timeout=timedelta(minutes=1))
    await ctx.activity(
        audit_log,
        {
            "user_id": request["user_id"],
            "tenant_id": request["tenant_id"],
            "operation": request["operation"],
            "resource_id": result["resource_id"],
            "timestamp": ctx.now().isoformat(),  # recorded time: the same on every replay
        },
        timeout=timedelta(seconds=10),
    )
    post = None
    if result["requires_post_processing"]:
        post = await ctx.sub_orchestration(
            post_processing, result["resource_id"], instance_id=f"{ctx.instance_id}:post"
        )
    return {
        "resource_id": result["resource_id"],
        "status": "completed",
        "post_processing": post,
        "completed_at": ctx.now().isoformat(),
    }


# --- fuzzing: orch-fuzz examples/patterns/standard_template.py:standard_business_workflow -------

REQUEST: dict[str, Any] = {
    "user_id": "u-1",
    "tenant_id": "t-1",
    "operation": "create",
    "name": "report",
}


def validated_then_audited(run: Run) -> None:
    """Nothing runs unless the tenant was validated (a refusal, or a validation that never
    answered, runs nothing else); nothing is audited before its business step completed; a
    success is audited once, stamped with the time of the turn that audited, and
    post-processed exactly when it asked to be."""
    scheduled = [e for e in run.history if isinstance(e, h.ActivityScheduled)]
    name_of = {e.task_id: e.name for e in scheduled}
    results = {
        name_of[e.task_id]: e.result for e in run.history if isinstance(e, h.ActivityCompleted)
    }
    names = [e.name for e in scheduled]
    business = [n for n in names if n in {f.__name__ for f in OPERATIONS.values()}]
    validated = results.get("validate_tenant_access", {}).get("is_valid", False)
    assert validated or names == ["validate_tenant_access"] * len(names), names
    if "audit_log" in names:
        assert business and business[0] in results, f"audited before the business step: {names}"
    if run.status == Status.COMPLETED:
        [audit] = [e for e in scheduled if e.name == "audit_log"]
        assert audit.input["timestamp"] == audit.at.isoformat(), audit
        children = [e for e in run.history if isinstance(e, h.SubOrchestrationScheduled)]
        assert (len(children) == 1) == (run.output["post_processing"] is not None), children


FUZZ: dict[str, dict[str, Any]] = {
    "standard_business_workflow": {
        "input": REQUEST,
        "outcomes": {
            validate_tenant_access: [
                ok({"is_valid": True, "reason": ""}),
                ok({"is_valid": False, "reason": "suspended"}),
                fail("directory timeout"),
            ],
            create_resource: [
                ok({"resource_id": "res-report", "requires_post_processing": True}),
                ok({"resource_id": "res-report", "requires_post_processing": False}),
            ],
        },
        "invariant": validated_then_audited,
    },
    "post_processing": {"input": "res-1"},
}
