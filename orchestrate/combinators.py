"""Tasks made of tasks: `all` (fan-in), `any` (races), and bounded `map`.

They finish from their children's callbacks, which run while the executor applies a history event,
so whatever they schedule next is scheduled in history order and replays identically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .task import Task, _Order

__all__ = ["MapTask", "WhenAll", "WhenAny"]


class WhenAll(Task[list[Any]]):
    """Finishes with every child's value in order; fails fast with the first failure to arrive."""

    __slots__ = ("_children", "_remaining", "_return_exceptions")

    def __init__(
        self, order: _Order, children: Sequence[Task[Any]], return_exceptions: bool
    ) -> None:
        super().__init__(order, f"all({len(children)} tasks)")
        self._children = list(children)
        self._return_exceptions = return_exceptions
        self._remaining = len(self._children)
        if not self._children:
            self._resolve([])
        # Children that already finished are visited in completion order, like later ones.
        for child in sorted(self._children, key=_finish_key):
            child._add_done_callback(self._child_done)

    def _child_done(self, child: Task[Any]) -> None:
        if self.done():
            return
        if not self._return_exceptions and (child.failed() or child.cancelled()):
            error = child.exception()
            assert error is not None
            self._fail(error)
            return
        self._remaining -= 1
        if self._remaining == 0:
            self._resolve([_value_or_error(c) for c in self._children])

    def _on_cancel(self) -> None:
        for child in self._children:
            child.cancel()


class WhenAny(Task[Task[Any]]):
    """Finishes with the first child to finish (success or failure); optionally cancels the rest."""

    __slots__ = ("_cancel_losers", "_children")

    def __init__(self, order: _Order, children: Sequence[Task[Any]], cancel_losers: bool) -> None:
        super().__init__(order, f"any({len(children)} tasks)")
        if not children:
            raise ValueError("ctx.any() needs at least one task to race")
        self._children = list(children)
        self._cancel_losers = cancel_losers
        for child in sorted(self._children, key=_finish_key):
            child._add_done_callback(self._child_done)

    def _child_done(self, child: Task[Any]) -> None:
        if self.done():
            return
        self._resolve(child)
        if self._cancel_losers:
            for other in self._children:
                if other is not child:
                    other.cancel()

    def _on_cancel(self) -> None:
        if self._cancel_losers:
            for child in self._children:
                child.cancel()


class MapTask(Task[list[Any]]):
    """Runs `start(item)` for every item with at most `limit` in flight; results in input order."""

    __slots__ = ("_failed", "_in_flight", "_items", "_limit", "_next", "_results", "_start")

    def __init__(
        self, order: _Order, start: Callable[[Any], Task[Any]], items: Sequence[Any], limit: int
    ) -> None:
        super().__init__(order, f"map({len(items)} items)")
        if limit < 1:
            raise ValueError(f"max_concurrency={limit} must be at least 1")
        self._start = start
        self._items = list(items)
        self._limit = limit
        self._results: list[Any] = [None] * len(self._items)
        self._in_flight: dict[int, Task[Any]] = {}
        self._next = 0
        if not self._items:
            self._resolve([])
        self._fill()

    def _fill(self) -> None:
        while (
            not self.done() and self._next < len(self._items) and len(self._in_flight) < self._limit
        ):
            index = self._next
            self._next += 1
            task = self._start(self._items[index])
            self._in_flight[index] = task
            task._add_done_callback(self._callback_for(index))

    def _callback_for(self, index: int) -> Callable[[Task[Any]], None]:
        return lambda child: self._child_done(index, child)

    def _child_done(self, index: int, child: Task[Any]) -> None:
        self._in_flight.pop(index, None)
        if self.done():
            return
        if child.failed() or child.cancelled():
            error = child.exception()
            assert error is not None
            self._fail(error)
            return
        self._results[index] = child.result()
        if self._next >= len(self._items) and not self._in_flight:
            self._resolve(self._results)
        else:
            self._fill()

    def _on_cancel(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()


def _finish_key(task: Task[Any]) -> int:
    # Pending tasks sort last; their order does not matter because they register a callback.
    return task.completed_order if task.done() else 1 << 62


def _value_or_error(task: Task[Any]) -> Any:
    if task.failed() or task.cancelled():
        return task.exception()
    return task.result()
