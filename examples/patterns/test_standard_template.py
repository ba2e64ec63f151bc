from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Status
from testkit import DEFAULT_START, TestEnv, fail, hang, ok

from ._history import scheduled, timers
from .standard_template import (
    REQUEST,
    audit_log,
    create_resource,
    index_resource,
    reg,
    standard_business_workflow,
    validate_tenant_access,
)


@pytest.mark.parametrize(
    ("operation", "activity", "post"),
    [
        ("create", "create_resource", "indexed res-report"),
        ("update", "update_resource", None),
        ("delete", "delete_resource", None),
    ],
)
def test_the_operation_picks_the_business_step(operation, activity, post) -> None:
    env = TestEnv(reg)
    run = env.run(
        standard_business_workflow, {**REQUEST, "operation": operation, "resource_id": "res-report"}
    )

    assert run.output["status"] == "completed"
    assert run.output["post_processing"] == post
    assert scheduled(run.history) == ["validate_tenant_access", activity, "audit_log"]
    children = [s for s in env.instances() if s.instance_id.endswith(":post")]
    assert len(children) == (1 if post else 0)


def test_the_audit_entry_is_stamped_with_the_recorded_time() -> None:
    env = TestEnv(reg)
    env.script(create_resource, [hang(), ok({"resource_id": "r", "requires_post_processing": 0})])
    run = env.run(standard_business_workflow, REQUEST)

    [entry] = run.calls(audit_log)
    # the first attempt timed out after a minute, the retry answered at once
    assert entry["timestamp"] == (DEFAULT_START + timedelta(minutes=1, seconds=1)).isoformat()
    assert run.output["completed_at"] == entry["timestamp"]


def test_a_refused_tenant_fails_before_anything_else_runs() -> None:
    env = TestEnv(reg)
    run = env.run(standard_business_workflow, {**REQUEST, "tenant_id": "evil"})

    assert run.status == Status.FAILED
    assert run.error is not None and run.error.type == "PermissionError"
    assert "tenant evil: unknown tenant" in run.error.message
    assert scheduled(run.history) == ["validate_tenant_access"]


def test_validation_is_retried_with_backoff_then_gives_up() -> None:
    env = TestEnv(reg)
    env.script(validate_tenant_access, fail("directory timeout"))
    run = env.run(standard_business_workflow, REQUEST)

    assert run.status == Status.FAILED and "directory timeout" in str(run.error)
    assert len(run.calls(validate_tenant_access)) == 3
    assert timers(run.history, "retry") == [timedelta(seconds=1), timedelta(seconds=2)]
    assert run.calls(audit_log) == []


def test_an_unknown_operation_is_refused_with_the_valid_ones() -> None:
    env = TestEnv(reg)
    run = env.run(standard_business_workflow, {**REQUEST, "operation": "merge"})

    assert run.error is not None and run.error.type == "ValueError"
    assert "['create', 'delete', 'update']" in run.error.message


def test_a_failing_child_fails_the_parent_after_the_audit() -> None:
    env = TestEnv(reg)
    env.script(index_resource, fail("search cluster down", retryable=False))
    run = env.run(standard_business_workflow, REQUEST)

    assert run.status == Status.FAILED and "search cluster down" in str(run.error)
    assert len(run.calls(audit_log)) == 1  # audited before post-processing started
