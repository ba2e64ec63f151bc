"""`retry`: an instance stuck on a failed turn (its code no longer replayed its history) runs that
turn again now, not at its retry time: a store operator action on every store, `Client.retry`
and `orchestrate retry ID`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrate import (
    Client,
    InstanceNotFound,
    InstanceNotRunning,
    OrchestrationContext,
    Registry,
    Status,
    Worker,
)
from orchestrate.stores.sqlite import SqliteStore

from .conftest import ManualClock
from .stores import make_store
from .test_cli_operators import run, stuck_instance

reg = Registry()
changed = [False]


@reg.activity
def extra(_: object) -> None:
    return None


@reg.orchestration
async def parked(ctx: OrchestrationContext) -> object:
    if changed[0]:
        ctx.activity(extra, None)  # a bad deploy: a command the recorded run never issued
    return await ctx.event("go")


def settle(worker: Worker) -> None:
    for _ in range(100):
        if not worker.poll_once():
            return
    raise AssertionError("the worker never settled")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_retry_runs_a_stuck_turn_now(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    clock = ManualClock()
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock, cache_size=0, nondeterminism_retry=600)
    client.start(parked, instance_id="p")
    client.start(parked, instance_id="fine")
    settle(worker)
    assert client.retry("fine") is False  # not stuck: nothing to do
    changed[0] = True
    try:
        client.raise_event("p", "go", 7)
        settle(worker)
    finally:
        changed[0] = False  # the fix is deployed
    state = client.state("p")
    assert state.status == Status.RUNNING and state.error.type == "NonDeterminismError"
    settle(worker)
    assert client.state("p").status == Status.RUNNING  # held back for 600 s
    assert client.retry("p") is True
    settle(worker)
    state = client.state("p")
    assert state.status == Status.COMPLETED and state.output == 7 and state.error is None
    with pytest.raises(InstanceNotRunning, match="there is no turn to retry"):
        client.retry("p")
    with pytest.raises(InstanceNotRunning):
        store.retry("p")
    with pytest.raises(InstanceNotFound, match="no instance with id 'nope'"):
        store.retry("nope")
    assert store.retry("fine") is False  # no lock held
    store.close()


def test_cli_retry(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = str(tmp_path / "ops.db")
    stuck_instance(db, capsys)
    code, out, _ = run(capsys, "retry", "good", "--db", db)
    assert code == 0 and out == (
        "good is not stuck: its last turn did not fail, so there is nothing to retry\n"
    )
    code, out, _ = run(capsys, "retry", "bad", "--json", "--db", db)
    assert code == 0 and json.loads(out) == {"ok": True, "retried": True}
    store = SqliteStore(db)
    try:
        [work] = store.fetch_orchestration_work(Client(store).clock.now(), limit=10)
        assert work.instance.instance_id == "bad"  # released: a worker takes it at once
    finally:
        store.close()
    code, _, err = run(capsys, "retry", "ghost", "--db", db)
    assert code == 1 and "no instance with id 'ghost'" in err
