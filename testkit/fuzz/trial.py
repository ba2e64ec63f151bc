"""One fuzz example: run an orchestration step by step as a `Chooser` decides, and check it.

At every step the trial lists the *moves* the world could make next (a held activity attempt
finishes, the next awaited timer fires, a listed event arrives), asks the chooser for a `Step`
(a move plus its outcome and any fault), applies it through the `Controller`, and records it.
The env replay-checks every turn and replays every touched instance from scratch after every
step, in a perturbed world (see `TestEnv`); a divergence is a *replay safety* finding. At the end
the trial checks *progress* (finished, or waiting only for an event nobody will send) and the
user's *invariant*. Crash transparency compares two trials, so `fuzz` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from orchestrate import InstanceState, NonDeterminismError, Status, codec
from orchestrate import history as h
from orchestrate.history import iso_time

from ..control import Attempt, Controller
from ..env import TestEnv
from ..errors import RunawayOrchestration
from ..outcomes import Fail
from ..run import Run
from .config import FuzzConfig
from .schedule import Schedule, ScheduleError, Step, outcome_from_json, outcome_to_json

__all__ = ["Chooser", "Finding", "Move", "Trial", "TrialResult"]

Property = Literal["replay safety", "crash transparency", "invariant", "progress"]


@dataclass(frozen=True)
class Move:
    """Something the world could do next: finish an attempt, fire a timer, raise an event."""

    kind: Literal["activity", "timer", "event", "stop_events"]
    attempt: Attempt | None = None
    due: datetime | None = None
    instance_id: str = ""
    name: str = ""
    awaited: bool = False

    @property
    def identity(self) -> tuple[Any, ...]:
        """Stable across trials: what a priority or a merge key is attached to."""
        if self.attempt is not None:
            a = self.attempt
            return ("activity", a.instance_id, a.task_id, a.attempt)
        return (self.kind, self.instance_id, self.name, self.due)


class Chooser(Protocol):
    """Decides each step of a trial (Hypothesis draws, a saved schedule, or enumeration)."""

    def next_step(self, trial: Trial, moves: list[Move]) -> Step | None:
        """The next step, built from one of `moves`; None ends the trial here."""
        ...


@dataclass
class Finding:
    """A broken property: which one, and the message that explains it."""

    prop: Property
    message: str


@dataclass
class TrialResult:
    schedule: Schedule
    finding: Finding | None
    status: Status
    output: Any
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crashes: int = 0
    duplicates: int = 0
    merged: bool = False  # ended early: the state was explored already (exhaustive mode)
    timelines: str = ""  # every instance's history, for the failure report
    # every instance's final state and history, for the HTML report (`orch-fuzz --html`)
    instances: list[tuple[InstanceState, list[h.Event]]] = field(default_factory=list)
    error: str = ""  # why the instance failed, if it did: "TypeError: ..."
    invariant_ran: bool = False  # the user's invariant was called (at the end or on a turn)
    waiting: tuple[str, ...] = ()  # unfinished at the end: what it waits on (event 'Approval')
    waiting_events: tuple[str, ...] = ()  # ... and the names of the events among that

    @property
    def faulty(self) -> bool:
        return bool(self.crashes or self.duplicates)

    @property
    def history_length(self) -> int:
        return max((len(events) for events in self.histories.values()), default=0)


class Trial:
    """Runs one example (see the module docstring); `run()` returns its `TrialResult`."""

    def __init__(
        self,
        config: FuzzConfig,
        instance_id: str,
        input: Any,
        chooser: Chooser,
        *,
        replay_check: bool = True,
    ) -> None:
        self.config = config
        self.instance_id = instance_id
        self.input = input
        self.chooser = chooser
        self.env = TestEnv(
            config.registry, replay_check=replay_check,
            freeze_wall_clock=config.freeze_wall_clock, guard_calls=config.guard_calls,
        )
        self.control = Controller(self.env)
        self.steps: list[Step] = []  # as applied (real-code results filled in)
        self.raised: dict[str, int] = {}
        self.events_stopped = False
        self.crashes = 0
        self.duplicates = 0
        self.merged = False
        self.invariant_ran = False

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> TrialResult:
        finding: Finding | None = None
        with self.control:
            try:
                finding = self._loop()
            except NonDeterminismError as exc:
                finding = Finding("replay safety", str(exc))
            except RunawayOrchestration as exc:
                finding = Finding("progress", str(exc))
        return self._result(finding)

    def _loop(self) -> Finding | None:
        run = self.control.start(self.config.orchestration, self.input, self.instance_id)
        while not run.status.finished:
            moves = self.moves()
            if not moves:
                return self._stuck(run)
            if len(self.steps) >= self.config.max_steps:
                return Finding(
                    "progress",
                    f"{self.instance_id!r} did not finish within max_steps={self.config.max_steps}"
                    f" steps; it waits for {', '.join(run.waiting_for) or 'nothing'}. An "
                    "orchestration that loops forever needs a bounded input for fuzzing, or "
                    "raise max_steps",
                )
            step = self.chooser.next_step(self, moves)
            if step is None:
                return None
            self.apply(step)
            if self.config.invariant_every_turn:
                broken = self._invariant(run)
                if broken is not None:
                    return broken
        return self._invariant(run)

    def moves(self) -> list[Move]:
        """What could happen next, in a stable order."""
        control = self.control
        moves = [Move("activity", attempt=a, instance_id=a.instance_id, name=a.name)
                 for a in control.attempts()]
        due = control.next_timer()
        if due is not None:
            moves.append(Move("timer", due=due))
        if self.config.events and not self.events_stopped:
            awaited = control.awaited_events()
            targets = {self.instance_id} | {key for key, _ in awaited}
            running = set(control.running())
            for key in sorted(targets & running):
                for name in self.config.events:
                    if self.raised.get(name, 0) < self.config.max_event_raises:
                        moves.append(Move("event", instance_id=key, name=name,
                                          awaited=(key, name) in awaited))
            if moves and all(m.kind == "event" for m in moves):
                moves.insert(0, Move("stop_events"))
        return moves

    # --- applying a step ----------------------------------------------------------------------

    def apply(self, step: Step) -> None:
        """Carry out `step` (recording it, with real-code results filled in)."""
        control = self.control
        crashes, duplicates = step.faults
        self.crashes += crashes
        self.duplicates += duplicates
        if step.crash is not None:
            control.crash(step.crash)
        self.steps.append(step)  # recorded first: a step that breaks a property is part of it
        try:
            self.steps[-1] = self._apply(step)
        finally:
            control.disarm()

    def _apply(self, step: Step) -> Step:
        control = self.control
        if step.action in ("finish", "lose", "hang"):
            attempt = self._attempt(step)
            duplicate = step.duplicate
            if duplicate is not None:
                event = control.run_extra(attempt, outcome_from_json(duplicate, "duplicate"))
                duplicate = _with_result(duplicate, event)
            if step.action == "hang":
                control.abandon(attempt)
                return replace(step, duplicate=duplicate)
            outcome = outcome_from_json(step.outcome, "outcome")
            if step.action == "lose":
                event = control.run_extra(attempt, outcome)
                control.restart_worker()
            else:
                event = control.finish(attempt, outcome)
            return replace(step, outcome=_with_result(step.outcome or {}, event),
                           duplicate=duplicate)
        if step.action == "timer":
            due = control.next_timer()
            if due is None or (step.at is not None and iso_time(due) != step.at):
                raise ScheduleError(
                    f"the schedule fires a timer at {step.at}, but "
                    + (f"the next awaited timer is due at {iso_time(due)}" if due else
                       "no timer is awaited")
                    + "; the orchestration changed since the schedule was recorded"
                )
            return replace(step, at=iso_time(control.fire_next_timer()))
        if step.action == "event":
            self.raised[step.name] = self.raised.get(step.name, 0) + 1
            control.raise_event(step.instance_id, step.name, step.data)
            return step
        self.events_stopped = True
        return step

    def _attempt(self, step: Step) -> Attempt:
        for attempt in self.control.attempts():
            if (attempt.instance_id, attempt.task_id, attempt.attempt) == (
                step.instance_id, step.task_id, step.attempt
            ):
                return attempt
        held = ", ".join(f"{a.label} of {a.instance_id!r}" for a in self.control.attempts())
        raise ScheduleError(
            f"the schedule finishes {step.name}#{step.task_id} (attempt {step.attempt}) of "
            f"{step.instance_id!r}, but no such call is pending (pending: {held or 'none'}); "
            "the orchestration changed since the schedule was recorded"
        )

    # --- checks --------------------------------------------------------------------------------

    def _stuck(self, run: Run) -> Finding | None:
        """No move left: fine if the instance waits for an event nobody will send."""
        if self.control.awaited_events():
            return None
        return Finding(
            "progress",
            f"{self.instance_id!r} stopped making progress: nothing that is left can move it. "
            f"It waits for {', '.join(run.waiting_for) or 'nothing it can name'}. A call that "
            "hangs needs a timeout (ctx.activity(..., timeout=...)) or a race against a timer",
        )

    def _invariant(self, run: Run) -> Finding | None:
        check = self.config.invariant
        if check is None:
            return None
        self.invariant_ran = True
        try:
            verdict = check(run)
        except AssertionError as exc:
            return Finding("invariant", f"the invariant failed: {exc or 'assert failed'}")
        except Exception as exc:
            return Finding("invariant", f"the invariant raised {type(exc).__name__}: {exc}")
        if verdict is False:
            name = getattr(check, "__name__", "invariant")
            return Finding("invariant", f"the invariant {name}() returned False")
        return None

    def _result(self, finding: Finding | None) -> TrialResult:
        env = self.env
        state = env.state(self.instance_id)
        instances = [(s, env.history(s.instance_id)) for s in env.instances()]
        histories = {s.instance_id: [codec.event_to_dict(e) for e in es] for s, es in instances}
        schedule = Schedule(self.config.orchestration, self.instance_id, self.input,
                            list(self.steps))
        error = f"{state.error.type}: {state.error.message}" if state.error is not None else ""
        return TrialResult(
            schedule, finding, state.status, state.output, histories, self.crashes,
            self.duplicates, self.merged,
            timelines=env.timelines(limit=60) if finding is not None else "", error=error,
            instances=instances, invariant_ran=self.invariant_ran,
            waiting=tuple(env.waiting_for(self.instance_id)),
            waiting_events=tuple(env.pending(self.instance_id).events),
        )


def _with_result(outcome: dict[str, Any], event: h.Event) -> dict[str, Any]:
    """A real-code outcome with what the code answered (kept for the fault-free twin)."""
    if not outcome.get("real"):
        return outcome
    if isinstance(event, h.ActivityCompleted):
        return {"real": True, "result": {"ok": event.result}}
    if isinstance(event, h.ActivityFailed):
        failed = Fail(event.error_type, event.message, event.retryable)
        return {"real": True, "result": outcome_to_json(failed)}
    return outcome
