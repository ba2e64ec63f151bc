"""`TestEnv(reg, store=...)`: the same test on the SQLite store, on virtual time still."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrate import OrchestrationContext, Registry, RetryPolicy, Status
from orchestrate.stores.sqlite import SqliteStore
from testkit import TestEnv, fail, ok
from testkit.control import Controller

reg = Registry()


@reg.activity(retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(minutes=10)))
def charge(order: str) -> str:
    return f"tx-{order}"


@reg.orchestration
async def ship(ctx: OrchestrationContext, order: str) -> str:
    return f"shipped-{order}"


@reg.orchestration
async def order_flow(ctx: OrchestrationContext, order: str) -> dict[str, Any]:
    tx = await ctx.activity(charge, order)
    approval, deadline = ctx.event("Approval"), ctx.timer(timedelta(hours=24))
    approved = await ctx.any([approval, deadline]) is approval
    shipped = await ctx.sub_orchestration(ship, order) if approved else None
    return {"tx": tx, "approved": approved, "shipped": shipped, "at": ctx.now().isoformat()}


def scenario(env: TestEnv, approve: bool) -> Any:
    env.script(charge, [fail("card declined"), ok("tx-2")])
    run = env.run(order_flow, "o-1")
    assert run.status == Status.RUNNING and run.waiting_for[-1] == "event 'Approval'"
    if approve:
        env.raise_event(run.instance_id, "Approval", True)
    else:
        env.advance(timedelta(hours=24))
    return run


@pytest.mark.parametrize("approve", [True, False], ids=["approved", "timed-out"])
def test_the_same_test_gives_the_same_run_on_sqlite(tmp_path: Path, approve: bool) -> None:
    url = f"sqlite:///{tmp_path / 'test.db'}"
    with TestEnv(reg) as memory_env, TestEnv(reg, store=url) as sqlite_env:
        in_memory, on_sqlite = scenario(memory_env, approve), scenario(sqlite_env, approve)
        assert on_sqlite.status == Status.COMPLETED
        assert on_sqlite.output == in_memory.output
        assert [e.kind for e in on_sqlite.history] == [e.kind for e in in_memory.history]
        assert on_sqlite.calls(charge) == ["o-1", "o-1"]
        assert sqlite_env.clock.now() == memory_env.clock.now()  # virtual time, not real
    # the rows are really in the file
    store = SqliteStore(str(tmp_path / "test.db"))
    state = store.get_instance("order_flow-1")
    assert state is not None and state.status == Status.COMPLETED
    assert state.output == in_memory.output
    store.close()


def test_a_crash_before_commit_is_survived_on_sqlite(tmp_path: Path) -> None:
    with TestEnv(reg, store=f"sqlite:///{tmp_path / 'crash.db'}") as env, Controller(env) as control:
        run = control.start(order_flow, "o-2", "o-2")
        (attempt,) = control.attempts()
        control.crash("before_commit")  # the turn the result causes is lost, the result kept
        control.finish(attempt, ok("tx"))
        assert run.status == Status.RUNNING and run.pending.events == ["Approval"]
        control.raise_event("o-2", "Approval", True)
        assert run.status == Status.COMPLETED and run.output["tx"] == "tx"
