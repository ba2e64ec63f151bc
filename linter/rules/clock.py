"""Rules about time: reading the wall clock and sleeping in the worker."""

from __future__ import annotations

import libcst as cst

from linter.rules._api import api, durable_ctx, is_generator, is_utc
from linter.rules._base import CallRule, Context, Fixer, Invalid, can_fix, ctx_attr

__all__ = ["Sleep", "WallClock"]


class WallClock(CallRule):
    CODE = "ORC101"
    NAME = "wall-clock"
    MESSAGE = "reads the wall clock, which returns a different value on every replay"
    HINT = "The framework's workflow clock returns the recorded time, equal on every replay."
    RATIONALE = (
        "An orchestration is re-run from the start every time it resumes. A branch or an "
        "activity input computed from the wall clock takes a different value on replay, so "
        "the replayed run issues different commands than the recorded one and fails with "
        "NonDeterminismError (or silently changes behaviour). `ctx.now()` returns the recorded "
        "start time of the current turn, equal on every replay. `datetime(2024, 1, 1)`, "
        "`timedelta` and `time.localtime(ts)` with an argument are deterministic and allowed."
    )
    CALLS = frozenset(
        {
            "time.time",
            "time.time_ns",
            "time.monotonic",
            "time.monotonic_ns",
            "time.perf_counter",
            "time.perf_counter_ns",
            "time.process_time",
            "time.process_time_ns",
            "time.thread_time",
            "time.thread_time_ns",
            "time.localtime",
            "time.gmtime",
            "time.ctime",
            "time.asctime",
            "time.strftime",
            "datetime.datetime.now",
            "datetime.datetime.utcnow",
            "datetime.datetime.today",
            "datetime.date.today",
            "pendulum.now",
            "arrow.now",
            "arrow.utcnow",
        }
    )
    _NOW_WITHOUT_ARGS = frozenset({"time.localtime", "time.gmtime", "time.ctime", "time.asctime"})
    VALID = (
        """\
from datetime import datetime, timedelta
import time

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    start = ctx.now()
    deadline = datetime(2024, 1, 1) + timedelta(days=1)
    stamp = time.strftime("%Y", time.localtime(order["ts"]))
    return f"{start} {deadline} {stamp}"
""",
        """\
import datetime

def activity_like(order: dict) -> str:
    return datetime.datetime.now().isoformat()  # ordinary function: not checked
""",
    )
    INVALID = (
        Invalid(
            """\
import datetime as dt

from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.orchestration
async def saga(context: OrchestrationContext, order: dict) -> str:
    now = dt.datetime.now()  # expect: ORC101
    today = dt.date.today()  # expect: ORC101
    return f"{now} {today}"
""",
            fixed="""\
import datetime as dt

from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.orchestration
async def saga(context: OrchestrationContext, order: dict) -> str:
    now = context.now()  # expect: ORC101
    today = dt.date.today()  # expect: ORC101
    return f"{now} {today}"
""",
        ),
        Invalid("""\
from time import time as wall

from orchestrate import OrchestrationContext

def _stamp() -> float:
    return wall()  # expect: ORC101

async def saga(ctx: OrchestrationContext, order: dict) -> float:
    return _stamp()
"""),
    )

    def applies(self, call: cst.Call, qualname: str) -> bool:
        if qualname in self._NOW_WITHOUT_ARGS:
            return not call.args
        if qualname == "time.strftime":
            return len(call.args) == 1
        return True

    def fixer(self, call: cst.Call, qualname: str, cx: Context) -> Fixer | None:
        if qualname == "datetime.datetime.now" and not call.args and can_fix(cx):
            ctx = cx.ctx_name
            return lambda node: node.with_changes(func=ctx_attr(ctx, "now"))
        workflow = api(cx, "temporal")
        if workflow is not None:
            # workflow.now() is an aware UTC datetime; workflow.time()/time_ns() match time's.
            if qualname == "datetime.datetime.now" and is_utc(call, cx):
                return lambda node: cst.Call(ctx_attr(workflow, "now"))
            if qualname in {"time.time", "time.time_ns"} and not call.args:
                name = qualname.rsplit(".", 1)[-1]
                return lambda node: node.with_changes(func=ctx_attr(workflow, name))
        ctx_name = durable_ctx(cx)
        if ctx_name is None:
            return None
        # A property: durabletask's holds a naive UTC datetime (like utcnow()), Azure Durable
        # Functions' an aware one (like now(timezone.utc)). Only the matching call is rewritten.
        if cx.profile.name == "durabletask":
            same = qualname == "datetime.datetime.utcnow" and not call.args
        else:
            same = qualname == "datetime.datetime.now" and is_utc(call, cx)
        return (lambda node: ctx_attr(ctx_name, "current_utc_datetime")) if same else None


class Sleep(CallRule):
    CODE = "ORC103"
    NAME = "sleep"
    MESSAGE = "sleeps in the worker instead of scheduling a durable timer"
    HINT = "A durable timer is recorded in the history, survives restarts and is skipped on replay."
    RATIONALE = (
        "A real sleep blocks the worker on every replay, is lost when the worker restarts, and "
        "is not part of the history, so the wait is neither durable nor replayed. "
        "`await ctx.sleep(seconds)` records a timer: the wait survives a crash and a replay "
        "passes over it instantly. `--fix` rewrites `time.sleep(n)` as a statement of an "
        "async orchestration into `await ctx.sleep(n)`."
    )
    CALLS = frozenset({"time.sleep", "asyncio.sleep"})
    VALID = (
        """\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    await ctx.sleep(5)
""",
        """\
import time

class Clock:
    def sleep(self, seconds: float) -> None: ...

async def saga(ctx: "OrchestrationContext", clock: Clock) -> None:
    clock.sleep(1)
""",
    )
    INVALID = (
        Invalid(
            """\
import asyncio
import time

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    time.sleep(30)  # expect: ORC103
    await asyncio.sleep(1)  # expect: ORC103
""",
            fixed="""\
import asyncio
import time

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    await ctx.sleep(30)  # expect: ORC103
    await asyncio.sleep(1)  # expect: ORC103
""",
        ),
    )

    def fixer(self, call: cst.Call, qualname: str, cx: Context) -> Fixer | None:
        one_arg = len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star
        statement = cx.is_statement_call(call)
        if qualname == "time.sleep" and statement and cx.is_async:
            if can_fix(cx):
                ctx = cx.ctx_name
                return lambda node: cst.Await(node.with_changes(func=ctx_attr(ctx, "sleep")))
            workflow = api(cx, "temporal")
            if workflow is not None:
                return lambda node: cst.Await(node.with_changes(func=ctx_attr(workflow, "sleep")))
        dbos = api(cx, "dbos")
        if dbos is not None and one_arg:
            if qualname == "time.sleep" and not cx.is_async:
                return lambda node: node.with_changes(func=ctx_attr(dbos, "sleep"))
            if qualname == "time.sleep" and statement:
                return lambda node: cst.Await(node.with_changes(func=ctx_attr(dbos, "sleep_async")))
            if qualname == "asyncio.sleep" and cx.is_async:
                return lambda node: node.with_changes(func=ctx_attr(dbos, "sleep_async"))
        ctx_name = durable_ctx(cx)
        if (
            ctx_name is not None
            and cx.profile.name == "durabletask"
            and qualname == "time.sleep"
            and statement
            and one_arg
            and cx.qualify(cst.Name("timedelta")) == "datetime.timedelta"
            and is_generator(cx.func)
        ):
            return lambda node: cst.Yield(
                cst.Call(
                    ctx_attr(ctx_name, "create_timer"),
                    [
                        cst.Arg(
                            cst.Call(
                                cst.Name("timedelta"),
                                [
                                    cst.Arg(
                                        node.args[0].value,
                                        keyword=cst.Name("seconds"),
                                        equal=cst.AssignEqual(
                                            cst.SimpleWhitespace(""), cst.SimpleWhitespace("")
                                        ),
                                    )
                                ],
                            )
                        )
                    ],
                )
            )
        return None
