"""Rolling deploys: a worker that does not know an orchestration or activity leaves the work for a
worker that does (logged once per name, visible on the instance), and fails it only after the
grace period with no capable worker."""

from __future__ import annotations

import logging
import os
import random
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrate import ActivityFailed, Client, OrchestrationContext, Registry, Status, Worker
from orchestrate import cli as cli_module
from orchestrate.cli import main

from .conftest import ManualClock
from .stores import make_store

old = Registry()  # the deploy being replaced
new = Registry()  # the deploy rolling out


@new.activity
def price(n: int) -> int:
    return n * 10


@old.orchestration(name="checkout")
@new.orchestration(name="checkout")
async def checkout(ctx: OrchestrationContext, n: int) -> object:
    try:
        return await ctx.activity("price", n)  # only the new deploy has it
    except ActivityFailed as exc:
        return exc.error_type


@new.orchestration
async def refund(ctx: OrchestrationContext, n: int) -> int:  # only the new deploy has it
    return int(await ctx.activity(price, n)) + 1


GRACE, RETRY = timedelta(minutes=5), timedelta(seconds=2)


def workers(store, clock) -> tuple[Worker, Worker]:
    options = {"clock": clock, "unknown_grace": GRACE, "unknown_retry": RETRY}
    return Worker(old, store, **options), Worker(new, store, **options)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_work_only_one_worker_knows_completes_on_it(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store(kind, tmp_path)
    clock = ManualClock()
    client = Client(store, registry=new, clock=clock)
    stale, fresh = workers(store, clock)
    for i in range(10):
        client.start(checkout, i, instance_id=f"c{i}")
    fresh.run_turns()  # the new code schedules 'price' calls (leasing none of them)
    for i in range(10):
        client.start(refund, i, instance_id=f"r{i}")
    with caplog.at_level(logging.WARNING, logger="orchestrate.worker"):
        stale.poll_once()  # the old worker comes first and takes everything it can
        assert client.state("c0").status == Status.RUNNING  # 'price' parked, not failed
        held = client.state("r0")
        assert held.status == Status.PENDING and held.error.type == "UnknownOrchestration"
        assert "left the turn for one that has it" in held.error.message
        assert "if none takes it by 2024-01-01T00:05:00+00:00" in held.error.message
        assert client.list(stuck=True)  # visible to operators
        race = random.Random(7)  # the two race for work given back: either may come first
        for _ in range(40):
            clock.advance(RETRY)
            for worker in race.sample([stale, fresh], 2):
                while worker.poll_once():
                    pass
    for i in range(10):
        refund_state, checkout_state = client.state(f"r{i}"), client.state(f"c{i}")
        assert refund_state.status == Status.COMPLETED and refund_state.output == i * 10 + 1
        assert refund_state.error is None  # cleared by the turn the capable worker ran
        assert checkout_state.status == Status.COMPLETED and checkout_state.output == i * 10
    logged = [r.getMessage() for r in caplog.records if "does not know" in r.getMessage()]
    assert sorted(logged) == [
        "this worker does not know the activity 'price': leaving its work to a worker that "
        "does (failing it after 0:05:00 with none); logged once",
        "this worker does not know the orchestration 'refund': leaving its work to a worker "
        "that does (failing it after 0:05:00 with none); logged once",
    ]
    store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_with_no_capable_worker_the_work_fails_after_the_grace_period(
    kind: str, tmp_path: Path
) -> None:
    store = make_store(kind, tmp_path)
    clock = ManualClock()
    client = Client(store, registry=new, clock=clock)
    stale, fresh = workers(store, clock)
    client.start(checkout, 1, instance_id="c")
    fresh.run_turns()  # a new worker scheduled 'price', then left
    client.start(refund, 1, instance_id="r")
    start = clock.current
    while clock.current - start < GRACE - RETRY:  # within the grace: left for others
        stale.run_turns()
        stale.run_activities()
        clock.advance(RETRY)
    assert client.state("r").status == Status.PENDING
    assert client.state("r").error.type == "UnknownOrchestration"
    assert client.state("c").status == Status.RUNNING
    clock.advance(RETRY)  # the grace is over: failed as before
    stale.run_turns()
    stale.run_activities()  # gives the parked item back
    assert stale.run_activities() == 1  # takes it again: run here, it fails as unknown
    refund_state = client.state("r")
    assert refund_state.status == Status.FAILED
    assert refund_state.error.type == "UnknownOrchestration"
    fresh.run_turns()  # the checkout code sees its call fail
    checkout_state = client.state("c")
    assert checkout_state.status == Status.COMPLETED and checkout_state.output == "UnknownActivity"
    store.close()


def test_grace_zero_fails_at_once_as_before() -> None:
    store = make_store("memory", Path("."))
    client = Client(store, registry=new)
    worker = Worker(old, store, unknown_grace=timedelta(0))
    client.start(refund, 1, instance_id="r")
    worker.poll_once()
    assert client.state("r").status == Status.FAILED
    with pytest.raises(ValueError, match="unknown_grace"):
        Worker(old, store, unknown_retry=timedelta(0))


def test_the_worker_cli_takes_the_grace_and_the_async_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Worker] = []

    class StopAtOnce(Worker):
        def start(self) -> None:
            made.append(self)
            os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler ends its loop

    monkeypatch.setattr(cli_module, "Worker", StopAtOnce)
    argv = ["worker", "tests.orchestrate.test_rolling_deploys:new", "--db", str(tmp_path / "w.db")]
    assert main([*argv, "--unknown-grace", "30", "--async-activities", "7"]) == 0
    assert made[0].rolling.grace == timedelta(seconds=30)
    assert made[0].async_activities.limit == 7
