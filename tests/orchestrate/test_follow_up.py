"""Follow-up turns (the optional `store.FollowUpStore` capability, which `SqliteStore` and
`MemoryStore` both have) and the worker rounds that use them: a worker that has an instance's
execution cached runs the turn an activity result causes at once, and commits result, turn and
the next lease together, but only while the instance is exactly where that turn was computed;
otherwise the result is queued as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrate import Client, Registry, Status, Worker
from orchestrate import history as h
from orchestrate.memory_store import MemoryStore
from orchestrate.sqlite_store import SqliteStore
from orchestrate.state import (
    ActivityWork,
    FollowUpTurn,
    InstanceState,
    Message,
    OrchestrationWork,
    TurnCommit,
)
from orchestrate.store import FollowUpStore

from .conftest import ManualClock

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    made = SqliteStore(str(tmp_path / "f.db")) if request.param == "sqlite" else MemoryStore()
    yield made
    made.close()


def test_both_stores_have_the_capability(store) -> None:
    assert isinstance(store, FollowUpStore)


# --- the store method ---------------------------------------------------------------------------


def started(store: Any, key: str = "a") -> ActivityWork:
    """An instance whose first turn scheduled activity 0 (committed), with that item leased."""
    state = InstanceState(key, "flow", Status.PENDING, None, created_at=T0, updated_at=T0)
    start = h.OrchestrationStarted(T0, "flow", None, key, 0)
    store.create_instance(state, Message(key, start, 0))
    [work] = store.fetch_orchestration_work(T0)
    running = InstanceState(key, "flow", Status.RUNNING, None, created_at=T0, updated_at=T0)
    commit = TurnCommit(
        running,
        work.lock_token,
        [start, h.ActivityScheduled(T0, 0, "charge", 5)],
        [m.id for m in work.messages],
        activities=[ActivityWork(key, 0, 0, "charge", 5, 1, 0)],
    )
    assert store.commit_turns([commit]) == [True]
    [item] = store.fetch_activity_work(T0, limit=5)
    return item


def follow_up(
    item: ActivityWork, *, history_len: int = 2, then: int | None = 1, created_at: datetime = T0
) -> FollowUpTurn:
    """The turn item's result causes: record the result, then schedule task `then` (or finish)."""
    key = item.instance_id
    result = h.ActivityCompleted(T0, item.task_id, 6)
    events: list[h.Event] = [result]
    activities: list[ActivityWork] = []
    status = Status.RUNNING
    if then is None:
        events.append(h.OrchestrationCompleted(T0, 6))
        status = Status.COMPLETED
    else:
        events.append(h.ActivityScheduled(T0, then, "charge", 6))
        activities.append(ActivityWork(key, 0, then, "charge", 6, 1, then))
    state = InstanceState(key, "flow", status, None, created_at=T0, updated_at=T0)
    commit = TurnCommit(state, "", events, [], activities=activities)
    return FollowUpTurn([(item, Message(key, result, 0))], commit, history_len, 0, created_at)


def inbox(store: Any, key: str) -> list[str]:
    works = store.fetch_orchestration_work(T0 + timedelta(hours=1), limit=10)
    return [m.event.kind for w in works if w.instance.instance_id == key for m in w.messages]


def test_an_applied_follow_up_writes_the_result_and_the_turn_and_leases_the_next_item(
    store,
) -> None:
    item = started(store)
    applied, leased = store.complete_with_turns([], [follow_up(item)], T0, limit=10)
    assert applied == [True]
    assert [e.kind for e in store.get_history("a")] == [
        "OrchestrationStarted",
        "ActivityScheduled",
        "ActivityCompleted",
        "ActivityScheduled",
    ]
    assert store.get_instance("a").history_len == 4  # type: ignore[union-attr]
    assert [(w.task_id, w.input) for w in leased] == [(1, 6)]  # the next item, ours already
    assert store.fetch_activity_work(T0, limit=10) == []  # item 0 gone, item 1 leased
    assert inbox(store, "a") == []  # no result message, and no lock left behind


def test_a_follow_up_that_finishes_the_instance_sets_its_status(store) -> None:
    item = started(store)
    applied, leased = store.complete_with_turns([], [follow_up(item, then=None)], T0, limit=10)
    assert applied == [True] and leased == []
    state = store.get_instance("a")
    assert state is not None and state.status == Status.COMPLETED


def lock_it(store: Any) -> None:
    store.send(Message("a", h.EventRaised(T0, "poke", None)))
    assert len(store.fetch_orchestration_work(T0)) == 1  # locked by another worker's fetch


def hold_it(store: Any) -> None:
    """Locked with an empty inbox: a turn kept the lock until a back-off ends (`hold_until`)."""
    store.send(Message("a", h.EventRaised(T0, "poke", None)))
    [work] = store.fetch_orchestration_work(T0)
    hold = T0 + timedelta(minutes=5)
    consumed = [m.id for m in work.messages]
    commit = TurnCommit(work.instance, work.lock_token, [], consumed, hold_until=hold)
    assert store.commit_turns([commit]) == [True]


def visible_message(store: Any) -> None:
    store.send(Message("a", h.EventRaised(T0, "poke", None)))


LATER = T0 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("meanwhile", "history_len", "created_at"),
    [
        pytest.param(None, 3, T0, id="history-moved-on"),
        pytest.param(None, 2, LATER, id="another-run-of-the-id"),
        pytest.param(lock_it, 2, T0, id="instance-locked"),
        pytest.param(hold_it, 2, T0, id="instance-held"),
        pytest.param(visible_message, 2, T0, id="message-waiting"),
    ],
)
def test_a_follow_up_for_an_instance_that_moved_is_refused_and_its_result_queued(
    store, meanwhile: Any, history_len: int, created_at: datetime
) -> None:
    item = started(store)
    if meanwhile is not None:
        meanwhile(store)
    turn = follow_up(item, history_len=history_len, created_at=created_at)
    applied, leased = store.complete_with_turns([], [turn], T0, limit=10)
    assert applied == [False] and leased == []
    assert len(store.get_history("a")) == 2  # the turn changed nothing
    assert store.fetch_activity_work(T0, limit=10) == []  # item 0 completed, no item 1
    assert "ActivityCompleted" in inbox(store, "a")  # the result waits for an ordinary turn


def test_a_follow_up_whose_lease_was_lost_is_dropped_with_its_result(store) -> None:
    item = started(store)
    stale = ActivityWork(**{**vars(item), "lease_token": "someone-else"})
    applied, _ = store.complete_with_turns([], [follow_up(stale)], T0, limit=10)
    assert applied == [False]
    assert len(store.get_history("a")) == 2
    assert inbox(store, "a") == []  # not ours to complete: no result either
    later = T0 + timedelta(minutes=10)  # the real holder's lease runs out: the item is still there
    assert [w.id for w in store.fetch_activity_work(later, limit=10)] == [item.id]


def test_plain_results_and_follow_ups_commit_together(store) -> None:
    first, second = started(store, "a"), started(store, "b")
    result = h.ActivityCompleted(T0, 0, 1)
    applied, _ = store.complete_with_turns(
        [(second, Message("b", result, 0))], [follow_up(first)], T0, limit=10
    )
    assert applied == [True]
    assert inbox(store, "b") == ["ActivityCompleted"]
    assert len(store.get_history("a")) == 4


# --- the worker ---------------------------------------------------------------------------------


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
    # The event arrived before the result, so the follow-up was refused; one ordinary turn took
    # both messages, in arrival order.
    assert len(commits) == 2
    assert [e.kind for e in commits[1].new_events][:2] == ["EventRaised", "ActivityCompleted"]


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
    applied: list[bool] = []
    real = store.complete_with_turns

    def spy(*args: Any, **kwargs: Any) -> tuple[list[bool], list[ActivityWork]]:
        done, leased = real(*args, **kwargs)
        applied.extend(done)
        return done, leased

    store.complete_with_turns = spy  # type: ignore[method-assign]
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
