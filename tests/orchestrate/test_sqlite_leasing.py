"""`SqliteStore.commit_turns_and_lease` (the optional `store.LeasingStore` capability) and the
worker round that uses it: the activities a commit schedules are leased to the committing worker
in the same transaction, exactly as a fetch right after the commit would lease them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrate import Client, Registry, Status, Worker
from orchestrate import history as h
from orchestrate.memory_store import MemoryStore
from orchestrate.sqlite_store import SqliteStore
from orchestrate.state import ActivityWork, InstanceState, Message, OrchestrationWork, TurnCommit
from orchestrate.store import LeasingStore

from .conftest import ManualClock

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path):
    made = SqliteStore(str(tmp_path / "l.db"))
    yield made
    made.close()


def create(store: SqliteStore, key: str) -> None:
    state = InstanceState(key, "flow", Status.PENDING, None, created_at=T0, updated_at=T0)
    store.create_instance(state, Message(key, h.OrchestrationStarted(T0, "flow", None, key, 0), 0))


def fetch(store: SqliteStore, *keys: str, now: datetime = T0) -> list[OrchestrationWork]:
    works = store.fetch_orchestration_work(now, limit=100)
    assert sorted(w.instance.instance_id for w in works) == sorted(keys)
    return sorted(works, key=lambda w: keys.index(w.instance.instance_id))


def scheduling(work: OrchestrationWork, *task_ids: int) -> TurnCommit:
    """A turn of `work` that schedules one activity per task id."""
    key = work.instance.instance_id
    items = [ActivityWork(key, 0, t, "charge", {"task": t, "of": key}, 1, t) for t in task_ids]
    events = [h.ActivityScheduled(T0, t, "charge", {"task": t, "of": key}) for t in task_ids]
    return TurnCommit(
        work.instance, work.lock_token, events, [m.id for m in work.messages], False, items
    )


def done(work: ActivityWork) -> tuple[ActivityWork, Message]:
    result = h.ActivityCompleted(T0, work.task_id, "ok")
    return work, Message(work.instance_id, result, work.generation)


def test_sqlite_store_has_the_capability_and_the_memory_store_does_not(store) -> None:
    assert isinstance(store, LeasingStore)
    assert not isinstance(MemoryStore(), LeasingStore)


def test_the_scheduled_items_come_back_leased_with_their_ids_and_inputs(store) -> None:
    create(store, "a")
    create(store, "b")
    a, b = fetch(store, "a", "b")
    applied, leased = store.commit_turns_and_lease(
        [scheduling(a, 1, 2), scheduling(b, 1)], at(1), limit=10, lease=30
    )
    assert applied == [True, True]
    assert [(w.instance_id, w.task_id, w.input) for w in leased] == [
        ("a", 1, {"task": 1, "of": "a"}),
        ("a", 2, {"task": 2, "of": "a"}),
        ("b", 1, {"task": 1, "of": "b"}),
    ]
    assert len({w.id for w in leased}) == 3 and len({w.lease_token for w in leased}) == 3
    assert [w.idempotency_key for w in leased] == ["a:0:1", "a:0:2", "b:0:1"]
    assert store.get_history("a")[0].kind == "ActivityScheduled"
    # Leased: nobody else gets them until the lease ends, then they come back, same keys.
    assert store.fetch_activity_work(at(30), limit=10) == []
    again = store.fetch_activity_work(at(31), limit=10)
    assert [(w.id, w.idempotency_key) for w in again] == [(w.id, w.idempotency_key) for w in leased]
    assert {w.lease_token for w in again}.isdisjoint(w.lease_token for w in leased)


def test_leased_items_complete_at_most_once_and_only_for_their_holder(store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    _, leased = store.commit_turns_and_lease([scheduling(a, 1, 2)], T0, limit=10, lease=30)
    first, second = leased
    retaken = store.fetch_activity_work(at(31), limit=1)  # first's lease ran out and was retaken
    assert [w.id for w in retaken] == [first.id]
    store.complete_activities([done(first), done(second), done(second)])
    [work] = fetch(store, "a", now=at(31))
    assert [(m.event.kind, m.event.task_id) for m in work.messages] == [("ActivityCompleted", 2)]
    store.abandon(work)
    store.complete_activities([done(retaken[0])])
    [work] = fetch(store, "a", now=at(31))
    assert [m.event.task_id for m in work.messages] == [2, 1]


def test_no_more_than_limit_are_leased_and_the_rest_stay_queued_in_order(store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    applied, leased = store.commit_turns_and_lease(
        [scheduling(a, 1, 2, 3, 4)], T0, limit=2, lease=30
    )
    assert applied == [True]
    assert [w.task_id for w in leased] == [1, 2]
    assert [w.task_id for w in store.fetch_activity_work(T0, limit=10)] == [3, 4]
    create(store, "b")
    [b] = fetch(store, "b")
    assert store.commit_turns_and_lease([scheduling(b, 1)], T0, limit=0) == ([True], [])
    assert [w.instance_id for w in store.fetch_activity_work(T0, limit=10)] == ["b"]


def test_items_already_due_are_leased_first_in_queue_order(store) -> None:
    create(store, "old")
    create(store, "new")
    old, new = fetch(store, "old", "new")
    store.commit_turns([scheduling(old, 1, 2)])  # queued, nobody has fetched them
    applied, leased = store.commit_turns_and_lease([scheduling(new, 1)], T0, limit=2, lease=30)
    assert applied == [True]
    assert [(w.instance_id, w.task_id) for w in leased] == [("old", 1), ("old", 2)]
    assert [w.instance_id for w in store.fetch_activity_work(T0, limit=10)] == ["new"]


def test_an_expired_lease_is_due_again_and_goes_first(store) -> None:
    create(store, "a")
    create(store, "b")
    a, b = fetch(store, "a", "b")
    _, [lost] = store.commit_turns_and_lease([scheduling(a, 1)], T0, limit=5, lease=10)
    _, leased = store.commit_turns_and_lease([scheduling(b, 1)], at(11), limit=5, lease=10)
    assert [(w.instance_id, w.id) for w in leased] == [("b", leased[0].id), ("a", lost.id)]
    store.complete_activities([done(lost)])  # the first holder's lease is gone: dropped
    assert store.fetch_orchestration_work(at(11), limit=5) == []


def test_a_refused_commit_schedules_and_leases_nothing_of_its_own(store) -> None:
    create(store, "a")
    [stale] = fetch(store, "a")
    [current] = fetch(store, "a", now=at(61))  # the first lock expired and was retaken
    applied, leased = store.commit_turns_and_lease([scheduling(stale, 1)], at(61), limit=5)
    assert (applied, leased) == ([False], [])
    assert store.fetch_activity_work(at(61), limit=5) == []
    assert store.get_history("a") == []
    assert store.commit_turns_and_lease([scheduling(current, 7)], at(61), limit=5)[0] == [True]


def test_an_idle_commit_still_leases_due_work(store) -> None:
    create(store, "a")
    create(store, "b")
    a, b = fetch(store, "a", "b")
    store.commit_turns([scheduling(a, 1)])
    quiet = TurnCommit(b.instance, b.lock_token, [], [m.id for m in b.messages])
    applied, leased = store.commit_turns_and_lease([quiet], T0, limit=5)
    assert applied == [True] and [w.instance_id for w in leased] == ["a"]


def test_two_stores_on_one_file_never_lease_one_item_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    first, second = SqliteStore(path), SqliteStore(path)
    for i in range(40):
        create(first, f"i{i}")
    works = first.fetch_orchestration_work(T0, limit=40)
    halves = [works[::2], works[1::2]]
    outcome: list[list[ActivityWork]] = [[], []]

    def commit(index: int, store: SqliteStore) -> None:
        for work in halves[index]:
            _, leased = store.commit_turns_and_lease([scheduling(work, 1, 2)], T0, limit=3)
            outcome[index].extend(leased)
            outcome[index].extend(store.fetch_activity_work(T0, limit=1))

    threads = [threading.Thread(target=commit, args=pair) for pair in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    taken = [w.id for w in outcome[0] + outcome[1]]
    assert len(taken) == len(set(taken)) == 80  # every item once; none twice
    first.close()
    second.close()


# --- the worker's round -------------------------------------------------------------------------


def make_registry(calls: list[int]) -> Registry:
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
    reg = make_registry(calls)
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
    # turns (test_follow_up.py), the ones each result's commit leased. Only the idle
    # round after it looked for activities.
    assert rounds == 1 and len(fetches) == 1


def test_activities_leased_by_a_commit_are_given_back_if_the_round_fails(store) -> None:
    calls: list[int] = []
    reg = make_registry(calls)
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


def test_without_the_capability_a_round_commits_and_fetches_as_before() -> None:
    calls: list[int] = []
    reg = make_registry(calls)
    store = MemoryStore()
    worker = Worker(reg, store, clock=ManualClock(T0))
    Client(store, registry=reg).start("chain", 3, instance_id="c")
    while worker.poll_once():
        pass
    assert store.get_instance("c").output == 24 and calls == [3, 6, 12]  # type: ignore[union-attr]
