"""Exhaustive mode on orchestrations whose schedule count is known by hand."""

from __future__ import annotations

import pytest

from testkit import fail, hang, ok
from testkit.fuzz import FuzzError, FuzzFailure, fuzz

from .fuzz_cases import (
    add,
    arrival_order,
    chain,
    fan_out,
    no_timeout,
    race,
    reg,
    slow,
    tolerant,
    wait_forever,
)


def verify(orch, **options):
    report = fuzz(reg, orch, exhaustive=True, hash_seeds=0, **options)
    assert report.complete is True and report.exhaustive
    assert report.verdict.startswith(f"verified: all {report.schedules} schedules")
    return report


@pytest.mark.parametrize(
    ("orch", "input", "outcomes", "expected"),
    [
        (chain, 1, None, 1),  # one call pending at a time: one order
        (fan_out, 3, None, 6),  # 3! completion orders
        (fan_out, 4, None, 24),
        (race, None, None, 2),  # the call or the timer first
        # 3 calls, ok or fail each, fail-fast: a failure ends it. First step fails: 3; one ok
        # then a failure: 3*2; two ok then a failure: 3*2*1; all ok in any order: 3! = 21
        (fan_out, 3, {add: [ok(1), fail("no")]}, 21),
        # best effort: every order x every outcome: 3! * 2^3
        (tolerant, 3, {add: [ok(1), fail("no", retryable=False)]}, 48),
        # hang: the call never finishes, so only the timer can end it: 1 + 1 + 1
        (race, None, {slow: [ok(1), hang()]}, 3),
    ],
)
def test_the_schedule_count_is_the_hand_computed_one(orch, input, outcomes, expected):
    assert verify(orch, input=input, outcomes=outcomes).schedules == expected


@pytest.mark.parametrize(("duplicates", "expected"), [(False, 6), (True, 7)])
def test_crash_points_multiply_the_schedules_and_a_lost_run_is_a_new_state(duplicates, expected):
    # One call: finish it plainly or with a crash before or after the commit (3), or lose it (it
    # ran, the worker died), then finish it in one of those 3 ways (a second loss or duplicate
    # of the same attempt is not enumerated): 6; a duplicate delivery before finishing: +1.
    report = verify(no_timeout, crashes=True, duplicates=duplicates)
    assert report.schedules == expected


def test_states_reached_twice_are_merged():
    # Crashes change nothing the history records, so most crash schedules reach states
    # already explored and stop there.
    report = verify(fan_out, input=2, crashes=True, duplicates=True)
    assert report.merged > 0
    # A merged schedule stopped half-way: the endings count only the schedules that ended.
    counted = sum(int(part.split()[0]) for part in report.endings[len("ended: "):].split(", "))
    assert counted == report.schedules and "running" not in report.endings


def test_an_order_dependent_invariant_fails_with_the_first_counterexample():
    with pytest.raises(FuzzFailure, match="invariant") as caught:
        fuzz(reg, arrival_order, input=2, exhaustive=True, hash_seeds=0,
             invariant=lambda run: run.output == sorted(run.output))
    # depth first takes the first pending call first: the counterexample finishes #1 first
    assert "add#1 finishes" in caught.value.schedule.timeline().splitlines()[1]


def test_waiting_for_an_event_is_an_end_state_but_the_invariant_must_run_somewhere():
    # the same rule as random mode: ending while waiting for an event is no finding ...
    report = fuzz(reg, wait_forever, exhaustive=True, hash_seeds=0)
    assert report.complete and report.warning.startswith("warning: no example finished")
    # ... but an invariant that no schedule reached is an error, not "verified"
    with pytest.raises(FuzzError, match="its one schedule did not finish; it ended with "
                                        "'wait_forever' still waiting for event 'Never'"):
        fuzz(reg, wait_forever, exhaustive=True, hash_seeds=0, invariant=lambda run: False)
    # with the event listed, one schedule raises it (and finishes), one does not
    seen = []
    report = fuzz(reg, wait_forever, exhaustive=True, hash_seeds=0, events={"Never": ["x"]},
                  invariant=seen.append)
    assert seen and report.complete and "the invariant ran in" in report.invariant_note


def test_max_schedules_stops_early_and_says_so():
    report = fuzz(reg, fan_out, input=4, exhaustive=True, hash_seeds=0, max_schedules=5)
    assert report.complete is False and report.schedules == 5
    assert report.verdict.startswith("incomplete: stopped at max_schedules")


def test_exhaustive_mode_refuses_strategies():
    from hypothesis import strategies as st

    with pytest.raises(ValueError, match="fixed input"):
        fuzz(reg, chain, input=st.integers(), exhaustive=True)
    with pytest.raises(ValueError, match="list of candidates"):
        fuzz(reg, chain, input=1, outcomes={add: st.integers()}, exhaustive=True)
