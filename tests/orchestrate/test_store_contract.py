"""The `Store` contract (see `orchestrate/store.py`), checked on every implementation.

Each test drives a store directly with hand-built records, the way the worker does, so a store
that breaks the contract fails here before it corrupts a real run. This file covers instances,
claims, turns and completions; `test_store_write.py` the rest of the one write (lease-back and
turns computed on a cached execution).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from orchestrate import history as h
from orchestrate.errors import DuplicateInstance, InstanceNotFound, InstanceNotRunning
from orchestrate.state import (
    ActivityWork,
    Batch,
    InstanceState,
    Message,
    OrchestrationWork,
    Status,
    TurnCommit,
)
from orchestrate.stores.contract import Store

from .stores import (
    T0,
    at,
    commit_for,
    create,
    fetch_one,
    finish,
    write_results,
    write_turns,
)

# --- instances -------------------------------------------------------------------------------


def test_created_instance_reads_back_with_every_field(store: Store) -> None:
    create(store, "a", when=at(1))
    state = store.get_instance("a")
    assert state is not None
    assert (state.instance_id, state.name, state.status, state.input) == (
        "a",
        "flow",
        Status.PENDING,
        {"n": 1},
    )
    assert state.created_at == at(1) and state.updated_at == at(1)
    assert state.history_len == 0 and state.generation == 0
    assert store.get_history("a") == []
    assert store.get_instance("missing") is None
    with pytest.raises(InstanceNotFound):
        store.get_history("missing")


@pytest.mark.parametrize("finished", [False, True])
def test_duplicate_id_is_refused_and_reuse_needs_a_finished_instance(
    store: Store, finished: bool
) -> None:
    create(store, "a")
    if finished:
        finish(store, "a")
    with pytest.raises(DuplicateInstance, match="'a' already exists"):
        create(store, "a")
    if not finished:
        with pytest.raises(DuplicateInstance, match="still running"):
            create(store, "a", reuse=True)
        return
    create(store, "a", "other", reuse=True)
    state = store.get_instance("a")
    assert state is not None and state.name == "other" and state.status == Status.PENDING
    assert store.get_history("a") == []
    work = fetch_one(store)
    assert [m.event.kind for m in work.messages] == ["OrchestrationStarted"]


def test_reuse_continues_the_generation_count(store: Store) -> None:
    for generation in (0, 1, 2):
        create(store, "a", reuse=True)  # the caller passes generation 0 every time
        state = store.get_instance("a")
        assert state is not None and state.generation == generation
        work = fetch_one(store)
        [start] = work.messages
        assert isinstance(start.event, h.OrchestrationStarted)
        assert (start.generation, start.event.generation) == (generation, generation)
        assert work.instance.generation == generation
        store.abandon(work)
        finish(store, "a")


def test_reuse_drops_everything_of_the_old_run(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store)
    timer = Message("a", h.TimerFired(at(30), 0), 0, visible_at=at(30))
    item = ActivityWork("a", 0, 1, "charge", 5, call_id=1)
    events = [h.TimerCreated(T0, 0, at(30)), h.ActivityScheduled(T0, 1, "charge", 5)]
    write_turns(store, [commit_for(work, *events, messages=[timer], activities=[item])])
    [leased] = store.fetch_activity_work(T0, lease=60)
    store.send(Message("a", h.EventRaised(T0, "left", 1)))
    finish(store, "a")
    create(store, "b")  # a message reaches the finished "a", and a worker locks "a" for it
    sender = fetch_one(store)
    write_turns(store, [commit_for(sender, messages=[Message("a", h.EventRaised(T0, "x", 2))])])
    [old_turn] = store.fetch_orchestration_work(T0, limit=5)
    assert old_turn.instance.instance_id == "a"

    create(store, "a", reuse=True)

    assert store.get_history("a") == []
    assert store.next_wakeup() is None  # no held timer, no lease, no lock of the old run
    write_results(store, [result_for(leased, "late")])  # the old run's lease is gone
    assert store.fetch_activity_work(at(1000), limit=5) == []
    assert write_turns(store, [commit_for(old_turn)]) == [False]
    [work] = store.fetch_orchestration_work(at(1000), limit=5)
    assert [(m.event.kind, m.generation) for m in work.messages] == [("OrchestrationStarted", 1)]


def test_list_filters_by_status_and_name_in_creation_order(store: Store) -> None:
    create(store, "b", "x", when=at(2))
    create(store, "a", "y", when=at(3))
    create(store, "c", "x", when=at(1))
    finish(store, "c")
    assert [s.instance_id for s in store.list_instances()] == ["c", "b", "a"]
    assert [s.instance_id for s in store.list_instances(name="x")] == ["c", "b"]
    assert [s.instance_id for s in store.list_instances(status="pending")] == ["b", "a"]
    assert [s.instance_id for s in store.list_instances(status=Status.COMPLETED)] == ["c"]
    assert [s.instance_id for s in store.list_instances(limit=2)] == ["c", "b"]


def test_send_to_unknown_or_finished_instance_is_refused(store: Store) -> None:
    raised = h.EventRaised(T0, "go", None)
    with pytest.raises(InstanceNotFound, match="'nope'"):
        store.send(Message("nope", raised))
    create(store, "a")
    finish(store, "a")
    with pytest.raises(InstanceNotRunning, match="completed"):
        store.send(Message("a", raised))


# --- turns -------------------------------------------------------------------------------------


def test_fetch_locks_an_instance_until_commit_or_lease_expiry(store: Store) -> None:
    create(store, "a")
    create(store, "b", when=at(1))
    first = store.fetch_orchestration_work(T0, limit=1, lease=10)
    second = store.fetch_orchestration_work(T0, limit=5, lease=10)
    assert len(first) == 1 and len(second) == 1
    assert {first[0].instance.instance_id, second[0].instance.instance_id} == {"a", "b"}
    assert store.fetch_orchestration_work(at(5), limit=5) == []
    again = store.fetch_orchestration_work(at(11), limit=5, lease=10)
    assert sorted(w.instance.instance_id for w in again) == ["a", "b"]
    assert {w.lock_token for w in again}.isdisjoint({first[0].lock_token, second[0].lock_token})


def test_commit_applies_events_state_and_consumes_messages(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store)
    started = work.messages[0].event
    status = h.CustomStatusSet(T0, 0, {"phase": 1})
    commit = commit_for(
        work, started, status, state={"status": Status.RUNNING, "custom_status": {"phase": 1}}
    )
    assert write_turns(store, [commit]) == [True]
    state = store.get_instance("a")
    assert state is not None
    assert state.status == Status.RUNNING and state.custom_status == {"phase": 1}
    assert state.history_len == 2
    assert [e.kind for e in store.get_history("a")] == ["OrchestrationStarted", "CustomStatusSet"]
    assert store.get_history("a")[1] == status
    assert store.fetch_orchestration_work(at(100), limit=5) == []


def test_commit_with_a_lost_lock_is_refused_and_changes_nothing(store: Store) -> None:
    create(store, "a")
    create(store, "b")
    stale = store.fetch_orchestration_work(T0, limit=2, lease=10)
    taken = store.fetch_orchestration_work(at(11), limit=2, lease=10)  # the leases expired
    by_id = {w.instance.instance_id: w for w in taken}
    started = stale[0].messages[0].event
    lost = commit_for(stale[0], started, state={"status": Status.RUNNING})
    fresh_work = by_id[stale[1].instance.instance_id]
    fresh = commit_for(fresh_work, fresh_work.messages[0].event, state={"status": Status.RUNNING})
    assert write_turns(store, [lost, fresh]) == [False, True]
    key = stale[0].instance.instance_id
    assert store.get_history(key) == []
    state = store.get_instance(key)
    assert state is not None and state.status == Status.PENDING
    # The holder of the current lock can still commit, and sees the unconsumed start message.
    current = by_id[key]
    assert [m.event.kind for m in current.messages] == ["OrchestrationStarted"]
    assert write_turns(store, [commit_for(current)]) == [True]


def test_a_held_commit_keeps_the_instance_locked_until_its_back_off_ends(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store)
    failed = dataclasses.replace(work.instance, error=h.ErrorInfo("NonDeterminismError", "x"))
    turn = TurnCommit(failed, work.lock_token, [], [], hold_until=at(60))
    assert write_turns(store, [turn]) == [True]
    state = store.get_instance("a")
    assert state is not None and state.error == h.ErrorInfo("NonDeterminismError", "x")
    assert store.fetch_orchestration_work(at(59)) == []  # still backing off
    retried = fetch_one(store, at(60))
    assert [type(m.event).__name__ for m in retried.messages] == ["OrchestrationStarted"]


def test_abandon_releases_the_lock_and_keeps_the_messages(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store, lease=60)
    store.abandon(work)
    again = fetch_one(store)
    assert [m.id for m in again.messages] == [m.id for m in work.messages]
    assert write_turns(store, [commit_for(work)]) == [False]


def test_timer_becomes_visible_at_its_due_time(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store)
    fired = h.TimerFired(at(30), 0)
    timer = Message("a", fired, 0, visible_at=at(30))
    created = h.TimerCreated(T0, 0, at(30))
    write_turns(store, [commit_for(work, created, messages=[timer])])
    assert store.next_wakeup() == at(30)
    assert store.fetch_orchestration_work(at(29.999), limit=5) == []
    due = fetch_one(store, at(30))
    assert [m.event for m in due.messages] == [fired]
    assert due.messages[0].generation == 0


@pytest.mark.parametrize("due_when_cancelled", [False, True])
def test_a_cancelled_timer_is_dropped_held_or_due(store: Store, due_when_cancelled: bool) -> None:
    create(store, "a")
    work = fetch_one(store)
    timers = [Message("a", h.TimerFired(at(30), task), 0, visible_at=at(30)) for task in (0, 1)]
    created = [h.TimerCreated(T0, task, at(30)) for task in (0, 1)]
    write_turns(store, [commit_for(work, *created, messages=timers)])
    store.send(Message("a", h.EventRaised(at(10), "go", None)))
    moment = at(40) if due_when_cancelled else at(10)
    work = fetch_one(store, moment)
    cancel = commit_for(work, cancelled_timers=[(0, 0)])
    cancel.consumed = [m.id for m in work.messages if isinstance(m.event, h.EventRaised)]
    assert write_turns(store, [cancel]) == [True]
    due = fetch_one(store, at(50))
    assert [m.event for m in due.messages] == [timers[1].event]  # timer 0 never arrives


# --- activities ------------------------------------------------------------------------------


def schedule(store: Store, key: str = "a") -> ActivityWork:
    create(store, key)
    work = fetch_one(store)
    item = ActivityWork(key, 0, 1, "charge", {"amount": 5}, attempt=1, call_id=1)
    scheduled = h.ActivityScheduled(T0, 1, "charge", {"amount": 5})
    write_turns(store, [commit_for(work, scheduled, activities=[item])])
    return item


def result_for(work: ActivityWork, value: object) -> tuple[ActivityWork, Message]:
    done = h.ActivityCompleted(T0, work.task_id, value)
    return work, Message(work.instance_id, done, work.generation)


def test_a_result_goes_to_the_instance_its_message_names_if_it_exists(store: Store) -> None:
    schedule(store, "a")
    schedule(store, "c")
    create(store, "b")
    first, second = store.fetch_activity_work(T0, limit=5)
    done = h.ActivityCompleted(T0, first.task_id, "for b")
    write_results(store, [(first, Message("b", done, 0)), (second, Message("gone", done))])
    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    assert set(works) == {"b"}
    assert [m.event for m in works["b"].messages][-1] == done
    assert store.fetch_activity_work(at(1000), limit=5) == []


def test_activity_lease_expires_and_redelivers_with_the_same_key(store: Store) -> None:
    schedule(store)
    first = store.fetch_activity_work(T0, limit=5, lease=30)
    assert [(w.name, w.input, w.idempotency_key) for w in first] == [
        ("charge", {"amount": 5}, "a:0:1")
    ]
    assert store.fetch_activity_work(at(29), limit=5) == []
    assert store.next_wakeup() == at(30)
    second = store.fetch_activity_work(at(30), limit=5, lease=30)
    assert len(second) == 1
    assert second[0].idempotency_key == first[0].idempotency_key
    assert second[0].lease_token != first[0].lease_token


def test_leases_of_different_lengths_each_expire_at_their_own_time(store: Store) -> None:
    """Every lease is honoured to its own end, whichever was granted first or ran out before."""
    schedule(store, "a")
    schedule(store, "b")
    [long] = store.fetch_activity_work(T0, limit=1, lease=100)
    [short] = store.fetch_activity_work(at(1), limit=1, lease=10)
    assert (long.instance_id, short.instance_id) == ("a", "b")
    assert store.fetch_activity_work(at(10), limit=5) == []
    assert [w.instance_id for w in store.fetch_activity_work(at(11), limit=5, lease=1000)] == ["b"]
    assert store.fetch_activity_work(at(99), limit=5) == []  # b's new lease: not until 1011
    assert [w.instance_id for w in store.fetch_activity_work(at(100), limit=5)] == ["a"]


@pytest.mark.parametrize("late_first", [False, True])
def test_activity_completes_at_most_once(store: Store, late_first: bool) -> None:
    schedule(store)
    first = store.fetch_activity_work(T0, lease=30)[0]
    second = store.fetch_activity_work(at(31), lease=30)[0]
    order = [first, second] if late_first else [second, first]
    write_results(store, [result_for(order[0], "one")])
    write_results(store, [result_for(order[1], "two")])
    write_results(store, [result_for(order[1], "three")])
    assert store.fetch_activity_work(at(1000), limit=5) == []
    work = fetch_one(store, at(1000))
    # Only the current lease holder's result counts: the first worker lost its lease to the
    # second, so its result is dropped whether it comes before or after the second's.
    assert [m.event for m in work.messages] == [
        h.ActivityCompleted(T0, 1, "two" if late_first else "one")
    ]


def test_an_expired_lease_not_yet_granted_again_still_completes(store: Store) -> None:
    schedule(store)
    [leased] = store.fetch_activity_work(T0, lease=30)
    write_results(store, [result_for(leased, "late but first")])
    assert store.fetch_activity_work(at(1000), limit=5) == []
    work = fetch_one(store, at(1000))
    assert [m.event for m in work.messages] == [h.ActivityCompleted(T0, 1, "late but first")]


def test_a_stale_completion_never_removes_a_newer_item(store: Store) -> None:
    """A worker whose lease expired reports after the item was re-run, completed and the next
    activity scheduled: the next activity (even if the store recycled ids) must survive."""
    schedule(store)
    [stale] = store.fetch_activity_work(T0, lease=10)
    [fresh] = store.fetch_activity_work(at(11), lease=10)
    write_results(store, [result_for(fresh, "fresh")])
    work = fetch_one(store, at(11))
    assert [m.event for m in work.messages] == [h.ActivityCompleted(T0, 1, "fresh")]
    following = ActivityWork("a", 0, 2, "ship", None, call_id=2)
    scheduled = h.ActivityScheduled(at(11), 2, "ship", None)
    assert write_turns(store, [commit_for(work, scheduled, activities=[following])]) == [True]

    write_results(store, [result_for(stale, "stale")])  # the first worker wakes up

    assert store.fetch_orchestration_work(at(12), limit=5) == []  # no result delivered
    [leased] = store.fetch_activity_work(at(12), limit=5)
    assert (leased.name, leased.task_id) == ("ship", 2)
    assert leased.id != stale.id  # an item id is never reused


def test_released_items_go_back_unrun_and_only_by_their_lease_holder(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store)
    items = [ActivityWork("a", 0, n, f"step{n}", n, call_id=n) for n in (1, 2, 3)]
    write_turns(store, [commit_for(work, activities=items)])
    leased = store.fetch_activity_work(T0, limit=2, lease=300)
    assert [w.name for w in leased] == ["step1", "step2"]

    store.release_activities(leased)

    # Back at once (not after the lease), ahead of later work, in their order, under new leases.
    again = store.fetch_activity_work(at(1), limit=5, lease=300)
    assert [w.name for w in again] == ["step1", "step2", "step3"]
    assert {w.lease_token for w in again}.isdisjoint(w.lease_token for w in leased)
    # A release or a result under a token no longer held changes nothing.
    store.release_activities(leased)
    write_results(store, [result_for(w, "stale") for w in leased])
    assert store.fetch_activity_work(at(2), limit=5) == []
    assert store.fetch_orchestration_work(at(2), limit=5) == []
    # The current holder's release of a finished item is a no-op too.
    write_results(store, [result_for(again[0], "done")])
    store.release_activities([again[0]])
    assert store.fetch_activity_work(at(3), limit=5) == []
    assert [m.event for m in fetch_one(store, at(3)).messages] == [
        h.ActivityCompleted(T0, 1, "done")
    ]


# --- children, continue-as-new, purge ---------------------------------------------------------


def child_commit(work: OrchestrationWork, child_id: str) -> TurnCommit:
    child = InstanceState(
        child_id,
        "child",
        Status.PENDING,
        7,
        created_at=T0,
        updated_at=T0,
        parent_instance=work.instance.instance_id,
        parent_generation=0,
        parent_task=3,
    )
    start = h.OrchestrationStarted(T0, "child", 7, child_id, 0, work.instance.instance_id, 3)
    scheduled = h.SubOrchestrationScheduled(T0, 3, "child", 7, child_id)
    return commit_for(work, scheduled, children=[child], messages=[Message(child_id, start, 0)])


def test_child_is_created_with_its_start_message_in_the_same_commit(store: Store) -> None:
    create(store, "p")
    assert write_turns(store, [child_commit(fetch_one(store), "p:c")]) == [True]
    child = store.get_instance("p:c")
    assert child is not None
    assert (child.parent_instance, child.parent_task, child.input) == ("p", 3, 7)
    work = fetch_one(store)
    assert work.instance.instance_id == "p:c"
    assert [m.event.kind for m in work.messages] == ["OrchestrationStarted"]


def test_duplicate_child_id_fails_the_call_and_leaves_the_holder_alone(store: Store) -> None:
    create(store, "taken", "other")
    finish(store, "taken")
    create(store, "p")
    assert write_turns(store, [child_commit(fetch_one(store), "taken")]) == [True]
    notice = fetch_one(store)
    assert notice.instance.instance_id == "p"
    [message] = notice.messages
    assert isinstance(message.event, h.SubOrchestrationFailed)
    assert message.event.error_type == "DuplicateInstance" and "'taken'" in message.event.message
    holder = store.get_instance("taken")
    assert holder is not None and holder.name == "other" and holder.status == Status.COMPLETED
    write_turns(store, [commit_for(notice)])
    assert store.fetch_orchestration_work(at(100), limit=5) == []


def child_of(parent: str, child_id: str, task: int) -> tuple[InstanceState, Message]:
    child = InstanceState(
        child_id,
        "child",
        Status.PENDING,
        task,
        created_at=T0,
        updated_at=T0,
        parent_instance=parent,
        parent_generation=0,
        parent_task=task,
    )
    start = h.OrchestrationStarted(T0, "child", task, child_id, 0, parent, task)
    return child, Message(child_id, start, 0)


def test_one_turn_starting_two_children_with_one_id_starts_the_first(store: Store) -> None:
    create(store, "p")
    work = fetch_one(store)
    (one, one_start), (two, two_start) = child_of("p", "c", 3), child_of("p", "c", 4)
    commit = commit_for(work, children=[one, two], messages=[one_start, two_start])
    assert write_turns(store, [commit]) == [True]

    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    assert sorted(works) == ["c", "p"]
    assert [m.event for m in works["c"].messages] == [one_start.event]
    [notice] = works["p"].messages
    assert isinstance(notice.event, h.SubOrchestrationFailed)
    assert (notice.event.task_id, notice.event.error_type) == (4, "DuplicateInstance")
    child = store.get_instance("c")
    assert child is not None and child.parent_task == 3


def test_two_turns_of_one_batch_starting_one_child_id_start_it_once(store: Store) -> None:
    create(store, "p1")
    create(store, "p2")
    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    commits = []
    for key, task in (("p1", 3), ("p2", 4)):
        child, start = child_of(key, "shared", task)
        commits.append(commit_for(works[key], children=[child], messages=[start]))
    assert write_turns(store, commits) == [True, True]

    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    assert sorted(works) == ["p2", "shared"]  # p1 waits for its child; p2 hears of the refusal
    [start] = works["shared"].messages
    assert isinstance(start.event, h.OrchestrationStarted)
    assert start.event.parent_instance == "p1"
    [notice] = works["p2"].messages
    assert isinstance(notice.event, h.SubOrchestrationFailed)
    assert notice.event.error_type == "DuplicateInstance"
    child = store.get_instance("shared")
    assert child is not None and child.parent_instance == "p1"


def test_continue_as_new_resets_the_history(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store)
    started = work.messages[0].event
    write_turns(store, [commit_for(work, started, state={"status": Status.RUNNING})])
    assert len(store.get_history("a")) == 1
    store.send(Message("a", h.EventRaised(T0, "next", 1)))
    work = fetch_one(store)
    restart = h.OrchestrationStarted(T0, "flow", 2, "a", 1)
    commit = commit_for(
        work,
        reset_history=True,
        state={"generation": 1, "input": 2},
        messages=[Message("a", restart, 1)],
    )
    assert write_turns(store, [commit]) == [True]
    assert store.get_history("a") == []
    state = store.get_instance("a")
    assert state is not None and state.generation == 1 and state.history_len == 0
    work = fetch_one(store)
    assert [(m.event, m.generation) for m in work.messages] == [(restart, 1)]
    write_turns(store, [commit_for(work, work.messages[0].event)])
    assert store.get_history("a") == [restart]


def test_every_state_field_follows_each_commit(store: Store) -> None:
    """Turns that keep the status, change it, or start a new generation each store every field,
    and status queries see the new status at once."""
    create(store, "a")
    create(store, "b")

    def fetch_a(now: datetime) -> OrchestrationWork:
        works = store.fetch_orchestration_work(now, limit=10)
        [work] = [w for w in works if w.instance.instance_id == "a"]
        for other in works:
            if other is not work:
                store.abandon(other)
        return work

    def turn(now: datetime, **changes) -> None:
        work = fetch_a(now)
        commit = commit_for(work, h.TimerFired(now, 0), state={"updated_at": now, **changes})
        assert write_turns(store, [commit]) == [True]

    def current() -> tuple:
        state = store.get_instance("a")
        assert state is not None
        return (state.status, state.input, state.output, state.error, state.custom_status)

    turn(at(1), status=Status.RUNNING, custom_status={"step": 1})
    assert current() == (Status.RUNNING, {"n": 1}, None, None, {"step": 1})
    store.send(Message("a", h.EventRaised(at(2), "go", None)))
    error = h.ErrorInfo("NonDeterminismError", "later")
    turn(at(2), output=[1], error=error, custom_status=None)
    assert current() == (Status.RUNNING, {"n": 1}, [1], error, None)
    state = store.get_instance("a")
    assert state is not None and (state.updated_at, state.history_len) == (at(2), 2)
    assert [s.instance_id for s in store.list_instances(status=Status.RUNNING)] == ["a"]
    assert [s.instance_id for s in store.list_instances(status=Status.PENDING)] == ["b"]
    store.send(Message("a", h.EventRaised(at(3), "go", None)))
    work = fetch_a(at(3))
    renewed = {"generation": 1, "input": {"n": 2}, "output": None, "error": None}
    commit = commit_for(work, reset_history=True, state={"updated_at": at(3), **renewed})
    assert write_turns(store, [commit]) == [True]
    state = store.get_instance("a")
    assert state is not None
    assert (state.generation, state.input, state.history_len) == (1, {"n": 2}, 0)
    assert current() == (Status.RUNNING, {"n": 2}, None, None, None)
    store.send(Message("a", h.EventRaised(at(4), "go", None)))
    turn(at(4), status=Status.COMPLETED, output="done")
    assert current() == (Status.COMPLETED, {"n": 2}, "done", None, None)
    assert [s.instance_id for s in store.list_instances(status=Status.RUNNING)] == []
    assert [s.instance_id for s in store.list_instances(status=Status.COMPLETED)] == ["a"]


def test_purge_deletes_finished_instances_only(store: Store) -> None:
    create(store, "old")
    finish(store, "old", at(10))
    create(store, "new")
    finish(store, "new", at(20))
    create(store, "running")
    with pytest.raises(InstanceNotFound):
        store.purge("missing")
    with pytest.raises(InstanceNotRunning, match="terminate it"):
        store.purge("running")
    assert store.purge(finished_before=at(15)) == 1
    assert store.get_instance("old") is None
    assert store.purge("new") == 1
    assert [s.instance_id for s in store.list_instances()] == ["running"]
    assert store.purge() == 0


def test_results_for_a_purged_instance_are_dropped(store: Store) -> None:
    item = schedule(store, "a")
    leased = store.fetch_activity_work(T0)[0]
    store.send(Message("a", h.OrchestrationTerminated(T0, "stop")))
    term = fetch_one(store)
    state = {"status": Status.TERMINATED}
    write_turns(store, [commit_for(term, h.OrchestrationTerminated(T0, "stop"), state=state)])
    assert store.purge("a") == 1
    write_results(store, [result_for(leased, "late")])
    assert item.idempotency_key == leased.idempotency_key
    assert store.fetch_orchestration_work(at(1000), limit=5) == []
    assert store.fetch_activity_work(at(1000), limit=5) == []


def test_withdrawn_attempts_are_removed_queued_or_leased(store: Store) -> None:
    create(store, "a")
    work = fetch_one(store)
    items = [ActivityWork("a", 0, t, "charge", {"t": t}, attempt=1, call_id=t) for t in (1, 2, 3)]
    events = [h.ActivityScheduled(T0, t, "charge", {"t": t}) for t in (1, 2, 3)]
    write_turns(store, [commit_for(work, *events, activities=items)])
    [running] = store.fetch_activity_work(T0, limit=1, lease=30)  # task 1 runs somewhere
    store.send(Message("a", h.EventRaised(at(1), "go", None)))
    work = fetch_one(store, at(1))
    assert write_turns(store, [commit_for(work, withdrawn=[(0, 1), (0, 2)])]) == [True]
    # The queued one is never leased, the running one's holder loses it (renewal, result).
    assert [w.task_id for w in store.fetch_activity_work(at(100), limit=5)] == [3]
    assert store.write(Batch(now=at(2), renewals=[running])).renewed == [False]
    write_results(store, [result_for(running, "late")])
    assert store.fetch_orchestration_work(at(2)) == []


# --- wake-ups --------------------------------------------------------------------------------


def test_a_change_after_a_mark_ends_the_wait_at_once_even_before_the_wait(store: Store) -> None:
    """A worker marks the store before a round and waits from that mark after an empty round;
    a start committed in between must end the wait at once (a wait that only counted changes
    from its own beginning would sleep through it)."""
    mark = store.change_mark()
    assert store.wait_for_change(0, mark) is False  # nothing since the mark: the time ran out
    create(store, "a", when=at(1))
    assert store.wait_for_change(0, mark) is True
    assert store.wait_for_change(30, mark) is True  # at once, not after 30 s
