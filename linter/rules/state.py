"""Rules about state that outlives one run of the orchestration: globals, module-level
containers and mutable default arguments."""

from __future__ import annotations

import libcst as cst

from linter.modules import is_mutable_value
from linter.names import Scope
from linter.rules._base import Context, Invalid, Rule

__all__ = ["GlobalStatement", "ModuleStateMutation", "MutableDefault"]

_MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "popitem",
        "sort",
        "reverse",
        "appendleft",
        "extendleft",
        "popleft",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    }
)


class GlobalStatement(Rule):
    CODE = "ORC110"
    NAME = "global-statement"
    MESSAGE = "rebinds module state that survives between runs and replays of the orchestration"
    HINT = "Keep state in local variables or the orchestration's input."
    RATIONALE = (
        "A worker process replays many instances, and one instance many times. A global "
        "rebound by one run is seen by the next, so a replay starts from a different state "
        "than the first run did: a counter bumped through `global _COUNT` numbers the "
        "replay's work differently. The finding sits where the name is rebound "
        "(`_COUNT += 1`, `_CACHE = ...`, `del _X`); a `global` statement that only reads "
        "is not reported."
    )
    NODES = (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.Del)
    VALID = (
        """\
from orchestrate import OrchestrationContext

LIMIT = 10

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    count = LIMIT
    count += 1
    return count
""",
        """\
from orchestrate import OrchestrationContext

LIMIT = 10

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    global LIMIT
    return LIMIT
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext

COUNT = 0

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    global COUNT
    COUNT += 1  # expect: ORC110
    return COUNT
"""),
        Invalid("""\
from orchestrate import OrchestrationContext

_COUNT = 0
_LAST = None

def _next_id() -> int:
    global _COUNT, _LAST
    _COUNT += 1  # expect: ORC110
    _LAST, other = _COUNT, 0  # expect: ORC110
    return _COUNT

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    return _next_id()
"""),
    )

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        targets: list[cst.BaseExpression]
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        else:
            assert isinstance(node, cst.AugAssign | cst.AnnAssign | cst.Del)
            targets = [node.target]
        names = [n for t in targets for n in _bound_names(t) if _declared_global(n, cx)]
        if names:
            shown = ", ".join(f"`{n}`" for n in dict.fromkeys(names))
            cx.report(self, node, f"{shown} (declared global)")


def _bound_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [n for e in target.elements for n in _bound_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _bound_names(target.value)
    return []


def _declared_global(name: str, cx: Context) -> bool:
    """``name`` is declared ``global`` in the function being checked."""
    scope: Scope | None = cx.scope
    while scope is not None and scope.parent is not None:
        if name in scope.globals_:
            return True
        scope = scope.parent
    return False


def _root_name(expr: cst.BaseExpression) -> cst.Name | None:
    while isinstance(expr, cst.Attribute | cst.Subscript):
        expr = expr.value
    return expr if isinstance(expr, cst.Name) else None


class ModuleStateMutation(Rule):
    CODE = "ORC111"
    NAME = "module-state-mutation"
    MESSAGE = "mutates a module-level container, state that leaks between runs and replays"
    HINT = "Build the container inside the orchestration, or keep the state in an activity's store."
    RATIONALE = (
        "A module-level list, dict or set lives as long as the worker process. Filling it "
        "from an orchestration means the next replay (or another instance) sees what earlier "
        "runs left behind, so it can skip or repeat work. Reading module-level constants is "
        "fine; the finding sits where the state is mutated."
    )
    NODES = (cst.Assign, cst.AugAssign, cst.Del, cst.Call)
    VALID = (
        """\
from orchestrate import OrchestrationContext

PRICES = {"a": 1}

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    seen = {}
    seen[order["id"]] = PRICES.get(order["sku"], 0)
    return seen[order["id"]]
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext

SEEN: dict = {}
DONE = []

async def saga(ctx: OrchestrationContext, order: dict) -> None:
    SEEN[order["id"]] = True  # expect: ORC111
    DONE.append(order["id"])  # expect: ORC111
"""),
    )

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        targets: list[cst.BaseExpression] = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, cst.AugAssign | cst.Del):
            targets = [node.target]
        elif isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _MUTATORS:
                name = _root_name(func.value)
                if name is not None and self._is_state(name, cx):
                    cx.report(self, node, f"`{name.value}.{func.attr.value}()`")
            return
        for target in targets:
            if isinstance(target, cst.Name) and not isinstance(node, cst.AugAssign):
                continue  # rebinding a plain name makes it local (or is ORC110's business)
            name = _root_name(target)
            if name is not None and self._is_state(name, cx):
                cx.report(self, node, f"`{name.value}`")

    @staticmethod
    def _is_state(name: cst.Name, cx: Context) -> bool:
        return name.value in cx.info.mutable_globals and cx.is_module_global(name.value)


class MutableDefault(Rule):
    CODE = "ORC114"
    NAME = "mutable-default"
    MESSAGE = "is a mutable default argument, shared by every call, run and replay in the process"
    HINT = "Default to None and create the container in the body."
    RATIONALE = (
        "A default list or dict is created once, when the function is defined. Every run and "
        "replay of the orchestration in the same worker shares it, so one run's leftovers "
        "change the next run's behaviour."
    )
    VALID = (
        """\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict, tags: list | None = None) -> list:
    return list(tags or [])
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext

def _collect(item: str, into: list = []) -> list:  # expect: ORC114
    into.append(item)
    return into

async def saga(ctx: OrchestrationContext, order: dict, seen: dict = {}) -> list:  # expect: ORC114
    return _collect(order["id"])
"""),
    )

    def check_function(self, func: cst.FunctionDef, cx: Context) -> None:
        params = func.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.default is not None and is_mutable_value(param.default, cx.info.scope):
                cx.report(self, param.default, f"`{param.name.value}=...`")
