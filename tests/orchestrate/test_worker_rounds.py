"""Worker rounds on every store: the turns' write leases the round's activities, and each batch
of results is written with the turns it causes on cached executions (follow-up turns, guarded by
`CachedBase`), whose write leases the next items; only while the instance is exactly where that
turn was computed, otherwise the result is queued for an ordinary turn."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrate import Client, Registry, Worker
from orchestrate.state import Batch, OrchestrationWork, TurnCommit, Written
from orchestrate.stores.sqlite import SqliteStore

from .conftest import ManualClock

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def counting_registry(calls: list[int]) -> Registry:
    reg = Registry()

    @reg.activity
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    @reg.orchestration
    async def chain(ctx, x: int) -> int:
        for _ in range(3):
            x = await ctx.activity(double, x)
        return x

    return reg


def test_a_round_runs_the_activities_its_commit_leased_without_fetching(store) -> None:
    calls: list[int] = []
    reg = counting_registry(calls)
    worker = Worker(reg, store, clock=ManualClock(T0))
    fetches: list[int] = []
    real_fetch = store.fetch_activity_work

    def counting_fetch(*args, **kwargs):
        fetches.append(1)
        return real_fetch(*args, **kwargs)

    store.fetch_activity_work = counting_fetch  # type: ignore[method-assign]
    client = Client(store, registry=reg)
    for i in range(5):
        client.start("chain", i, instance_id=f"c{i}")
    rounds = 0
    while worker.poll_once():
        rounds += 1
    assert [client.state(f"c{i}").output for i in range(5)] == [8 * i for i in range(5)]
    assert sorted(calls) == sorted(x * m for x in range(5) for m in (1, 2, 4))  # each once
    # One round ran everything: the activities its turn commit leased, then, through follow-up
    # turns, the ones each result's write leased. Only the idle
    # round after it looked for activities.
    assert rounds == 1 and len(fetches) == 1


def test_activities_leased_by_a_commit_are_given_back_if_the_round_fails(store) -> None:
    calls: list[int] = []
    reg = counting_registry(calls)
    worker = Worker(reg, store, clock=ManualClock(T0))

    def broken(commit: TurnCommit, exe: object) -> None:
        raise RuntimeError("observer failed")

    worker.on_commit = broken
    Client(store, registry=reg).start("chain", 1, instance_id="c")
    with pytest.raises(RuntimeError, match="observer failed"):
        worker.poll_once()
    assert calls == []
    # Given back unrun, at once: another worker takes the item now, not after the lease.
    [item] = store.fetch_activity_work(T0, limit=5)
    assert item.instance_id == "c" and item.task_id == 0


def make_registry(client_box: list[Client]) -> Registry:
    reg = Registry()

    @reg.activity
    def double(x: int) -> int:
        return 2 * x

    @reg.activity
    def double_and_poke(x: int) -> int:
        """Raises an event to its own instance: at completion a message is waiting."""
        client_box[0].raise_event("p", "go", 100)
        return 2 * x

    @reg.orchestration
    async def chain(ctx, x: int) -> int:
        for _ in range(3):
            x = await ctx.activity(double, x)
        return x

    @reg.orchestration
    async def plus_double(ctx, x: int) -> int:
        return await ctx.activity(double, x) + x

    @reg.orchestration
    async def fan(ctx, n: int) -> list[int]:
        return list(await ctx.all([ctx.activity(double, i) for i in range(n)]))

    @reg.orchestration
    async def poked(ctx, x: int) -> int:
        doubled = await ctx.activity(double_and_poke, x)
        extra = await ctx.event("go")
        return doubled + extra

    return reg


def run(
    store: Any, name: str, value: int, key: str, **options: Any
) -> tuple[Worker, list[TurnCommit]]:
    box: list[Client] = []
    reg = make_registry(box)
    client = Client(store, registry=reg)
    box.append(client)
    worker = Worker(reg, store, clock=ManualClock(T0), **options)
    commits: list[TurnCommit] = []
    worker.on_commit = lambda commit, exe: commits.append(commit)
    client.start(name, value, instance_id=key)
    while worker.poll_once():
        pass
    return worker, commits


def test_a_chain_runs_in_one_round_and_its_history_matches_a_run_without_follow_ups(
    store, tmp_path: Path
) -> None:
    fetched: list[int] = []
    real_fetch = store.fetch_orchestration_work

    def counting_fetch(*args: Any, **kwargs: Any) -> list[OrchestrationWork]:
        works = real_fetch(*args, **kwargs)
        fetched.append(len(works))
        return works

    store.fetch_orchestration_work = counting_fetch  # type: ignore[method-assign]
    run(store, "chain", 3, "c")
    plain = SqliteStore(str(tmp_path / "plain.db"))
    run(plain, "chain", 3, "c", cache_size=0)  # nothing cached: no follow-up turns
    assert store.get_instance("c").output == 24  # type: ignore[union-attr]
    assert sum(fetched) == 1  # only the start was fetched; three turns followed their results
    assert store.get_history("c") == plain.get_history("c")
    plain.close()


def test_results_of_one_instance_in_one_batch_make_one_follow_up_turn(store) -> None:
    _, commits = run(store, "fan", 4, "f")
    assert store.get_instance("f").output == [0, 2, 4, 6]  # type: ignore[union-attr]
    kinds = [e.kind for e in store.get_history("f")]
    assert kinds[5:] == ["ActivityCompleted"] * 4 + ["OrchestrationCompleted"]
    assert len(commits) == 2  # the start, then one turn for all four results


def test_a_message_waiting_at_completion_sends_the_result_through_an_ordinary_turn(
    store,
) -> None:
    _, commits = run(store, "poked", 1, "p")
    state = store.get_instance("p")
    assert state is not None and state.output == 102
    # The event arrived before the result, so the follow-up was refused (the same write took
    # the event's turn, fetched meanwhile); the result was queued and taken by an ordinary turn.
    # Nothing was applied out of arrival order.
    assert all(commit.cached is None for commit in commits)
    kinds = [e.kind for e in store.get_history("p")]
    assert kinds.index("EventRaised") < kinds.index("ActivityCompleted")


def test_turns_due_meanwhile_ride_in_the_follow_up_write(store) -> None:
    """A round's follow-up write also takes the turns that became due while its activities ran
    (here: an instance started by one of them), instead of one more write for them."""
    box: list[Client] = []
    reg = make_registry(box)
    client = Client(store, registry=reg)
    box.append(client)

    @reg.activity
    def start_another(x: int) -> int:
        client.start("plus_double", x, instance_id="other")
        return x

    @reg.orchestration
    async def starter(ctx, x: int) -> int:
        return await ctx.activity(start_another, x)

    worker = Worker(reg, store, clock=ManualClock(T0))
    batches: list[list[tuple[str, bool]]] = []
    real = store.write

    def spy(batch: Batch) -> Written:
        batches.append([(t.instance.instance_id, t.cached is not None) for t in batch.turns])
        return real(batch)

    store.write = spy  # type: ignore[method-assign]
    client.start("starter", 5, instance_id="s")
    while worker.poll_once():
        pass
    assert batches[:2] == [[("s", False)], [("other", False), ("s", True)]]
    assert store.get_instance("other").output == 15  # type: ignore[union-attr]


def test_a_failed_round_gives_back_what_an_earlier_follow_up_of_its_batch_leased(store) -> None:
    clock = ManualClock(T0)
    reg = Registry()
    calls: list[int] = []

    @reg.activity
    def slow(x: int) -> int:
        calls.append(x)
        clock.advance(2)  # slow: its result (and the turn it causes) is committed at once
        return x

    @reg.orchestration
    async def two(ctx, x: int) -> int:
        return await ctx.activity(slow, x) + await ctx.activity(slow, x + 100)

    worker = Worker(reg, store, clock=clock)
    client = Client(store, registry=reg)
    client.start("two", 1, instance_id="a")
    client.start("two", 2, instance_id="b")
    commits: list[str] = []

    def observer(commit: TurnCommit, exe: object) -> None:
        commits.append(commit.instance.instance_id)
        if len(commits) == 4:  # b's follow-up, after a's leased a's second item
            raise RuntimeError("observer failed")

    worker.on_commit = observer
    with pytest.raises(RuntimeError, match="observer failed"):
        worker.poll_once()
    assert calls == [1, 2]
    # Both second items are given back unrun at once, not only the failed commit's own lease.
    items = store.fetch_activity_work(clock.now(), limit=10)
    assert sorted((w.instance_id, w.input) for w in items) == [("a", 101), ("b", 102)]


def test_a_follow_up_that_continues_as_new_is_applied(store) -> None:
    reg = Registry()

    @reg.activity
    def inc(x: int) -> int:
        return x + 1

    @reg.orchestration
    async def looper(ctx, n: int) -> int:
        if n >= 3:
            return n
        ctx.continue_as_new(await ctx.activity(inc, n))

    worker = Worker(reg, store, clock=ManualClock(T0))
    applied: list[bool] = []  # of the cached (follow-up) turns written
    real = store.write

    def spy(batch: Batch) -> Written:
        written = real(batch)
        applied.extend(ok for t, ok in zip(batch.turns, written.applied, strict=True) if t.cached)
        return written

    store.write = spy  # type: ignore[method-assign]
    Client(store, registry=reg).start("looper", 0, instance_id="L")
    while worker.poll_once():
        pass
    state = store.get_instance("L")
    assert state is not None and (state.output, state.generation) == (3, 3)
    assert applied == [True, True, True]  # each generation's result ended it at once


@pytest.mark.parametrize("follow", [True, False], ids=["follow-up", "ordinary-turn"])
def test_a_purged_and_restarted_id_is_not_run_on_the_old_runs_cached_execution(
    store, follow: bool
) -> None:
    reg = make_registry([])
    clock = ManualClock(T0)
    first, second = Worker(reg, store, clock=clock), Worker(reg, store, clock=clock)
    client = Client(store, registry=reg, clock=clock)
    client.start("plus_double", 1, instance_id="X")
    first.run_turns()  # caches run 1, waiting on double(1)
    client.terminate("X")
    second.run_turns()  # ends run 1 elsewhere: `first` still caches it
    store.purge("X")
    clock.advance(1)
    client.start(
        "plus_double", 10, instance_id="X"
    )  # run 2: generation 0 and history length as run 1
    second.run_turns()  # waits on double(10)
    if not follow:
        second.run_activities()  # the result is queued; `first` takes the ordinary turn
    while first.poll_once():
        pass
    state = store.get_instance("X")
    assert state is not None and (state.output, state.input) == (30, 10)


def test_a_race_decided_by_a_result_withdraws_the_loser_before_it_starts(store) -> None:
    # Both calls are leased in one batch; the winner runs first and takes a while (it moves
    # the manual clock), so its result is written at once, the turn it causes withdraws the
    # loser, and the worker skips the loser instead of running it.
    clock = ManualClock(T0)
    ran: list[str] = []
    reg = Registry()

    @reg.activity
    def winner(x: int) -> int:
        ran.append("winner")
        clock.advance(0.2)
        return x

    @reg.activity
    def loser(x: int) -> int:
        ran.append("loser")
        return x

    @reg.orchestration
    async def hedged(ctx, x: int) -> str:
        first, second = ctx.activity(winner, x), ctx.activity(loser, x)
        return "winner" if await ctx.any([first, second]) is first else "loser"

    worker = Worker(reg, store, clock=clock, sync_activities=1)  # one after another
    client = Client(store, registry=reg, clock=clock)
    client.start(hedged, 1, instance_id="h")
    for _ in range(4):
        worker.poll_once()
    assert client.state("h").output == "winner"
    assert ran == ["winner"]


def test_the_sync_calls_of_a_batch_run_at_once_on_the_workers_pool(store) -> None:
    # Four calls that can only finish together: each waits at a barrier for the other three
    # (a barrier that breaks after 5 s fails the calls, and so the test).
    import threading

    barrier = threading.Barrier(4, timeout=5)
    reg = Registry()

    @reg.activity
    def meet(x: int) -> int:
        barrier.wait()
        return x

    @reg.orchestration
    async def fan(ctx, n: int) -> list[int]:
        return await ctx.all([ctx.activity(meet, i) for i in range(n)])

    worker = Worker(reg, store, clock=ManualClock(T0), sync_activities=4)
    client = Client(store, registry=reg, clock=ManualClock(T0))
    client.start(fan, 4, instance_id="f")
    for _ in range(3):
        worker.poll_once()
    state = client.state("f")
    assert state.output == [0, 1, 2, 3], state.error
    worker.stop()


def test_a_write_leases_what_its_turns_schedule_plus_a_batch(store) -> None:
    """Items queued earlier are leased first (queue order), so a write leases its own turns'
    items and a batch more: the queue's head empties, and with several worker processes each
    runs the items of the instances it holds in memory (no fetch and replay per result)."""
    reg = Registry()

    @reg.activity
    def square(x: int) -> int:
        return x * x

    @reg.orchestration
    async def fan(ctx, n: int) -> int:
        return sum(await ctx.all([ctx.activity(square, k) for k in range(n)]))

    worker = Worker(reg, store, clock=ManualClock(T0), batch_size=2)
    leases: list[tuple[int, int]] = []  # (asked, leased) per write that leases
    real_write = store.write

    def recording_write(batch: Batch) -> Written:
        written = real_write(batch)
        if batch.lease:
            leases.append((batch.lease, len(written.leased)))
        return written

    store.write = recording_write  # type: ignore[method-assign]
    client = Client(store, registry=reg)
    client.start("fan", 3, instance_id="a")
    client.start("fan", 3, instance_id="b")
    while worker.poll_once():
        pass
    assert client.state("a").output == client.state("b").output == 5
    # Two turns schedule 6 items: 6 + 2 asked (at most 4 batches), all 6 leased at once.
    assert leases[0] == (8, 6)
