"""Light import and alias tracking: which module-level thing a name in the code refers to.

This replaces libcst's QualifiedNameProvider/ScopeProvider, which cost several parses per
file. Python's rule is simple enough for our purpose: a name assigned anywhere in a function
is local to it (so it shadows an import), otherwise it is looked up in the enclosing
functions, then the module, then builtins. Imports record the qualified name they bind.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import libcst as cst

from linter.walk import iter_children

__all__ = [
    "Binding",
    "ImportBinding",
    "LocalBinding",
    "Scope",
    "dotted",
    "function_scope",
    "lambda_scope",
    "module_scope",
    "qualify",
    "relative_base",
]

_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class ImportBinding:
    """The name was bound by an import of ``qualname`` (e.g. ``datetime.datetime``)."""

    qualname: str


@dataclass(frozen=True)
class LocalBinding:
    """The name was bound by code in this module: a def, class, assignment or parameter.

    ``node`` is the def or class when there is one (used to follow helper calls).
    """

    node: cst.CSTNode | None = None


Binding = ImportBinding | LocalBinding


@dataclass
class Scope:
    """Names bound in one function (or the module); ``parent`` is the enclosing scope."""

    bindings: dict[str, Binding] = field(default_factory=dict)
    parent: Scope | None = None
    globals_: frozenset[str] = frozenset()

    def lookup(self, name: str) -> Binding | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.globals_:
                scope = scope.root()
                return scope.bindings.get(name)
            found = scope.bindings.get(name)
            if found is not None:
                return found
            scope = scope.parent
        return None

    def root(self) -> Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope


def dotted(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` as written, or None if the expression is not a plain dotted name."""
    split = _root_and_attributes(expr)
    return None if split is None else ".".join((split[0], *split[1]))


def _root_and_attributes(expr: cst.BaseExpression) -> tuple[str, list[str]] | None:
    """``a.b.c`` as ``("a", ["b", "c"])``; None if not a plain dotted name."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    return expr.value, parts[::-1]


def qualify(expr: cst.BaseExpression, scope: Scope) -> str | None:
    """The qualified name ``expr`` refers to, e.g. ``dt.datetime.now`` -> ``datetime.datetime.now``.

    None when the root name is a local variable, a parameter, a def in this module, or unknown:
    an attribute on such an object (``self.time``, ``clock.sleep``) is never a module function.
    """
    split = _root_and_attributes(expr)
    if split is None:
        return None
    root, attributes = split
    binding = scope.lookup(root)
    if binding is None:
        if root not in _BUILTINS:
            return None
        base = "builtins." + root
    elif isinstance(binding, ImportBinding):
        base = binding.qualname
    else:
        return None
    return ".".join((base, *attributes))


def relative_base(package: str, level: int) -> str | None:
    """The package a ``from .`` import with ``level`` dots starts from, or None if too deep."""
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    return ".".join(parts[: len(parts) - (level - 1)])


def _import_bindings(
    node: cst.Import | cst.ImportFrom,
    package: str,
    star_names: Mapping[str, Iterable[str]],
) -> Iterator[tuple[str, Binding]]:
    if isinstance(node, cst.Import):
        for alias in node.names:
            name = dotted(alias.name)
            if name is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield alias.asname.name.value, ImportBinding(name)
            else:
                top = name.split(".")[0]
                yield top, ImportBinding(top)
        return
    module = dotted(node.module) if node.module is not None else ""
    if module is None:
        return
    if node.relative:
        base = relative_base(package, len(node.relative))
        if base is None:
            return
        module = ".".join(p for p in (base, module) if p)
    if isinstance(node.names, cst.ImportStar):
        for name in star_names.get(module, ()):
            yield name, ImportBinding(f"{module}.{name}")
        return
    for alias in node.names:
        if not isinstance(alias.name, cst.Name):
            continue
        local = alias.name.value
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            local = alias.asname.name.value
        yield local, ImportBinding(f"{module}.{alias.name.value}" if module else alias.name.value)


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, cst.Tuple | cst.List):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


# The node types _Binder.visit does more with than walk into.
_BINDING_KINDS: frozenset[type[cst.CSTNode]] = frozenset(
    {
        cst.FunctionDef,
        cst.ClassDef,
        cst.Lambda,
        cst.Import,
        cst.ImportFrom,
        cst.Global,
        cst.Nonlocal,
        cst.AssignTarget,
        cst.AnnAssign,
        cst.AugAssign,
        cst.For,
        cst.CompFor,
        cst.AsName,
        cst.NamedExpr,
        cst.ExceptHandler,
        cst.MatchAs,
    }
)


class _Binder:
    """Collects the names a block of statements binds, without entering nested scopes."""

    def __init__(self, package: str, star_names: Mapping[str, Iterable[str]]) -> None:
        self.package = package
        self.star_names = star_names
        self.bindings: dict[str, Binding] = {}
        self.globals_: set[str] = set()

    def local(self, name: str, node: cst.CSTNode | None = None) -> None:
        self.bindings[name] = LocalBinding(node)

    def visit(self, node: cst.CSTNode) -> None:
        # Dispatch on the exact type: libcst's node classes are final, and isinstance on
        # them goes through ABCMeta, which made this walk a tenth of a cold run.
        kind = type(node)
        if kind not in _BINDING_KINDS:
            for child in iter_children(node):
                self.visit(child)
            return
        if isinstance(node, cst.FunctionDef | cst.ClassDef):
            self.local(node.name.value, node)
            return
        if isinstance(node, cst.Lambda):
            return
        if isinstance(node, cst.Import | cst.ImportFrom):
            for name, binding in _import_bindings(node, self.package, self.star_names):
                self.bindings[name] = binding
            return
        if isinstance(node, cst.Global | cst.Nonlocal):
            if isinstance(node, cst.Global):
                self.globals_.update(n.name.value for n in node.names)
            return
        if isinstance(
            node, cst.AssignTarget | cst.AnnAssign | cst.AugAssign | cst.For | cst.CompFor
        ):
            self._bind_target(node.target)
        elif isinstance(node, cst.AsName):
            self._bind_target(node.name)
        elif isinstance(node, cst.NamedExpr):
            self._bind_target(node.target)
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            self._bind_target(node.name.name)
        elif isinstance(node, cst.MatchAs) and node.name is not None:
            self.local(node.name.value)
        for child in iter_children(node):
            self.visit(child)

    def _bind_target(self, target: cst.BaseExpression) -> None:
        for name in _target_names(target):
            self.local(name)


def module_scope(
    module: cst.Module, package: str, star_names: Mapping[str, Iterable[str]]
) -> Scope:
    """The names a module binds at top level (in order, so the last binding wins)."""
    binder = _Binder(package, star_names)
    for statement in module.body:
        binder.visit(statement)
    return Scope(binder.bindings)


def function_scope(
    func: cst.FunctionDef,
    parent: Scope,
    package: str,
    star_names: Mapping[str, Iterable[str]],
) -> Scope:
    """The names local to ``func``: its parameters and everything its body binds."""
    binder = _Binder(package, star_names)
    params = func.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        binder.local(param.name.value)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            binder.local(star.name.value)
    binder.visit(func.body)
    for name in binder.globals_:
        binder.bindings.pop(name, None)
    return Scope(binder.bindings, parent, frozenset(binder.globals_))


def lambda_scope(node: cst.Lambda, parent: Scope) -> Scope:
    """The scope of a lambda: its parameters shadow outer names."""
    params = node.params
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return Scope({n: LocalBinding() for n in names}, parent)
