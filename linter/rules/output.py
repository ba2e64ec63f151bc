"""Rules about output that repeats on replay: print and plain logging."""

from __future__ import annotations

import libcst as cst

from linter.rules._api import api
from linter.rules._base import CallRule, Context, Fixer, Invalid, can_fix, ctx_attr

__all__ = ["PrintOrLogging"]


_LOG_LEVELS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)


class PrintOrLogging(CallRule):
    CODE = "ORC106"
    NAME = "print-or-logging"
    MESSAGE = "writes output again on every replay"
    HINT = "Log through a logger that is silent while replaying, so each message appears once."
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
        if level not in _LOG_LEVELS or level == "fatal":
            return None
        method = "warning" if level == "warn" else level
        workflow = api(cx, "temporal")
        if workflow is not None:
            return lambda node: node.with_changes(func=ctx_attr(workflow, "logger", method))
        if not can_fix(cx):
            return None
        ctx = cx.ctx_name
        return lambda node: node.with_changes(func=ctx_attr(ctx, "log", method))
