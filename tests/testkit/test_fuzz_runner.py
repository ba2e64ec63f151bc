"""fuzz() and replay_schedule() end to end: what passes, what is found, how it reproduces."""

from __future__ import annotations

import json

import pytest
from hypothesis import strategies as st

from orchestrate import UnknownActivity
from testkit import fail, hang, ok
from testkit.fuzz import (
    FuzzError,
    FuzzFailure,
    Schedule,
    ScheduleError,
    Step,
    fuzz,
    replay_schedule,
)

from .fuzz_cases import (
    add,
    arrival_order,
    chain,
    counted,
    endless,
    fan_out,
    first_turn_failure,
    generations,
    logged,
    no_timeout,
    reg,
    slow,
    tolerant,
    wait_approval,
    wait_approval_or_call,
    wait_forever,
)


def test_a_replay_safe_orchestration_passes_and_the_report_counts_the_faults():
    report = fuzz(reg, fan_out, input=3, max_examples=60, seed=1, hash_seeds=0)
    assert report.examples == 60 and report.schedules > 5
    assert report.crashes > 0 and report.duplicates > 0
    assert report.longest_history >= 8  # start, 3 scheduled, 3 results, completed
    assert report.verdict.startswith("passed: 60 examples")


def test_faults_can_be_switched_off():
    report = fuzz(reg, chain, input=1, max_examples=20, crashes=False, duplicates=False,
                  hash_seeds=0)
    assert report.crashes == 0 and report.duplicates == 0


def test_module_state_is_found_shrunk_and_explained():
    with pytest.raises(FuzzFailure) as caught:
        fuzz(reg, counted, input=1, seed=7, hash_seeds=0)
    failure = caught.value
    text = str(failure)
    assert failure.prop == "replay safety"
    assert "ActivityScheduled('add')" in text and "Shrunk schedule" in text
    assert "orch-fuzz" in text and "--seed 7" in text
    assert len(failure.schedule.steps) <= 2


def test_the_same_seed_finds_the_same_schedule():
    first = second = None
    for attempt in range(2):
        with pytest.raises(FuzzFailure) as caught:
            fuzz(reg, arrival_order, input=3, seed=11, hash_seeds=0,
                 invariant=lambda run: run.output == sorted(run.output))
        if attempt == 0:
            first = caught.value.schedule.timeline()
        else:
            second = caught.value.schedule.timeline()
    assert first == second


def test_the_invariant_sees_finished_runs_and_its_message_is_reported():
    def ordered(run):
        assert run.output == sorted(run.output), f"arrived as {run.output}"

    with pytest.raises(FuzzFailure, match=r"the invariant failed: arrived as \[") as caught:
        fuzz(reg, arrival_order, input=2, seed=3, hash_seeds=0, invariant=ordered)
    # shrunk to the smallest out-of-order schedule: the second call finishes first
    assert "add#1 finishes" in caught.value.schedule.timeline().splitlines()[1]


def test_an_invariant_that_returns_false_fails():
    with pytest.raises(FuzzFailure, match=r"never\(\) returned False"):
        def never(run):
            return False

        fuzz(reg, chain, input=1, max_examples=5, hash_seeds=0, invariant=never)


def test_listed_outcomes_are_picked_per_execution():
    seen = set()

    def record(run):
        seen.add(json.dumps(run.output, sort_keys=True))

    fuzz(reg, tolerant, input=2, outcomes={add: [ok(1), fail("no", retryable=False)]},
         max_examples=60, seed=2, hash_seeds=0, invariant=record)
    assert {'{"failed": 0, "ok": 2}', '{"failed": 1, "ok": 1}', '{"failed": 2, "ok": 0}'} <= seen


def test_strategies_drive_the_input_and_outcomes():
    inputs, outputs = set(), set()

    def record(run):
        inputs.add(run.history[0].input)
        outputs.add(run.output)  # the last call's drawn answer

    fuzz(reg, chain, input=st.integers(0, 1000), outcomes={add: st.integers(0, 5)},
         max_examples=30, seed=5, hash_seeds=0, invariant=record)
    assert len(inputs) > 3 and len(outputs) > 1 and outputs <= set(range(6))


def test_a_call_that_hangs_without_a_timeout_is_a_progress_finding():
    with pytest.raises(FuzzFailure, match="stopped making progress") as caught:
        fuzz(reg, no_timeout, outcomes={slow: [ok(1), hang()]}, seed=1, hash_seeds=0)
    assert "hangs" in caught.value.schedule.timeline()


def test_an_endless_loop_is_a_progress_finding_at_max_steps():
    with pytest.raises(FuzzFailure, match="max_steps=20"):
        fuzz(reg, endless, input=0, max_steps=20, max_examples=5, hash_seeds=0)


def test_waiting_for_an_event_nobody_sends_is_not_a_finding():
    report = fuzz(reg, wait_forever, max_examples=5, hash_seeds=0)
    assert report.examples == 5


def test_an_invariant_that_never_ran_is_an_error_not_a_pass():
    # every example ends waiting for 'Never': the invariant (which would fail) never runs
    with pytest.raises(FuzzError) as caught:
        fuzz(reg, wait_forever, invariant=lambda run: False, max_examples=20, hash_seeds=0)
    text = str(caught.value)
    assert "never ran the invariant: none of the 20 examples finished" in text
    assert "still waiting for event 'Never' (20)" in text
    assert "events={'Never': ...}" in text and "invariant_every_turn=True" in text


def test_without_an_invariant_a_run_that_never_finishes_passes_with_a_warning():
    report = fuzz(reg, wait_forever, max_examples=5, hash_seeds=0)
    assert report.endings == "ended: 5 running"
    assert report.warning.startswith("warning: no example finished: each ended still waiting "
                                     "for event 'Never' (5)")
    assert report.warning in str(report)


def test_the_report_says_how_many_examples_the_invariant_saw():
    # the fuzzer raises 'Never' in some examples and stops raising events in others
    report = fuzz(reg, wait_forever, events={"Never": ["x"]}, invariant=lambda run: True,
                  max_examples=30, seed=1, hash_seeds=0)
    finished = int(report.endings.split()[1])
    assert 0 < finished < 30 and report.endings.startswith("ended: ")
    assert report.invariant_note == (
        f"the invariant ran in {finished} of 30 examples; {30 - finished} ended still waiting "
        f"for event 'Never' ({30 - finished})"
    )
    # with invariant_every_turn it runs on unfinished runs too: never an error
    fuzz(reg, wait_forever, invariant=lambda run: True, invariant_every_turn=True,
         events={"Never": ["x"]}, max_examples=1, hash_seeds=0)


def test_listed_events_arrive_before_the_wait_while_waiting_twice_or_never():
    outputs = set()
    fuzz(reg, wait_approval, events={"Approval": ["ann", "bob"]}, max_examples=80, seed=4,
         hash_seeds=0, invariant=lambda run: outputs.add(run.output))
    assert outputs == {"expired", "approved: ann", "approved: bob"}


def test_continue_as_new_generations_are_explored():
    report = fuzz(reg, generations, input=3, max_examples=20, seed=1, hash_seeds=0,
                  invariant=lambda run: run.output == "done")
    assert report.examples == 20


def test_a_saved_failure_replays_exactly(tmp_path):
    path = tmp_path / "failure.json"
    with pytest.raises(FuzzFailure) as caught:
        fuzz(reg, arrival_order, input=3, seed=3, hash_seeds=0, save_failure=path,
             invariant=lambda run: run.output == sorted(run.output))
    saved = Schedule.load(path)
    assert saved.timeline() == caught.value.schedule.timeline()
    assert saved.failure == "invariant"
    with pytest.raises(FuzzFailure, match="invariant"):
        replay_schedule(reg, arrival_order, path,
                        invariant=lambda run: run.output == sorted(run.output))
    # the same schedule without the invariant passes: nothing else is wrong with it
    result = replay_schedule(reg, arrival_order, path)
    assert result.status == "completed"


def test_a_schedule_that_no_longer_fits_the_code_says_so(tmp_path):
    path = tmp_path / "s.json"
    with pytest.raises(FuzzFailure):
        fuzz(reg, fan_out, input=3, seed=3, hash_seeds=0, save_failure=path,
             invariant=lambda run: False)
    schedule = Schedule.load(path)
    fewer = Schedule(schedule.orchestration, schedule.instance_id, 1, schedule.steps)
    with pytest.raises(ScheduleError, match="more; the orchestration changed"):
        replay_schedule(reg, fan_out, fewer)  # one call: it ends before the schedule does
    step = schedule.steps[0]
    other = Step(step.action, step.instance_id, 99, name=step.name, outcome=step.outcome)
    moved = Schedule(schedule.orchestration, schedule.instance_id, 3, [other])
    with pytest.raises(ScheduleError, match="no such call is pending"):
        replay_schedule(reg, fan_out, moved)


def test_bad_settings_fail_at_once_with_what_to_do():
    with pytest.raises(UnknownActivity, match=r"fuzz\(outcomes=\.\.\.\)"):
        fuzz(reg, chain, outcomes={"charge": ok(1)})
    with pytest.raises(ValueError, match="delay"):
        from testkit import delay

        fuzz(reg, chain, outcomes={add: delay(1)})
    with pytest.raises(ValueError, match="empty list"):
        fuzz(reg, chain, outcomes={add: []})
    with pytest.raises(TypeError, match="JSON"):
        fuzz(reg, chain, outcomes={add: [ok(1), object()]})
    with pytest.raises(ValueError, match="max_steps"):
        fuzz(reg, chain, max_steps=0)


def test_the_report_says_how_examples_ended_and_warns_when_nothing_was_explored():
    report = fuzz(reg, tolerant, input=2, outcomes={add: [ok(1), fail("no", retryable=False)]},
                  max_examples=20, seed=2, hash_seeds=0)
    assert report.endings == "ended: 20 completed" and not report.warning
    missing = fuzz(reg, chain, max_examples=5, hash_seeds=0)  # chain needs an int
    assert "no input= was given" in missing.warning
    assert "failed" in missing.endings and "TypeError" in missing.endings
    broken = fuzz(reg, first_turn_failure, input="x", max_examples=5, hash_seeds=0)
    assert broken.warning.startswith("warning: every example failed in its first turn")


def test_hang_among_the_candidates_works_with_duplicates_on():
    # a duplicate execution that draws hang() leaves no trace instead of crashing the run
    report = fuzz(reg, wait_approval_or_call, outcomes={slow: [ok(1), hang()]},
                  max_examples=100, seed=1, hash_seeds=0)
    assert report.examples == 100


def test_ctx_log_is_quiet_while_examples_run(caplog):
    with caplog.at_level("INFO", logger="orchestrate.orchestration"):
        fuzz(reg, logged, input=1, max_examples=5, hash_seeds=0)
    assert not [r for r in caplog.records if r.name == "orchestrate.orchestration"]
