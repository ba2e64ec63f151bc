"""Graceful stop: `Worker.stop()` (and leaving ``with Runtime(...)``, and SIGTERM/SIGINT on
`orchestrate worker`) stops fetching, lets running activities finish within the grace period,
gives back the leases of what was not started, and logs what was abandoned. Real worker threads
on a memory store; every wait is bounded (`wait_until`)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from orchestrate import MemoryStore, OrchestrationContext, Registry, Runtime, Worker

from ..waiting import wait_until


def fan_out(reg: Registry, started: list[int], release: threading.Event) -> Any:
    @reg.activity
    def step(n: int) -> int:
        started.append(n)
        release.wait(10)  # the first one runs while the worker is asked to stop
        return n

    @reg.orchestration
    async def flow(ctx: OrchestrationContext, n: int) -> list[int]:
        return await ctx.all([ctx.activity(step, i) for i in range(n)])

    return flow


def test_stop_lets_the_running_activity_finish_and_gives_back_the_rest() -> None:
    reg, started, release = Registry(), [], threading.Event()
    flow = fan_out(reg, started, release)
    store = MemoryStore()
    worker = Worker(reg, store, threads=1, batch_size=3, sync_activities=1)
    rt = Runtime(reg, store)  # only its client part is used
    iid = rt.start(flow, 3)
    worker.start()
    wait_until(lambda: started, what="the first activity to start")
    stopper = threading.Thread(target=worker.stop, kwargs={"timeout": 10})
    stopper.start()
    wait_until(lambda: worker._stopping, what="stop() to begin")
    release.set()
    stopper.join(15)
    assert not stopper.is_alive()
    assert started == [0]  # the others were never started...
    history = rt.history(iid)
    assert [e.task_id for e in history if e.kind == "ActivityCompleted"] == [0]  # 0 finished
    queued = store.fetch_activity_work(rt.clock.now(), limit=10)
    assert sorted(w.input for w in queued) == [1, 2]  # ...and theirs are back, unleased


def test_what_still_runs_after_the_grace_period_is_logged_and_given_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reg, started, release = Registry(), [], threading.Event()
    flow = fan_out(reg, started, release)
    store = MemoryStore()
    worker = Worker(reg, store, threads=1, batch_size=1, grace=0.05, sync_activities=1)
    rt = Runtime(reg, store)
    rt.start(flow, 1)
    worker.start()
    try:
        wait_until(lambda: started, what="the activity to start")
        with caplog.at_level(logging.WARNING, logger="orchestrate.worker"):
            worker.stop()
        [record] = [r for r in caplog.records if "abandoned" in r.getMessage()]
        assert "abandoned 1 running activity (step " in record.getMessage()
        assert "run again on another worker" in record.getMessage()
        # Given back at once: another worker need not wait for the lease to run out.
        [again] = store.fetch_activity_work(rt.clock.now(), limit=10)
        assert again.input == 0
    finally:
        release.set()


def test_leaving_a_runtime_waits_for_a_running_activity() -> None:
    reg, started, release = Registry(), [], threading.Event()
    flow = fan_out(reg, started, release)
    store = MemoryStore()
    with Runtime(reg, store, threads=1, grace=10) as rt:
        iid = rt.start(flow, 1)
        wait_until(lambda: started, what="the activity to start")
        threading.Timer(0.05, release.set).start()
    assert rt.history(iid)[-1].kind in ("ActivityCompleted", "OrchestrationCompleted")


def test_a_stopping_worker_leases_nothing_more_with_its_results() -> None:
    reg, started, release = Registry(), [], threading.Event()
    flow = fan_out(reg, started, release)
    store = MemoryStore()
    worker = Worker(reg, store, threads=1, batch_size=2, sync_activities=1)
    rt = Runtime(reg, store)
    rt.start(flow, 2)
    rt.start(flow, 2)  # its turn becomes due while the first batch runs
    worker.start()
    wait_until(lambda: started, what="the first activity to start")
    stopper = threading.Thread(target=worker.stop, kwargs={"timeout": 10})
    stopper.start()
    wait_until(lambda: worker._stopping, what="stop() to begin")
    release.set()
    stopper.join(15)
    assert started == [0]
    leases = store.fetch_activity_work(rt.clock.now(), limit=10)
    assert len(leases) == 3  # one of the first instance's, both of the second's: none leased


class CountingStore(MemoryStore):
    """A memory store that records what each lease renewal said."""

    def __init__(self) -> None:
        super().__init__()
        self.renewed: list[list[bool]] = []

    def write(self, batch: Any) -> Any:
        written = super().write(batch)
        if batch.renewals:
            self.renewed.append(written.renewed)
        return written


def test_the_renewer_thread_renews_a_running_activity_and_stops_with_the_worker() -> None:
    reg, started, release = Registry(), [], threading.Event()
    flow = fan_out(reg, started, release)
    store = CountingStore()
    worker = Worker(reg, store, threads=1, activity_lease=0.2)  # renewed every 0.05 s
    rt = Runtime(reg, store)
    iid = rt.start(flow, 1)
    worker.start()
    try:
        wait_until(lambda: len(store.renewed) >= 3, what="three renewals of the running lease")
        assert all(renewed == [True] for renewed in store.renewed[:3])
        release.set()
        assert rt.wait(iid, timeout=10).output == [0]
    finally:
        release.set()
        worker.stop()
    count = len(store.renewed)
    assert worker._renewer is None  # stopped and joined
    assert len(store.renewed) == count
