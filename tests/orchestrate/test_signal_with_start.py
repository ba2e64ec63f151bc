"""Signal-with-start on SQLite: callers racing on one id from threads start it once, and every
caller's event reaches it."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrate import Client, OrchestrationContext, Registry, Status, Worker
from orchestrate.stores.sqlite import SqliteStore

reg = Registry()


@reg.orchestration
async def collect(ctx: OrchestrationContext, want: int) -> list[int]:
    return sorted([await ctx.event("item") for _ in range(want)])


def test_racing_callers_start_one_instance_and_all_their_events_arrive(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "race.db"))
    client = Client(store, registry=reg)
    callers = 8
    ready = threading.Barrier(callers)
    errors: list[BaseException] = []

    def call(n: int) -> None:
        ready.wait()
        try:
            client.start(collect, callers, instance_id="c", if_running="raise_event", event=("item", n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert [s.instance_id for s in store.list_instances()] == ["c"]
    worker = Worker(reg, store)
    while worker.poll_once():
        pass
    state = client.state("c")
    assert (state.status, state.output) == (Status.COMPLETED, list(range(callers)))
    store.close()
