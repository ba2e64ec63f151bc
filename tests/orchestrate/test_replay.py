"""The replay executor as a pure function: hand-built histories in, commands and verdicts out."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from datetime import timedelta
from typing import Any

import pytest

from orchestrate import NonDeterminismError, OrchestrationContext, Registry
from orchestrate import history as h
from orchestrate.replay import Execution, _restamped

from .conftest import START

T0, T1, T2 = START, START + timedelta(seconds=1), START + timedelta(seconds=2)

reg = Registry()


@reg.activity
def charge(order: str) -> str:
    return f"tx-{order}"


@reg.activity
def refund(order: str) -> str:
    return f"rf-{order}"


@reg.orchestration
async def pay(ctx: OrchestrationContext, order: str) -> str:
    tx = await ctx.activity(charge, order)
    await ctx.sleep(60)
    return tx


@reg.orchestration
async def pay_changed(ctx: OrchestrationContext, order: str) -> str:
    tx = await ctx.activity(charge, order)
    await ctx.activity(refund, order)  # new code: a step where the history has a timer
    return tx


def started(name: str, value: Any = "o-1") -> h.OrchestrationStarted:
    return h.OrchestrationStarted(T0, name, value, "i-1")


def pay_history(name: str = "pay") -> list[h.Event]:
    return [
        started(name),
        h.ActivityScheduled(T0, 0, "charge", "o-1"),
        h.ActivityCompleted(T1, 0, "tx-o-1"),
        h.TimerCreated(T1, 1, T1 + timedelta(seconds=60)),
        h.TimerFired(T2, 1),
        h.OrchestrationCompleted(T2, "tx-o-1"),
    ]


def execution(fn: Any, strict: bool = False) -> Execution:
    return Execution(reg, reg.get_orchestration(fn), "i-1", strict=strict)


def test_replaying_a_completed_history_reproduces_its_result_without_new_events() -> None:
    exe = execution(pay)
    exe.replay(pay_history())
    assert exe.nondeterminism is None
    assert isinstance(exe.result, h.OrchestrationCompleted) and exe.result.output == "tx-o-1"
    assert exe.new_events == []


def test_changed_code_raises_non_determinism_naming_step_commands_and_line() -> None:
    exe = execution(pay_changed)
    exe.replay(pay_history("pay_changed"))
    error = exe.nondeterminism
    assert isinstance(error, NonDeterminismError)
    text = str(error)
    assert "at step 4 the history has TimerCreated(" in text
    assert "but the code scheduled activity 'refund' (test_replay.py:" in text
    lines, first = inspect.getsourcelines(pay_changed)
    refund_line = first + next(i for i, line in enumerate(lines) if "refund, order" in line)
    assert f"test_replay.py:{refund_line}" in text
    assert "ctx.patched()" in text
    assert isinstance(exe.result, h.OrchestrationFailed)
    assert exe.result.error.type == "NonDeterminismError"


def test_history_with_commands_the_code_no_longer_issues_is_non_deterministic() -> None:
    @reg.orchestration(name="pay_shortened")
    async def shortened(ctx: OrchestrationContext, order: str) -> str:
        return "done"

    exe = execution(shortened)
    exe.replay([started("pay_shortened"), *pay_history()[1:3]])
    assert exe.nondeterminism is not None
    assert "at step 2 the history has ActivityScheduled('charge')" in str(exe.nondeterminism)


def test_a_result_for_a_task_never_scheduled_is_non_deterministic() -> None:
    exe = execution(pay)
    exe.replay([started("pay"), h.ActivityScheduled(T0, 0, "charge", "o-1"), h.TimerFired(T1, 7)])
    assert exe.nondeterminism is not None
    assert "TimerFired for task 7" in str(exe.nondeterminism)


def test_swallowing_the_non_determinism_error_does_not_hide_it() -> None:
    @reg.orchestration(name="swallow")
    async def swallow(ctx: OrchestrationContext, order: str) -> str:
        try:
            await ctx.timer(5)  # the history says an activity was scheduled here
        except Exception:
            return "swallowed"
        return "no error"

    exe = execution(swallow)
    exe.replay([started("swallow"), h.ActivityScheduled(T0, 0, "charge", "o-1")])
    assert exe.nondeterminism is not None
    assert isinstance(exe.result, h.OrchestrationFailed)


@pytest.mark.parametrize(("strict", "diverges"), [(False, False), (True, True)])
def test_strict_mode_also_compares_inputs(strict: bool, diverges: bool) -> None:
    history = pay_history()
    history[1] = h.ActivityScheduled(T0, 0, "charge", "o-OTHER")
    exe = execution(pay, strict=strict)
    exe.replay(history)
    assert (exe.nondeterminism is not None) is diverges
    if diverges:
        assert "with input 'o-1' instead of 'o-OTHER'" in str(exe.nondeterminism)


class Foreign:
    """An awaitable from some other framework."""

    def __await__(self) -> Any:
        yield "not a task"


@reg.orchestration
async def uses_asyncio(ctx: OrchestrationContext) -> None:
    await asyncio.sleep(1)


@reg.orchestration
async def uses_foreign(ctx: OrchestrationContext) -> None:
    await Foreign()


@pytest.mark.parametrize("fn", [uses_asyncio, uses_foreign])
def test_awaiting_something_that_is_not_a_task_fails_with_a_clear_error(fn: Any) -> None:
    exe = execution(fn)
    exe.begin_turn()
    exe.process([h.OrchestrationStarted(T0, fn.__name__, None, "i-1")], T0)
    assert isinstance(exe.result, h.OrchestrationFailed)
    assert exe.result.error.type == "NotATaskError"
    assert "may only await ctx tasks" in exe.result.error.message
    assert "move I/O and asyncio calls into an activity" in exe.result.error.message


def test_an_orchestration_error_keeps_a_traceback_of_user_frames_only() -> None:
    @reg.orchestration(name="broken")
    async def broken(ctx: OrchestrationContext) -> None:
        raise RuntimeError("inventory missing")

    exe = execution(broken)
    exe.begin_turn()
    exe.process([h.OrchestrationStarted(T0, "broken", None, "i-1")], T0)
    assert isinstance(exe.result, h.OrchestrationFailed)
    error = exe.result.error
    assert (error.type, error.message) == ("RuntimeError", "inventory missing")
    assert "test_replay.py" in error.traceback and "in broken" in error.traceback
    assert "orchestrate/replay.py" not in error.traceback


def test_is_replaying_is_true_only_for_recorded_events() -> None:
    seen: list[bool] = []

    @reg.orchestration(name="observer")
    async def observer(ctx: OrchestrationContext) -> None:
        seen.append(ctx.is_replaying)
        await ctx.timer(1)
        seen.append(ctx.is_replaying)
        await ctx.timer(1)
        seen.append(ctx.is_replaying)

    exe = execution(observer)
    exe.replay(
        [
            h.OrchestrationStarted(T0, "observer", None, "i-1"),
            h.TimerCreated(T0, 0, T1),
            h.TimerFired(T1, 0),
            h.TimerCreated(T1, 1, T2),
        ]
    )
    exe.begin_turn()
    exe.process([h.TimerFired(T2, 1)], T2)
    assert seen == [True, True, False]
    assert isinstance(exe.result, h.OrchestrationCompleted)


def test_duplicate_results_are_ignored() -> None:
    exe = execution(pay)
    exe.begin_turn()
    exe.process([started("pay")], T0)
    exe.begin_turn()
    exe.process([h.ActivityCompleted(T1, 0, "tx-1"), h.ActivityCompleted(T1, 0, "tx-2")], T1)
    exe.begin_turn()
    exe.process([h.TimerFired(T2, 1)], T2)
    assert isinstance(exe.result, h.OrchestrationCompleted) and exe.result.output == "tx-1"
    replayed = execution(pay, strict=True)
    replayed.replay(exe.history)
    assert replayed.nondeterminism is None and replayed.result == exe.result


@pytest.mark.parametrize("kind", list(h.EVENT_TYPES.values()), ids=lambda kind: kind.__name__)
def test_restamped_copies_every_event_class_with_tuple_values(kind: type[h.Event]) -> None:
    # A single-field class whose value is a tuple (a terminate reason, an output) must not have
    # the tuple spread into its constructor's arguments.
    values = {f.name: ("x",) for f in dataclasses.fields(kind) if f.name != "at"}
    event = kind(T0, **values)
    copy = _restamped(event, T1)
    assert copy == dataclasses.replace(event, at=T1)
    assert copy is not event and event.at == T0


def test_a_divergence_deep_in_a_long_input_shows_where_they_differ():
    from orchestrate.divergence import contrast as _contrast

    lines = [{"sku": "ink", "amount": 1}] * 4
    new, old = _contrast({"lines": [*lines, 2]}, {"lines": [*lines, 3]})
    assert new != old and new.endswith("2]}") and old.endswith("3]}")
    assert new.startswith("...")
    assert _contrast(1, 2) == ("1", "2")


# --- ctx.raise_event and children as commands --------------------------------------------------


@reg.orchestration
async def signal(ctx: OrchestrationContext, target: str) -> str:
    await ctx.raise_event(target, "Restock", {"sku": 1})
    return "sent"


@reg.orchestration(name="signal_renamed")
async def signal_renamed(ctx: OrchestrationContext, target: str) -> str:
    await ctx.raise_event(target, "Refill", {"sku": 1})
    return "sent"


def signal_history(name: str, answer: h.Event) -> list[h.Event]:
    return [
        started(name, "order-7"),
        h.EventSent(T0, 0, "order-7", "Restock", {"sku": 1}),
        answer,
    ]


def test_a_raised_event_replays_as_a_command_and_is_not_sent_again() -> None:
    exe = execution(signal)
    *recorded, answer = signal_history("signal", h.EventDelivered(T1, 0))
    exe.replay(recorded)
    assert exe.nondeterminism is None and exe.new_events == []  # not sent again
    exe.begin_turn()
    exe.process([answer], T1)
    assert [e.kind for e in exe.new_events] == ["EventDelivered", "OrchestrationCompleted"]


def test_a_failed_delivery_raises_raise_event_failed_in_the_orchestration() -> None:
    failed = h.EventDeliveryFailed(T1, 0, "InstanceNotFound", "no instance 'order-7'")
    exe = execution(signal)
    exe.replay(signal_history("signal", failed)[:2])
    exe.process([failed], T1)
    assert isinstance(exe.result, h.OrchestrationFailed)
    assert exe.result.error.type == "RaiseEventFailed"
    assert "Restock failed with InstanceNotFound: no instance 'order-7'" in exe.result.error.message


def test_raising_another_event_name_than_recorded_is_non_deterministic_in_production() -> None:
    exe = execution(signal_renamed)
    exe.replay(signal_history("signal_renamed", h.EventDelivered(T1, 0)))
    text = str(exe.nondeterminism)
    assert "at step 2 the history has EventSent('Restock' to 'order-7')" in text
    assert "but the code raised event 'Refill' to 'order-7'" in text


@pytest.mark.parametrize(("strict", "diverges"), [(False, False), (True, True)])
def test_strict_replay_also_compares_the_target(strict: bool, diverges: bool) -> None:
    exe = execution(signal, strict=strict)
    history = signal_history("signal", h.EventDelivered(T1, 0))[:2]
    history[0] = started("signal", "order-8")  # the code now raises to order-8
    exe.replay(history)
    assert (exe.nondeterminism is not None) == diverges
    if diverges:
        assert "with instance_id 'order-8' instead of 'order-7'" in str(exe.nondeterminism)
