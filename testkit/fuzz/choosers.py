"""Who decides each step of a trial: Hypothesis (`DrawChooser`) or a recorded schedule
(`ScheduleChooser`, also the fault-free twin of a run with crashes).

`DrawChooser` makes every decision through Hypothesis draws, so a failing example shrinks:
fewer steps, the first pending item rather than a later one, no fault rather than a fault, the
first listed outcome rather than a later one. Each example first draws a *mode*:

- ``uniform``: every pending move is equally likely at every step;
- ``pct``: probabilistic concurrency testing (Burckhardt et al., 2010): every move gets a random
  priority when it first appears, the highest-priority move goes next, and at a few random
  change points the running move drops to the lowest priority, which finds ordering bugs of
  small depth with a probability that can be bounded;
- ``swarm``: like uniform, but whole fault kinds (crashes, duplicates, events) are switched off
  for the example, so long fault-free runs and runs rich in one fault both occur.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from orchestrate.history import iso_time

from .config import Choice, as_outcome
from .schedule import Action, Fault, Step, outcome_to_json

if TYPE_CHECKING:
    from .trial import Move, Trial

__all__ = ["DrawChooser", "ScheduleChooser", "build_step", "fault_free"]

# One draw decides the fault of a step; 0 (what shrinking aims for) and most values mean none.
_FAULTS: dict[int, str] = {14: "duplicate", 15: "duplicate", 16: "lose", 17: "lose",
                           18: "before_commit", 19: "after_commit"}
_MODES = ("uniform", "pct", "swarm")
_CRASHES: dict[str, Fault] = {"before_commit": "before_commit", "after_commit": "after_commit"}


def build_step(
    move: Move,
    *,
    outcome: dict[str, Any] | None = None,
    fault: str | None = None,
    duplicate: dict[str, Any] | None = None,
    data: Any = None,
) -> Step:
    """The step that makes `move` happen, with its outcome and fault."""
    crash = _CRASHES.get(fault or "")
    if move.kind == "activity":
        assert move.attempt is not None
        a = move.attempt
        action: Action = "lose" if fault == "lose" else "finish"
        if outcome is not None and outcome.get("hang"):
            action, crash = "hang", None
        duplicated = duplicate if fault == "duplicate" else None
        return Step(action, a.instance_id, a.task_id, a.attempt, a.name, outcome, duplicated,
                    crash)
    if move.kind == "timer":
        assert move.due is not None
        return Step("timer", at=iso_time(move.due), crash=crash)
    if move.kind == "event":
        return Step("event", move.instance_id, name=move.name, data=data, awaited=move.awaited,
                    crash=crash)
    return Step("stop_events")


class _Integers:
    """Draw a bounded integer: straight from the test case's choice sequence where this
    Hypothesis offers it (a step draws several, and `DataObject.draw` costs about four times as
    much per draw), else through `data.draw` (same shrinking: towards the smallest)."""

    def __init__(self, data: st.DataObject) -> None:
        direct = getattr(getattr(data, "conjecture_data", None), "draw_integer", None)
        self._direct = direct
        self._data = data

    def __call__(self, low: int, high: int) -> int:
        if self._direct is not None:
            value = self._direct(low, high)
            if isinstance(value, int):
                return value
        return self._data.draw(st.integers(low, high))


class DrawChooser:
    """Every decision drawn from Hypothesis (see the module docstring)."""

    def __init__(self, data: st.DataObject, *, crashes: bool, duplicates: bool) -> None:
        self._draw = data.draw
        self._int = draw = _Integers(data)
        self.mode: str = _MODES[draw(0, len(_MODES) - 1)]
        self.crashes = crashes
        self.duplicates = duplicates
        self.events = True
        if self.mode == "swarm":
            self.crashes = crashes and bool(draw(0, 1))
            self.duplicates = duplicates and bool(draw(0, 1))
            self.events = bool(draw(0, 1))
        self._priorities: dict[tuple[Any, ...], int] = {}
        self._change_points: frozenset[int] = frozenset()
        if self.mode == "pct":
            self._change_points = frozenset(draw(0, 40) for _ in range(draw(0, 3)))

    def next_step(self, trial: Trial, moves: list[Move]) -> Step | None:
        if not self.events and any(m.kind != "event" and m.kind != "stop_events" for m in moves):
            moves = [m for m in moves if m.kind not in ("event", "stop_events")]
        elif not self.events and moves[0].kind == "stop_events":
            moves = moves[:1]
        move = moves[self._pick(moves, len(trial.steps))]
        fault = self._fault(move)
        config = trial.config
        if move.kind == "activity":
            assert move.attempt is not None
            choice = config.outcomes.get(move.name)
            outcome = self._outcome(choice, move.attempt.input)
            duplicate = self._outcome(choice, move.attempt.input) if fault == "duplicate" else None
            if duplicate is not None and duplicate.get("hang"):
                duplicate = None  # a duplicate that never returns leaves no trace: no fault
            return build_step(move, outcome=outcome, fault=fault, duplicate=duplicate)
        if move.kind == "event":
            return build_step(move, fault=fault, data=self._value(config.events[move.name]))
        return build_step(move, fault=fault)

    def _pick(self, moves: list[Move], step: int) -> int:
        if len(moves) == 1:
            return 0
        if self.mode != "pct":
            return self._int(0, len(moves) - 1)
        ranks = []
        for move in moves:
            key = move.identity
            if key not in self._priorities:
                self._priorities[key] = self._int(0, 1_000)
            ranks.append(self._priorities[key])
        best = max(range(len(moves)), key=lambda i: ranks[i])
        if step in self._change_points:  # the running move drops below every other one
            self._priorities[moves[best].identity] = -1 - step
        return best

    def _fault(self, move: Move) -> str | None:
        if not (self.crashes or self.duplicates) or move.kind == "stop_events":
            return None
        fault = _FAULTS.get(self._int(0, 19))
        if fault == "duplicate":
            return fault if self.duplicates and move.kind == "activity" else None
        if fault == "lose" and move.kind != "activity":
            return None
        return fault if self.crashes else None

    def _outcome(self, choice: Choice | None, activity_input: Any) -> dict[str, Any]:
        if choice is None:
            return {"real": True}
        return outcome_to_json(as_outcome(self._value(choice), activity_input))

    def _value(self, choice: Choice) -> Any:
        if choice.strategy is not None:
            return self._draw(choice.strategy)
        if len(choice.candidates) > 1:
            return choice.candidates[self._int(0, len(choice.candidates) - 1)]
        return choice.pick(0)


class ScheduleChooser:
    """Replays recorded steps in order; ends the trial when they run out."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    def next_step(self, trial: Trial, moves: list[Move]) -> Step | None:
        index = len(trial.steps)
        return self.steps[index] if index < len(self.steps) else None


def fault_free(steps: list[Step]) -> list[Step]:
    """The same decisions with every crash and duplicate taken out, and each real-code result
    replaced by the value the code gave in the faulty run: the twin that crash transparency
    compares against."""
    twin: list[Step] = []
    for step in steps:
        plain = step.without_faults()
        if plain is None:
            continue
        outcome = plain.outcome
        if outcome is not None and outcome.get("real") and "result" in outcome:
            plain = Step(**{**plain.__dict__, "outcome": outcome["result"]})
        twin.append(plain)
    return twin
