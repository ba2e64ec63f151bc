"""`Run`: a live handle on one instance in a `TestEnv` (or on a replayed history).

Every attribute reads the current state, so after `env.raise_event` or `env.advance` the same
object shows what changed; tests never need to re-fetch it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from orchestrate import ErrorInfo, InstanceState, Status
from orchestrate import history as h
from orchestrate.history import iso_time
from orchestrate.replay import Execution

from .timeline import format_timeline

__all__ = ["Run", "RunSource", "describe_waits"]


def describe_waits(exe: Execution, note: Callable[[int], str] | None = None) -> list[str]:
    """What `exe` waits on, readable: ``event 'Approval'``, ``timer at 2024-01-02T00:00:00Z``.

    Built from `Execution.waits` alone. `note(task_id)` may add a remark to an activity (the
    testkit says which ones are scripted to hang or finish later).
    """
    found: list[str] = []
    for wait in exe.waits():
        if wait.kind == "event":
            found.append(f"event {wait.name!r}")
        elif wait.kind == "timer":
            assert wait.fire_at is not None
            extra = "" if wait.purpose == "timer" else f" ({wait.purpose})"
            found.append(f"timer at {iso_time(wait.fire_at)}{extra}")
        elif wait.kind == "activity":
            remark = note(wait.task_id) if note is not None and wait.task_id is not None else ""
            found.append(f"activity {wait.name!r}{remark}")
        else:
            found.append(f"{wait.kind} {wait.name!r} ({wait.instance_id})")
    return found


class RunSource(Protocol):
    """Where a `Run` reads from: the `TestEnv` that runs it, or a replayed history."""

    def state(self, instance_id: str) -> InstanceState: ...

    def history(self, instance_id: str) -> list[h.Event]: ...

    def waiting_for(self, instance_id: str) -> list[str]: ...

    def calls(self, instance_id: str, activity: Callable[..., Any] | str) -> list[Any]: ...


class Run:
    """One orchestration instance as a test sees it; see docs/design.md's testkit section."""

    __test__ = False

    def __init__(self, source: RunSource, instance_id: str) -> None:
        self._source = source
        self.instance_id = instance_id

    def __repr__(self) -> str:
        state = self._source.state(self.instance_id)
        return f"<Run {self.instance_id!r} {state.name} {state.status}>"

    @property
    def status(self) -> Status:
        """``pending``, ``running``, ``completed``, ``failed`` or ``terminated``."""
        return self._source.state(self.instance_id).status

    @property
    def output(self) -> Any:
        """The orchestration's return value (JSON data), once completed."""
        return self._source.state(self.instance_id).output

    @property
    def error(self) -> ErrorInfo | None:
        """Why it failed: ``.type``, ``.message``, ``.traceback`` (the orchestration's frames)."""
        return self._source.state(self.instance_id).error

    @property
    def custom_status(self) -> Any:
        """The last value passed to ``ctx.set_status``."""
        return self._source.state(self.instance_id).custom_status

    @property
    def history(self) -> list[h.Event]:
        """The current generation's history events."""
        return self._source.history(self.instance_id)

    @property
    def waiting_for(self) -> list[str]:
        """What the instance waits on: ``event 'Approval'``, ``timer at 2024-01-02T00:00:00Z``..."""
        return self._source.waiting_for(self.instance_id)

    def calls(self, activity: Callable[..., Any] | str) -> list[Any]:
        """The inputs of every execution of `activity` by this instance, in call order.

        Retries and duplicate deliveries each count, so ``len(run.calls(charge))`` is how many
        times the card would have been charged.
        """
        return self._source.calls(self.instance_id, activity)

    def timeline(self, limit: int | None = None) -> str:
        """The history as a numbered table (time, event, name, payload), last `limit` rows."""
        state = self._source.state(self.instance_id)
        title = f"instance {self.instance_id!r} ({state.name}): {state.status}"
        if state.generation:
            title += f", generation {state.generation}"
        waits = self.waiting_for
        if waits:
            title += f"; waiting for {', '.join(waits)}"
        return format_timeline(self.history, title=title, limit=limit)
