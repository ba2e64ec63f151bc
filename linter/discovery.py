"""Finding the orchestrations (workflow entry points) in a parsed module.

Only code reachable from these is ever checked: activities and ordinary functions may do
I/O freely. Each entry remembers its context parameter's name, so hints and fixes say
``context.now()`` when the code calls its context ``context``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst

from linter.modules import ModuleInfo, decorator_names
from linter.names import dotted, qualify

__all__ = ["Entry", "find_entries"]

_TEMPORAL_METHODS = frozenset({"run", "signal", "query", "update"})


@dataclass(frozen=True, eq=False)
class Entry:
    """An orchestration: where it is, which profile found it, and its context's name."""

    func: cst.FunctionDef
    name: str
    profile: str
    ctx: str | None
    cls: cst.ClassDef | None = None

    @property
    def is_async(self) -> bool:
        return self.func.asynchronous is not None


def _first_param(func: cst.FunctionDef, skip_self: bool) -> cst.Param | None:
    params = [*func.params.posonly_params, *func.params.params]
    if skip_self and params and params[0].name.value in {"self", "cls"}:
        params = params[1:]
    return params[0] if params else None


def _annotation_text(param: cst.Param, info: ModuleInfo) -> tuple[str | None, str | None]:
    if param.annotation is None:
        return None, None
    expr = param.annotation.annotation
    if isinstance(expr, cst.SimpleString):
        text = expr.evaluated_value
        return (text if isinstance(text, str) else None), None
    return dotted(expr), qualify(expr, info.scope)


def _context_profile(func: cst.FunctionDef, info: ModuleInfo, in_class: bool) -> str | None:
    param = _first_param(func, in_class)
    if param is None:
        return None
    text, qualname = _annotation_text(param, info)
    if not text or not text.endswith("OrchestrationContext"):
        return None
    if qualname is not None and qualname.startswith("durabletask"):
        return "durabletask"
    return "orchestrate"


def _is_orchestration_decorator(text: str | None, qualname: str | None) -> bool:
    if text is None:
        return False
    if text.endswith(".orchestration"):
        return True
    return text == "orchestration" and qualname is not None and qualname.endswith(".orchestration")


def _native(
    func: cst.FunctionDef, info: ModuleInfo, profiles: frozenset[str], extra: frozenset[str]
) -> str | None:
    for text, qualname in decorator_names(func, info.scope):
        if _is_orchestration_decorator(text, qualname) or text in extra or qualname in extra:
            return "orchestrate"
        if "dbos" in profiles and (text == "DBOS.workflow" or qualname == "dbos.DBOS.workflow"):
            return "dbos"
    profile = _context_profile(func, info, in_class=False)
    return profile if profile in profiles or profile is None else None


def _entry(
    func: cst.FunctionDef,
    info: ModuleInfo,
    profile: str,
    name: str,
    cls: cst.ClassDef | None = None,
) -> Entry:
    ctx = None
    if profile in {"orchestrate", "durabletask"}:
        param = _first_param(func, skip_self=cls is not None)
        ctx = param.name.value if param is not None else None
    return Entry(func, name, profile, ctx, cls)


def _is_temporal_class(cls: cst.ClassDef, info: ModuleInfo) -> bool:
    return any(
        text == "workflow.defn" or qualname == "temporalio.workflow.defn"
        for text, qualname in decorator_names(cls, info.scope)
    )


def _is_temporal_method(func: cst.FunctionDef, info: ModuleInfo) -> bool:
    for text, qualname in decorator_names(func, info.scope):
        for name in (text, qualname):
            if name and name.startswith(("workflow.", "temporalio.workflow.")):
                parts = name.split(".")
                if parts[-1] in _TEMPORAL_METHODS or parts[-2:-1] == ["update"]:
                    return True
    return False


def find_entries(
    info: ModuleInfo, profiles: Iterable[str], extra_decorators: Iterable[str] = ()
) -> list[Entry]:
    """The orchestrations defined at the top level of ``info`` (and in workflow classes)."""
    enabled = frozenset(profiles)
    extra = frozenset(extra_decorators)
    entries: list[Entry] = []
    for name, func in info.functions.items():
        if info.is_activity(func):
            continue
        profile = _native(func, info, enabled, extra)
        if profile is not None and profile in enabled:
            entries.append(_entry(func, info, profile, name))
    for cls_name, cls in info.classes.items():
        temporal = "temporal" in enabled and _is_temporal_class(cls, info)
        for method_name, method in info.methods(cls).items():
            label = f"{cls_name}.{method_name}"
            if temporal and _is_temporal_method(method, info):
                entries.append(_entry(method, info, "temporal", label, cls))
            elif not info.is_activity(method):
                for text, qualname in decorator_names(method, info.scope):
                    if _is_orchestration_decorator(text, qualname) or text in extra:
                        entries.append(_entry(method, info, "orchestrate", label, cls))
                        break
    return entries
