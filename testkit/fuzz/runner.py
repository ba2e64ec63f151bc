"""`fuzz` and `replay_schedule`: the fuzzer's entry points (see docs/design.md, "Fuzzing").

`fuzz` runs examples under Hypothesis (`DrawChooser` makes every decision, so failures shrink),
or enumerates every schedule (`exhaustive=True`, see `testkit.fuzz.exhaustive`); then replays a
sample of the recorded histories in fresh interpreters under other hash seeds (set and dict
order bugs, `testkit.hashseed`). A broken property raises `FuzzFailure` with the shrunk
schedule; otherwise it returns a `FuzzReport`.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.strategies import SearchStrategy

from orchestrate import Registry

from ..clock import FakeClock
from ..hashseed import HashSeedReplay, home_module, replay_under_hash_seeds
from .checks import Tally, crash_transparency
from .choosers import DrawChooser, ScheduleChooser
from .config import FuzzConfig, Invariant
from .gaps import measure
from .output_file import check_output_file
from .report import FuzzError, FuzzFailure, FuzzReport
from .schedule import Schedule, ScheduleError
from .trial import Finding, Trial, TrialResult

__all__ = ["fuzz", "replay_schedule"]

Progress = Callable[[str], None]
# The real clock, out of reach of the wall-clock freeze (it patches module attributes and
# module-level names, not a tuple's items): examples run frozen, progress needs real seconds.
_REAL_CLOCK = (time.perf_counter,)
# One exception class per property, so Hypothesis sees distinct bugs and shrinks a failure to
# a smaller example of the same property, not to another property's failure.
_PROPERTY_ERRORS: dict[str, type[AssertionError]] = {
    prop: type(f"Broke{prop.title().replace(' ', '')}", (AssertionError,), {})
    for prop in ("replay safety", "crash transparency", "invariant", "progress")
}


def fuzz(
    registry: Registry,
    orchestration: Callable[..., Any] | str,
    *,
    input: Any = None,
    outcomes: Mapping[Any, Any] | None = None,
    events: Mapping[str, Any] | None = None,
    invariant: Invariant | None = None,
    invariant_every_turn: bool = False,
    max_examples: int | None = None,
    crashes: bool | None = None,
    duplicates: bool | None = None,
    seed: int | None = None,
    max_steps: int = 500,
    max_event_raises: int | None = None,
    exhaustive: bool = False,
    max_schedules: int = 10_000,
    hash_seeds: int = 2,
    coverage: bool = False,
    save_failure: str | PathLike[str] | None = None,
    progress: Progress | None = None,
) -> FuzzReport:
    """Explore schedules of `orchestration` and check every property in every one.

    `input`: a value or a Hypothesis strategy. `outcomes`: activity (function or name) -> a
    value, a list of candidate outcomes (`ok`/`fail`/`hang` or values; one is picked per
    execution) or a strategy; unlisted activities run their real code. `events`: event name ->
    a payload, a list of candidates, or a strategy; each is raised at most `max_event_raises`
    times (default 2; 1 in exhaustive mode), at any point, or never. `invariant(run)` fails by
    raising `AssertionError` or returning False; it sees each finished run (and every step with
    `invariant_every_turn`). `crashes`/`duplicates` inject worker crashes and duplicate
    deliveries (default: on, and off in exhaustive mode). `max_examples` defaults to the active
    Hypothesis profile's (100 unless a profile says otherwise). `hash_seeds` replays a sample
    of histories in that many fresh interpreters with other ``PYTHONHASHSEED`` values.
    `coverage` reports the orchestration module's lines and branches no example reached.
    `save_failure` writes a failing schedule there, for ``orch-fuzz --replay``.
    """
    config = FuzzConfig.build(
        registry, orchestration, input=input, outcomes=outcomes, events=events,
        invariant=invariant, invariant_every_turn=invariant_every_turn,
        crashes=not exhaustive if crashes is None else crashes,
        duplicates=not exhaustive if duplicates is None else duplicates,
        max_steps=max_steps,
        max_event_raises=max_event_raises or (1 if exhaustive else 2),
    )
    if hash_seeds < 0:
        raise ValueError(f"hash_seeds={hash_seeds} must be 0 (off) or more")
    if max_examples is not None and max_examples < 1:
        raise ValueError(
            f"max_examples={max_examples}: give how many examples to run, 1 or more (default: "
            "the Hypothesis profile's, 100 unless a profile says otherwise)"
        )
    if max_schedules < 1:
        raise ValueError(f"max_schedules={max_schedules}: give 1 or more (default 10000)")
    if save_failure is not None:  # checked now, not after the whole run
        check_output_file(save_failure, "save_failure=")
    started = _REAL_CLOCK[0]()
    module = home_module(registry, registry.get_orchestration(config.orchestration).fn)
    try:
        # One outer freeze for the whole run: each trial's drive calls are then scopes that
        # only move the frozen time, instead of freezegun patching every module per trial.
        with measure(module, enabled=coverage) as gaps, FakeClock().frozen(), _quiet_logs():
            if exhaustive:
                from .exhaustive import explore

                report, tally = explore(config, max_schedules=max_schedules, progress=progress)
            else:
                report, tally = _random(config, max_examples, seed, progress)
        replay = _hash_check(config, tally, hash_seeds, seed)
    except FuzzFailure as failure:
        if save_failure is not None:
            failure.schedule.save(save_failure)
        raise
    if config.invariant is not None and tally.examples and not tally.invariant_runs:
        raise FuzzError(_invariant_never_ran(config, tally, exhaustive))
    report.endings = tally.endings_note()
    report.invariant_note = tally.invariant_note()
    report.warning = tally.warning(input_given=input is not None)
    if input is None and _needs_input(registry.get_orchestration(config.orchestration).fn):
        report.warning = report.warning or (
            "warning: no input= was given, so every example ran with input None; pass a "
            "value or a strategy (orch-fuzz: a FUZZ config) to explore real paths"
        )
    report.hash_seeds = replay.seeds
    report.hash_note = replay.note
    report.coverage = gaps.result
    report.seconds = _REAL_CLOCK[0]() - started
    return report


def replay_schedule(
    registry: Registry,
    orchestration: Callable[..., Any] | str,
    schedule: Schedule | str | PathLike[str],
    *,
    invariant: Invariant | None = None,
    invariant_every_turn: bool = False,
    max_steps: int = 500,
    hash_seeds: int = 0,
) -> TrialResult:
    """Re-run a saved schedule exactly (real-code activities run again for real) and check it
    as `fuzz` did; raises `FuzzFailure` if a property breaks, returns the trial otherwise.

    `ScheduleError` when the schedule no longer fits the code (a step acts on a call that is not
    pending): the orchestration changed since it was saved.
    """
    loaded = schedule if isinstance(schedule, Schedule) else Schedule.load(schedule)
    config = FuzzConfig.build(
        registry, orchestration, input=loaded.input, outcomes=None, events=None,
        invariant=invariant, invariant_every_turn=invariant_every_turn, crashes=True,
        duplicates=True, max_steps=max_steps, max_event_raises=1_000_000,
    )
    if config.orchestration != loaded.orchestration:
        raise ValueError(
            f"the schedule was recorded for orchestration {loaded.orchestration!r}, not "
            f"{config.orchestration!r}; pass the orchestration it names"
        )
    result = Trial(config, loaded.instance_id, loaded.input,
                   ScheduleChooser(loaded.steps)).run()
    finding, shown = result.finding, result
    left = len(loaded.steps) - len(result.schedule.steps)
    if finding is None and left > 0:
        raise ScheduleError(
            f"{loaded.instance_id!r} ended {result.status} after step "
            f"{len(result.schedule.steps)}, but the schedule has {left} more; the "
            "orchestration changed since the schedule was recorded"
        )
    if finding is None and result.faulty:
        found = crash_transparency(config, result)
        if found is not None:
            finding, shown = found
    if finding is not None:
        raise _failure(finding, shown, loaded.seed, reproduce="")
    tally = Tally()
    tally.add(result)
    _hash_check(config, tally, hash_seeds, loaded.seed)
    return result


# --- random mode ---------------------------------------------------------------------------------


def _random(
    config: FuzzConfig, max_examples: int | None, seed: int | None, progress: Progress | None
) -> tuple[FuzzReport, Tally]:
    base = settings()
    if seed is None:
        seed = 0 if base.derandomize else random.SystemRandom().randrange(2**32)
    tally = Tally()
    ids = itertools.count(1)
    failures: list[tuple[Finding, TrialResult]] = []
    input_strategy = config.input if isinstance(config.input, SearchStrategy) else None
    last_note = [_REAL_CLOCK[0]()]

    @settings(
        base,
        max_examples=max_examples or base.max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
    )
    @hypothesis_seed(seed)
    @given(st.data())
    def example(data: st.DataObject) -> None:
        value = data.draw(input_strategy) if input_strategy is not None else config.input
        chooser = DrawChooser(data, crashes=config.crashes, duplicates=config.duplicates)
        result = Trial(config, f"{config.orchestration}-fz{next(ids)}", value, chooser).run()
        tally.add(result)
        found: tuple[Finding, TrialResult] | None = None
        if result.finding is not None:
            found = (result.finding, result)
        elif result.faulty:
            found = crash_transparency(config, result)
        if progress is not None and _REAL_CLOCK[0]() - last_note[0] > 0.5:
            last_note[0] = _REAL_CLOCK[0]()
            progress(f"{tally.examples} examples, {tally.schedules} schedules, "
                     f"{tally.crashes} crashes, {tally.duplicates} duplicates injected")
        if found is not None:
            failures.append(found)
            raise _PROPERTY_ERRORS[found[0].prop](found[0].prop)

    try:
        example()
    except (AssertionError, Flaky) as exc:
        if not failures:
            raise
        flaky = isinstance(exc, Flaky)
        # Hypothesis re-runs the minimal example last. When that did not fail again (flaky:
        # state left by earlier examples decided it), report the example that first failed.
        finding, shown = failures[0] if flaky else failures[-1]
        raise _failure(finding, shown, seed, _reproduce(config, seed), flaky=flaky) from None
    report = FuzzReport(
        config.orchestration, tally.examples, tally.schedules, tally.crashes, tally.duplicates,
        tally.longest, seed=seed,
    )
    return report, tally


def _failure(
    finding: Finding, shown: TrialResult, seed: int | None, reproduce: str, *, flaky: bool = False
) -> FuzzFailure:
    # a divergence's message already shows the history it diverged from
    timelines = shown.timelines if finding.prop != "replay safety" else ""
    return FuzzFailure(finding.prop, finding.message, shown.schedule, seed=seed,
                       timelines=timelines, reproduce=reproduce, flaky=flaky,
                       instances=shown.instances)


def _reproduce(config: FuzzConfig, seed: int) -> str:
    target = fuzz_target(config)
    return (
        f"  fuzz(..., seed={seed})  or  orch-fuzz {target} --seed {seed}\n"
        f"  (Hypothesis: @seed({seed}); the same settings give the same examples)\n"
        "  Exactly this schedule, whatever the settings: orch-fuzz ... --save-failure F.json, "
        "then orch-fuzz ... --replay F.json, or testkit.fuzz.replay_schedule(reg, orch, "
        "failure.schedule)"
    )


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Silence ``ctx.log`` while examples run: hundreds of examples would repeat the same
    lines (a finding still shows the histories and the schedule)."""
    logger = logging.getLogger("orchestrate.orchestration")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def _invariant_never_ran(config: FuzzConfig, tally: Tally, exhaustive: bool) -> str:
    """Why the invariant never ran (no example finished), and what lets the examples finish."""
    name = config.orchestration
    unlisted = sorted(tally.awaited_events - set(config.events))
    if unlisted:
        listed = ", ".join(f"{e!r}: ..." for e in unlisted)
        fix = (f"list the events it waits for, e.g. events={{{listed}}} (orch-fuzz: in the "
               "FUZZ config), so the fuzzer raises them and the examples can finish")
    elif exhaustive:
        fix = "raise max_schedules, or list the event payloads that let it finish in events="
    else:
        fix = ("the fuzzer stopped raising the listed events early in every example; raise "
               "max_examples, or list the event payloads that let it finish in events=")
    unit = "schedules" if exhaustive else "examples"
    count = (f"none of the {tally.examples} {unit} finished; each" if tally.examples > 1
             else f"its one {unit[:-1]} did not finish; it")
    return (
        f"fuzz({name!r}, invariant=...) never ran the invariant: {count} "
        f"ended with {name!r} still waiting for {tally.waits_note()}. "
        "The invariant checks finished runs only, so this run checked replay safety but not "
        f"the invariant. To fix: {fix}; or check unfinished runs too with "
        "invariant_every_turn=True"
    )


def _needs_input(fn: Callable[..., Any]) -> bool:
    """Whether the orchestration has an input parameter without a default."""
    params = list(inspect.signature(fn).parameters.values())[1:2]
    return bool(params) and params[0].default is inspect.Parameter.empty


def fuzz_target(config: FuzzConfig) -> str:
    """``path/to/module.py:orch``, as orch-fuzz takes it (relative to the working directory)."""
    fn = config.registry.get_orchestration(config.orchestration).fn
    source = getattr(sys.modules.get(fn.__module__), "__file__", None)
    path = fn.__module__.replace(".", "/") + ".py"
    if source is not None:
        try:
            path = str(Path(source).resolve().relative_to(Path.cwd()))
        except ValueError:
            path = source
    return f"{path}:{fn.__name__}"


def _hash_check(config: FuzzConfig, tally: Tally, count: int, seed: int | None) -> HashSeedReplay:
    """Replay the kept histories under `count` other hash seeds; a divergence is a finding."""
    if count == 0 or not tally.samples:
        return HashSeedReplay([], "")
    histories = [
        (events, result)
        for result in tally.samples
        for events in result.histories.values()
        if events
    ]
    outcome = replay_under_hash_seeds(
        config.registry, [events for events, _ in histories], count, seed or 0
    )
    if outcome.divergence is not None:
        index, hash_seed, message = outcome.divergence
        result = histories[index][1]
        finding = Finding(
            "replay safety",
            f"replaying this history in a fresh interpreter with PYTHONHASHSEED={hash_seed} "
            f"issued other commands: {message}\nThe orchestration depends on the order of a set "
            "or of hashed keys (iterating a set of strings, set operations, hash()): sort "
            "before iterating (for x in sorted(s)), or keep a list.",
        )
        raise _failure(finding, result, seed, _reproduce(config, seed or 0))
    return outcome
