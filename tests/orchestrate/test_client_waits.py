"""`wait()` timeouts say what the instance waits for; `wait_async` holds no executor thread."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from orchestrate import Client, OrchestrationContext, Registry, RetryPolicy

from .conftest import Harness

reg = Registry()
calls = {"charge": 0}


@reg.activity(
    name="charge", retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=30))
)
def charge(order: int) -> str:
    calls["charge"] += 1
    if calls["charge"] == 1:
        raise RuntimeError("card declined")
    return "tx"


@reg.orchestration
async def napper(ctx: OrchestrationContext) -> str:
    await ctx.sleep(timedelta(minutes=5))
    return "rested"


@reg.orchestration
async def approval(ctx: OrchestrationContext) -> object:
    return await ctx.event("Approval")


@reg.orchestration
async def raced(ctx: OrchestrationContext) -> object:
    first, timeout = ctx.event("First"), ctx.timer(timedelta(hours=1))
    await ctx.any([first, timeout])  # the event wins: the timer is cancelled, never fires
    return await ctx.event("Second")


@reg.orchestration
async def payer(ctx: OrchestrationContext) -> str:
    return await ctx.activity("charge", 1)  # type: ignore[no-any-return]


@reg.orchestration
async def bounded(ctx: OrchestrationContext) -> str:
    return await ctx.activity("charge", 1, timeout=timedelta(minutes=1))  # type: ignore[no-any-return]


@reg.orchestration
async def parent(ctx: OrchestrationContext) -> object:
    return await ctx.sub_orchestration(approval, instance_id="kid")


def timeout_message(client: Client, instance_id: str) -> str:
    with pytest.raises(TimeoutError) as raised:
        client.wait(instance_id, timeout=0)
    return str(raised.value)


def test_an_instance_waiting_for_its_timer_says_so_not_is_a_worker_running() -> None:
    hx = Harness(reg)
    iid = hx.start(napper, instance_id="n")
    message = timeout_message(hx.client, iid)
    assert message == (
        "instance 'n' is still running after 0 s: waiting for timer at 2024-01-01T00:05:00Z"
    )


def test_a_timer_past_due_that_never_fired_asks_for_a_worker() -> None:
    hx = Harness(reg)
    iid = hx.start(napper)
    hx.clock.advance(timedelta(minutes=10))  # no worker ran since
    message = timeout_message(hx.client, iid)
    assert "timer at 2024-01-01T00:05:00Z is past due and has not fired" in message
    assert "is a worker running?" in message


def test_an_instance_nobody_started_asks_for_a_worker() -> None:
    hx = Harness(reg)
    iid = hx.client.start(napper)
    message = timeout_message(hx.client, iid)
    assert "still pending" in message and "no worker has taken its first turn" in message
    assert "is a worker running?" in message


def test_an_event_wait_is_named_when_the_client_knows_the_code() -> None:
    hx = Harness(reg)
    iid = hx.start(approval, instance_id="a")
    message = timeout_message(hx.client, iid)
    assert message.endswith("waiting for event 'Approval'")
    anonymous = Client(hx.store)  # no registry: the history does not record event waits
    message = timeout_message(anonymous, iid)
    assert "waits for nothing its history shows (an external event" in message
    assert "is a worker running" not in message


def test_a_race_loser_is_not_waited_for() -> None:
    hx = Harness(reg)
    iid = hx.start(raced)
    assert "waiting for timer at 2024-01-01T01:00:00Z, event 'First'" in timeout_message(
        hx.client, iid
    )
    hx.client.raise_event(iid, "First")
    hx.settle()
    assert timeout_message(hx.client, iid).endswith("waiting for event 'Second'")


def test_activities_and_their_retries_are_named() -> None:
    calls["charge"] = 0
    hx = Harness(reg)
    iid = hx.client.start(payer, instance_id="p")
    hx.worker.run_turns()
    message = timeout_message(hx.client, iid)
    assert "waiting for activity 'charge' (attempt 1, scheduled 2024-01-01T00:00:00Z" in message
    hx.settle()  # the first attempt fails: a backoff timer before the second
    message = timeout_message(hx.client, iid)
    assert message.endswith("waiting for the retry of activity 'charge' at 2024-01-01T00:00:30Z")
    hx.clock.advance(30)
    hx.worker.run_turns()
    assert "activity 'charge' (attempt 2" in timeout_message(hx.client, iid)


def test_an_activity_with_a_timeout_is_named_not_its_timeout_timer() -> None:
    hx = Harness(reg)
    iid = hx.client.start(bounded)
    hx.worker.run_turns()
    message = timeout_message(hx.client, iid)
    assert "waiting for activity 'charge' (attempt 1" in message
    assert "timer" not in message and "is a worker running" not in message


def test_a_child_is_named() -> None:
    hx = Harness(reg)
    iid = hx.start(parent)
    assert "waiting for sub-orchestration 'approval' ('kid')" in timeout_message(hx.client, iid)


def test_wait_async_times_out_with_the_same_message() -> None:
    hx = Harness(reg)
    iid = hx.start(approval)

    async def scenario() -> str:
        with pytest.raises(TimeoutError) as raised:
            await hx.client.wait_async(iid, timeout=0)
        return str(raised.value)

    assert asyncio.run(scenario()).endswith("waiting for event 'Approval'")


def test_many_wait_async_calls_leave_the_executor_to_start_async() -> None:
    """Twelve waits on a two-thread executor: `start_async` runs while every wait is still open
    (a wait that held a thread would let it run only after two waits timed out)."""
    hx = Harness(reg)
    keys = [hx.start(approval, instance_id=f"w{i}") for i in range(12)]

    async def scenario() -> tuple[list[bool], list[object]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=2))
        waits = [asyncio.create_task(hx.client.wait_async(k, timeout=10)) for k in keys]
        await asyncio.sleep(0)  # every wait has begun
        new = await hx.client.start_async(approval, instance_id="new")
        await hx.client.raise_event_async("new", "Approval", "late")
        still_open = [not w.done() for w in waits]
        for key in keys:
            await hx.client.raise_event_async(key, "Approval", key)
        hx.settle()
        outputs = [s.output for s in await asyncio.gather(*waits)]
        assert (await hx.client.wait_async(new, timeout=60)).output == "late"
        return still_open, outputs

    still_open, outputs = asyncio.run(scenario())
    assert still_open == [True] * 12
    assert outputs == keys


def test_wait_reads_again_backing_off_when_nothing_is_announced() -> None:
    """A finish another process commits may come unannounced (a PostgreSQL worker notifies only
    of work it leaves to others): the waits between reads start at 5 ms and double to 250 ms."""
    from orchestrate import MemoryStore

    store = MemoryStore()
    waits: list[float] = []

    def silent(timeout: float, since: object = None) -> bool:
        waits.append(round(timeout, 3))
        return True  # "something may have changed": read again, nothing to sleep through

    store.wait_for_change = silent  # type: ignore[method-assign]
    client = Client(store, registry=reg)
    client.start(napper, instance_id="n")
    with pytest.raises(TimeoutError):
        client.wait("n", timeout=0)  # no wait at all: times out at the first read
    assert waits == []
    real_state, reads = client.state, [0]

    def ninth_read_fails(instance_id: str) -> object:
        reads[0] += 1
        if reads[0] == 9:
            raise LookupError("enough reads")  # ends the wait after eight waits
        return real_state(instance_id)

    client.state = ninth_read_fails  # type: ignore[method-assign]
    with pytest.raises(LookupError):
        client.wait("n", timeout=60)
    assert waits == [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_waiting_on_a_closed_store_is_an_error_not_a_spin(
    kind: str, tmp_path, request: pytest.FixtureRequest
) -> None:
    from orchestrate.errors import StoreError

    from .stores import make_store

    url = request.getfixturevalue("pg_url") if kind == "postgres" else ""
    store = make_store(kind, tmp_path, url)
    client = Client(store, registry=reg)
    client.start(napper, instance_id="n")
    store.close()  # as Runtime.close() does under a thread still waiting
    with pytest.raises(StoreError, match=r"store was closed while waiting for 'n' to finish"):
        client.wait("n", timeout=60)
