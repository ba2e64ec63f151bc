"""Finding the orchestrations (workflow entry points) in a parsed module.

Only code reachable from these is ever checked: activities and ordinary functions may do
I/O freely. Each entry remembers its context parameter's name, so hints and fixes say
``context.now()`` when the code calls its context ``context``.

Every way the frameworks declare a workflow is recognised, at any depth (workflows defined
inside test functions are the common case in real test suites):

- orchestrate: ``@<registry>.orchestration``, configured decorators, or a first parameter
  annotated ``OrchestrationContext`` (from anywhere but durabletask);
- temporal: the ``run``/``signal``/``query``/``update`` handlers and ``__init__`` (with or
  without ``@workflow.init``) of ``@workflow.defn`` classes;
- dbos: ``@DBOS.workflow()`` on functions and on instance, class or static methods, and
  ``DBOS.workflow()(fn)``;
- durabletask: a first parameter annotated with durabletask's ``OrchestrationContext``, or a
  function registered with ``add_orchestrator(fn)`` / ``add_named_orchestrator(name, fn)``;
- azure-durable: ``@<app>.orchestration_trigger(...)``, ``Orchestrator.create(fn)``, or a
  parameter annotated ``DurableOrchestrationContext``;
- durabletask and azure-durable, undeclared: a generator that yields its first parameter's
  orchestration API (``yield context.call_activity(...)``), in a module importing the
  framework (test suites hand such functions to test harnesses without registering them).

Code inside a framework's own package is the framework, not a workflow: it is trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from linter.modules import ModuleInfo, decorator_names
from linter.names import Scope, dotted, function_scope, qualify
from linter.profiles import frameworks_imported, is_framework_module
from linter.walk import iter_children

__all__ = ["Entry", "find_entries"]

_TEMPORAL_METHODS = frozenset({"run", "signal", "query", "update", "init"})
_REGISTRARS = {
    "add_orchestrator": ("durabletask", 0),
    "add_named_orchestrator": ("durabletask", 1),
}
# What only an orchestrator yields: tasks from its context.
_YIELDED_API = frozenset(
    {
        "call_activity",
        "call_activity_with_retry",
        "call_sub_orchestrator",
        "call_sub_orchestrator_with_retry",
        "call_entity",
        "call_http",
        "create_timer",
        "wait_for_external_event",
        "task_all",
        "task_any",
    }
)
_REGISTRATION_MARKERS = (
    "add_orchestrator",
    "add_named_orchestrator",
    "Orchestrator.create",
    "DBOS.workflow()(",
)


@dataclass(frozen=True, eq=False)
class Entry:
    """An orchestration: where it is, which profile found it, and its context's name.

    ``parent_scope`` is the scope its names resolve in: the module's for a top-level
    function or a method, the enclosing function's for a nested definition.
    """

    func: cst.FunctionDef
    name: str
    profile: str
    ctx: str | None
    cls: cst.ClassDef | None = None
    parent_scope: Scope | None = field(default=None, compare=False)

    @property
    def is_async(self) -> bool:
        return self.func.asynchronous is not None


def _params(func: cst.FunctionDef, skip_self: bool) -> list[cst.Param]:
    params = [*func.params.posonly_params, *func.params.params]
    if skip_self and params and params[0].name.value in {"self", "cls"}:
        params = params[1:]
    return params


def _first_param(func: cst.FunctionDef, skip_self: bool) -> cst.Param | None:
    params = _params(func, skip_self)
    return params[0] if params else None


def _annotation_text(param: cst.Param, scope: Scope) -> tuple[str | None, str | None]:
    if param.annotation is None:
        return None, None
    expr = param.annotation.annotation
    if isinstance(expr, cst.SimpleString):
        text = expr.evaluated_value
        return (text if isinstance(text, str) else None), None
    return dotted(expr), qualify(expr, scope)


def _context_profile(func: cst.FunctionDef, scope: Scope, in_class: bool) -> str | None:
    """The profile a context annotation on the first parameter points to, if any."""
    param = _first_param(func, in_class)
    if param is None:
        return None
    text, qualname = _annotation_text(param, scope)
    if not text:
        return None
    last = text.rsplit(".", 1)[-1]
    if last == "DurableOrchestrationContext":
        return "azure-durable"
    if last != "OrchestrationContext":
        return None
    if qualname is not None and qualname.startswith("durabletask"):
        return "durabletask"
    if qualname is not None and qualname.startswith("azure.durable_functions"):
        return "azure-durable"
    return "orchestrate"


def _is_orchestration_decorator(text: str | None, qualname: str | None) -> bool:
    if text is None:
        return False
    if text.endswith(".orchestration"):
        return True
    return text == "orchestration" and qualname is not None and qualname.endswith(".orchestration")


def _is_dbos_workflow(text: str | None, qualname: str | None) -> bool:
    return text == "DBOS.workflow" or qualname == "dbos.DBOS.workflow"


def _decorated_profile(func: cst.FunctionDef, scope: Scope, extra: frozenset[str]) -> str | None:
    """The profile a function's own decorators declare it a workflow of, if any."""
    for text, qualname in decorator_names(func, scope):
        if _is_orchestration_decorator(text, qualname) or text in extra or qualname in extra:
            return "orchestrate"
        if _is_dbos_workflow(text, qualname):
            return "dbos"
        if text is not None and text.split(".")[-1] == "orchestration_trigger":
            return "azure-durable"
    return None


def _is_temporal_class(cls: cst.ClassDef, scope: Scope) -> bool:
    return any(
        text == "workflow.defn" or qualname == "temporalio.workflow.defn"
        for text, qualname in decorator_names(cls, scope)
    )


def _is_temporal_method(func: cst.FunctionDef, scope: Scope, in_defn: bool) -> bool:
    """A handler (``@workflow.run`` ...) in any class (base classes of workflows included),
    or the ``__init__`` of a ``@workflow.defn`` class."""
    if func.name.value == "__init__" and in_defn:
        return True
    for text, qualname in decorator_names(func, scope):
        for name in (text, qualname):
            if name and name.startswith(("workflow.", "temporalio.workflow.")):
                parts = name.split(".")
                if parts[-1] in _TEMPORAL_METHODS or parts[-2:-1] == ["update"]:
                    return True
    return False


def _registered(
    body: Iterable[cst.BaseStatement], scope: Scope, nested: bool = False
) -> dict[str, str]:
    """Functions handed to a framework by a call in this block: name -> profile.

    ``worker.add_orchestrator(fn)``, ``add_named_orchestrator("n", fn)``,
    ``df.Orchestrator.create(fn)`` and ``DBOS.workflow()(fn)``. With ``nested``, calls
    inside the block's functions count too (they can register a module-level function).
    """
    found: dict[str, str] = {}
    for call in _calls_in(body, nested):
        func = call.func
        profile, index = None, 0
        if isinstance(func, cst.Attribute) and func.attr.value in _REGISTRARS:
            profile, index = _REGISTRARS[func.attr.value]
        elif isinstance(func, cst.Attribute) and func.attr.value == "create":
            text = dotted(func.value)
            if text is not None and text.split(".")[-1] == "Orchestrator":
                profile = "azure-durable"
        elif isinstance(func, cst.Call) and _is_dbos_workflow(
            dotted(func.func), qualify(func.func, scope)
        ):
            profile = "dbos"
        if profile is None:
            continue
        positional = [a for a in call.args if a.keyword is None and not a.star]
        target = positional[index].value if index < len(positional) else None
        if isinstance(target, cst.Name):
            found[target.value] = profile
    return found


def _calls_in(body: Iterable[cst.BaseStatement], nested: bool) -> Iterator[cst.Call]:
    """Calls in a block (inside its nested defs and classes too, with ``nested``)."""
    stack: list[cst.CSTNode] = list(body)
    while stack:
        node = stack.pop()
        if not nested and isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            continue
        if isinstance(node, cst.Call):
            yield node
        stack.extend(_children(node))


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    return list(iter_children(node))


def _block(node: cst.FunctionDef | cst.ClassDef | cst.Module) -> list[cst.BaseStatement]:
    body = node.body
    if isinstance(body, cst.IndentedBlock):
        return list(body.body)
    if isinstance(body, list | tuple):
        return list(body)
    return []


def _statements(body: Iterable[cst.BaseStatement]) -> Iterator[cst.FunctionDef | cst.ClassDef]:
    """The defs and classes of a block, looking inside if/for/while/with/try (not defs)."""
    stack: list[cst.CSTNode] = list(reversed(list(body)))
    while stack:
        node = stack.pop()
        if isinstance(node, cst.FunctionDef | cst.ClassDef):
            yield node
        elif isinstance(
            node,
            cst.BaseCompoundStatement
            | cst.BaseSuite
            | cst.Else
            | cst.ExceptHandler
            | cst.Finally
            | cst.MatchCase,
        ):
            stack.extend(reversed(_children(node)))


def _yields_context_api(func: cst.FunctionDef, skip_self: bool) -> bool:
    """``yield <first param>.call_activity(...)`` (or another context task) in ``func``."""
    param = _first_param(func, skip_self)
    if param is None or param.annotation is not None:
        return False
    name = param.name.value
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            continue
        if isinstance(node, cst.Yield) and isinstance(node.value, cst.Call):
            func_expr = node.value.func
            if (
                isinstance(func_expr, cst.Attribute)
                and func_expr.attr.value in _YIELDED_API
                and isinstance(func_expr.value, cst.Name)
                and func_expr.value.value == name
            ):
                return True
        stack.extend(iter_children(node))
    return False


class _Finder:
    """Walks the module's defs and classes (at any depth), collecting entries."""

    def __init__(self, info: ModuleInfo, enabled: frozenset[str], extra: frozenset[str]) -> None:
        self.info = info
        self.enabled = enabled
        self.extra = extra
        self.entries: list[Entry] = []
        self.wants_registrations = any(m in info.source.text for m in _REGISTRATION_MARKERS)
        generators = {"durabletask", "azure-durable"} & enabled
        used = frameworks_imported(info.source.text.encode()) if generators else frozenset()
        # The newer Azure package is durabletask underneath: prefer durabletask when both are.
        self.generator_profile = next(
            (p for p in ("durabletask", "azure-durable") if p in used and p in enabled), None
        )

    def block(
        self,
        body: list[cst.BaseStatement],
        scope: Scope,
        prefix: str,
        cls: cst.ClassDef | None = None,
        temporal: bool = False,
    ) -> None:
        registered: dict[str, str] = {}
        if self.wants_registrations:
            registered = _registered(body, scope, nested=scope is self.info.scope)
        for node in _statements(body):
            if isinstance(node, cst.ClassDef):
                is_temporal = "temporal" in self.enabled and _is_temporal_class(node, scope)
                self.block(_block(node), scope, f"{prefix}{node.name.value}.", node, is_temporal)
                continue
            self.function(node, scope, prefix, cls, temporal, registered.get(node.name.value))

    def function(
        self,
        func: cst.FunctionDef,
        scope: Scope,
        prefix: str,
        cls: cst.ClassDef | None,
        temporal: bool,
        registered: str | None,
    ) -> None:
        label = prefix + func.name.value
        if not self.info.is_activity(func):
            profile = self._profile(func, scope, cls, temporal, registered)
            if profile is not None and profile in self.enabled:
                self.entries.append(self._entry(func, scope, profile, label, cls))
        inner = _block(func)
        if any(True for _ in _statements(inner)):
            local = function_scope(func, scope, self.info.package, self.info.star_names)
            self.block(inner, local, f"{label}.")

    def _profile(
        self,
        func: cst.FunctionDef,
        scope: Scope,
        cls: cst.ClassDef | None,
        temporal: bool,
        registered: str | None,
    ) -> str | None:
        in_class = cls is not None
        if in_class and "temporal" in self.enabled and _is_temporal_method(func, scope, temporal):
            return "temporal"
        declared = _decorated_profile(func, scope, self.extra) or registered
        annotated = _context_profile(func, scope, in_class=cls is not None)
        if declared == "azure-durable" and annotated == "durabletask":
            # The newer Azure package runs durabletask-style orchestrators: same API.
            return annotated if annotated in self.enabled else declared
        if declared or annotated:
            return declared or annotated
        if self.generator_profile is not None and _yields_context_api(func, in_class):
            return self.generator_profile
        return None

    def _entry(
        self,
        func: cst.FunctionDef,
        scope: Scope,
        profile: str,
        name: str,
        cls: cst.ClassDef | None,
    ) -> Entry:
        ctx = None
        if profile in {"orchestrate", "durabletask", "azure-durable"}:
            param = _first_param(func, skip_self=cls is not None)
            ctx = param.name.value if param is not None else None
        parent = None if scope is self.info.scope else scope
        return Entry(func, name, profile, ctx, cls, parent)


def find_entries(
    info: ModuleInfo, profiles: Iterable[str], extra_decorators: Iterable[str] = ()
) -> list[Entry]:
    """The orchestrations defined anywhere in ``info``, for the enabled ``profiles``."""
    if is_framework_module(info.dotted):
        return []
    finder = _Finder(info, frozenset(profiles), frozenset(extra_decorators))
    finder.block(list(info.module.body), info.scope, "")
    return finder.entries
