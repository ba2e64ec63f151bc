from __future__ import annotations

from orchestrate import Status
from orchestrate import history as h
from testkit import TestEnv

from .child_workflows import process_regions, reg, undo_adjustments


def test_each_region_runs_as_its_own_child_instance() -> None:
    env = TestEnv(reg)
    run = env.run(process_regions, ["emea", "us"], instance_id="close-2024-01")

    assert run.output == {"status": "done", "reconciled": 2, "report": "report with 2 regions"}
    children = {s.instance_id: s for s in env.instances() if s.instance_id != "close-2024-01"}
    assert {"close-2024-01:region-emea", "close-2024-01:region-us"} <= set(children)
    emea = children["close-2024-01:region-emea"]
    assert emea.status == Status.COMPLETED
    assert emea.output == {
        "region": "emea",
        "balance": 42,
        "adjustments": ["adj-emea-40", "adj-emea-5", "adj-emea--3"],
    }
    # the parent's history holds the child starts and results, not the children's activities
    kinds = {e.kind for e in run.history}
    assert "ActivityScheduled" not in kinds
    started = [e.name for e in run.history if isinstance(e, h.SubOrchestrationScheduled)]
    assert started == ["reconcile_region", "reconcile_region", "post_process"]


def test_a_failed_child_is_rolled_back_by_another_child_and_the_parent_survives() -> None:
    env = TestEnv(reg)  # the real activity rejects negative adjustments in apac
    run = env.run(process_regions, ["emea", "apac", "us"], instance_id="close-2024-02")

    assert run.status == Status.COMPLETED
    assert run.output["status"] == "partial"
    assert run.output["reconciled"] == 2
    assert "negative adjustment rejected in apac" in run.output["failed"]["apac"]
    assert env.state("close-2024-02:region-apac").status == Status.FAILED
    rollback = env.state("close-2024-02:rollback-apac")
    assert rollback.output == "rolled back apac"
    assert env.calls("close-2024-02:rollback-apac", undo_adjustments) == ["apac"]
