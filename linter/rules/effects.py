"""Rules about touching the world: concurrency outside the history, I/O and host lookups."""

from __future__ import annotations

import libcst as cst

from linter.rules._base import CallRule, Context, Invalid

__all__ = ["IO", "Concurrency", "HostLookup"]


class Concurrency(CallRule):
    CODE = "ORC104"
    NAME = "concurrency"
    MESSAGE = "starts work outside the orchestration's history, in an order replay cannot reproduce"
    HINT = "Start concurrent work through the framework, so its order and results are recorded."
    RATIONALE = (
        "asyncio tasks, threads and executors run outside the replay engine: their completion "
        "order depends on timing, and the work they do is not recorded. On replay the "
        "orchestration can observe a different order or repeat side effects. Create ctx tasks "
        "(`ctx.activity(...)`) and combine them with `ctx.all`, `ctx.any` or `ctx.as_completed`, "
        "whose results come from the history. (Temporal's workflow event loop makes asyncio "
        "replay-safe, so the temporal profile allows asyncio; threads are flagged everywhere.)"
    )
    CALLS = frozenset(
        {
            "asyncio.gather",
            "asyncio.create_task",
            "asyncio.wait",
            "asyncio.wait_for",
            "asyncio.as_completed",
            "asyncio.ensure_future",
            "asyncio.shield",
            "asyncio.TaskGroup",
            "asyncio.to_thread",
            "asyncio.run",
            "asyncio.run_coroutine_threadsafe",
            "asyncio.get_event_loop",
            "asyncio.get_running_loop",
            "asyncio.new_event_loop",
            "threading.Thread",
            "threading.Timer",
            "_thread.start_new_thread",
            "concurrent.futures.ThreadPoolExecutor",
            "concurrent.futures.ProcessPoolExecutor",
            "concurrent.futures.wait",
            "concurrent.futures.as_completed",
            "multiprocessing.Process",
            "multiprocessing.Pool",
        }
    )
    VALID = (
        """\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, lines: list) -> list:
    return await ctx.all([ctx.activity("reserve", line) for line in lines])
""",
    )
    INVALID = (
        Invalid("""\
import asyncio
from concurrent.futures import ThreadPoolExecutor

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, lines: list) -> list:
    pool = ThreadPoolExecutor()  # expect: ORC104
    return await asyncio.gather(*[ctx.activity("reserve", x) for x in lines])  # expect: ORC104
"""),
        Invalid("""\
import asyncio

from orchestrate import OrchestrationContext

def crunch(lines: list) -> int:
    return len(lines)

async def saga(ctx: OrchestrationContext, lines: list, loop: asyncio.AbstractEventLoop) -> int:
    return await loop.run_in_executor(None, crunch, lines)  # expect: ORC104
"""),
    )
    NODES = (cst.Call,)

    def check_call(self, call: cst.Call, qualname: str, cx: Context) -> None:
        if qualname in cx.profile.awaited and cx.is_awaited(call):
            return  # e.g. DBOS: `await asyncio.to_thread(sync_step)` runs alone
        super().check_call(call, qualname, cx)

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        """``<any loop>.run_in_executor(...)``: a thread or process outside the history."""
        assert isinstance(node, cst.Call)
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "run_in_executor":
            cx.report(self, node, f"`{cx.written(func)}()`")


_PATH_TYPES = frozenset(
    {"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.WindowsPath"}
)


_PATH_IO = frozenset(
    {
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "open",
        "exists",
        "is_file",
        "is_dir",
        "is_symlink",
        "iterdir",
        "glob",
        "rglob",
        "stat",
        "lstat",
        "mkdir",
        "unlink",
        "rmdir",
        "touch",
        "rename",
        "replace",
        "resolve",
        "samefile",
        "owner",
        "group",
        "chmod",
        "expanduser",
        "home",
        "cwd",
        "readlink",
        "symlink_to",
        "hardlink_to",
    }
)


class IO(CallRule):
    CODE = "ORC105"
    NAME = "io"
    MESSAGE = "does I/O in the orchestration, again on every replay and with possibly new results"
    HINT = "Move the I/O into an activity; the orchestration receives its recorded result."
    RATIONALE = (
        "Files, environment variables, sockets, subprocesses, databases and HTTP calls see "
        "the world as it is at replay time, not as it was when the step first ran, and they "
        "run again on every replay. Put them in an activity: it runs once per scheduled call "
        "and its result is recorded in the history."
    )
    CALLS = frozenset(
        {
            "builtins.open",
            "builtins.input",
            "io.open",
            "os.getenv",
            "os.putenv",
            "os.unsetenv",
            "os.listdir",
            "os.scandir",
            "os.walk",
            "os.stat",
            "os.lstat",
            "os.remove",
            "os.unlink",
            "os.rename",
            "os.replace",
            "os.mkdir",
            "os.makedirs",
            "os.rmdir",
            "os.removedirs",
            "os.getcwd",
            "os.chdir",
            "os.system",
            "os.popen",
            "os.open",
            "os.read",
            "os.write",
            "os.path.exists",
            "os.path.lexists",
            "os.path.isfile",
            "os.path.isdir",
            "os.path.islink",
            "os.path.getsize",
            "os.path.getmtime",
            "os.path.getatime",
            "os.path.getctime",
            "os.path.realpath",
            "os.path.expanduser",
            "os.path.expandvars",
            "glob.glob",
            "glob.iglob",
            "shutil.*",
            "tempfile.*",
            "socket.socket",
            "socket.create_connection",
            "socket.getaddrinfo",
            "socket.socketpair",
            "subprocess.*",
            "sqlite3.connect",
            "requests.*",
            "httpx.*",
            "urllib.request.*",
            "aiohttp.*",
            "http.client.*",
            "smtplib.*",
            "ftplib.*",
            "psycopg.*",
            "psycopg2.*",
            "asyncpg.*",
            "pathlib.Path.cwd",
            "pathlib.Path.home",
        }
    )
    ACCESS = frozenset({"os.environ", "os.environb", "sys.stdin"})
    NODES = (cst.Call,)
    VALID = (
        """\
import os.path
from pathlib import Path

from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.activity
def load(path: str) -> str:
    return Path(path).read_text()

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    name = os.path.join("a", order["file"])
    return await ctx.activity(load, str(Path("data") / name))
""",
    )
    INVALID = (
        Invalid("""\
import os
import subprocess
from pathlib import Path

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    region = os.environ.get("REGION")  # expect: ORC105
    text = Path("prices.json").read_text()  # expect: ORC105
    with open("log.txt") as fh:  # expect: ORC105
        fh.read()
    subprocess.run(["true"])  # expect: ORC105
    return f"{region}{text}"
"""),
        Invalid("""\
from pathlib import Path

from orchestrate import OrchestrationContext

OUT = Path("out")
LOG = OUT / "orders.log"

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    LOG.write_text(order["id"])  # expect: ORC105
    with (OUT / "x").open("w") as fh:  # expect: ORC105
        fh.write("x")
    LOG.unlink()  # expect: ORC105
"""),
    )

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        """``Path(...).read_text()`` and friends: methods that touch the file system."""
        assert isinstance(node, cst.Call)
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _PATH_IO:
            return
        if _is_path(func.value, cx, 0):
            cx.report(self, node, f"`Path.{func.attr.value}()`")


def _is_path(expr: cst.BaseExpression, cx: Context, depth: int) -> bool:
    if depth > 4:
        return False
    if isinstance(expr, cst.Call):
        return cx.qualify(expr.func) in _PATH_TYPES
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Divide):
        return _is_path(expr.left, cx, depth + 1)
    if isinstance(expr, cst.Name):
        value = cx.local_value(expr.value)
        if value is None and cx.is_module_global(expr.value):
            value = cx.info.global_values.get(expr.value)  # DATA_DIR = Path(...) at the top
        return value is not None and _is_path(value, cx, depth + 1)
    return False


class HostLookup(CallRule):
    CODE = "ORC107"
    NAME = "host-lookup"
    MESSAGE = (
        "asks which machine or user is running the code, which changes when another worker replays"
    )
    HINT = "Pass host facts in as input, or read them in an activity so the answer is recorded."
    RATIONALE = (
        "An orchestration may resume on any worker. Hostname, platform, locale, user name and "
        "process ids describe the worker, not the instance: a branch on them takes a "
        "different path when another worker replays the history."
    )
    CALLS = frozenset(
        {
            "platform.*",
            "locale.getlocale",
            "locale.getdefaultlocale",
            "locale.setlocale",
            "locale.getpreferredencoding",
            "locale.getencoding",
            "locale.localeconv",
            "getpass.getuser",
            "socket.gethostname",
            "socket.getfqdn",
            "socket.gethostbyname",
            "socket.gethostbyaddr",
            "os.getlogin",
            "os.uname",
            "os.cpu_count",
            "os.getpid",
            "os.getppid",
            "os.getuid",
            "os.getgid",
        }
    )
    VALID = (
        """\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    return order["region"]
""",
    )
    INVALID = (
        Invalid("""\
import platform
import socket

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    if platform.system() == "Linux":  # expect: ORC107
        return socket.gethostname()  # expect: ORC107
    return "other"
"""),
    )
