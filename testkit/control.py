"""`Controller`: drive a `TestEnv` one step at a time; the fuzzer's interface to the env.

A test drives an env with `run`/`advance`/`raise_event`, which settle on their own: activities
finish at once, time jumps to the next timer. The fuzzer instead decides every step itself: which
held activity attempt finishes next and how, when time moves, when an event arrives, where the
worker crashes. Under a controller every activity attempt is *held* when delivered, time moves
only through `fire_next_timer`, and nothing settles by itself.

This is the one module that reaches into `TestEnv`'s bookkeeping (held attempts, timers, cached
executions); the fuzzer (`testkit.fuzz`) uses only what is documented here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from orchestrate import history as h
from orchestrate.state import ActivityWork, Message

from .outcomes import Delay, Fail, Hang, Ok, Outcome
from .run import Run

if TYPE_CHECKING:
    from datetime import datetime

    from .env import TestEnv

__all__ = ["Attempt", "Controller", "Crash"]

Crash = Literal["before_commit", "after_commit"]
"""Where `Controller.crash` puts a worker crash around the next commit: ``before_commit`` loses
the turn it computed (it is recomputed from the same messages); ``after_commit`` keeps it but
loses every cached execution (the next turn resumes by replaying the history from scratch)."""


@dataclass(frozen=True)
class Attempt:
    """One delivered activity attempt the controller holds until told how it ends."""

    key: int  # the store's work id
    instance_id: str
    task_id: int
    name: str
    input: Any
    attempt: int
    idempotency_key: str

    @property
    def label(self) -> str:
        """``charge#3``: the activity and its task id in the instance's history."""
        return f"{self.name}#{self.task_id}"


class Controller:
    """Step-by-step control of a `TestEnv` (see the module docstring).

    Use it as a context manager: inside, the wall clock stays frozen to the env's virtual time
    for the whole session (one freeze, not one per step), so steps are cheap.
    """

    def __init__(self, env: TestEnv) -> None:
        self.env = env
        env._activities.manual = True
        env._check_each_turn = False  # each step replays from scratch (a drive call) instead

    def __enter__(self) -> Controller:
        self._frozen = self.env.clock.frozen() if self.env.freeze_wall_clock else None
        if self._frozen is not None:
            self._frozen.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._frozen is not None:
            self._frozen.__exit__(None, None, None)
            self._frozen = None

    # --- what is pending -------------------------------------------------------------------

    def attempts(self) -> list[Attempt]:
        """Every held activity attempt, in a stable order (instance, task id, work id)."""
        found = [
            Attempt(
                key,
                held.work.instance_id,
                held.work.task_id,
                held.work.name,
                held.work.input,
                held.work.attempt,
                held.work.idempotency_key,
            )
            for key, held in self.env._activities.held.items()
        ]
        found.sort(key=lambda a: (a.instance_id, a.task_id, a.key))
        return found

    def next_timer(self) -> datetime | None:
        """When the earliest timer that some running instance still waits on is due."""
        return self.env._next_due(None, awaited=True)

    def awaited_events(self) -> list[tuple[str, str]]:
        """(instance id, event name) for every open event wait, in a stable order."""
        return sorted(
            (key, name)
            for key, exe in self.env._executions.items()
            for name in exe.awaited_events()
        )

    @property
    def deliveries(self) -> int:
        """How many activity executions have begun: deliveries, duplicates and re-runs."""
        return len(self.env._activities.calls)

    def running(self) -> list[str]:
        """Ids of the instances that have not finished, oldest first."""
        return [s.instance_id for s in self.env.instances() if not s.finished]

    # --- steps -----------------------------------------------------------------------------

    def start(self, orchestration: Callable[..., Any] | str, input: Any, instance_id: str) -> Run:
        """Start an instance and run what follows at once (its first turn); hold its calls."""
        env = self.env
        name = env.registry.get_orchestration(orchestration).name
        env._stubs.refuse_top_level(name)
        with env._driving():
            env.client.start(name, input, instance_id=instance_id)
            env._drain()
        return Run(env, instance_id)

    def finish(self, attempt: Attempt, outcome: Outcome | None) -> h.Event:
        """End a held attempt now with `outcome` (None: run the activity's real code), commit
        its result and run the turns that follow. Returns the result event recorded."""
        env = self.env
        held = env._activities.held.pop(attempt.key)
        with env._driving():
            event = self._execute(held.work, outcome)
            env.worker.complete_with_follow_ups(
                [(held.work, Message(held.work.instance_id, event, held.work.generation))]
            )
            env._drain()
        return event

    def run_extra(self, attempt: Attempt, outcome: Outcome | None) -> h.Event:
        """Execute a held attempt once more without committing its result, and keep holding it:
        a duplicate delivery (two workers got the item) or a worker that ran it and died before
        its result was stored. Real code runs for real, with the same idempotency key."""
        env = self.env
        held = env._activities.held[attempt.key]
        env._activities.calls.append((held.work.instance_id, held.work.name, held.work.input))
        with env._driving():
            return self._execute(held.work, outcome)

    def abandon(self, attempt: Attempt) -> None:
        """Never finish this attempt (a hung call): only a timeout or a race can move past it."""
        self.env._activities.held.pop(attempt.key)

    def fire_next_timer(self) -> datetime:
        """Move virtual time to the earliest awaited timer, firing everything due on the way in
        due order; returns the new time. `LookupError` when no timer is awaited."""
        env = self.env
        target = self.next_timer()
        if target is None:
            raise LookupError("no timer is awaited; check next_timer() before firing one")
        with env._driving():
            while (due := env._next_due(None)) is not None and due <= target:
                env._move_to(due)
                env._drain()
        return target

    def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        """Deliver an external event to a running instance and run the turns that follow."""
        env = self.env
        with env._driving():
            env.client.raise_event(instance_id, name, data)
            env._drain()

    def crash(self, where: Crash) -> None:
        """Make the worker crash around the next commit (see `Crash`)."""
        if where == "before_commit":
            self.env.store.crash_before_commit = True
        elif where == "after_commit":
            self.env._crash_after = True
        else:
            raise ValueError(f"crash({where!r}): use 'before_commit' or 'after_commit'")

    def disarm(self) -> None:
        """Cancel a crash that `crash` armed but no commit has met yet."""
        self.env.store.crash_before_commit = False
        self.env._crash_after = False

    def restart_worker(self) -> None:
        """The worker process died and came back: every cached execution is gone."""
        self.env.worker.evict()

    # --- internals -------------------------------------------------------------------------

    def _execute(self, work: ActivityWork, outcome: Outcome | None) -> h.Event:
        env = self.env
        if isinstance(outcome, (Hang, Delay)):
            raise ValueError("finish() and run_extra() need ok(...), fail(...) or None (real code)")
        if isinstance(outcome, (Ok, Fail)) or outcome is None:
            return env._activities.result(work, outcome).event
        raise TypeError(f"not an outcome: {outcome!r}")
