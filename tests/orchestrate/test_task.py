"""Task basics: results, errors, cancellation, callbacks."""

from __future__ import annotations

import pytest

from orchestrate import TaskCancelled
from orchestrate.task import Task, _Order


def test_result_before_completion_says_to_await() -> None:
    task: Task[int] = Task(_Order(), "activity 'x'")
    with pytest.raises(RuntimeError, match="await it instead"):
        task.result()
    assert "pending" in repr(task)


def test_resolve_fail_and_cancel_are_final() -> None:
    order = _Order()
    ok: Task[int] = Task(order, "a")
    ok._resolve(1)
    ok._fail(ValueError("late"))
    assert ok.result() == 1 and ok.cancel() is False
    bad: Task[int] = Task(order, "b")
    bad._fail(ValueError("x"))
    with pytest.raises(ValueError, match="x"):
        bad.result()
    gone: Task[int] = Task(order, "c")
    assert gone.cancel() is True
    with pytest.raises(TaskCancelled, match="c was cancelled"):
        gone.result()
    assert (ok.completed_order, bad.completed_order, gone.completed_order) == (1, 2, 3)
