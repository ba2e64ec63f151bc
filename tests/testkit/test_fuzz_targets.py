"""The fuzz targets (`tests/testkit/fuzz_targets`): the fuzzer finds every buggy orchestration
and raises no false alarm on its fixed twin; both twins run correctly in a plain `TestEnv`."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from orchestrate import NonDeterminismError, NonDeterministicCallError, Status
from testkit import Run, TestEnv

from .fuzz_targets import MODULES

TARGETS = [importlib.import_module(f"{__package__}.fuzz_targets.{name}") for name in MODULES]
BUGGY_SEED = 20240101


@pytest.fixture(params=TARGETS, ids=MODULES)
def target(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """A target module, with its process state forgotten before and after the test."""
    module: ModuleType = request.param
    reset = getattr(module, "reset", None)
    if reset is not None:
        reset()
    yield module
    if reset is not None:
        reset()


def test_every_target_is_complete(target: ModuleType) -> None:
    assert target.__doc__ and "Fix" in target.__doc__
    assert target.reg.get_orchestration("buggy").fn is not None
    assert target.reg.get_orchestration("fixed").fn is not None
    assert set(target.FUZZ) == {"buggy", "fixed"}
    for kwargs in target.FUZZ.values():
        assert set(kwargs) <= {"input", "outcomes", "events", "invariant"}
        assert "input" in kwargs and callable(kwargs["invariant"])


def test_twelve_distinct_bug_classes() -> None:
    assert len(set(MODULES)) == len(MODULES) >= 12


def test_orch_lint_sees_none_of_the_bugs(capsys: pytest.CaptureFixture[str]) -> None:
    """The fuzzer's value is what static analysis misses: orch-lint reports nothing here."""
    from linter import main

    assert main([str(Path(__file__).parent / "fuzz_targets")]) == 0, capsys.readouterr().out


# --- the fuzzer ------------------------------------------------------------------------------


def test_fuzzer_finds_buggy(target: ModuleType) -> None:
    from testkit.fuzz import FuzzFailure, fuzz

    with pytest.raises(FuzzFailure):
        fuzz(target.reg, target.buggy, **target.FUZZ["buggy"], seed=BUGGY_SEED)


def test_fuzzer_passes_fixed(target: ModuleType) -> None:
    from testkit.fuzz import fuzz

    report = fuzz(target.reg, target.fixed, **target.FUZZ["fixed"])
    assert report is not None


# --- plain TestEnv runs ----------------------------------------------------------------------


def _plain_run(module: ModuleType, orchestration: Any, **options: Any) -> Run:
    """Run `orchestration` on the module's plain input (scripts, then the event if any)."""
    plain = module.PLAIN
    env = TestEnv(module.reg, **options)
    for activity, outcomes in plain.get("scripts", {}).items():
        env.script(activity, outcomes)
    run = env.run(orchestration, plain["input"])
    if "event" in plain:
        assert run.status == Status.RUNNING, run.waiting_for
        name, payload = plain["event"]
        env.raise_event(run.instance_id, name, payload)
    return run


def _check_plain(module: ModuleType, run: Run) -> None:
    assert run.status == Status.COMPLETED, run.error
    plain = module.PLAIN
    if "check" in plain:
        plain["check"](run)
    else:
        assert run.output == plain["output"]


def test_plain_fixed_twin_completes_correctly(target: ModuleType) -> None:
    run = _plain_run(target, target.fixed)
    _check_plain(target, run)
    assert target.FUZZ["fixed"]["invariant"](run) is not False


def test_plain_buggy_twin_completes_correctly_without_replay_check(target: ModuleType) -> None:
    """Without the replay check and the call guard a plain test of the buggy twin passes: the
    bug is hidden."""
    run = _plain_run(target, target.buggy, replay_check=False, guard_calls=False)
    _check_plain(target, run)
    assert target.FUZZ["buggy"]["invariant"](run) is not False


def test_plain_replay_check_on_buggy_twin(target: ModuleType) -> None:
    """The plain `TestEnv` replay check alone catches some buggy twins (CAUGHT_BY_TESTENV);
    the others complete correctly and need the fuzzer."""
    if target.CAUGHT_BY_TESTENV:
        with pytest.raises(NonDeterminismError):
            _plain_run(target, target.buggy, guard_calls=False)
    else:
        run = _plain_run(target, target.buggy, guard_calls=False)
        _check_plain(target, run)


@pytest.mark.parametrize(
    "clock_target",
    [t for t in TARGETS if getattr(t, "CALLS_THE_CLOCK", False)],
    ids=[n for n, t in zip(MODULES, TARGETS, strict=True) if getattr(t, "CALLS_THE_CLOCK", False)],
)
def test_the_call_guard_stops_buggy_twins_that_read_the_clock_at_the_call(
    clock_target: ModuleType,
) -> None:
    """The default `TestEnv` (call guard on) fails the buggy twins that read the clock already
    on the plain run, at the clock call, whether or not the replay check would have."""
    with pytest.raises(NonDeterministicCallError, match=r"called (time|datetime)\.\w+\(\) at"):
        _plain_run(clock_target, clock_target.buggy)


# --- what the user gets: a short schedule, and two ways to reproduce it ------------------------


def test_the_failure_is_short_and_its_seed_and_schedule_file_reproduce_it(
    target: ModuleType, tmp_path: Any
) -> None:
    from testkit.fuzz import FuzzFailure, fuzz, replay_schedule

    saved = tmp_path / "failure.json"
    options = target.FUZZ["buggy"]
    with pytest.raises(FuzzFailure) as first:
        fuzz(target.reg, target.buggy, **options, seed=BUGGY_SEED, save_failure=saved)
    assert len(first.value.schedule.steps) <= 12, first.value.schedule.timeline()
    assert f"--seed {BUGGY_SEED}" in str(first.value)
    getattr(target, "reset", lambda: None)()  # as in a fresh process
    with pytest.raises(FuzzFailure) as again:
        fuzz(target.reg, target.buggy, **options, seed=BUGGY_SEED)
    assert again.value.prop == first.value.prop
    assert again.value.schedule.timeline() == first.value.schedule.timeline()
    getattr(target, "reset", lambda: None)()
    under_other_seeds = "PYTHONHASHSEED" in str(first.value)
    with pytest.raises(FuzzFailure) as replayed:
        replay_schedule(target.reg, target.buggy, saved, invariant=options.get("invariant"),
                        hash_seeds=2 if under_other_seeds else 0)
    assert replayed.value.prop == first.value.prop
