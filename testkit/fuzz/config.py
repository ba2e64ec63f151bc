"""The fuzz settings, checked and normalised once: what each activity may answer, which events
may arrive, what must hold at the end.

User input is checked here so that a typo fails at once with the registered names, instead of
silently fuzzing an activity nobody calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis.strategies import SearchStrategy

from orchestrate import Registry
from orchestrate.errors import UnknownActivity
from orchestrate.payload import to_json_value

from ..outcomes import Fail, Hang, Ok, Outcome, ok, resolve
from ..run import Run

__all__ = ["Choice", "FuzzConfig", "Invariant"]

Invariant = Callable[[Run], Any]


@dataclass(frozen=True)
class Choice:
    """What one activity may answer (or one event may carry): a fixed value, candidates the
    fuzzer picks from per execution, or a Hypothesis strategy drawn per execution."""

    fixed: Any = None
    candidates: tuple[Any, ...] = ()
    strategy: SearchStrategy[Any] | None = None

    @property
    def options(self) -> int:
        """How many distinct picks there are (0: drawn from a strategy)."""
        if self.strategy is not None:
            return 0
        return len(self.candidates) or 1

    @staticmethod
    def of(value: Any) -> Choice:
        if isinstance(value, SearchStrategy):
            return Choice(strategy=value)
        if isinstance(value, list | tuple):
            if not value:
                raise ValueError("an empty list of candidates gives the fuzzer nothing to pick")
            return Choice(candidates=tuple(value))
        return Choice(fixed=value)

    def pick(self, index: int) -> Any:
        return self.candidates[index] if self.candidates else self.fixed


def as_outcome(value: Any, activity_input: Any) -> Outcome:
    """A candidate as an outcome: `ok`/`fail`/`hang` as given, a callable of the input
    resolved, anything else is the value the activity returns."""
    if isinstance(value, Outcome):
        return value
    if callable(value):
        return resolve(value, activity_input)
    return ok(value)


@dataclass
class FuzzConfig:
    """Everything one `fuzz` call explores; built by `FuzzConfig.build` from its arguments."""

    registry: Registry
    orchestration: str
    input: Any = None
    outcomes: dict[str, Choice] = field(default_factory=dict)
    events: dict[str, Choice] = field(default_factory=dict)
    invariant: Invariant | None = None
    invariant_every_turn: bool = False
    crashes: bool = True
    duplicates: bool = True
    max_steps: int = 500
    max_event_raises: int = 2
    freeze_wall_clock: bool = True
    guard_calls: bool = True  # the call guard (see `TestEnv`): replays stop at the bad call

    @staticmethod
    def build(
        registry: Registry,
        orchestration: Callable[..., Any] | str,
        *,
        input: Any,
        outcomes: Mapping[Any, Any] | None,
        events: Mapping[str, Any] | None,
        invariant: Invariant | None,
        invariant_every_turn: bool,
        crashes: bool,
        duplicates: bool,
        max_steps: int,
        max_event_raises: int,
    ) -> FuzzConfig:
        if not isinstance(registry, Registry):
            raise TypeError(f"fuzz() takes a Registry first, not {type(registry).__name__}")
        name = registry.get_orchestration(orchestration).name
        choices: dict[str, Choice] = {}
        for key, value in (outcomes or {}).items():
            try:
                activity = registry.get_activity(key).name
            except UnknownActivity as exc:
                raise UnknownActivity(f"fuzz(outcomes=...): {exc}") from None
            choices[activity] = _checked(Choice.of(value), f"outcomes[{activity!r}]", outcome=True)
        event_choices = {
            str(key): _checked(Choice.of(value), f"events[{key!r}]", outcome=False)
            for key, value in (events or {}).items()
        }
        if invariant is not None and not callable(invariant):
            raise TypeError(f"invariant must be a function of the run, not {invariant!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps={max_steps} must be at least 1")
        if max_event_raises < 1:
            raise ValueError(f"max_event_raises={max_event_raises} must be at least 1")
        return FuzzConfig(
            registry, name, input, choices, event_choices, invariant, invariant_every_turn,
            crashes, duplicates, max_steps, max_event_raises,
        )


def _checked(choice: Choice, where: str, *, outcome: bool) -> Choice:
    """Refuse what could never be stored: a candidate that is not JSON, a `delay` outcome."""
    values = choice.candidates or ((choice.fixed,) if choice.strategy is None else ())
    for value in values:
        if isinstance(value, Outcome):
            if not outcome:
                raise TypeError(f"{where}: {value!r} is an activity outcome, not an event payload")
            if not isinstance(value, Ok | Fail | Hang):
                raise ValueError(
                    f"{where}: a {type(value).__name__.lower()}(...) outcome cannot be fuzzed; "
                    "the fuzzer decides when calls finish, so use ok(...), fail(...) or hang()"
                )
        elif not callable(value) or not outcome:
            to_json_value(value, where)
    return choice
