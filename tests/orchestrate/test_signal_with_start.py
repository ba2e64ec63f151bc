"""Signal-with-start on SQLite: callers racing on one id from threads start it once, and every
caller's event reaches it."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrate import (
    Client,
    OrchestrationContext,
    RaiseEventFailed,
    Registry,
    Runtime,
    Status,
    Worker,
)
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
            client.start(
                collect, callers, instance_id="c", if_running="raise_event", event=("item", n)
            )
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


@reg.orchestration
async def announce(ctx: OrchestrationContext, target: str) -> str:
    for n in range(3):
        await ctx.raise_event(target, "item", n)
    try:
        await ctx.raise_event("nobody", "item", 0)
    except RaiseEventFailed as exc:
        return exc.error_type
    return "delivered"


def test_ctx_raise_event_end_to_end_on_sqlite_with_worker_threads(tmp_path: Path) -> None:
    with Runtime(reg, store=f"sqlite:///{tmp_path / 'rt.db'}") as rt:
        rt.start(collect, 3, instance_id="c")
        rt.start(announce, "c", instance_id="a")
        assert rt.wait("a", timeout=10).output == "InstanceNotFound"
        assert rt.wait("c", timeout=10).output == [0, 1, 2]
        kinds = [e.kind for e in rt.history("a")]
        assert kinds.count("EventSent") == 4 and kinds.count("EventDelivered") == 3
