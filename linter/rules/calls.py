"""Rules driven by which module function is called: clocks, chance, sleeping, threads, I/O,
printing and logging, host lookups, ``hash``/``id``."""

from __future__ import annotations

import libcst as cst

from linter.rules._base import CallRule, Context, Fixer, Invalid

__all__ = [
    "IO",
    "Concurrency",
    "HashOrId",
    "HostLookup",
    "PrintOrLogging",
    "Randomness",
    "Sleep",
    "WallClock",
]


def _ctx_attr(ctx: str, *names: str) -> cst.BaseExpression:
    expr: cst.BaseExpression = cst.Name(ctx)
    for name in names:
        expr = cst.Attribute(expr, cst.Name(name))
    return expr


def _can_fix(cx: Context) -> bool:
    return cx.direct and cx.profile.name == "orchestrate" and bool(cx.ctx_name)


class WallClock(CallRule):
    CODE = "ORC101"
    NAME = "wall-clock"
    MESSAGE = "reads the wall clock, which returns a different value on every replay"
    HINT = "The context's clock is the time the turn started, recorded in the history."
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
        if qualname != "datetime.datetime.now" or call.args or not _can_fix(cx):
            return None
        ctx = cx.ctx_name
        return lambda node: node.with_changes(func=_ctx_attr(ctx, "now"))


_RANDOM_METHODS = frozenset(
    {
        "random",
        "randint",
        "randrange",
        "choice",
        "choices",
        "shuffle",
        "sample",
        "uniform",
        "gauss",
        "getrandbits",
        "randbytes",
        "triangular",
        "betavariate",
        "expovariate",
        "normalvariate",
        "lognormvariate",
        "vonmisesvariate",
        "paretovariate",
        "weibullvariate",
        "gammavariate",
        "binomialvariate",
    }
)


class Randomness(CallRule):
    CODE = "ORC102"
    NAME = "randomness"
    MESSAGE = "draws a fresh random value, so a replay takes a different path"
    HINT = "The context's random source and UUIDs are seeded from the instance id."
    RATIONALE = (
        "Random numbers and random UUIDs differ on every run. Used for a branch, an activity "
        "input or an id, they make the replay diverge from the history. `ctx.random()` is a "
        "`random.Random` seeded from the instance id and call count, and `ctx.uuid()` derives "
        "a UUID the same way. Seeded generators (`random.Random(42)`) and name-based UUIDs "
        "(`uuid5`, `uuid.UUID(...)`) are deterministic and allowed."
    )
    CALLS = frozenset(
        {f"random.{m}" for m in _RANDOM_METHODS}
        | {
            "random.seed",
            "random.Random",
            "random.SystemRandom",
            "secrets.*",
            "os.urandom",
            "os.getrandom",
            "uuid.uuid1",
            "uuid.uuid4",
        }
    )
    VALID = (
        """\
import random
import uuid

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    rng = random.Random(42)
    key = uuid.uuid5(uuid.NAMESPACE_URL, order["url"])
    ident = uuid.UUID(order["id"])
    return f"{ctx.random().random()} {ctx.uuid()} {rng.random()} {key} {ident}"
""",
    )
    INVALID = (
        Invalid(
            """\
import random
from uuid import uuid4 as new_id

from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.orchestration
async def saga(ctx: OrchestrationContext, lines: list) -> str:
    pick = random.choice(lines)  # expect: ORC102
    ident = new_id()  # expect: ORC102
    rng = random.Random()  # expect: ORC102
    return f"{pick} {ident} {rng}"
""",
            fixed="""\
import random
from uuid import uuid4 as new_id

from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.orchestration
async def saga(ctx: OrchestrationContext, lines: list) -> str:
    pick = ctx.random().choice(lines)  # expect: ORC102
    ident = ctx.uuid()  # expect: ORC102
    rng = random.Random()  # expect: ORC102
    return f"{pick} {ident} {rng}"
""",
        ),
        Invalid("""\
import os
import secrets

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    token = secrets.token_hex(8)  # expect: ORC102
    salt = os.urandom(4)  # expect: ORC102
    return f"{token}{salt!r}"
"""),
    )

    def applies(self, call: cst.Call, qualname: str) -> bool:
        if qualname == "random.Random":
            return not call.args
        return True

    def fixer(self, call: cst.Call, qualname: str, cx: Context) -> Fixer | None:
        if not _can_fix(cx):
            return None
        ctx = cx.ctx_name
        if qualname == "uuid.uuid4" and not call.args:
            return lambda node: node.with_changes(func=_ctx_attr(ctx, "uuid"))
        module, _, method = qualname.partition(".")
        if module == "random" and method in _RANDOM_METHODS:
            return lambda node: node.with_changes(
                func=cst.Attribute(cst.Call(_ctx_attr(ctx, "random")), cst.Name(method))
            )
        return None


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
        if qualname != "time.sleep" or not (_can_fix(cx) and cx.is_async):
            return None
        if not cx.is_statement_call(call):
            return None
        ctx = cx.ctx_name
        return lambda node: cst.Await(node.with_changes(func=_ctx_attr(ctx, "sleep")))


class Concurrency(CallRule):
    CODE = "ORC104"
    NAME = "concurrency"
    MESSAGE = "starts work outside the orchestration's history, in an order replay cannot reproduce"
    HINT = "Fan out with ctx tasks: created in a fixed order, completed from the history."
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
    )


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
        return value is not None and _is_path(value, cx, depth + 1)
    return False


_LOG_LEVELS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)


class PrintOrLogging(CallRule):
    CODE = "ORC106"
    NAME = "print-or-logging"
    MESSAGE = "writes output again on every replay"
    HINT = "The context's logger is silent while replaying, so each message appears once."
    RATIONALE = (
        "Replay re-runs the orchestration from the start each time it resumes, so a `print` "
        "or a plain logging call repeats its output once per replay: logs fill with "
        "duplicates that look like repeated work. `ctx.log` is a LoggerAdapter that stays "
        "silent while replaying. `--fix` rewrites `logging.info(...)`/`logger.info(...)` in "
        "the orchestration's own body to `ctx.log.info(...)`; `print` is never rewritten."
    )
    CALLS = frozenset(
        {"builtins.print", "sys.stdout.write", "sys.stderr.write"}
        | {f"logging.{level}" for level in _LOG_LEVELS}
    )
    NODES = (cst.Call,)
    VALID = (
        """\
import logging

from orchestrate import OrchestrationContext

logger = logging.getLogger(__name__)

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    ctx.log.info("placing %s", order["id"])

def report(order: dict) -> None:
    logger.info("not an orchestration")
    print(order)
""",
    )
    INVALID = (
        Invalid(
            """\
import logging

from orchestrate import OrchestrationContext

logger = logging.getLogger(__name__)

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    logger.info("placing %s", order["id"])  # expect: ORC106
    logging.warning("slow")  # expect: ORC106
    print(order)  # expect: ORC106
""",
            fixed="""\
import logging

from orchestrate import OrchestrationContext

logger = logging.getLogger(__name__)

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    ctx.log.info("placing %s", order["id"])  # expect: ORC106
    ctx.log.warning("slow")  # expect: ORC106
    print(order)  # expect: ORC106
""",
        ),
    )

    def check_call(self, call: cst.Call, qualname: str, cx: Context) -> None:
        if not cx.quiet:  # under `if not ctx.is_replaying:` output happens once
            super().check_call(call, qualname, cx)

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        """Calls on a module-level ``logger = logging.getLogger(...)``."""
        assert isinstance(node, cst.Call)
        if cx.quiet:
            return
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in _LOG_LEVELS):
            return
        receiver = func.value
        if isinstance(receiver, cst.Name) and receiver.value in cx.info.loggers:
            if cx.is_module_global(receiver.value):
                cx.report(
                    self,
                    node,
                    f"`{receiver.value}.{func.attr.value}()`",
                    fix=self._log_fix(func.attr.value, cx),
                )
        elif isinstance(receiver, cst.Call) and cx.qualify(receiver.func) == "logging.getLogger":
            cx.report(self, node, f"`logging.getLogger(...).{func.attr.value}()`")

    def fixer(self, call: cst.Call, qualname: str, cx: Context) -> Fixer | None:
        module, _, level = qualname.partition(".")
        return self._log_fix(level, cx) if module == "logging" else None

    @staticmethod
    def _log_fix(level: str, cx: Context) -> Fixer | None:
        if not _can_fix(cx) or level not in _LOG_LEVELS or level == "fatal":
            return None
        ctx = cx.ctx_name
        method = "warning" if level == "warn" else level
        return lambda node: node.with_changes(func=_ctx_attr(ctx, "log", method))


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


class HashOrId(CallRule):
    CODE = "ORC109"
    NAME = "hash-or-id"
    MESSAGE = "depends on the process: string hashes are salted per process and ids are addresses"
    HINT = "Use a stable key: the value itself, or hashlib over its bytes."
    RATIONALE = (
        "`hash()` of a str or bytes is randomised per process (PYTHONHASHSEED) and `id()` is a "
        "memory address. A bucket, order or branch computed from either differs when another "
        "process replays the orchestration."
    )
    CALLS = frozenset({"builtins.hash", "builtins.id"})
    VALID = (
        """\
import hashlib

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    return int(hashlib.sha256(order["id"].encode()).hexdigest(), 16) % 8
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    shard = hash(order["id"]) % 8  # expect: ORC109
    return shard + id(order)  # expect: ORC109
"""),
    )
