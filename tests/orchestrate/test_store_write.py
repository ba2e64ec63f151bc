"""The `Store.write` contract, part two, on every store: the lease-back (activity items leased to
the writer in the same transaction, exactly as a fetch right after the write would lease them)
and turns guarded by where a cached execution stood instead of by a lock (see `Store.write`)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrate import history as h
from orchestrate.state import (
    ActivityWork,
    Batch,
    CachedBase,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    TurnCommit,
)
from orchestrate.stores.contract import Store
from orchestrate.stores.sqlite import SqliteStore

from .stores import T0, at, write_results, write_turns


def create(store: Store, key: str) -> None:
    state = InstanceState(key, "flow", Status.PENDING, None, created_at=T0, updated_at=T0)
    store.create_instance(state, Message(key, h.OrchestrationStarted(T0, "flow", None, key, 0), 0))


def fetch(store: Store, *keys: str, now: datetime = T0) -> list[OrchestrationWork]:
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


def lease_back(
    store: Store, turns: list[TurnCommit], now: datetime, limit: int, lease: float = 300.0
) -> tuple[list[bool], list[ActivityWork]]:
    written = store.write(Batch([], turns, limit, now, lease))
    return written.applied, written.leased


def done(work: ActivityWork) -> tuple[ActivityWork, Message]:
    result = h.ActivityCompleted(T0, work.task_id, "ok")
    return work, Message(work.instance_id, result, work.generation)


# --- the lease-back -------------------------------------------------------------------------------


def test_the_scheduled_items_come_back_leased_with_their_ids_and_inputs(store: Store) -> None:
    create(store, "a")
    create(store, "b")
    a, b = fetch(store, "a", "b")
    applied, leased = lease_back(store, [scheduling(a, 1, 2), scheduling(b, 1)], at(1), 10, 30)
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
    assert sorted((w.id, w.idempotency_key) for w in again) == sorted(
        (w.id, w.idempotency_key) for w in leased
    )
    assert {w.lease_token for w in again}.isdisjoint(w.lease_token for w in leased)


def test_leased_items_complete_at_most_once_and_only_for_their_holder(store: Store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    _, leased = lease_back(store, [scheduling(a, 1, 2)], T0, 10, 30)
    first, second = leased
    retaken = store.fetch_activity_work(at(31), limit=1)  # first's lease ran out and was retaken
    assert [w.id for w in retaken] == [first.id]
    write_results(store, [done(first), done(second), done(second)])
    [work] = fetch(store, "a", now=at(31))
    assert [(m.event.kind, m.event.task_id) for m in work.messages] == [("ActivityCompleted", 2)]
    store.abandon(work)
    write_results(store, [done(retaken[0])])
    [work] = fetch(store, "a", now=at(31))
    assert [m.event.task_id for m in work.messages] == [2, 1]


def test_no_more_than_limit_are_leased_and_the_rest_stay_queued_in_order(store: Store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    applied, leased = lease_back(store, [scheduling(a, 1, 2, 3, 4)], T0, 2, 30)
    assert applied == [True]
    assert [w.task_id for w in leased] == [1, 2]
    assert [w.task_id for w in store.fetch_activity_work(T0, limit=10)] == [3, 4]
    create(store, "b")
    [b] = fetch(store, "b")
    assert lease_back(store, [scheduling(b, 1)], T0, 0) == ([True], [])
    assert [w.instance_id for w in store.fetch_activity_work(T0, limit=10)] == ["b"]


def test_items_already_due_are_leased_first_in_queue_order(store: Store) -> None:
    create(store, "old")
    create(store, "new")
    old, new = fetch(store, "old", "new")
    write_turns(store, [scheduling(old, 1, 2)])  # queued, nobody has fetched them
    applied, leased = lease_back(store, [scheduling(new, 1)], T0, 2, 30)
    assert applied == [True]
    assert [(w.instance_id, w.task_id) for w in leased] == [("old", 1), ("old", 2)]
    assert [w.instance_id for w in store.fetch_activity_work(T0, limit=10)] == ["new"]


def test_an_expired_lease_is_leased_back_again_and_its_old_holder_loses_it(store: Store) -> None:
    create(store, "a")
    create(store, "b")
    a, b = fetch(store, "a", "b")
    _, [lost] = lease_back(store, [scheduling(a, 1)], T0, 5, 10)
    _, leased = lease_back(store, [scheduling(b, 1)], at(11), 5, 10)
    assert sorted(w.instance_id for w in leased) == ["a", "b"]
    assert lost.id in {w.id for w in leased}
    write_results(store, [done(lost)])  # the first holder's lease is gone: dropped
    assert store.fetch_orchestration_work(at(11), limit=5) == []


def test_a_refused_commit_schedules_and_leases_nothing_of_its_own(store: Store) -> None:
    create(store, "a")
    [stale] = fetch(store, "a")
    [current] = fetch(store, "a", now=at(61))  # the first lock expired and was retaken
    applied, leased = lease_back(store, [scheduling(stale, 1)], at(61), 5)
    assert (applied, leased) == ([False], [])
    assert store.fetch_activity_work(at(61), limit=5) == []
    assert store.get_history("a") == []
    assert lease_back(store, [scheduling(current, 7)], at(61), 5)[0] == [True]


def test_a_write_with_nothing_to_commit_still_leases_due_work(store: Store) -> None:
    create(store, "a")
    create(store, "b")
    a, b = fetch(store, "a", "b")
    write_turns(store, [scheduling(a, 1)])
    quiet = TurnCommit(b.instance, b.lock_token, [], [m.id for m in b.messages])
    applied, leased = lease_back(store, [quiet], T0, 5)
    assert applied == [True] and [w.instance_id for w in leased] == ["a"]
    assert store.write(Batch(lease=5, now=T0)).leased == []  # nothing due: an empty lease


def test_a_batch_that_leases_or_carries_a_cached_turn_needs_now(store: Store) -> None:
    with pytest.raises(ValueError, match=r"Batch\.now is None"):
        store.write(Batch(lease=1))
    assert store.write(Batch()).applied == []  # an empty batch writes nothing


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
            outcome[index].extend(lease_back(store, [scheduling(work, 1, 2)], T0, 3)[1])
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


# --- turns guarded by a cached execution ----------------------------------------------------------


def started(store: Store, key: str = "a") -> ActivityWork:
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
    assert write_turns(store, [commit]) == [True]
    [item] = store.fetch_activity_work(T0, limit=5)
    return item


def cached_turn(
    item: ActivityWork, *, history_len: int = 2, then: int | None = 1, created_at: datetime = T0
) -> TurnCommit:
    """The turn item's result causes, computed on a cached execution: record the result, then
    schedule task `then` (or finish)."""
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
    base = CachedBase(created_at, 0, history_len, [(item, Message(key, result, 0))])
    return TurnCommit(state, "", events, [], activities=activities, cached=base)


def inbox(store: Store, key: str) -> list[str]:
    works = store.fetch_orchestration_work(T0 + timedelta(hours=1), limit=10)
    return [m.event.kind for w in works if w.instance.instance_id == key for m in w.messages]


def test_an_applied_cached_turn_writes_the_result_and_the_turn_and_leases_the_next_item(
    store: Store,
) -> None:
    item = started(store)
    applied, leased = lease_back(store, [cached_turn(item)], T0, 10)
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


def test_a_cached_turn_that_finishes_the_instance_sets_its_status(store: Store) -> None:
    item = started(store)
    applied, leased = lease_back(store, [cached_turn(item, then=None)], T0, 10)
    assert applied == [True] and leased == []
    state = store.get_instance("a")
    assert state is not None and state.status == Status.COMPLETED


def lock_it(store: Store) -> None:
    store.send(Message("a", h.EventRaised(T0, "poke", None)))
    assert len(store.fetch_orchestration_work(T0)) == 1  # locked by another worker's fetch


def hold_it(store: Store) -> None:
    """Locked with an empty inbox: a turn kept the lock until a back-off ends (`hold_until`)."""
    store.send(Message("a", h.EventRaised(T0, "poke", None)))
    [work] = store.fetch_orchestration_work(T0)
    hold = T0 + timedelta(minutes=5)
    consumed = [m.id for m in work.messages]
    commit = TurnCommit(work.instance, work.lock_token, [], consumed, hold_until=hold)
    assert write_turns(store, [commit]) == [True]


def visible_message(store: Store) -> None:
    store.send(Message("a", h.EventRaised(T0, "poke", None)))


def finished(store: Store) -> None:
    store.send(Message("a", h.EventRaised(T0, "poke", None)))
    [work] = store.fetch_orchestration_work(T0)
    state = InstanceState("a", "flow", Status.TERMINATED, None, created_at=T0, updated_at=T0)
    consumed = [m.id for m in work.messages]
    assert write_turns(store, [TurnCommit(state, work.lock_token, [], consumed)]) == [True]


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
def test_a_cached_turn_for_an_instance_that_moved_is_refused_and_its_result_queued(
    store: Store, meanwhile: Any, history_len: int, created_at: datetime
) -> None:
    item = started(store)
    if meanwhile is not None:
        meanwhile(store)
    turn = cached_turn(item, history_len=history_len, created_at=created_at)
    applied, leased = lease_back(store, [turn], T0, 10)
    assert applied == [False] and leased == []
    assert len(store.get_history("a")) == 2  # the turn changed nothing
    assert store.fetch_activity_work(T0, limit=10) == []  # item 0 completed, no item 1
    assert "ActivityCompleted" in inbox(store, "a")  # the result waits for an ordinary turn


def test_a_cached_turn_for_a_finished_instance_is_refused(store: Store) -> None:
    item = started(store)
    finished(store)
    applied, _ = lease_back(store, [cached_turn(item)], T0, 10)
    assert applied == [False]
    state = store.get_instance("a")
    assert state is not None and state.status == Status.TERMINATED
    assert len(store.get_history("a")) == 2


def test_an_expired_lock_does_not_refuse_a_cached_turn(store: Store) -> None:
    item = started(store)
    store.send(Message("a", h.EventRaised(T0, "poke", None)))
    [work] = store.fetch_orchestration_work(T0)
    consumed = [m.id for m in work.messages]
    held = TurnCommit(work.instance, work.lock_token, [], consumed, hold_until=at(20))
    assert write_turns(store, [held]) == [True]  # locked until at(20), nothing in the inbox
    assert lease_back(store, [cached_turn(item)], at(21), 10)[0] == [True]  # the hold ended
    assert len(store.get_history("a")) == 4


def test_a_cached_turn_whose_lease_was_lost_is_dropped_with_its_result(store: Store) -> None:
    item = started(store)
    stale = ActivityWork(**{**vars(item), "lease_token": "someone-else"})
    applied, _ = lease_back(store, [cached_turn(stale)], T0, 10)
    assert applied == [False]
    assert len(store.get_history("a")) == 2
    assert inbox(store, "a") == []  # not ours to complete: no result either
    later = T0 + timedelta(minutes=10)  # the real holder's lease runs out: the item is still there
    assert [w.id for w in store.fetch_activity_work(later, limit=10)] == [item.id]


def test_only_one_turn_per_instance_applies_in_a_batch(store: Store) -> None:
    item = started(store)
    first, second = cached_turn(item), cached_turn(item)
    applied, _ = lease_back(store, [first, second], T0, 10)
    assert applied == [True, False]
    assert len(store.get_history("a")) == 4  # applied once
    assert inbox(store, "a") == []  # the second's result was the first's: already completed


def test_a_cached_turn_beside_a_fetched_turn_of_its_instance_is_refused_its_result_queued(
    store: Store,
) -> None:
    item = started(store)
    store.send(Message("a", h.EventRaised(T0, "poke", None)))
    [work] = store.fetch_orchestration_work(T0)
    fetched = TurnCommit(
        work.instance, work.lock_token, [work.messages[0].event], [m.id for m in work.messages]
    )
    applied, _ = lease_back(store, [fetched, cached_turn(item)], T0, 10)
    assert applied == [True, False]
    assert [e.kind for e in store.get_history("a")][2:] == ["EventRaised"]
    assert inbox(store, "a") == ["ActivityCompleted"]  # the result waits for the next turn


def test_plain_results_and_cached_turns_commit_together(store: Store) -> None:
    first, second = started(store, "a"), started(store, "b")
    result = h.ActivityCompleted(T0, 0, 1)
    written = store.write(Batch([(second, Message("b", result, 0))], [cached_turn(first)], 0, T0))
    assert written.applied == [True]
    assert inbox(store, "b") == ["ActivityCompleted"]
    assert len(store.get_history("a")) == 4


# --- lease renewals -------------------------------------------------------------------------------


def renew(store: Store, works: list[ActivityWork], now: datetime, lease: float = 30) -> list[bool]:
    return store.write(Batch(now=now, lease_seconds=lease, renewals=works)).renewed


def test_a_renewed_lease_is_not_taken_until_the_renewal_runs_out(store: Store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    _, [held] = lease_back(store, [scheduling(a, 1)], T0, 5, 30)
    assert renew(store, [held], at(20)) == [True]
    assert store.fetch_activity_work(at(45), limit=5) == []  # past the first lease, renewed
    assert renew(store, [held], at(45)) == [True]
    assert store.fetch_activity_work(at(74), limit=5) == []
    # Nobody renews it any more (its worker died): it comes back within one lease.
    [again] = store.fetch_activity_work(at(75), limit=5)
    assert again.id == held.id and again.lease_token != held.lease_token
    assert renew(store, [held], at(76)) == [False]  # the dead holder lost it
    write_results(store, [done(held)])  # and its late result is dropped
    write_results(store, [done(again)])
    [work] = fetch(store, "a", now=at(76))
    assert [m.event.task_id for m in work.messages] == [1]


def test_an_expired_lease_not_granted_again_can_still_be_renewed(store: Store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    _, [held] = lease_back(store, [scheduling(a, 1)], T0, 5, 10)
    assert renew(store, [held], at(15)) == [True]  # late, but nobody took it meanwhile
    assert store.fetch_activity_work(at(40), limit=5) == []
    assert [w.id for w in store.fetch_activity_work(at(45), limit=5)] == [held.id]


def test_completed_released_or_unleased_items_are_not_renewed(store: Store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    _, [one, two, three] = lease_back(store, [scheduling(a, 1, 2, 3)], T0, 5, 30)
    write_results(store, [done(one)])
    store.release_activities([two])
    unleased = ActivityWork("a", 0, 3, "charge", None, 1, 3, three.id, "")
    assert renew(store, [one, two, three, unleased], at(10)) == [False, False, True, False]
    assert [w.task_id for w in store.fetch_activity_work(at(10), limit=5)] == [2]
    # Renewals ride with completions in one write, before them: renewed, then completed.
    written = store.write(Batch([done(three)], now=at(11), lease_seconds=30, renewals=[three]))
    assert written.renewed == [True]
    assert renew(store, [three], at(12)) == [False]


def test_a_renewal_needs_now(store: Store) -> None:
    with pytest.raises(ValueError, match=r"Batch\.now"):
        store.write(Batch(renewals=[ActivityWork("a", 0, 1, "x", None, 1, 1, 1, "t")]))


def test_a_renewal_stores_heartbeat_details_for_whoever_leases_the_item_next(store: Store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    _, [held] = lease_back(store, [scheduling(a, 1)], T0, 5, 30)
    assert held.heartbeat_details is None
    beat = ActivityWork(**{**held.__dict__, "heartbeat_details": {"done": [1, 2], "at": "x"}})
    assert renew(store, [beat], at(10)) == [True]
    [again] = store.fetch_activity_work(at(40), limit=5)  # the holder died
    assert again.heartbeat_details == {"done": [1, 2], "at": "x"}
    store.release_activities([again])  # given back unrun: the details stay
    [third] = store.fetch_activity_work(at(40), limit=5)
    assert third.heartbeat_details == {"done": [1, 2], "at": "x"}


def test_heartbeat_details_reach_a_retry_of_the_same_call_and_no_other(store: Store) -> None:
    create(store, "a")
    [a] = fetch(store, "a")
    _, [first, other] = lease_back(store, [scheduling(a, 1, 2)], T0, 5, 30)
    beat = ActivityWork(**{**first.__dict__, "heartbeat_details": {"done": 7}})
    assert renew(store, [beat], at(1)) == [True]
    failed = h.ActivityFailed(at(2), 1, "TimeoutError", "no heartbeat")
    write_results(store, [(first, Message("a", failed, 0)), done(other)])
    [work] = fetch(store, "a", now=at(3))
    retry = ActivityWork("a", 0, 3, "charge", {"task": 1}, attempt=2, call_id=first.call_id)
    event = h.ActivityScheduled(at(3), 3, "charge", {"task": 1}, 2, first.call_id)
    turn = TurnCommit(work.instance, work.lock_token, [event], [m.id for m in work.messages])
    turn.activities = [retry]
    _, [again] = lease_back(store, [turn], at(3), 5, 30)  # inserted already leased
    assert (again.attempt, again.heartbeat_details) == (2, {"done": 7})
    store.release_activities([again])
    [queued] = store.fetch_activity_work(at(4), limit=5)  # or leased from the queue
    assert queued.heartbeat_details == {"done": 7}
