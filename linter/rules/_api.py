"""Which framework API a fix may write, checked against the code being fixed.

A fix rewrites to the framework's own replay-safe call only where that call is valid as
written: in the workflow's own body (helpers may be called from outside a workflow), with
the name the fix uses bound to the framework's object there (``workflow`` imported from
``temporalio``, ``DBOS`` from ``dbos``) or, for durabletask and Azure, with the
orchestrator's context parameter at hand.
"""

from __future__ import annotations

import libcst as cst

from linter.rules._base import Context
from linter.walk import iter_children

__all__ = ["api", "durable_ctx", "is_generator", "is_utc", "module_name"]

_API_OBJECTS = {"temporal": ("workflow", "temporalio.workflow"), "dbos": ("DBOS", "dbos.DBOS")}
_UTC = frozenset({"datetime.timezone.utc", "datetime.UTC"})


def api(cx: Context, profile: str) -> str | None:
    """The name to write for ``profile``'s API object (``workflow``, ``DBOS``), if valid here."""
    if cx.profile.name != profile or not cx.direct or profile not in _API_OBJECTS:
        return None
    name, qualname = _API_OBJECTS[profile]
    return name if cx.qualify(cst.Name(name)) == qualname else None


def durable_ctx(cx: Context) -> str | None:
    """The orchestrator's context name under durabletask or Azure, in its own body."""
    if cx.profile.name in {"durabletask", "azure-durable"} and cx.direct and cx.ctx_name:
        return cx.ctx_name
    return None


def module_name(cx: Context, module: str) -> bool:
    """Whether the bare name ``module`` refers to that module where the call is."""
    return cx.qualify(cst.Name(module)) == module


def is_utc(call: cst.Call, cx: Context) -> bool:
    """``now(timezone.utc)``, ``now(tz=UTC)``: exactly one argument naming UTC."""
    if len(call.args) != 1:
        return False
    arg = call.args[0]
    if arg.star or (arg.keyword is not None and arg.keyword.value != "tz"):
        return False
    return cx.qualify(arg.value) in _UTC


def is_generator(func: cst.FunctionDef) -> bool:
    """Whether ``func`` yields (nested functions and lambdas aside)."""
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Yield):
            return True
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            continue
        stack.extend(iter_children(node))
    return False
