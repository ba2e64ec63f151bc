from __future__ import annotations

from orchestrate import Status
from orchestrate import history as h
from testkit import TestEnv, hang, ok

from .child_workflows import load_ledger, process_regions, reg, undo_adjustments


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


def test_terminating_the_close_ends_its_regions_and_purge_lets_it_run_again() -> None:
    """Children follow their parent (on_parent_close="terminate", the default): an operator
    who stops the close stops the regions still reconciling, and purging the close removes its
    children, so the same close id (and so the same child ids) can start again."""
    env = TestEnv(reg)
    env.script(load_ledger, [hang()])  # the ledger service never answers
    env.run(process_regions, ["emea", "us"], instance_id="close-2024-03")
    region = "close-2024-03:region-emea"
    assert env.state(region).status == Status.RUNNING

    env.terminate("close-2024-03", "books closed by hand")

    stopped = env.state(region)
    assert stopped.status == Status.TERMINATED
    assert stopped.error is not None and "parent 'close-2024-03'" in stopped.error.message
    assert env.client.purge("close-2024-03") == 3
    env.script(load_ledger, [ok([40, 5])])
    run = env.run(process_regions, ["emea", "us"], instance_id="close-2024-03")
    assert run.output["status"] == "done"
