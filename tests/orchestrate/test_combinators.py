"""Combinators as pure task logic: completion order, fail-fast, empty inputs, bounded map."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrate.combinators import MapTask, WhenAll, WhenAny
from orchestrate.task import Task, _Order


def test_combinators_over_already_finished_tasks_use_completion_order() -> None:
    order = _Order()
    first: Task[str] = Task(order, "first")
    second: Task[str] = Task(order, "second")
    second._resolve("s")
    first._resolve("f")
    assert WhenAny(order, [first, second], cancel_losers=False).result() is second
    assert WhenAll(order, [first, second], return_exceptions=False).result() == ["f", "s"]
    assert WhenAll(order, [], return_exceptions=False).result() == []
    with pytest.raises(ValueError, match="at least one task"):
        WhenAny(order, [], cancel_losers=True)


def test_map_starts_at_most_limit_and_refills_on_completion() -> None:
    order = _Order()
    started: list[Task[Any]] = []

    def start(item: int) -> Task[Any]:
        task: Task[Any] = Task(order, f"item {item}")
        started.append(task)
        return task

    mapped = MapTask(order, start, [1, 2, 3], limit=2)
    assert len(started) == 2
    started[1]._resolve("b")
    assert len(started) == 3 and not mapped.done()
    started[0]._resolve("a")
    started[2]._resolve("c")
    assert mapped.result() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="max_concurrency=0"):
        MapTask(order, start, [1], limit=0)


def test_all_fails_fast_on_the_first_failure_in_completion_order() -> None:
    order = _Order()
    a: Task[int] = Task(order, "a")
    b: Task[int] = Task(order, "b")
    joined = WhenAll(order, [a, b], return_exceptions=False)
    b._fail(KeyError("b broke"))
    assert joined.failed()
    with pytest.raises(KeyError, match="b broke"):
        joined.result()


def test_any_cancels_losers_only_when_asked() -> None:
    order = _Order()
    a: Task[int] = Task(order, "a")
    b: Task[int] = Task(order, "b")
    race = WhenAny(order, [a, b], cancel_losers=True)
    a._resolve(1)
    assert race.result() is a and b.cancelled()
    c: Task[int] = Task(order, "c")
    d: Task[int] = Task(order, "d")
    WhenAny(order, [c, d], cancel_losers=False)
    c._resolve(1)
    assert not d.done()
