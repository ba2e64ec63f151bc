"""The `Store` contract for parents and children (`purge` takes a parent's children with it),
checked on every implementation with hand-built records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrate import history as h
from orchestrate.state import Message, OrchestrationWork, Status, TurnCommit
from orchestrate.stores.contract import Store

from .stores import T0, at, commit_for, create, fetch_one, finish, make_store, write_turns
from .test_store_contract import child_of


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = make_store(request.param, tmp_path)
    yield made
    made.close()


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
