from __future__ import annotations

import pytest

from orchestrate import Client, MemoryStore, Status, Worker
from testkit import FakeClock, TestEnv, fail

from ._history import statuses
from .status_tracking import STAGES, data_processing_job, reg

JOB = {"id": "job-3", "files": ["a.csv", "b.csv"]}
PHASES = [phase for phase, _, _ in STAGES]


def test_a_client_sees_progress_advance_while_the_job_runs() -> None:
    # The runtime's own Worker, stepped by hand: run the orchestration's turns, let a Client
    # (as a web process would) read the status from the store, then run the activity the
    # instance waits for, and repeat. Only public API: copy it into your own tests.
    clock, store = FakeClock(), MemoryStore()
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock, sync_activities=1)
    key = client.start(data_processing_job, JOB)
    seen = []
    while not client.state(key).finished:
        worker.run_turns()
        status = client.state(key).custom_status
        seen.append((status["phase"], status["progress"], len(status["completed"])))
        worker.run_activities()

    assert seen == [
        ("download", 0.2, 0),
        ("validate", 0.4, 1),
        ("transform", 0.6, 2),
        ("upload", 0.8, 3),
        ("notify", 1.0, 4),
        ("done", 1.0, 5),
    ]
    assert client.state(key).custom_status == {
        "phase": "done",
        "progress": 1.0,
        "completed": PHASES,
    }


def test_every_status_is_recorded_in_the_history() -> None:
    env = TestEnv(reg)
    run = env.run(data_processing_job, JOB)

    assert run.output == {"job": "job-3", "location": "s3://results/job-3/"}
    assert [s["phase"] for s in statuses(run.history)] == [*PHASES, "done"]


@pytest.mark.parametrize(("index", "phase"), list(enumerate(PHASES)))
def test_a_failing_stage_publishes_where_and_why(index: int, phase: str) -> None:
    env = TestEnv(reg)
    env.script(STAGES[index][2], fail(OSError("disk full")))
    run = env.run(data_processing_job, JOB)

    assert run.status == Status.FAILED
    assert run.custom_status == {
        "phase": "failed",
        "progress": STAGES[index][1],
        "completed": PHASES[:index],
        "error": {"stage": phase, "type": "OSError", "message": "disk full"},
    }
