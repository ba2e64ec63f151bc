"""Leases that follow the work: a worker renews what it runs, a dead worker's items come back
within one lease, heartbeats keep long activities alive and reach the next attempt, and an
attempt that misses its heartbeat timeout fails with TimeoutError. All on a manual clock: the
test calls `renew_leases()` where the worker's renewer thread would (every `renew_every` s)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    ActivityCancelled,
    ActivityFailed,
    OrchestrationContext,
    Registry,
    RetryPolicy,
    Worker,
    activity_info,
)

from .conftest import Harness


class _Killed(BaseException):
    """Stands for `kill -9` inside an activity: nothing of the worker runs after it."""


def one_call(reg: Registry, activity: str) -> Any:
    @reg.orchestration(name="one_call")
    async def flow(ctx: OrchestrationContext, value: Any) -> Any:
        try:
            return await ctx.activity(activity, value)
        except ActivityFailed as exc:
            return f"{exc.error_type}: {exc.message}"

    return flow


def test_leases_are_short_by_default_and_renewed_four_times_per_lease() -> None:
    worker = Worker(Registry(), Harness(Registry()).store)
    assert worker.activity_lease == 20.0 and worker.renew_every == 5.0
    assert worker.lease == 20.0


def test_a_running_activity_keeps_its_lease_while_its_worker_renews_it() -> None:
    reg = Registry()
    runs: list[int] = []
    hx = Harness(reg)
    other = Worker(reg, hx.store, clock=hx.clock)

    @reg.activity(name="long_job")
    def long_job(n: int) -> int:
        runs.append(n)
        for _ in range(24):  # two minutes, six leases long, renewed as the renewer thread would
            hx.clock.advance(hx.worker.renew_every)
            assert hx.worker.renew_leases() == 1
            assert other.poll_once() is False  # nobody else gets it
        return n * 2

    iid = hx.start(one_call(reg, "long_job"), 21)
    assert runs == [21]
    assert hx.state(iid).output == 42


def test_a_dead_workers_activity_is_picked_up_within_one_lease() -> None:
    reg = Registry()
    runs: list[str] = []

    @reg.activity(name="job")
    def job(tag: str) -> str:
        runs.append(tag)
        return tag

    hx = Harness(reg)
    iid = hx.client.start(one_call(reg, "job"), "x")
    hx.worker.run_turns()
    dead = Worker(reg, hx.store, clock=hx.clock)
    held = hx.store.fetch_activity_work(hx.clock.now(), lease=dead.activity_lease)
    dead.holdings.hold(held)  # it was running it when it was killed: no renewal ever again
    hx.advance(dead.activity_lease - 0.001)
    assert runs == []  # the lease still holds
    hx.advance(0.001)  # one lease after the last renewal: the survivor runs it
    assert runs == ["x"]
    assert hx.state(iid).output == "x"


def test_heartbeats_keep_a_long_activity_alive_past_its_heartbeat_timeout() -> None:
    reg = Registry()
    hx = Harness(reg)

    @reg.activity(name="beats", heartbeat_timeout=10)
    def beats(steps: int) -> int:
        for step in range(steps):
            hx.clock.advance(8)
            activity_info().heartbeat({"step": step})
            assert hx.worker.renew_leases() == 1
        return steps

    iid = hx.start(one_call(reg, "beats"), 5)  # 40 s, never 10 s without a heartbeat
    assert hx.state(iid).output == 5


def test_an_attempt_without_a_heartbeat_in_time_fails_with_timeout_error_and_is_cancelled() -> None:
    reg = Registry()
    hx = Harness(reg)
    seen: list[Any] = []

    @reg.activity(name="stuck", heartbeat_timeout=10)
    def stuck(_: Any) -> str:
        info = activity_info()
        hx.clock.advance(10)
        assert hx.worker.renew_leases() == 1  # exactly the timeout: still alive
        hx.clock.advance(1)
        assert hx.worker.renew_leases() == 0
        seen.append(info.cancelled)
        with pytest.raises(ActivityCancelled, match=r"'stuck'.*heartbeat_timeout"):
            info.heartbeat()
        return "too late"  # dropped: the attempt already failed

    iid = hx.start(one_call(reg, "stuck"))
    assert seen == [True]
    output = hx.state(iid).output
    assert output.startswith("TimeoutError: activity 'stuck' sent no heartbeat for 10 s")


def test_the_last_heartbeat_details_reach_the_next_attempt_after_a_worker_dies() -> None:
    reg = Registry()
    hx = Harness(reg)
    seen: list[Any] = []

    @reg.activity(name="resumable")
    def resumable(total: int) -> int:
        info = activity_info()
        seen.append(info.heartbeat_details)
        start = (info.heartbeat_details or {}).get("done", 0)
        for done in range(start + 1, total + 1):
            activity_info().heartbeat({"done": done})
            if done == 3 and not info.heartbeat_details:
                hx.worker.renew_leases()  # the renewer stores the details...
                raise _Killed  # ...and the worker dies
        return total

    iid = hx.client.start(one_call(reg, "resumable"), 5)
    with pytest.raises(_Killed):
        hx.settle()
    survivor = Harness(reg)
    survivor.store, survivor.clock = hx.store, hx.clock
    survivor.worker = Worker(reg, hx.store, clock=hx.clock)
    survivor.advance(hx.worker.activity_lease)
    assert seen == [None, {"done": 3}]
    assert hx.state(iid).output == 5


def test_heartbeat_details_must_be_json() -> None:
    reg = Registry()
    hx = Harness(reg)

    @reg.activity(name="bad_details")
    def bad_details(_: Any) -> str:
        activity_info().heartbeat({"when": {1, 2}})
        return "unreachable"

    iid = hx.start(one_call(reg, "bad_details"))
    assert "SerializationError" in hx.state(iid).output


def test_a_retry_after_a_heartbeat_timeout_resumes_from_the_last_details() -> None:
    reg = Registry()
    hx = Harness(reg)
    seen: list[tuple[int, Any]] = []

    @reg.activity(
        name="resumes",
        heartbeat_timeout=10,
        retry=RetryPolicy(max_attempts=2, initial_interval=timedelta(seconds=1)),
    )
    def resumes(total: int) -> int:
        info = activity_info()
        seen.append((info.attempt, info.heartbeat_details))
        if info.attempt == 1:
            info.heartbeat({"done": 4})
            hx.clock.advance(11)  # then hangs past its heartbeat timeout
            assert hx.worker.renew_leases() == 0
            return -1  # dropped: the attempt already failed with TimeoutError
        return total

    iid = hx.client.start(one_call(reg, "resumes"), 9)
    hx.settle()
    hx.advance(1)  # the retry backoff
    assert seen == [(1, None), (2, {"done": 4})]
    assert hx.state(iid).output == 9


def test_the_renewer_wakes_for_a_heartbeat_timeout_shorter_than_its_interval() -> None:
    reg = Registry()
    hx = Harness(reg)
    checks: list[float] = []

    @reg.activity(name="quick_beats", heartbeat_timeout=2)
    def quick_beats(_: Any) -> None:
        checks.append(hx.worker.holdings.next_check(hx.worker.renew_every))
        hx.clock.advance(1.5)
        checks.append(hx.worker.holdings.next_check(hx.worker.renew_every))

    hx.start(one_call(reg, "quick_beats"))
    assert checks == [pytest.approx(2.01), pytest.approx(0.51)]
    assert hx.worker.holdings.next_check(5.0) == 5.0  # nothing running


def test_leases_and_grace_are_checked_at_construction() -> None:
    store = Harness(Registry()).store
    with pytest.raises(ValueError, match=r"activity_lease=0\b.*positive"):
        Worker(Registry(), store, activity_lease=0)
    with pytest.raises(ValueError, match=r"grace=-1.*0 or more"):
        Worker(Registry(), store, grace=-1)
