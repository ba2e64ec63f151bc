"""The `Store` contract for parents and children (`purge` takes a parent's children with it),
checked on every implementation with hand-built records."""

from __future__ import annotations

import pytest

from orchestrate import history as h
from orchestrate.errors import DuplicateInstance
from orchestrate.state import (
    InstanceState,
    Message,
    OrchestrationWork,
    Signal,
    Status,
    TurnCommit,
)
from orchestrate.stores.contract import Store

from .stores import T0, at, commit_for, create, fetch_one, finish, write_turns
from .test_store_contract import child_of


def start_children(work: OrchestrationWork, *children: tuple[str, str]) -> TurnCommit:
    """A turn of `work`'s instance starting children (id, on_parent_close), tasks 1, 2, ..."""
    key = work.instance.instance_id
    commit = commit_for(work)
    for task, (child_id, policy) in enumerate(children, 1):
        state, start = child_of(key, child_id, task)
        commit.new_events.append(
            h.SubOrchestrationScheduled(T0, task, "child", task, child_id, policy)
        )
        commit.children.append(state)
        commit.messages.append(start)
    return commit


def end(store: Store, key: str, when: float = 1) -> None:
    """Complete `key` (an event wakes it if its inbox is empty)."""
    store.send(Message(key, h.EventRaised(T0, "wake", None)))
    finish(store, key, at(when))


def finish_all(store: Store, *keys: str) -> None:
    for key in keys:
        end(store, key)


def ids(store: Store) -> list[str]:
    return sorted(s.instance_id for s in store.list_instances())


def test_purge_takes_finished_children_and_grandchildren_with_the_parent(store: Store) -> None:
    create(store, "p")
    create(store, "other")
    write_turns(store, [start_children(fetch_one(store), ("p:a", "terminate"))])
    work = fetch_one(store)
    assert work.instance.instance_id == "other"
    store.abandon(work)
    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    write_turns(store, [start_children(works["p:a"], ("p:a:b", "terminate"))])
    for other in works.values():
        if other.instance.instance_id != "p:a":
            store.abandon(other)
    finish_all(store, "p:a:b", "p:a", "p")
    assert store.purge("p") == 3
    assert ids(store) == ["other"]


def test_purge_takes_running_terminate_children_and_leaves_running_abandoned_ones(
    store: Store,
) -> None:
    create(store, "p")
    commit = start_children(fetch_one(store), ("p:t", "terminate"), ("p:a", "abandon"))
    write_turns(store, [commit])
    end(store, "p")
    # both children still run (the terminate of p:t is on its way): purge p
    assert store.purge("p") == 2
    assert ids(store) == ["p:a"]
    left = store.get_instance("p:a")
    assert left is not None and left.status == Status.PENDING
    # the abandoned child runs on, and the purged parent's id can be started again
    create(store, "p")
    assert ids(store) == ["p", "p:a"]


def test_purge_by_time_takes_the_children_of_what_it_purges(store: Store) -> None:
    create(store, "p")
    write_turns(store, [start_children(fetch_one(store), ("p:c", "terminate"))])
    end(store, "p")
    end(store, "p:c", 50)  # finished after the cut-off, purged with its parent
    assert store.purge(finished_before=at(10)) == 2
    assert ids(store) == []


# --- signal-with-start (create_instance with an event) -----------------------------------------


def signal(key: str, data: object) -> Message:
    return Message(key, h.EventRaised(T0, "go", data))


def start_with(store: Store, key: str, data: object, **kw: object) -> bool:
    state = InstanceState(key, "flow", Status.PENDING, None, created_at=T0, updated_at=T0)
    start = Message(key, h.OrchestrationStarted(T0, "flow", None, key, 0), 0)
    return store.create_instance(state, start, event=signal(key, data), **kw)  # type: ignore[arg-type]


def test_signal_with_start_creates_the_instance_and_queues_the_event_after_its_start(
    store: Store,
) -> None:
    assert start_with(store, "a", 1) is True
    work = fetch_one(store)
    assert [m.event.kind for m in work.messages] == ["OrchestrationStarted", "EventRaised"]


def test_signal_with_start_on_a_running_instance_only_queues_the_event(store: Store) -> None:
    create(store, "a")
    write_turns(store, [commit_for(fetch_one(store), state={"status": Status.RUNNING})])
    assert start_with(store, "a", 2) is False
    work = fetch_one(store)
    assert [(m.event.kind, getattr(m.event, "input", None)) for m in work.messages] == [
        ("EventRaised", 2)
    ]
    assert work.instance.generation == 0 and len(store.list_instances()) == 1


def test_signal_with_start_on_a_finished_instance_is_a_duplicate_unless_reused(
    store: Store,
) -> None:
    create(store, "a")
    finish(store, "a")
    with pytest.raises(DuplicateInstance, match="reuse=True"):
        start_with(store, "a", 3)
    assert store.fetch_orchestration_work(at(1)) == []  # nothing was queued
    assert start_with(store, "a", 3, reuse=True) is True
    state = store.get_instance("a")
    assert state is not None and state.generation == 1 and state.status == Status.PENDING


# --- events raised by turns (TurnCommit.signals) --------------------------------------------------


def raising(work: OrchestrationWork, target: str, task: int = 0) -> TurnCommit:
    """A turn of `work` raising event "go" to `target` as command `task`."""
    commit = commit_for(work, h.EventSent(T0, task, target, "go", {"n": task}))
    raised = Message(target, h.EventRaised(T0, "go", {"n": task}))
    commit.signals.append(Signal(raised, work.instance.instance_id, 0, task))
    return commit


def inbox(store: Store, key: str) -> list[h.Event]:
    works = store.fetch_orchestration_work(at(1), limit=10)
    for work in works:
        store.abandon(work)
    return [m.event for w in works if w.instance.instance_id == key for m in w.messages]


def test_a_raised_event_reaches_a_running_instance_and_the_sender_hears_so(store: Store) -> None:
    create(store, "t")
    create(store, "s")
    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    write_turns(store, [commit_for(works["t"]), raising(works["s"], "t", 3)])
    assert inbox(store, "t") == [h.EventRaised(T0, "go", {"n": 3})]
    assert inbox(store, "s") == [h.EventDelivered(T0, 3)]


def test_a_raised_event_to_a_missing_or_finished_instance_is_answered_with_the_cause(
    store: Store,
) -> None:
    create(store, "done")
    finish(store, "done")
    create(store, "s")
    write_turns(store, [raising(fetch_one(store), "nobody", 1)])
    [answer] = inbox(store, "s")
    assert isinstance(answer, h.EventDeliveryFailed) and answer.task_id == 1
    assert answer.error_type == "InstanceNotFound" and "'nobody'" in answer.message
    work = fetch_one(store, at(1))
    write_turns(store, [raising(work, "done", 2)])
    [answer] = inbox(store, "s")
    assert isinstance(answer, h.EventDeliveryFailed) and answer.error_type == "InstanceNotRunning"
    assert inbox(store, "done") == []


def test_a_refused_turn_raises_nothing(store: Store) -> None:
    create(store, "t")
    create(store, "s")
    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    write_turns(store, [commit_for(works["t"])])
    stale = raising(works["s"], "t")
    stale.lock_token = "not-the-lock"
    assert write_turns(store, [stale]) == [False]
    assert inbox(store, "t") == []


def test_a_raised_event_is_checked_against_the_instances_as_the_whole_batch_left_them(
    store: Store,
) -> None:
    create(store, "t")
    create(store, "s")
    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=5)}
    done = h.OrchestrationCompleted(T0, "ok")
    ended = commit_for(works["t"], done, state={"status": Status.COMPLETED})
    assert write_turns(store, [raising(works["s"], "t", 5), ended]) == [True, True]
    [answer] = inbox(store, "s")
    assert isinstance(answer, h.EventDeliveryFailed) and answer.error_type == "InstanceNotRunning"
