from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import Status
from testkit import DEFAULT_START, TestEnv, hang, ok

from .aggregator import (
    SOURCE_TIMEOUT,
    Window,
    aggregate_data,
    aggregate_sources,
    fetch_data,
    publish_summary,
    reading_aggregator,
    reg,
)


def test_readings_accumulate_until_the_window_closes() -> None:
    env = TestEnv(reg)
    run = env.run(reading_aggregator, Window("w-1", window_minutes=60))
    for minute, (sensor, value) in enumerate([("t1", 20.0), ("t2", 18.5), ("t1", 22.0)]):
        env.advance(timedelta(minutes=minute * 10))
        env.raise_event(run.instance_id, "Reading", {"sensor": sensor, "value": value})
    assert run.custom_status == {"count": 3, "sensors": ["t1", "t2"]}
    assert run.status == Status.RUNNING

    env.advance(timedelta(hours=1))

    assert run.output == "published w-1 (3 readings)"
    [summary] = run.calls(publish_summary)
    assert summary["sensors"]["t1"] == {
        "count": 2,
        "sum": 42.0,
        "min": 20.0,
        "max": 22.0,
        "mean": 21.0,
    }
    assert summary["sensors"]["t2"]["mean"] == 18.5
    # the window closed at the deadline set in the first turn, not an hour after the last event
    assert env.clock.now() - DEFAULT_START == timedelta(hours=1, minutes=30)
    fired = {e.at for e in run.history if e.kind == "TimerFired"}
    assert fired == {DEFAULT_START + timedelta(hours=1)}


@pytest.mark.parametrize(("readings", "generations"), [(9, 0), (10, 1), (25, 2)])
def test_bursts_survive_continue_as_new_without_losing_a_reading(
    readings: int, generations: int
) -> None:
    env = TestEnv(reg)
    run = env.run(reading_aggregator, Window("w-2", max_events_per_generation=10))
    # raise a whole burst before the instance runs a single turn, then let it catch up
    for i in range(readings - 1):
        env.client.raise_event(run.instance_id, "Reading", {"sensor": f"s{i % 3}", "value": i})
    env.raise_event(run.instance_id, "Reading", {"sensor": "s0", "value": 0})
    env.advance(timedelta(hours=1))

    assert run.output == f"published w-2 ({readings} readings)"
    assert env.state(run.instance_id).generation == generations
    [summary] = run.calls(publish_summary)
    assert sum(s["count"] for s in summary["sensors"].values()) == readings
    # each generation's history holds at most one batch of readings
    assert sum(e.kind == "EventRaised" for e in run.history) <= 10


def test_every_source_is_aggregated_when_all_answer() -> None:
    env = TestEnv(reg)
    run = env.run(aggregate_sources, ["crm", "erp", "web"])
    assert run.output == {"sources": ["crm", "erp", "web"], "rows": 9}


def test_a_slow_source_is_left_out_after_its_timeout() -> None:
    env = TestEnv(reg)
    env.script(
        fetch_data, [ok({"source": "crm", "rows": 4}), hang(), ok({"source": "web", "rows": 1})]
    )
    run = env.run(aggregate_sources, ["crm", "erp", "web"])

    assert run.output == {"sources": ["crm", "web"], "rows": 5}
    assert env.clock.now() - DEFAULT_START == SOURCE_TIMEOUT


def test_no_source_answering_fails_the_instance() -> None:
    env = TestEnv(reg)
    env.script(fetch_data, hang())
    run = env.run(aggregate_sources, ["crm", "erp"])

    assert run.status == Status.FAILED
    assert run.error is not None and "none of 2 data sources responded" in run.error.message
    assert run.calls(aggregate_data) == []


def test_sensors_signal_with_start_the_first_reading_opens_the_window() -> None:
    """Each sensor sends `start(..., if_running="raise_event")`: whichever comes first starts
    the window, the others' readings go to the running instance; none is lost or doubled."""
    env = TestEnv(reg)
    for sensor, value in [("t1", 20.0), ("t2", 18.5), ("t1", 22.0)]:
        env.run(
            reading_aggregator,
            Window("w-2", window_minutes=60),
            instance_id="w-2",
            if_running="raise_event",
            event=("Reading", {"sensor": sensor, "value": value}),
        )
    assert env.state("w-2").custom_status == {"count": 3, "sensors": ["t1", "t2"]}
    env.advance(timedelta(hours=1))
    assert env.state("w-2").output == "published w-2 (3 readings)"
