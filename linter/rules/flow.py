"""Rules about how an orchestration drives its tasks: iteration order, activities called
directly, awaiting foreign coroutines, and branching on replay."""

from __future__ import annotations

import sys

import libcst as cst

from linter.names import qualify
from linter.rules._base import Context, Invalid, Rule
from linter.walk import iter_tree

__all__ = ["AwaitNonTask", "DirectActivityCall", "ReplayingBranch", "SetIteration"]

_SET_OPS = (cst.BitOr, cst.BitAnd, cst.Subtract, cst.BitXor)
_WORKFLOW_APIS = ("temporalio.workflow.", "dbos.DBOS.", "durabletask.")


def _is_set(expr: cst.BaseExpression, cx: Context, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(expr, cst.Set | cst.SetComp):
        return True
    if isinstance(expr, cst.Call):
        return cx.qualify(expr.func) in {"builtins.set", "builtins.frozenset"}
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, _SET_OPS):
        return _is_set(expr.left, cx, depth + 1) or _is_set(expr.right, cx, depth + 1)
    if isinstance(expr, cst.Name):
        value = cx.local_value(expr.value)
        return value is not None and _is_set(value, cx, depth + 1)
    return False


def _schedules(node: cst.CSTNode, cx: Context) -> bool:
    """Whether code under ``node`` awaits, yields or calls the context (schedules work)."""
    for child in iter_tree(node):
        if isinstance(child, cst.Await | cst.Yield):
            return True
        if isinstance(child, cst.Call):
            func = child.func
            while isinstance(func, cst.Attribute):
                func = func.value
            if isinstance(func, cst.Name) and func.value in cx.ctx_names:
                return True
            qualname = cx.qualify(child.func)
            if qualname is not None and qualname.startswith(_WORKFLOW_APIS):
                return True
    return False


class SetIteration(Rule):
    CODE = "ORC108"
    NAME = "set-iteration"
    MESSAGE = "schedules work in set iteration order, which varies between processes"
    HINT = "Iterate over sorted(...) or a list so tasks are created in the same order on replay."
    RATIONALE = (
        "Tasks are matched to the history in creation order. The iteration order of a set of "
        "strings depends on the per-process hash seed, so a loop over a set that schedules "
        "activities creates them in a different order after a restart, and replay fails. "
        "Iterating a set for anything that does not schedule work (a sum, a membership "
        "test) is fine and not reported."
    )
    NODES = (cst.For, cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)
    VALID = (
        """\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, skus: list) -> int:
    for sku in sorted(set(skus)):
        await ctx.activity("reserve", sku)
    return sum(len(s) for s in set(skus))
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, skus: list) -> list:
    unique = set(skus)
    for sku in unique:  # expect: ORC108
        await ctx.activity("reserve", sku)
    return [ctx.activity("ship", s) for s in {"a", "b"}]  # expect: ORC108
"""),
    )

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        if isinstance(node, cst.For):
            if _is_set(node.iter, cx) and _schedules(node.body, cx):
                cx.report(self, node, "`for` loop over a set")
            return
        assert isinstance(node, cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp)
        clause: cst.CompFor | None = node.for_in
        while clause is not None:
            if _is_set(clause.iter, cx) and _schedules(node, cx):
                cx.report(self, node, "comprehension over a set")
                return
            clause = clause.inner_for_in


class DirectActivityCall(Rule):
    CODE = "ORC112"
    NAME = "direct-activity-call"
    MESSAGE = "calls an activity directly: it reruns on every replay and its result is not recorded"
    HINT = (
        "Schedule activities through the framework; the result then comes from the history on "
        "replay."
    )
    RATIONALE = (
        "An activity does the real I/O. Called as a plain function inside an orchestration it "
        "runs in the orchestration's turn, once per replay, without retries or a recorded "
        "result. Schedule it through the context instead (`await ctx.activity(fn, input)`). "
        "Activities defined in other modules of the project are recognised too."
    )
    VALID = (
        """\
from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.activity
def reserve(order: dict) -> str:
    return "r-1"

@reg.orchestration
async def saga(ctx: OrchestrationContext, order: dict) -> str:
    return await ctx.activity(reserve, order)
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.activity(name="Reserve")
def reserve(order: dict) -> str:
    return "r-1"

@reg.orchestration
async def saga(ctx: OrchestrationContext, order: dict) -> str:
    return reserve(order)  # expect: ORC112
"""),
    )

    def check_activity(self, call: cst.Call, name: str, cx: Context) -> None:
        cx.report(self, call, f"`{name}()`")


_FRAMEWORKS = (
    "orchestrate.",
    "temporalio.",
    "dbos.",
    "durabletask.",
    "azure.durable_functions.",
    "builtins.",
)
# Libraries whose awaitables are network, database or file I/O: known to be I/O wherever
# they are awaited. Anything else from outside the project is only reported under the
# orchestrate profile, whose runtime has no event loop to await foreign objects on.
_IO_PACKAGES = frozenset(
    {
        "aioboto3",
        "aiobotocore",
        "aiofiles",
        "aiohttp",
        "aiokafka",
        "aiomysql",
        "aio_pika",
        "aiosqlite",
        "anthropic",
        "asyncpg",
        "azure",
        "boto3",
        "databases",
        "elasticsearch",
        "httpx",
        "motor",
        "nats",
        "openai",
        "psycopg",
        "psycopg2",
        "pymongo",
        "redis",
        "requests",
        "sqlalchemy",
        "websockets",
    }
)
_STDLIB = frozenset(sys.stdlib_module_names)


def _top(qualname: str) -> str:
    return qualname.split(".", 1)[0]


class AwaitNonTask(Rule):
    CODE = "ORC113"
    NAME = "await-non-task"
    MESSAGE = (
        "awaits something from outside the workflow API (a coroutine, future or task), so the "
        "work it stands for is not recorded"
    )
    HINT = (
        "Await only the framework's tasks (or your own helpers that do); move other I/O into an "
        "activity."
    )
    RATIONALE = (
        "The replay engine can only reproduce what it recorded. Awaiting a library coroutine "
        "(an HTTP client, a database driver, an SDK) inside an orchestration runs it again on "
        "every replay and suspends the orchestration on something the history does not know. "
        "Awaiting ctx tasks and your own async helpers (which are checked in turn) is fine. "
        "Under the orchestrate profile every awaitable from outside the project is reported; "
        "under the other profiles (whose event loops can await more) only awaitables whose "
        "origin is known I/O: a call into an I/O library (HTTP, database, cloud SDK), or a "
        "method of a module-level client built by a third-party library "
        "(`redis = Redis(...)` then `await redis.get(...)`). Calls listed in `durable-calls` "
        "(by default the OpenAI Agents runner under Temporal) are recorded by the framework "
        "and never reported."
    )
    NODES = (cst.Await,)
    VALID = (
        """\
from orchestrate import OrchestrationContext, Saga

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    s = Saga(ctx)
    rid = await ctx.activity("reserve", order)
    await s.compensate()
    return rid
""",
        """\
import asyncio

LOCK = asyncio.Lock()

async def saga(ctx: "OrchestrationContext", order: dict) -> None:
    await LOCK.acquire()  # a stdlib object: not a client of some service
""",
    )
    INVALID = (
        Invalid("""\
import some_sdk

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    return await some_sdk.fetch_price(order["sku"])  # expect: ORC113
"""),
        Invalid("""\
import httpx
import redis.asyncio

from orchestrate import OrchestrationContext

cache = redis.asyncio.Redis(host="cache")
http = httpx.AsyncClient()

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    await cache.set(order["id"], "placed")  # expect: ORC113
    await http.post("https://example.com/orders", json=order)  # expect: ORC113
    return await cache.get(order["id"])  # expect: ORC113
"""),
    )

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        assert isinstance(node, cst.Await)
        call = node.expression
        if not isinstance(call, cst.Call):
            return
        qualname = cx.qualify(call.func)
        if qualname is None:
            self._client_method(node, call, cx)
            return
        if qualname.startswith(_FRAMEWORKS) or cx.is_flagged_call(qualname):
            return
        if cx.is_project_name(qualname):
            return
        if cx.profile.name != "orchestrate" and _top(qualname) not in _IO_PACKAGES:
            return  # unknown origin under a framework with its own event loop: stay quiet
        shown = qualname if len(qualname) < 60 else qualname[:57] + "..."
        cx.report(self, node, f"`await {shown}()`")

    def _client_method(self, node: cst.Await, call: cst.Call, cx: Context) -> None:
        """``await client.get(...)`` on a module-level object built by a third-party library."""
        func = call.func
        if not isinstance(func, cst.Attribute):
            return
        root = func.value
        while isinstance(root, cst.Attribute):
            root = root.value
        if not isinstance(root, cst.Name) or not cx.is_module_global(root.value):
            return
        value = cx.info.global_values.get(root.value)
        if not isinstance(value, cst.Call):
            return
        maker = qualify(value.func, cx.info.scope)
        if maker is None or _top(maker) in _STDLIB or maker.startswith(_FRAMEWORKS):
            return
        if cx.is_project_name(maker) or cx.is_trusted_call(maker):
            return
        cx.report(
            self,
            node,
            f"`await {cx.written(func)}()` (a client made by `{maker}` at module level)",
        )


_LOG_ROOTS = ("logging.", "builtins.print", "temporalio.workflow.logger", "dbos.DBOS.logger")


def _is_log_only(block: cst.BaseSuite, cx: Context) -> bool:
    statements = block.body if isinstance(block, cst.IndentedBlock) else (block,)
    for statement in statements:
        smalls = (
            statement.body
            if isinstance(statement, cst.SimpleStatementLine | cst.SimpleStatementSuite)
            else None
        )
        if smalls is None:
            return False
        for small in smalls:
            if isinstance(small, cst.Pass):
                continue
            if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)):
                return False
            if not _is_log_call(small.value, cx):
                return False
    return True


def _is_log_call(call: cst.Call, cx: Context) -> bool:
    func = call.func
    if isinstance(func, cst.Attribute):
        receiver = func.value
        if (
            isinstance(receiver, cst.Attribute)
            and receiver.attr.value in {"log", "logger"}
            and cx.is_ctx(receiver.value)
        ):
            return True
        if isinstance(receiver, cst.Name) and receiver.value in cx.info.loggers:
            return True
    qualname = cx.qualify(func)
    return qualname is not None and qualname.startswith(_LOG_ROOTS)


class ReplayingBranch(Rule):
    CODE = "ORC115"
    NAME = "replaying-branch"
    MESSAGE = "branches on replay, so the replay takes a different path than the first run"
    HINT = "Use is_replaying only to skip logging; everything else must run the same way on replay."
    RATIONALE = (
        "By definition `is_replaying` is False on the first run and True on replay. Any "
        "command scheduled, skipped or computed differently under it makes the replay "
        "diverge from the history. Reported where it decides control flow: the test of an "
        "`if`, `while`, conditional expression or comprehension filter, an operand of "
        "`and`/`or`, or a local variable holding it that such a test reads. Returning it, "
        "storing it or passing it on is not a branch and is not reported. The one "
        "legitimate branch is one that only silences logging."
    )
    NODES = (cst.If, cst.While, cst.IfExp, cst.CompIf, cst.BooleanOperation)
    VALID = (
        """\
import logging

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    if not ctx.is_replaying:
        logging.info("first run of %s", order["id"])
""",
        """\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> dict:
    status = {"replaying": ctx.is_replaying}
    return status
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    if not ctx.is_replaying:  # expect: ORC115
        await ctx.activity("notify", order)
    fresh = ctx.is_replaying or order["force"]  # expect: ORC115
    replaying = ctx.is_replaying
    while replaying:  # expect: ORC115
        break
"""),
    )

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        if isinstance(node, cst.BooleanOperation):
            tests: list[cst.BaseExpression] = [node.left, node.right]
        else:
            assert isinstance(node, cst.If | cst.While | cst.IfExp | cst.CompIf)
            tests = [node.test]
        guards = [g for test in tests for g in self._guards(test, cx)]
        if not guards:
            return
        if isinstance(node, cst.If) and self._log_only(node, cx):
            cx.ok_nodes.update(id(g) for g in guards)
            return
        for guard in guards:
            if id(guard) not in cx.ok_nodes:
                cx.ok_nodes.add(id(guard))  # reported once, by the outermost test
                cx.report(self, guard, f"`{cx.written(guard)}`")

    def _guards(self, test: cst.BaseExpression, cx: Context) -> list[cst.BaseExpression]:
        """``is_replaying`` reads in a test, directly or through a local variable."""
        found: list[cst.BaseExpression] = []
        for child in iter_tree(test):
            if self._is_replaying(child, cx):
                assert isinstance(child, cst.Attribute)
                found.append(child)
            elif isinstance(child, cst.Name):
                value = cx.local_value(child.value)
                if value is not None and self._is_replaying(value, cx):
                    found.append(child)
        return found

    @staticmethod
    def _log_only(node: cst.If, cx: Context) -> bool:
        branches: list[cst.BaseSuite] = [node.body]
        if isinstance(node.orelse, cst.Else):
            branches.append(node.orelse.body)
        elif node.orelse is not None:
            return False  # an elif chain: its own If node is checked on its own
        return all(_is_log_only(b, cx) for b in branches)

    @staticmethod
    def _is_replaying(node: cst.CSTNode, cx: Context) -> bool:
        if not isinstance(node, cst.Attribute) or node.attr.value != "is_replaying":
            return False
        return (
            cx.is_ctx(node.value) or cx.qualify(node) == "temporalio.workflow.unsafe.is_replaying"
        )
