"""Worker turns: the execution cache, failures that end on the instance, activity execution."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    ActivityFailed,
    Client,
    MemoryStore,
    OrchestrationContext,
    Registry,
    RetryPolicy,
    Runtime,
    Status,
    Worker,
    activity_info,
)
from orchestrate.codec import event_to_dict

from .conftest import Harness

reg = Registry()
keys: list[tuple[str, int, str]] = []


@reg.activity
def inc(n: int) -> int:
    return n + 1


@reg.activity(retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=1)))
def keyed(tag: str) -> str:
    info = activity_info()
    keys.append((tag, info.attempt, info.idempotency_key))
    if tag == "flaky" and info.attempt < 3:
        raise ConnectionError("try again")
    return info.idempotency_key


@reg.activity(retry=RetryPolicy(max_attempts=5, initial_interval=timedelta(0)))
def unserializable(_: Any) -> Any:
    return {"when": {1, 2}}


@reg.orchestration
async def mixed(ctx: OrchestrationContext, n: int) -> dict[str, Any]:
    total = 0
    for i in range(n):
        total = await ctx.activity(inc, total)
        if i % 2 == 0:
            await ctx.sleep(timedelta(minutes=i + 1))
    fan = await ctx.all([ctx.activity(inc, i) for i in range(3)])
    approval = ctx.event("Approve")
    winner = await ctx.any([approval, ctx.timer(timedelta(hours=1))])
    ctx.set_status({"total": total})
    return {"total": total, "fan": fan, "approved": winner is approval, "id": str(ctx.uuid())}


def drive_mixed(hx: Harness) -> str:
    iid = hx.start(mixed, 4, instance_id="m")
    for _ in range(4):
        hx.advance(600)
    hx.client.raise_event(iid, "Approve", True)
    hx.settle()
    return iid


def test_cached_and_replayed_executions_produce_identical_histories() -> None:
    cached, rebuilt = Harness(reg), Harness(reg, cache_size=0)
    a, b = drive_mixed(cached), drive_mixed(rebuilt)
    assert cached.state(a).output == rebuilt.state(b).output
    assert cached.state(a).output["approved"] is True
    assert [event_to_dict(e) for e in cached.history(a)] == [
        event_to_dict(e) for e in rebuilt.history(b)
    ]
    assert cached.worker.cache_misses == 1 and cached.worker.cache_hits > 5
    assert rebuilt.worker.cache_hits == 0 and rebuilt.worker.cache_misses > 5


def test_execution_cache_is_bounded_lru() -> None:
    hx = Harness(reg, cache_size=2)
    for key in ("a", "b", "c"):
        hx.start(mixed, 1, instance_id=key)
    assert list(hx.worker._cache) == ["b", "c"]


def test_unknown_orchestration_name_fails_only_that_instance() -> None:
    hx = Harness(reg, unknown_grace=timedelta(0))  # no waiting for a worker that knows it
    from orchestrate import Client

    anonymous = Client(hx.store, clock=hx.clock)  # no registry: names are not checked at start
    bad = anonymous.start("removed_since", {"x": 1}, instance_id="bad")
    good = hx.start(mixed, 0, instance_id="good")
    hx.settle()
    state = hx.state(bad)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "UnknownOrchestration"
    assert "no orchestration named 'removed_since'" in state.error.message
    assert "mixed" in state.error.message  # lists what is registered
    assert hx.state(good).status == Status.RUNNING


def test_corrupt_history_fails_that_instance_with_a_clear_error() -> None:
    hx = Harness(reg)
    iid = hx.start(mixed, 1, instance_id="corrupt")
    hx.worker.evict()

    def broken(instance_id: str) -> Any:
        from orchestrate import StoreError

        raise StoreError("event 3 is malformed: missing 'task_id'")

    hx.store.get_history = broken  # type: ignore[method-assign]
    hx.advance(600)
    state = hx.state(iid)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "StoreError"
    assert "stored history of 'corrupt' cannot be read" in state.error.message


def test_an_unreachable_store_during_a_replay_fails_the_round_not_the_instance() -> None:
    from orchestrate import StoreError, StoreUnavailable

    hx = Harness(reg)
    iid = hx.start(mixed, 1, instance_id="outage")
    hx.worker.evict()  # the next turn replays: it reads the history
    real = hx.store.get_history
    outage = [True]

    def unreachable(instance_id: str) -> Any:
        if outage[0]:
            raise StoreUnavailable("cannot reach PostgreSQL 'db': server closed the connection")
        return real(instance_id)

    hx.store.get_history = unreachable  # type: ignore[method-assign]
    hx.clock.advance(600)
    with pytest.raises(StoreUnavailable):
        hx.worker.poll_once()  # the round fails: the worker's loop backs off and retries
    assert hx.state(iid).status == Status.RUNNING  # nothing recorded, the claim given back
    assert issubclass(StoreUnavailable, StoreError)
    outage[0] = False
    hx.settle()  # the turn runs now: the timer fired, the fan-out ran, the 1 h race began
    assert "TimerFired" in hx.kinds(iid)
    hx.advance(7200)  # and the race's timer wins
    state = hx.state(iid)
    assert state.status == Status.COMPLETED and state.output["approved"] is False


def test_idempotency_key_is_stable_across_retries_and_distinct_per_call() -> None:
    keys.clear()

    @reg.orchestration(name="two_calls")
    async def two_calls(ctx: OrchestrationContext) -> list[str]:
        return [await ctx.activity(keyed, "flaky"), await ctx.activity(keyed, "steady")]

    hx = Harness(reg)
    iid = hx.start(two_calls, instance_id="k")
    hx.advance(1)
    hx.advance(2)
    first, second = hx.state(iid).output
    flaky = [k for k in keys if k[0] == "flaky"]
    assert [attempt for _, attempt, _ in flaky] == [1, 2, 3]
    assert {key for _, _, key in flaky} == {first}
    assert first != second and first.startswith("k:0:")


def test_expired_activity_lease_reruns_with_the_same_key() -> None:
    keys.clear()

    @reg.orchestration(name="one_call")
    async def one_call(ctx: OrchestrationContext) -> str:
        return await ctx.activity(keyed, "once")

    hx = Harness(reg, activity_lease=30)
    iid = hx.client.start(one_call, instance_id="lease")
    hx.worker.run_turns()
    lost = hx.store.fetch_activity_work(hx.clock.now(), lease=30)  # a worker that then dies
    assert len(lost) == 1
    hx.settle()
    assert keys == []  # the lease is still held: nobody else runs it
    hx.advance(31)
    assert [k[0] for k in keys] == ["once"]
    assert hx.state(iid).output == keys[0][2]


def test_unserializable_activity_result_is_not_retried_and_names_the_path() -> None:
    @reg.orchestration(name="bad_result")
    async def bad_result(ctx: OrchestrationContext) -> str:
        try:
            await ctx.activity(unserializable)
        except ActivityFailed as exc:
            return f"{exc.error_type}: {exc.message}"
        return "no error"

    hx = Harness(reg)
    iid = hx.start(bad_result)
    assert hx.kinds(iid).count("ActivityScheduled") == 1
    output = hx.state(iid).output
    assert output.startswith("SerializationError: activity 'unserializable' returned")
    assert "result['when'] is a set" in output


@pytest.mark.parametrize(
    ("body", "error_type", "fragment"),
    [
        ("raise", "KeyError", "'sku-9'"),
        ("output", "SerializationError", "output['at'] is a datetime"),
        ("unknown", "UnknownActivity", "no activity named 'nope' is registered"),
    ],
)
def test_orchestration_errors_end_as_clear_errors_on_the_instance(
    body: str, error_type: str, fragment: str
) -> None:
    local = Registry()

    @local.orchestration
    async def failing(ctx: OrchestrationContext) -> Any:
        if body == "raise":
            raise KeyError("sku-9")
        if body == "output":
            return {"at": ctx.now()}
        return await ctx.activity("nope")

    hx = Harness(local)
    state = hx.state(hx.start(failing))
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == error_type
    assert fragment in state.error.message


def test_terminate_stops_the_instance_and_fails_its_parent_wait() -> None:
    local = Registry()

    @local.orchestration
    async def forever(ctx: OrchestrationContext) -> None:
        await ctx.event("never")

    @local.orchestration
    async def parent(ctx: OrchestrationContext) -> str:
        try:
            await ctx.sub_orchestration(forever, instance_id="child")
        except Exception as exc:
            return type(exc).__name__ + ":" + str(exc)
        return "finished"

    hx = Harness(local)
    pid = hx.start(parent, instance_id="parent")
    hx.client.terminate("child", reason="operator")
    hx.settle()
    child = hx.state("child")
    assert child.status == Status.TERMINATED
    assert child.error is not None and child.error.message == "operator"
    assert hx.state(pid).output.startswith("SubOrchestrationFailed:forever failed with Terminated")


def test_runtime_threads_run_instances_to_completion() -> None:
    with Runtime(reg, store="memory:", threads=2) as rt:
        ids = [rt.start(mixed, 0, instance_id=f"t{i}") for i in range(5)]
        for iid in ids:
            rt.raise_event(iid, "Approve", True)
        states = [rt.wait(iid, timeout=30) for iid in ids]
    assert [s.status for s in states] == [Status.COMPLETED] * 5
    assert all(s.output["approved"] for s in states)


# --- regressions from review ---------------------------------------------------------------------


def test_patched_keeps_the_old_path_for_an_instance_that_passed_the_point_with_old_code() -> None:
    old, new = Registry(), Registry()
    for registry in (old, new):
        registry.activity(name="b")(lambda _: "b")
    new.activity(name="c")(lambda _: "c")

    @old.orchestration(name="o")
    async def o_old(ctx: OrchestrationContext) -> Any:
        await ctx.event("go")
        return await ctx.activity("b")

    @new.orchestration(name="o")
    async def o_new(ctx: OrchestrationContext) -> Any:
        if ctx.patched("pre-check"):  # a new step *before* the wait the old run is parked on
            await ctx.activity("c")
        await ctx.event("go")
        return await ctx.activity("b")

    hx = Harness(old)
    hx.start("o", instance_id="old")
    deployed = Harness(new)
    deployed.store, deployed.client.store = hx.store, hx.store
    deployed.worker = type(hx.worker)(new, hx.store, clock=deployed.clock)
    deployed.clock.current = hx.clock.current
    deployed.client.raise_event("old", "go")
    deployed.settle()
    assert deployed.state("old").output == "b"
    assert "PatchMarker" not in deployed.kinds("old")
    assert [e.name for e in deployed.history("old") if e.kind == "ActivityScheduled"] == ["b"]
    fresh = deployed.start("o", instance_id="fresh")
    deployed.client.raise_event(fresh, "go")
    deployed.settle()
    assert [e.name for e in deployed.history(fresh) if e.kind == "ActivityScheduled"] == ["c", "b"]


def parked_registry() -> tuple[Registry, Any, list[bool]]:
    local = Registry()
    local.activity(name="extra")(lambda _: None)
    changed = [False]

    @local.orchestration
    async def parked(ctx: OrchestrationContext) -> str:
        if changed[0]:
            ctx.activity("extra")  # new code schedules something before the recorded wait
        await ctx.event("go")
        return "done"

    return local, parked, changed


def test_a_command_the_recorded_run_never_issued_fails_the_turn_not_the_instance() -> None:
    local, parked, changed = parked_registry()
    hx = Harness(local, nondeterminism_retry=60)
    iid = hx.start(parked)
    before = hx.kinds(iid)
    changed[0] = True  # a bad deploy
    hx.worker.evict()
    hx.client.raise_event(iid, "go")
    hx.settle()
    state = hx.state(iid)
    assert state.status == Status.RUNNING and state.error is not None
    assert state.error.type == "NonDeterminismError"
    assert "the history has no further command" in state.error.message
    assert "scheduled activity 'extra'" in state.error.message
    assert "retried every 60 s" in state.error.message
    assert hx.kinds(iid) == before  # nothing appended, the event not consumed
    with pytest.raises(TimeoutError, match="its last turn failed: NonDeterminismError"):
        hx.client.wait(iid, timeout=0)
    changed[0] = False  # the deploy is rolled back
    hx.advance(59)
    assert hx.state(iid).status == Status.RUNNING  # still backing off
    hx.advance(1)
    state = hx.state(iid)
    assert (state.status, state.output, state.error) == (Status.COMPLETED, "done", None)


def test_on_nondeterminism_fail_fails_the_instance() -> None:
    local, parked, changed = parked_registry()
    hx = Harness(local, on_nondeterminism="fail")
    iid = hx.start(parked)
    changed[0] = True
    hx.worker.evict()
    hx.client.raise_event(iid, "go")
    hx.settle()
    state = hx.state(iid)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "NonDeterminismError"
    with pytest.raises(ValueError, match="use 'retry'"):
        Harness(local, on_nondeterminism="ignore")


def test_terminate_arriving_with_continue_as_new_ends_the_instance() -> None:
    local = Registry()

    @local.orchestration
    async def looping(ctx: OrchestrationContext, n: int) -> None:
        await ctx.event("next")
        ctx.continue_as_new(n + 1)

    hx = Harness(local)
    iid = hx.start(looping, 0)
    hx.client.raise_event(iid, "next")
    hx.client.terminate(iid, "stop")  # same batch as the event that continues as new
    hx.settle()
    assert hx.state(iid).status == Status.TERMINATED
    assert hx.state(iid).generation == 1


def test_events_carried_over_continue_as_new_stay_ahead_of_later_ones() -> None:
    local = Registry()

    @local.orchestration
    async def two_gens(ctx: OrchestrationContext, gen: int) -> list[Any]:
        if gen == 0:
            await ctx.event("go")  # 'item' stays buffered
            ctx.continue_as_new(1)
        return [await ctx.event("item"), await ctx.event("item")]

    hx = Harness(local)
    iid = hx.start(two_gens, 0)
    hx.client.raise_event(iid, "item", "first")
    hx.client.raise_event(iid, "go")
    real = hx.store.write

    def write_while_an_event_arrives(batch: Any) -> Any:
        hx.client.raise_event(iid, "item", "second")  # raised while the CAN turn runs
        return real(batch)

    hx.store.write = write_while_an_event_arrives  # type: ignore[method-assign]
    hx.worker.run_turns()
    hx.store.write = real  # type: ignore[method-assign]
    hx.settle()
    assert hx.state(iid).output == ["first", "second"]


@dataclass
class Item:
    sku: str
    qty: int


poison = Registry()


@poison.activity
def half_item(_: Any) -> Item:
    return {"sku": "x"}  # type: ignore[return-value]  # no qty: does not fit Item


@poison.orchestration
async def takes_item(ctx: OrchestrationContext, item: Item) -> int:
    return item.qty


@poison.orchestration
async def gets_item(ctx: OrchestrationContext) -> str:
    try:
        await ctx.activity(half_item)
    except ActivityFailed as exc:
        return f"{exc.error_type}: {exc.message}"
    return "no error"


def test_payloads_that_do_not_fit_their_annotation_fail_clearly_instead_of_looping() -> None:
    hx = Harness(poison)
    bad_input = hx.start(takes_item, {"sku": "x"})
    state = hx.state(bad_input)
    assert state.status == Status.FAILED and state.error is not None
    assert state.error.type == "SerializationError"
    assert "input of 'takes_item' does not fit its annotation Item" in state.error.message
    bad_result = hx.state(hx.start(gets_item)).output
    assert bad_result.startswith("SerializationError: the result of 'half_item' does not fit")


def test_a_batch_of_slow_activities_gives_back_what_it_cannot_start_in_time() -> None:
    local = Registry()
    runs: list[int] = []
    hx = Harness(local, activity_lease=300)

    @local.activity
    def slow(n: int) -> int:
        runs.append(n)
        hx.clock.advance(200)  # each takes 200 s of a 300 s lease
        return n

    @local.orchestration
    async def three(ctx: OrchestrationContext) -> list[int]:
        return await ctx.all([ctx.activity(slow, n) for n in range(3)])

    iid = hx.client.start(three)
    hx.worker.run_turns()
    # A second worker polls while the first is busy: it must never get an item the first holds.
    other = type(hx.worker)(local, hx.store, clock=hx.clock, activity_lease=300)
    hx.worker.run_activities()
    other.run_activities()
    hx.settle()
    assert hx.state(iid).output == [0, 1, 2]
    assert sorted(runs) == [0, 1, 2]  # each ran exactly once


def test_a_result_that_arrived_before_the_deadline_beats_a_lagging_workers_timeout() -> None:
    local = Registry()
    local.activity(name="quick")(lambda _: "done")

    @local.orchestration
    async def guarded(ctx: OrchestrationContext) -> str:
        try:
            return await ctx.activity("quick", timeout=30)
        except ActivityFailed as exc:
            return exc.error_type

    hx = Harness(local)
    iid = hx.client.start(guarded)
    hx.worker.run_turns()
    hx.clock.advance(10)
    hx.worker.run_activities()  # finished at t=10, well inside the 30 s timeout
    hx.clock.advance(50)  # the orchestration worker lags: the timeout is also due by now
    hx.settle()
    assert hx.state(iid).output == "done"


def test_events_of_one_name_stay_fifo_even_when_the_senders_clocks_disagree() -> None:
    local = Registry()

    @local.orchestration
    async def two(ctx: OrchestrationContext) -> list[Any]:
        return [await ctx.event("item"), await ctx.event("item")]

    hx = Harness(local)
    iid = hx.client.start(two)
    hx.client.raise_event(iid, "item", "first")
    hx.clock.current -= timedelta(seconds=5)  # a second sender whose clock runs behind
    hx.client.raise_event(iid, "item", "second")
    hx.clock.advance(10)
    hx.settle()
    assert hx.state(iid).output == ["first", "second"]


# --- regressions from the second review -----------------------------------------------------------


def harness_on(kind: str, registry: Registry, tmp_path: Any) -> Harness:
    hx = Harness(registry)
    if kind == "sqlite":
        from orchestrate import Client, Worker
        from orchestrate.stores.sqlite import SqliteStore

        hx.store = SqliteStore(str(tmp_path / "w.db"))  # type: ignore[assignment]
        hx.client = Client(hx.store, registry=registry, clock=hx.clock)
        hx.worker = Worker(registry, hx.store, clock=hx.clock, sync_activities=1)
    return hx


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_an_instance_stuck_on_non_determinism_can_still_be_terminated(
    kind: str, tmp_path: Any
) -> None:
    local, parked, changed = parked_registry()
    hx = harness_on(kind, local, tmp_path)
    iid = hx.start(parked)
    changed[0] = True
    hx.worker.evict()
    hx.client.raise_event(iid, "go")
    hx.settle()
    assert hx.state(iid).status == Status.RUNNING  # stuck, retrying
    hx.client.terminate(iid, "give up")
    hx.advance(60)
    state = hx.state(iid)
    assert state.status == Status.TERMINATED and state.error is not None
    assert state.error.message == "give up"
    assert hx.client.purge(iid) == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_timer_created_and_cancelled_in_one_turn_is_never_queued(
    kind: str, tmp_path: Any
) -> None:
    local = Registry()

    @local.orchestration
    async def buffered(ctx: OrchestrationContext) -> str:
        await ctx.any([ctx.event("go"), ctx.timer(30)])  # "go" is already buffered
        await ctx.event("end")
        return "ok"

    hx = harness_on(kind, local, tmp_path)
    iid = hx.client.start(buffered)
    hx.client.raise_event(iid, "go")
    hx.settle()
    hx.clock.advance(31)
    assert hx.settle() == 0  # nothing wakes the instance
    assert "TimerFired" not in hx.kinds(iid)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_purged_id_started_again_gets_its_timers(kind: str, tmp_path: Any) -> None:
    local = Registry()

    @local.orchestration
    async def race_then_sleep(ctx: OrchestrationContext, first: bool) -> str:
        if first:
            winner = ctx.event("go")
            await ctx.any([winner, ctx.timer(3600)])  # the timer (task 0) loses
            return "event"
        await ctx.sleep(3600)  # task 0 again, in the next run under the same id
        return "slept"

    hx = harness_on(kind, local, tmp_path)
    hx.start(race_then_sleep, True, instance_id="i")
    hx.client.raise_event("i", "go")
    hx.settle()
    assert hx.client.purge("i") == 1
    hx.start(race_then_sleep, False, instance_id="i")
    hx.advance(3600)
    assert hx.state("i").output == "slept"


def test_a_turn_lost_before_commit_replays_to_the_same_race_winner() -> None:
    local = Registry()
    local.activity(name="work")(lambda x: x)

    @local.orchestration
    async def race(ctx: OrchestrationContext) -> str:
        timer, call = ctx.timer(10), ctx.activity("work", 1)
        return "activity" if await ctx.any([call, timer]) is call else "timer"

    outputs = []
    for crash in (False, True):
        hx = Harness(local)
        iid = hx.client.start(race)
        hx.worker.run_turns()
        hx.clock.advance(5)
        hx.worker.run_activities()  # the result arrives at +5 s
        hx.clock.advance(6)  # +11 s: the timer is due too
        if crash:  # a worker runs the turn, then dies before committing it
            [work] = hx.store.fetch_orchestration_work(hx.clock.now())
            hx.worker._turn(work, hx.clock.now())
            hx.store.abandon(work)
            hx.worker.evict()
        hx.settle()
        outputs.append(hx.state(iid).output)
    assert outputs == ["activity", "activity"]


@reg.orchestration
async def rolls_dice(ctx: OrchestrationContext) -> float:
    import random

    return random.random()  # refused by the call guard: the turn fails on non-determinism


@pytest.mark.parametrize("log", [True, False])
def test_a_turn_failed_on_non_determinism_logs_its_retry_unless_told_not_to(
    caplog: pytest.LogCaptureFixture, log: bool
) -> None:
    store = MemoryStore()
    worker = Worker(reg, store, guard_calls=True, log_nondeterminism=log)
    Client(store).start(rolls_dice, instance_id="dice")
    with caplog.at_level(logging.ERROR, logger="orchestrate.worker"):
        worker.poll_once()
    lines = [r.getMessage() for r in caplog.records if r.name == "orchestrate.worker"]
    if log:  # production: the operator sees why the instance is stuck, and when it retries
        assert len(lines) == 1 and lines[0].startswith("turn of dice failed; retrying in 60.0 s")
    else:  # a driver that raises the error itself (TestEnv) says it once, without the retry
        assert lines == []
    assert Client(store).state("dice").error.type == "NonDeterministicCallError"
