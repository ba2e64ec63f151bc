"""`Saga`: register a compensation after each step that succeeded; undo them in reverse on failure.

Compensations are ordinary activities scheduled through `ctx.activity`, so they are recorded,
retried by their own policies and replayed like every other step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import OrchestrationContext
from .errors import CompensationFailed, TaskFailed

__all__ = ["Saga"]


class Saga:
    """Compensations for the steps of one orchestration, run last-in first-out.

    ``parallel=True`` schedules every compensation at once (they must be independent);
    ``continue_on_error=True`` runs the remaining compensations after one fails. Either can also be
    given to `compensate` for one call.
    """

    def __init__(
        self, ctx: OrchestrationContext, *, parallel: bool = False, continue_on_error: bool = False
    ) -> None:
        self._ctx = ctx
        self._steps: list[tuple[Callable[..., Any] | str, Any]] = []
        self.parallel = parallel
        self.continue_on_error = continue_on_error

    def add(self, compensation: Callable[..., Any] | str, arg: Any = None) -> None:
        """Remember to call the activity `compensation` with `arg` if the saga must be undone."""
        self._ctx._exe.registry.get_activity(compensation)  # fail now, at the step, if unknown
        self._steps.append((compensation, arg))

    def __len__(self) -> int:
        return len(self._steps)

    async def compensate(
        self, *, parallel: bool | None = None, continue_on_error: bool | None = None
    ) -> None:
        """Run the registered compensations in reverse order, then forget them.

        Returns normally when all succeeded; otherwise raises `CompensationFailed` listing the
        failures (after running the rest, when continuing on error).
        """
        parallel = self.parallel if parallel is None else parallel
        keep_going = self.continue_on_error if continue_on_error is None else continue_on_error
        steps, self._steps = list(reversed(self._steps)), []
        failures: list[TaskFailed] = []
        if parallel:
            tasks = [self._ctx.activity(fn, arg) for fn, arg in steps]
            results = await self._ctx.all(tasks, return_exceptions=True)
            failures = [r for r in results if isinstance(r, TaskFailed)]
        else:
            for fn, arg in steps:
                try:
                    await self._ctx.activity(fn, arg)
                except TaskFailed as exc:
                    failures.append(exc)
                    if not keep_going:
                        break
        if failures:
            raise CompensationFailed(failures)
