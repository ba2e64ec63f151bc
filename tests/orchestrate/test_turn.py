"""The turn as a pure function (`orchestrate.turn`): hand-built states, messages and execution
outcomes in, the commit out. No store, no threads, no time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrate import history as h
from orchestrate import turn
from orchestrate.errors import NonDeterminismError, StoreError, UnknownOrchestration
from orchestrate.state import InstanceState, Message, Status

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Ran:
    """What an execution did in one turn (a hand-built `turn.Executed`)."""

    new_events: list[h.Event] = field(default_factory=list)
    cancelled_timers: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    result: h.Event | None = None
    terminated: bool = False
    carry_over: list[h.Event] = field(default_factory=list)
    nondeterminism: Exception | None = None
    cancelled_children: list[str] = field(default_factory=list)
    open_children: list[tuple[str, str]] = field(default_factory=list)


def state(**changes: Any) -> InstanceState:
    base = InstanceState("a", "flow", Status.RUNNING, {"n": 1}, created_at=T0, updated_at=T0)
    return dataclasses.replace(base, **changes)


def child_state(**changes: Any) -> InstanceState:
    return state(parent_instance="p", parent_generation=3, parent_task=7, **changes)


def message(event: h.Event, id: int, generation: int | None = 0) -> Message:
    return Message("a", event, generation, id=id)


def decide(ran: Ran, base: InstanceState | None = None, **kw: Any) -> Any:
    return turn.decide(base or state(), "token", [1, 2], [], ran, NOW, **kw)


# --- message order ---------------------------------------------------------------------------------


def test_a_generation_start_goes_first_whatever_its_id() -> None:
    raised = message(h.EventRaised(at(1), "go", None), 1, None)
    start = message(h.OrchestrationStarted(at(2), "flow", None, "a", 1), 2, 1)
    assert turn.apply_order([raised, start]) == [start, raised]


def test_events_keep_arrival_order_even_when_the_senders_clocks_disagree() -> None:
    late_clock = message(h.EventRaised(at(10), "x", 1), 1, None)
    early_clock = message(h.EventRaised(at(5), "x", 2), 2, None)
    assert turn.apply_order([early_clock, late_clock]) == [late_clock, early_clock]


def test_a_timer_slots_in_by_its_due_time_and_an_earlier_result_wins() -> None:
    timeout = message(h.TimerFired(at(30), 4), 1)  # queued first, when it was created
    result = message(h.ActivityCompleted(at(20), 3, "ok"), 2)  # arrived before it was due
    later = message(h.EventRaised(at(40), "x", None), 3, None)
    assert turn.apply_order([timeout, result, later]) == [result, timeout, later]


def test_events_for_another_generation_are_consumed_but_not_applied() -> None:
    current = message(h.ActivityCompleted(at(1), 0, "new"), 1, 2)
    stale = message(h.ActivityCompleted(at(1), 0, "old"), 2, 1)
    anyone = message(h.EventRaised(at(1), "x", None), 3, None)
    events = turn.current_events(state(generation=2), [current, stale, anyone])
    assert events == [current.event, anyone.event]


# --- an ordinary turn ---------------------------------------------------------------------------


def test_the_first_turn_runs_the_instance_and_schedules_its_work() -> None:
    started = h.OrchestrationStarted(NOW, "flow", {"n": 1}, "a", 0)
    ran = Ran(
        [
            started,
            h.ActivityScheduled(NOW, 0, "charge", 5),
            h.ActivityScheduled(NOW, 1, "charge", 5, attempt=2, call_id=0),
            h.TimerCreated(NOW, 2, at(3600)),
            h.CustomStatusSet(NOW, 3, {"phase": "paying"}),
        ]
    )
    commit = decide(ran, state(status=Status.PENDING))
    assert commit.lock_token == "token" and commit.consumed == [1, 2]
    assert commit.new_events == ran.new_events and commit.new_events is not ran.new_events
    assert commit.instance.status == Status.RUNNING and commit.instance.updated_at == NOW
    assert commit.instance.custom_status == {"phase": "paying"}
    assert [(w.task_id, w.name, w.input, w.attempt, w.call_id) for w in commit.activities] == [
        (0, "charge", 5, 1, 0),
        (1, "charge", 5, 2, 0),  # a retry keeps the first attempt's call id (idempotency key)
    ]
    [timer] = commit.messages
    assert (timer.instance_id, timer.event, timer.generation, timer.visible_at) == (
        "a",
        h.TimerFired(at(3600), 2),
        0,
        at(3600),
    )
    assert commit.hold_until is None and not commit.reset_history and commit.cached is None


def test_the_state_given_is_not_changed() -> None:
    before = state(status=Status.PENDING)
    decide(Ran([h.OrchestrationStarted(NOW, "flow", None, "a", 0)]), before)
    assert before.status == Status.PENDING and before.updated_at == T0


def test_a_timer_cancelled_in_the_turn_that_created_it_is_never_queued() -> None:
    ran = Ran([h.TimerCreated(NOW, 4, at(60)), h.TimerCreated(NOW, 5, at(90))], [4, 1])
    commit = decide(ran, state(generation=2))
    assert [m.event for m in commit.messages] == [h.TimerFired(at(90), 5)]
    assert commit.cancelled_timers == [(2, 4), (2, 1)]  # pending ones are dropped by the store


def test_a_turn_that_replays_again_clears_an_earlier_nondeterminism_error() -> None:
    stuck = state(error=h.ErrorInfo("NonDeterminismError", "was stuck"))
    assert decide(Ran(), stuck).instance.error is None


def test_a_sub_orchestration_creates_the_child_with_its_start_message() -> None:
    ran = Ran([h.SubOrchestrationScheduled(NOW, 2, "ship", {"box": 1}, "a:ship")])
    commit = decide(ran, state(generation=4))
    [child] = commit.children
    assert (child.instance_id, child.name, child.status, child.input) == (
        "a:ship",
        "ship",
        Status.PENDING,
        {"box": 1},
    )
    assert (child.parent_instance, child.parent_generation, child.parent_task) == ("a", 4, 2)
    assert child.created_at == NOW
    [start] = commit.messages
    assert start.instance_id == "a:ship" and start.generation == 0
    assert start.event == h.OrchestrationStarted(NOW, "ship", {"box": 1}, "a:ship", 0, "a", 2)


# --- the generation ends --------------------------------------------------------------------------


def test_completion_sets_the_output_and_tells_the_parent() -> None:
    done = h.OrchestrationCompleted(NOW, {"tx": 1})
    commit = decide(Ran([done], result=done), child_state())
    assert (commit.instance.status, commit.instance.output) == (Status.COMPLETED, {"tx": 1})
    [notice] = commit.messages
    assert (notice.instance_id, notice.generation) == ("p", 3)
    assert notice.event == h.SubOrchestrationCompleted(NOW, 7, {"tx": 1})


def test_failure_sets_the_error_and_tells_the_parent() -> None:
    failed = h.OrchestrationFailed(NOW, h.ErrorInfo("ValueError", "bad card"))
    commit = decide(Ran([failed], result=failed), child_state())
    assert commit.instance.status == Status.FAILED
    assert commit.instance.error == h.ErrorInfo("ValueError", "bad card")
    [notice] = commit.messages
    assert notice.event == h.SubOrchestrationFailed(NOW, 7, "ValueError", "bad card")


def test_termination_names_the_reason_and_tells_the_parent() -> None:
    stop = h.OrchestrationTerminated(NOW, "customer cancelled")
    commit = decide(Ran([stop], terminated=True), child_state())
    assert commit.instance.status == Status.TERMINATED
    assert commit.instance.error == h.ErrorInfo("Terminated", "customer cancelled")
    [notice] = commit.messages
    assert notice.event == h.SubOrchestrationFailed(NOW, 7, "Terminated", "a was terminated")


def test_an_ending_recorded_by_an_earlier_turn_is_not_applied_again() -> None:
    done = h.OrchestrationCompleted(T0, "old")  # the result, not among this turn's events
    commit = decide(Ran([h.ActivityCompleted(NOW, 1, "late")], result=done), child_state())
    assert commit.instance.status == Status.RUNNING and commit.messages == []


def test_an_instance_without_a_parent_notifies_nobody() -> None:
    done = h.OrchestrationCompleted(NOW, 1)
    assert decide(Ran([done], result=done)).messages == []


def test_continue_as_new_starts_the_next_generation_with_the_carried_events() -> None:
    again = h.ContinuedAsNew(NOW, {"n": 2})
    stop = h.OrchestrationTerminated(at(59), "stop")
    ran = Ran(
        [
            h.ActivityScheduled(NOW, 0, "charge", 1),
            h.TimerCreated(NOW, 1, at(600)),
            h.SubOrchestrationScheduled(NOW, 2, "ship", None, "a:ship"),
            again,
        ],
        result=again,
        carry_over=[h.EventRaised(at(50), "item", 1), stop],
    )
    commit = decide(ran, child_state(generation=1))
    assert commit.reset_history and commit.new_events == [] and commit.activities == []
    new = commit.instance
    assert (new.generation, new.input, new.status) == (2, {"n": 2}, Status.RUNNING)
    own = [m for m in commit.messages if m.instance_id == "a"]
    assert [m.event for m in own] == [
        h.OrchestrationStarted(
            NOW, "flow", {"n": 2}, "a", 2, "p", 7, [{"name": "item", "input": 1}]
        ),
        stop,  # it arrived as the generation ended: it ends the next one
    ]
    assert [m.generation for m in own] == [2, None]
    # The old generation's own timer goes; the child it started is still started.
    assert [m.instance_id for m in commit.messages if m.instance_id != "a"] == ["a:ship"]
    assert [c.instance_id for c in commit.children] == ["a:ship"]


# --- turns that run no code ------------------------------------------------------------------------


def test_a_turn_that_no_longer_replays_fails_the_turn_not_the_instance() -> None:
    error = NonDeterminismError("step 3: recorded charge, now refund")
    commit = decide(Ran([h.ActivityScheduled(NOW, 0, "x", None)], nondeterminism=error))
    assert commit.new_events == [] and commit.consumed == [] and commit.activities == []
    assert commit.instance.status == Status.RUNNING
    assert commit.instance.error is not None
    assert commit.instance.error.type == "NonDeterminismError"
    assert (
        "step 3" in commit.instance.error.message and "every 60 s" in commit.instance.error.message
    )
    assert commit.hold_until == NOW + timedelta(seconds=60)  # retried after a back-off


def test_a_terminate_still_ends_an_instance_that_no_longer_replays() -> None:
    stop = h.OrchestrationTerminated(at(30), "give up")
    ran = Ran(nondeterminism=NonDeterminismError("diverged"))
    commit = turn.decide(child_state(), "token", [4], [stop], ran, NOW)
    assert commit.consumed == [4] and commit.hold_until is None
    assert commit.new_events == [h.OrchestrationTerminated(NOW, "give up")]
    assert commit.instance.status == Status.TERMINATED
    assert [m.event.kind for m in commit.messages] == ["SubOrchestrationFailed"]


def test_without_a_retry_the_executions_own_outcome_is_committed() -> None:
    failed = h.OrchestrationFailed(NOW, h.ErrorInfo("NonDeterminismError", "diverged"))
    ran = Ran([failed], result=failed, nondeterminism=NonDeterminismError("diverged"))
    commit = decide(ran, nondeterminism_retry=None)
    assert commit.instance.status == Status.FAILED and commit.hold_until is None


def test_an_instance_whose_code_is_gone_fails_without_an_execution() -> None:
    exc = UnknownOrchestration("no orchestration named 'flow'")
    commit = turn.fail_without_execution(child_state(), "token", [1], NOW, exc)
    assert commit.consumed == [1] and commit.instance.status == Status.FAILED
    error = commit.instance.error
    assert error is not None and error.type == "UnknownOrchestration"
    assert "started with code this worker does not have" in error.message
    assert commit.new_events == [h.OrchestrationFailed(NOW, error)]
    [notice] = commit.messages
    assert notice.event == h.SubOrchestrationFailed(NOW, 7, "UnknownOrchestration", error.message)


def test_a_parent_failing_without_an_execution_still_closes_its_children() -> None:
    history = [
        h.OrchestrationStarted(T0, "flow", None, "a"),
        h.SubOrchestrationScheduled(T0, 1, "child", None, "a:done"),
        h.SubOrchestrationScheduled(T0, 2, "child", None, "a:kept", "abandon"),
        h.SubOrchestrationScheduled(T0, 3, "child", None, "a:open"),
        h.SubOrchestrationCompleted(T0, 1, "ok"),
    ]
    exc = UnknownOrchestration("no orchestration named 'flow'")
    commit = turn.fail_without_execution(state(), "token", [], NOW, exc, history)
    stops = [m for m in commit.messages if isinstance(m.event, h.OrchestrationTerminated)]
    assert [m.instance_id for m in stops] == ["a:open"]  # finished and abandoned ones are left
    assert "it failed" in stops[0].event.reason


def test_an_unreadable_history_fails_the_instance_naming_it() -> None:
    commit = turn.fail_without_execution(state(), "token", [], NOW, StoreError("bad row 3"))
    error = commit.instance.error
    assert error is not None and error.type == "StoreError"
    assert error.message == "the stored history of 'a' cannot be read: bad row 3"


def test_a_finished_instance_only_consumes_what_arrived_late() -> None:
    done = state(status=Status.COMPLETED, output=1)
    commit = turn.finished_turn(done, "token", [5, 6])
    assert commit.instance is done and commit.consumed == [5, 6]
    assert commit.new_events == [] and commit.messages == [] and commit.activities == []


# --- children follow their parent -----------------------------------------------------------------


def terminates(commit: Any) -> list[tuple[str, str | None]]:
    return [
        (m.instance_id, m.event.parent)
        for m in commit.messages
        if isinstance(m.event, h.OrchestrationTerminated)
    ]


def test_an_ending_generation_terminates_its_open_children_by_policy() -> None:
    done = h.OrchestrationCompleted(NOW, 1)
    ran = Ran([done], result=done, open_children=[("k1", "terminate"), ("k2", "abandon")])
    commit = decide(ran)
    assert terminates(commit) == [("k1", "a")]
    [stop] = [m for m in commit.messages if m.instance_id == "k1"]
    assert stop.generation is None and "parent 'a': it completed" in stop.event.reason


def test_a_generation_that_goes_on_leaves_open_children_alone() -> None:
    assert terminates(decide(Ran(open_children=[("k1", "terminate")]))) == []


def test_a_cancelled_child_is_terminated_whatever_its_policy() -> None:
    commit = decide(Ran(cancelled_children=["k1"]))
    assert terminates(commit) == [("k1", "a")]
    assert "task was cancelled" in commit.messages[0].event.reason


def test_a_parents_terminate_only_reaches_its_own_child() -> None:
    mine = message(h.OrchestrationTerminated(NOW, "x", "p"), 1, None)
    other = message(h.OrchestrationTerminated(NOW, "x", "q"), 2, None)
    operator = message(h.OrchestrationTerminated(NOW, "x"), 3, None)
    events = turn.current_events(child_state(), [mine, other, operator])
    assert events == [mine.event, operator.event]


def test_terminating_a_stuck_parent_terminates_the_children_its_replay_reached() -> None:
    stop = h.OrchestrationTerminated(at(30), "give up")
    ran = Ran(nondeterminism=NonDeterminismError("diverged"), open_children=[("k", "terminate")])
    commit = turn.decide(state(), "token", [4], [stop], ran, NOW)
    assert commit.instance.status == Status.TERMINATED
    assert terminates(commit) == [("k", "a")]
    assert "it was terminated" in commit.messages[0].event.reason
