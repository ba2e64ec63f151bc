"""Exhaustive mode: run every distinct schedule of a small orchestration, or find one that fails.

Depth first: each trial follows a recorded prefix, then takes the first alternative at every new
decision point and pushes the others for later trials, so every trial is one whole schedule.
At each decision point the state (every instance's status and history, what is pending, what
events are left) is compared with the states already explored; a schedule that reaches one of
them stops there (*merged*), because everything after it was explored from the first. The
alternatives at a point are every pending move x every listed outcome x (with `crashes` or
`duplicates`) every fault.
"""

from __future__ import annotations

import json
from typing import Any

from .checks import Tally, crash_transparency
from .choosers import build_step
from .config import Choice, FuzzConfig, as_outcome
from .report import FuzzFailure, FuzzReport
from .schedule import Step, outcome_to_json
from .trial import Move, Trial

__all__ = ["explore"]


def explore(
    config: FuzzConfig, *, max_schedules: int, progress: Any = None
) -> tuple[FuzzReport, Tally]:
    """Run every schedule (up to `max_schedules`); raise `FuzzFailure` on the first failure."""
    from hypothesis.strategies import SearchStrategy

    if isinstance(config.input, SearchStrategy):
        raise ValueError("exhaustive mode needs a fixed input= value, not a strategy: it "
                         "enumerates schedules of one input (run it once per input to cover more)")
    for where, choices in (("outcomes", config.outcomes), ("events", config.events)):
        for name, choice in choices.items():
            if choice.strategy is not None:
                raise ValueError(
                    f"exhaustive mode enumerates listed candidates, but {where}[{name!r}] is a "
                    "strategy; give a list of candidates instead"
                )
    seen: set[str] = set()
    stack: list[list[Step]] = [[]]
    tally = Tally()
    schedules = 0
    instance_id = f"{config.orchestration}-x"
    while stack:
        if schedules >= max_schedules:
            break
        chooser = _Enumerator(stack.pop(), seen, stack, config)
        result = Trial(config, instance_id, config.input, chooser).run()
        result.merged = chooser.merged
        tally.add(result)
        found = None
        if result.finding is not None:
            found = (result.finding, result)
        elif result.faulty and not result.merged:
            found = crash_transparency(config, result)
        if found is not None:
            finding, shown = found
            timelines = shown.timelines if finding.prop != "replay safety" else ""
            raise FuzzFailure(
                finding.prop, finding.message, shown.schedule, timelines=timelines,
                instances=shown.instances,
                reproduce="  orch-fuzz ... --exhaustive finds it again (the enumeration is "
                          "deterministic); --save-failure F.json and --replay F.json re-run it",
            )
        if not result.merged:
            schedules += 1
        if progress is not None and tally.examples % 200 == 0:
            progress(f"{schedules} schedules, {tally.merged} merged, {len(stack)} open")
    report = FuzzReport(
        config.orchestration, tally.examples, schedules, tally.crashes, tally.duplicates,
        tally.longest, exhaustive=True, complete=not stack, merged=tally.merged,
    )
    return report, tally


class _Enumerator:
    """Follows `prefix`, then the first alternative at each new point (pushing the rest)."""

    def __init__(
        self, prefix: list[Step], seen: set[str], stack: list[list[Step]], config: FuzzConfig
    ) -> None:
        self.prefix = prefix
        self.seen = seen
        self.stack = stack
        self.config = config
        self.taken: list[Step] = list(prefix)
        self.merged = False

    def next_step(self, trial: Trial, moves: list[Move]) -> Step | None:
        depth = len(trial.steps)
        if depth < len(self.prefix):
            return self.prefix[depth]
        key = _state_key(trial, moves)
        if key in self.seen:
            self.merged = True
            return None
        self.seen.add(key)
        # One lost or duplicated execution per attempt: more would never end (each adds a call)
        faulted = {(s.instance_id, s.task_id, s.attempt) for s in self.taken
                   if s.action == "lose" or s.duplicate is not None}
        options = [step for move in moves for step in _alternatives(move, self.config, faulted)]
        for other in reversed(options[1:]):
            self.stack.append([*self.taken, other])
        self.taken.append(options[0])
        return options[0]


def _alternatives(
    move: Move, config: FuzzConfig, faulted: set[tuple[str, int | None, int]]
) -> list[Step]:
    again = move.attempt is None or (
        (move.attempt.instance_id, move.attempt.task_id, move.attempt.attempt) not in faulted
    )
    faults: list[str | None] = [None]
    if config.crashes and move.kind != "stop_events":
        faults += ["before_commit", "after_commit"]
        if move.kind == "activity" and again:
            faults.append("lose")
    if config.duplicates and move.kind == "activity" and again:
        faults.append("duplicate")
    if move.kind == "activity":
        assert move.attempt is not None
        outcomes = _outcomes(config.outcomes.get(move.name), move.attempt.input)
        return [
            build_step(move, outcome=outcome, fault=fault,
                       duplicate=outcome if fault == "duplicate" else None)
            for outcome in outcomes
            for fault in faults
            if not (outcome.get("hang") and fault is not None)
        ]
    if move.kind == "event":
        choice = config.events[move.name]
        return [build_step(move, fault=fault, data=choice.pick(i))
                for i in range(choice.options) for fault in faults]
    return [build_step(move, fault=fault) for fault in faults]


def _outcomes(choice: Choice | None, activity_input: Any) -> list[dict[str, Any]]:
    if choice is None:
        return [{"real": True}]
    return [outcome_to_json(as_outcome(choice.pick(i), activity_input))
            for i in range(choice.options)]


def _state_key(trial: Trial, moves: list[Move]) -> str:
    env = trial.env
    return json.dumps(
        [
            [[s.instance_id, s.status, [e for e in env.history(s.instance_id)]]
             for s in env.instances()],
            [list(map(str, m.identity)) for m in moves],
            sorted(trial.raised.items()),
            trial.events_stopped,
            trial.control.deliveries,  # executions so far: a lost or duplicated run is a new state
        ],
        default=repr,
    )
