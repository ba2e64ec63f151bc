"""Schedules: the steps of one fuzz example, as data that re-runs exactly and reads as a timeline.

A `Step` names what it acts on by identity (instance id, task id, attempt; a timer's due time;
an event's name and payload), never by its position in a list of choices, so a saved schedule
re-runs the same way after the fuzz settings change. Outcomes are stored as values (``ok``
value, ``fail`` type and message, or "run the real code"), so no strategy is needed to re-run.
Schedule files are JSON data: nothing in them is imported or executed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from orchestrate.payload import to_json_value

from ..outcomes import Fail, Hang, Ok, Outcome
from ..timeline import abridge

__all__ = [
    "FORMAT",
    "Action",
    "Fault",
    "Schedule",
    "ScheduleError",
    "Step",
    "outcome_from_json",
    "outcome_to_json",
]

FORMAT = "orchestrate-fuzz-schedule"
_VERSION = 1

Action = Literal["finish", "lose", "hang", "timer", "event", "stop_events"]
Fault = Literal["before_commit", "after_commit"]


class ScheduleError(ValueError):
    """A schedule file that cannot be read, or a step that no longer applies to the code."""


def outcome_to_json(outcome: Outcome | None) -> dict[str, Any]:
    """An outcome as schedule data; None (the real code) is ``{"real": true}``."""
    if outcome is None:
        return {"real": True}
    if isinstance(outcome, Ok):
        return {"ok": outcome.value}
    if isinstance(outcome, Fail):
        return {"fail": outcome.error_type, "message": outcome.message,
                "retryable": outcome.retryable}
    if isinstance(outcome, Hang):
        return {"hang": True}
    raise TypeError(f"{outcome!r} cannot be part of a fuzz schedule")


def outcome_from_json(data: Any, where: str) -> Outcome | None:
    """The outcome `outcome_to_json` wrote (None: run the real code)."""
    if not isinstance(data, dict):
        raise ScheduleError(f"{where}: an outcome must be an object, not {data!r}")
    if data.get("real"):
        return None
    if "ok" in data:
        return Ok(data["ok"])
    if "fail" in data:
        return Fail(str(data["fail"]), str(data.get("message", "")), bool(data.get("retryable", True)))
    if data.get("hang"):
        return Hang()
    raise ScheduleError(f"{where}: unknown outcome {data!r}; expected ok, fail, hang or real")


def describe_outcome(data: dict[str, Any] | None) -> str:
    """``ok "tx-1"``, ``fail ValueError: declined``, ``its real code``."""
    if not data or data.get("real"):
        result = (data or {}).get("result")
        return "its real code" + (f" -> {describe_outcome(result)}" if result else "")
    if "ok" in data:
        return f"ok {abridge(data['ok'])}"
    if "fail" in data:
        return f"fail {data['fail']}: {data.get('message', '')}".rstrip(": ")
    return "hang"


@dataclass(frozen=True)
class Step:
    """One decision of the fuzzer; see the module docstring.

    `action`: ``finish`` an activity attempt with `outcome` (after running it once more first if
    `duplicate`); ``lose`` it (it ran, the worker crashed before its result committed, so it will
    run again); ``hang`` it (it never finishes); fire the next ``timer`` (time moves to `at`);
    raise an ``event`` `name` with `data` to `instance_id`; ``stop_events`` (none are sent
    after this). `crash` puts a worker crash around the commit the step causes.
    """

    action: Action
    instance_id: str = ""
    task_id: int | None = None
    attempt: int = 1
    name: str = ""
    outcome: dict[str, Any] | None = None
    duplicate: dict[str, Any] | None = None  # the outcome of the extra execution, if any
    crash: Fault | None = None
    at: str | None = None
    data: Any = None
    awaited: bool = True  # an event: whether the instance waited for it when it was raised

    def lines(self) -> list[str]:
        """The step as timeline lines (a crash or a duplicate gets a line of its own)."""
        label = f"{self.name}#{self.task_id}"
        if self.attempt > 1:
            label += f" (attempt {self.attempt})"
        out: list[str] = []
        if self.crash == "before_commit":
            out.append("crash after the next turn was computed, before it committed "
                       "(the turn is recomputed from the same messages)")
        if self.duplicate is not None:
            out.append(f"{label} is delivered twice: a duplicate runs "
                       f"({describe_outcome(self.duplicate)}), same idempotency key")
        if self.action == "finish":
            out.append(f"{label} finishes: {describe_outcome(self.outcome)}")
        elif self.action == "lose":
            out.append(f"crash after {label} ran ({describe_outcome(self.outcome)}), before "
                       "its result committed: the worker restarts cold and it will run again")
        elif self.action == "hang":
            out.append(f"{label} hangs: it never finishes")
        elif self.action == "timer":
            out.append(f"time moves to {self.at}: due timers fire")
        elif self.action == "event":
            when = "it waits for it" if self.awaited else "before it waits for it"
            out.append(f"event {self.name!r} {abridge(self.data)} raised to {self.instance_id!r} "
                       f"({when})")
        else:
            out.append("no more events are sent")
        if self.crash == "after_commit":
            out.append("crash right after that commit: the worker restarts with a cold cache "
                       "and resumes by replaying the history")
        return out

    def without_faults(self) -> Step | None:
        """This step as it would be with no crash and no duplicate (None: it was only a fault)."""
        if self.action == "lose":
            return None
        if self.crash is None and self.duplicate is None:
            return self
        return Step(**{**asdict(self), "crash": None, "duplicate": None})

    @property
    def faults(self) -> tuple[int, int]:
        """(crashes, duplicate deliveries) this step injects."""
        crashes = (self.crash is not None) + (self.action == "lose")
        return crashes, int(self.duplicate is not None)


_DEFAULTS = {name: f.default for name, f in Step.__dataclass_fields__.items()}


def _step_to_json(step: Step) -> dict[str, Any]:
    """A step's fields, leaving out those at their default (`action` always stays)."""
    return {
        key: value
        for key, value in asdict(step).items()
        if key == "action" or value != _DEFAULTS[key] or type(value) is not type(_DEFAULTS[key])
    }


@dataclass
class Schedule:
    """One example: the orchestration, its instance id and input, and the steps in order."""

    orchestration: str
    instance_id: str
    input: Any
    steps: list[Step] = field(default_factory=list)
    seed: int | None = None
    failure: str = ""  # which property broke, when the schedule is a counterexample

    def timeline(self) -> str:
        """The schedule as numbered lines: ``1. start ...``, ``2. charge#2 finishes: ok "tx"``."""
        rows = [f"start {self.orchestration}({abridge(self.input)}) as {self.instance_id!r}"]
        for step in self.steps:
            rows += step.lines()
        return "\n".join(f"{n:>3}. {row}" for n, row in enumerate(rows, 1))

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "version": _VERSION,
            "orchestration": self.orchestration,
            "instance_id": self.instance_id,
            "input": to_json_value(self.input, "schedule input"),
            "seed": self.seed,
            "failure": self.failure,
            "steps": [_step_to_json(step) for step in self.steps],
        }
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the schedule as JSON (for ``orch-fuzz --replay``); returns the path."""
        target = Path(path)
        target.write_text(self.to_json(), encoding="utf-8")
        return target

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "schedule") -> Schedule:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ScheduleError(f"{source} is not JSON ({exc}); was it written by "
                                "--save-failure or Schedule.save()?") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ScheduleError(f"{source} is not an orchestrate fuzz schedule (no "
                                f"\"format\": \"{FORMAT}\")")
        if data.get("version") != _VERSION:
            raise ScheduleError(f"{source} has schedule version {data.get('version')!r}; this "
                                f"orch-fuzz reads version {_VERSION}. Upgrade orchestrate.")
        steps: list[Step] = []
        names = set(Step.__dataclass_fields__)
        for index, raw in enumerate(data.get("steps", []), 1):
            if not isinstance(raw, dict) or not set(raw) <= names or "action" not in raw:
                raise ScheduleError(f"{source}: step {index} is malformed: {raw!r}")
            if raw["action"] not in ("finish", "lose", "hang", "timer", "event", "stop_events"):
                raise ScheduleError(f"{source}: step {index} has unknown action {raw['action']!r}")
            steps.append(Step(**raw))
        try:
            return cls(str(data["orchestration"]), str(data["instance_id"]), data.get("input"),
                       steps, data.get("seed"), str(data.get("failure", "")))
        except KeyError as exc:
            raise ScheduleError(f"{source} lacks {exc.args[0]!r}") from None

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Schedule:
        """Read a schedule file written by `save` (or ``--save-failure``)."""
        target = Path(path)
        try:
            text = target.read_bytes()
        except OSError as exc:
            raise ScheduleError(f"cannot read schedule file {str(target)!r}: {exc.strerror}") from None
        return cls.from_json(text, source=str(target))
