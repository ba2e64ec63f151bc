"""The call guard: calls that break replay raise at the call while orchestration code runs, and
nowhere else (activities, other threads, the runtime's own work, code after the step)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from random import randint  # bound before the guard: rebound by guard_registry
from typing import Any

import pytest

from orchestrate import (
    Client,
    MemoryStore,
    NonDeterminismError,
    NonDeterministicCallError,
    OrchestrationContext,
    Registry,
    Status,
    Worker,
    callguard,
)
from orchestrate import history as h
from orchestrate.replay import Execution

from .conftest import START

reg = Registry()
HERE = os.path.relpath(__file__)  # the tests run from the project root: a relative path

# (what the code calls, the call's name in the error, the replacement the error names)
CALLS: list[tuple[Callable[[], Any], str, str]] = [
    (lambda: dt.datetime.now(dt.UTC), "datetime.now", "ctx.now()"),  # the real C method
    (lambda: dt.datetime.utcnow(), "datetime.utcnow", "ctx.now()"),
    (lambda: dt.date.today(), "date.today", "ctx.now().date()"),
    (lambda: time.time(), "time.time", "ctx.now()"),
    (lambda: time.time_ns(), "time.time_ns", "ctx.now()"),
    (lambda: time.monotonic(), "time.monotonic", "ctx.now()"),
    (lambda: time.perf_counter(), "time.perf_counter", "ctx.now()"),
    (lambda: time.sleep(0), "time.sleep", "ctx.sleep("),
    (lambda: random.random(), "random.random", "ctx.random()"),
    (lambda: random.choice([1, 2]), "random.choice", "ctx.random()"),
    (lambda: random.shuffle([1, 2]), "random.shuffle", "ctx.random()"),
    (lambda: uuid.uuid4(), "uuid.uuid4", "ctx.uuid()"),
    (lambda: uuid.uuid1(), "uuid.uuid1", "ctx.uuid()"),
    (lambda: os.urandom(4), "os.urandom", "Make the secret in an activity (ctx.activity)"),
    (lambda: secrets.token_hex(4), "secrets.token_hex", "Make the secret in an activity"),
    (lambda: threading.Thread(target=print).start(), "threading.Thread.start", "ctx.all("),
    (lambda: open(__file__), "open",  # noqa: SIM115 (refused before opening)
     "path. Read or write files in an activity (ctx.activity): file access is I/O, and only an "
     "activity's result is recorded in the history. (The call guard"),
    (lambda: socket.socket(), "socket.socket", "path. Make network calls in an activity"),
]
IDS = [name for _, name, _ in CALLS]

_CALL: list[Callable[[], Any]] = [lambda: None]


@reg.activity
def note(value: Any) -> Any:
    return value


@reg.orchestration
async def calls_out(ctx: OrchestrationContext) -> str:
    _CALL[0]()  # the line the error names
    return "done"


@reg.orchestration
async def swallows(ctx: OrchestrationContext) -> str:
    with contextlib.suppress(NonDeterminismError):
        random.random()
    return "swallowed"


@reg.orchestration
async def allowed(ctx: OrchestrationContext) -> dict[str, Any]:
    ctx.log.info("logged at %s", ctx.now())  # a record reads time.time: the runtime's doing
    logging.getLogger("tests.callguard").warning("plain logging is not the code's decision")
    stamp = await ctx.side_effect(time.time)  # recorded once: the one sanctioned read
    value = await ctx.activity(note, ctx.random().random())
    return {"stamp": stamp, "value": value, "uuid": str(ctx.uuid())}


def line_of(fn: Callable[..., Any], text: str) -> int:
    import inspect

    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def step(name: str, *, guard_calls: bool = True) -> Execution:
    """Start orchestration `name` in a fresh execution and run its first turn."""
    exe = Execution(reg, reg.get_orchestration(name), "i-1", guard_calls=guard_calls)
    exe.begin_turn()
    exe.process([h.OrchestrationStarted(START, name, None, "i-1")], START)
    return exe


@pytest.mark.parametrize(("call", "name", "replacement"), CALLS, ids=IDS)
def test_a_guarded_call_fails_the_turn_at_the_call(
    call: Callable[[], Any], name: str, replacement: str
) -> None:
    _CALL[0] = call
    exe = step("calls_out")
    error = exe.nondeterminism
    assert isinstance(error, NonDeterministicCallError)
    message = str(error)
    assert f"called {name}() at " in message
    assert message.startswith("calls_out (i-1): ")
    assert replacement in message
    # the file:line is the user's call (the lambda in CALLS), not the runtime's or a library's
    assert f"{HERE}:" in message
    assert isinstance(exe.result, h.OrchestrationFailed)
    assert exe.result.error.type == "NonDeterministicCallError"


def test_the_error_names_the_line_of_the_call() -> None:
    _CALL[0] = lambda: random.random()
    exe = step("calls_out")
    line = line_of(test_the_error_names_the_line_of_the_call, "lambda")
    assert f" at tests/orchestrate/test_callguard.py:{line}; " in str(exe.nondeterminism)


def test_outside_the_working_directory_the_error_names_the_full_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    _CALL[0] = lambda: random.random()
    exe = step("calls_out")
    assert f" at {os.path.abspath(__file__)}:" in str(exe.nondeterminism)


@pytest.mark.parametrize(("call", "name", "replacement"), CALLS, ids=IDS)
def test_every_message_reads_as_whole_sentences(
    call: Callable[[], Any], name: str, replacement: str
) -> None:
    _CALL[0] = call
    message = str(step("calls_out").nondeterminism)
    fix = message.split("may take another path. ")[1].split(" (The call guard")[0]
    assert fix.endswith(".") and fix[0].isupper()
    assert not fix.startswith("Use an activity") and "I/O instead" not in fix


@pytest.mark.parametrize(("call", "name", "replacement"), CALLS[:15], ids=IDS[:15])
def test_without_the_guard_the_same_code_runs(
    call: Callable[[], Any], name: str, replacement: str
) -> None:
    _CALL[0] = call
    exe = step("calls_out", guard_calls=False)
    assert exe.nondeterminism is None and isinstance(exe.result, h.OrchestrationCompleted)


def test_a_refusal_the_code_catches_still_fails_the_turn() -> None:
    exe = step("swallows")
    assert isinstance(exe.nondeterminism, NonDeterministicCallError)
    assert isinstance(exe.result, h.OrchestrationFailed)


def test_the_runtimes_own_reads_log_and_side_effect_pass() -> None:
    exe = step("allowed")
    assert exe.nondeterminism is None, exe.nondeterminism
    assert [e.kind for e in exe.new_events][-1] == "ActivityScheduled"


def test_the_guard_is_off_outside_the_step() -> None:
    step("swallows")
    _CALL[0] = lambda: dt.datetime.now()
    step("calls_out")
    assert sys.getprofile() is None  # the real datetime's watch ends with the step
    assert dt.datetime.now() and dt.date.today()
    assert time.time() > 0 and 0 <= random.random() < 1 and uuid.uuid4()
    with open(__file__, encoding="utf-8") as handle:
        assert handle.readline()


def test_other_threads_are_untouched_while_a_step_runs() -> None:
    """An activity thread reading the clock and `random` at the very moment the orchestration
    code runs (the step waits for it) is not refused."""
    go, done = threading.Event(), threading.Event()
    seen: list[object] = []

    def activity_thread() -> None:
        assert go.wait(10)
        try:
            seen.extend([time.time(), random.random(), uuid.uuid4(), os.urandom(2)])
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            seen.append(exc)
        done.set()

    def inside_the_step() -> None:
        go.set()
        assert done.wait(10), "the other thread did not finish"

    worker = threading.Thread(target=activity_thread)
    worker.start()
    _CALL[0] = inside_the_step
    exe = step("calls_out")
    worker.join(10)
    assert exe.nondeterminism is None and isinstance(exe.result, h.OrchestrationCompleted)
    assert len(seen) == 4 and not any(isinstance(v, Exception) for v in seen), seen


def test_functions_bound_by_name_before_the_guard_are_rebound() -> None:
    """`from random import randint` at the top of this module ran before the guard existed;
    a Worker or TestEnv guarding `reg` rebinds it in the orchestrations' modules."""
    callguard.guard_registry(reg)
    assert globals()["randint"] is random.randint  # the wrapper, as in the `random` module
    _CALL[0] = lambda: randint(1, 6)
    assert "called random.randint() at" in str(step("calls_out").nondeterminism)


def test_replace_keeps_the_function_guarded_and_puts_it_back() -> None:
    callguard.install()
    fresh = random.Random(1)
    previous = callguard.replace(random, "random", fresh.random)
    try:
        expected = random.Random(1).random()
        assert random.random() == expected  # draws from the replacement
        _CALL[0] = lambda: random.random()
        assert isinstance(step("calls_out").nondeterminism, NonDeterministicCallError)
    finally:
        callguard.replace(random, "random", previous)
    assert random.random is not fresh.random  # still the guard's wrapper


def test_resync_takes_the_module_function_back_after_someone_swapped_it() -> None:
    callguard.install()
    guarded = time.time
    real = guarded.__wrapped__

    def fake_time() -> float:  # as a clock freeze's fake
        return 42.0

    time.time = fake_time
    try:
        callguard.resync()
        assert time.time is guarded and time.time() == 42.0  # still guarded, calling through
        assert guarded.__wrapped__ is fake_time
    finally:
        time.time = real  # as the freeze's stop does
        callguard.resync()
    assert time.time is guarded and time.time() != 42.0
    # What the wrapper says it wraps follows: after the freeze it is the real clock again.
    assert guarded.__wrapped__ is real and guarded.__name__ == "time"


def test_a_guarded_class_method_is_refused_in_the_step_only() -> None:
    class Clock:
        @classmethod
        def now(cls) -> float:
            return 1.0

    callguard.guard_methods(Clock, ("now",), "ctx.now()", label="Clock")
    assert Clock.now() == 1.0
    _CALL[0] = lambda: Clock.now()
    assert "called Clock.now() at" in str(step("calls_out").nondeterminism)


# --- the worker opt-in ------------------------------------------------------------------------


def run_worker(**options: Any) -> MemoryStore:
    store = MemoryStore()
    worker = Worker(reg, store, guard_calls=True, **options)
    Client(store).start("calls_out", None, instance_id="w-1")
    while worker.poll_once():
        pass
    return store


def test_a_worker_with_guard_calls_holds_the_instance_back_like_a_divergence() -> None:
    _CALL[0] = lambda: time.time()
    store = run_worker()
    state = store.get_instance("w-1")
    assert state is not None and state.status == Status.PENDING  # its first turn is held back
    assert state.error is not None and state.error.type == "NonDeterministicCallError"
    assert "called time.time() at" in state.error.message


def test_a_worker_with_guard_calls_and_on_nondeterminism_fail_fails_the_instance() -> None:
    _CALL[0] = lambda: uuid.uuid4()
    store = run_worker(on_nondeterminism="fail")
    state = store.get_instance("w-1")
    assert state is not None and state.status == Status.FAILED
    assert state.error is not None and state.error.type == "NonDeterministicCallError"
    assert "ctx.uuid()" in state.error.message


def test_workers_do_not_guard_by_default() -> None:
    _CALL[0] = lambda: time.time()
    store = MemoryStore()
    worker = Worker(reg, store)
    Client(store).start("calls_out", None, instance_id="w-2")
    while worker.poll_once():
        pass
    state = store.get_instance("w-2")
    assert worker.guard_calls is False and state is not None and state.status == Status.COMPLETED


def test_the_projects_modules_imported_before_the_guard_are_rebound_once() -> None:
    """`from uuid import uuid4` in a helper module imported before the guard existed is
    rebound to the wrapper; an installed package's module is left alone."""
    import types

    callguard.install()
    original = uuid.uuid4.__wrapped__  # what a module imported before the guard holds
    helper = types.ModuleType("project_helpers_for_callguard")
    helper.__file__ = os.path.join(os.path.dirname(__file__), "project_helpers_for_callguard.py")
    installed = types.ModuleType("installed_lib_for_callguard")
    installed.__file__ = "/usr/lib/python3/site-packages/installed_lib_for_callguard.py"
    for module in (helper, installed):
        module.uuid4 = original  # type: ignore[attr-defined]
        sys.modules[module.__name__] = module
    try:
        callguard.guard_user_modules()
        assert helper.uuid4 is uuid.uuid4  # type: ignore[attr-defined]
        assert installed.uuid4 is original  # type: ignore[attr-defined]
    finally:
        for module in (helper, installed):
            del sys.modules[module.__name__]
