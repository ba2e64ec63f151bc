from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Status
from orchestrate import history as h
from testkit import DEFAULT_START, TestEnv, delay, fail, hang, ok

from ._history import scheduled, timers
from .fan_out_fan_in import (
    SOURCE_TIMEOUT,
    batch_processor,
    check_kyc_completed,
    dynamic_fan_out,
    enrich_product,
    fetch_reviews,
    process_task,
    reg,
    validate_user,
)


def test_fan_out_schedules_everything_before_anything_completes() -> None:
    env = TestEnv(reg)
    run = env.run(batch_processor, ["a", "b", "c", "d"])

    assert run.output == {"succeeded": {"a": "A", "b": "B", "c": "C", "d": "D"}, "failed": {}}
    events = run.history
    last_scheduled = max(i for i, e in enumerate(events) if isinstance(e, h.ActivityScheduled))
    first_result = min(i for i, e in enumerate(events) if isinstance(e, h.ActivityCompleted))
    assert last_scheduled < first_result


@pytest.mark.parametrize(
    ("items", "succeeded", "failed"),
    [
        (["x", "bad-1", "y"], ["x", "y"], ["bad-1"]),
        (["bad-1", "bad-2"], [], ["bad-1", "bad-2"]),
        ([], [], []),
    ],
)
def test_best_effort_fan_in_keeps_going_past_failures(
    items: list[str], succeeded: list[str], failed: list[str]
) -> None:
    env = TestEnv(reg)
    run = env.run(batch_processor, items)

    assert run.status == Status.COMPLETED
    assert sorted(run.output["succeeded"]) == succeeded
    assert sorted(run.output["failed"]) == failed
    assert all("cannot process" in m for m in run.output["failed"].values())


@pytest.mark.parametrize("width", [0, 1, 5, 40])
def test_dynamic_fan_out_width_comes_from_an_activity(width: int) -> None:
    env = TestEnv(reg)
    run = env.run(dynamic_fan_out, f"nightly-{width}")

    assert run.output == {"completed": width, "sum": sum(i * i for i in range(width))}
    assert run.calls(process_task) == [f"task-{i}" for i in range(width)]  # creation order
    assert scheduled(run.history) == ["list_pending_tasks"] + ["process_task"] * width


@pytest.mark.parametrize(
    ("user", "valid"), [("alice", True), ("bob-unverified", False), ("mallory", False)]
)
def test_validation_rejects_when_any_check_says_no(user: str, valid: bool) -> None:
    env = TestEnv(reg)
    run = env.run(validate_user, user)

    assert run.output is valid
    assert len(scheduled(run.history)) == 3  # all checks ran, in parallel


def test_validation_fails_fast_on_the_first_failed_check() -> None:
    env = TestEnv(reg)
    env.script("check_email_verified", delay(timedelta(minutes=10), True))
    env.script("check_not_blacklisted", delay(timedelta(minutes=10), True))
    env.script(check_kyc_completed, delay(timedelta(seconds=1), fail("KYC service down")))
    run = env.run(validate_user, "alice")

    assert run.status == Status.FAILED
    assert run.error is not None and "KYC service down" in run.error.message
    # the instance failed when the first failure arrived, not when the slow checks finished
    assert env.clock.now() - DEFAULT_START == timedelta(seconds=1)


def test_enrichment_returns_everything_when_all_sources_answer() -> None:
    env = TestEnv(reg)
    run = env.run(enrich_product, "p-1")

    assert run.output["missing"] == {}
    assert run.output["pricing"] == {"price": 19.99, "currency": "EUR"}
    assert timers(run.history, "timeout") == [SOURCE_TIMEOUT] * 4


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [(hang(), "TimeoutError"), (fail(ConnectionError("reset by peer")), "ConnectionError")],
)
def test_enrichment_keeps_partial_data_when_a_source_times_out_or_fails(
    outcome: object, reason: str
) -> None:
    env = TestEnv(reg)
    env.script(fetch_reviews, outcome)  # type: ignore[arg-type]
    run = env.run(enrich_product, "p-1")

    assert run.status == Status.COMPLETED
    assert run.output["missing"] == {"reviews": reason}
    assert "reviews" not in run.output
    assert {"details", "pricing", "inventory"} <= set(run.output)


def test_a_source_that_answers_just_in_time_is_kept() -> None:
    env = TestEnv(reg)
    env.script(fetch_reviews, delay(SOURCE_TIMEOUT - timedelta(milliseconds=1), ok({"rating": 5})))
    run = env.run(enrich_product, "p-1")

    assert run.output["reviews"] == {"rating": 5}
    assert run.output["missing"] == {}
