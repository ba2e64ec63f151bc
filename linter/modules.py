"""Parsed modules of the linted project, and finding a module by its dotted name.

A ``ModuleInfo`` is parsed once per process and indexes what the rules and the helper
walk need: top-level functions and classes, activities, module-level mutable state and
loggers. ``ModuleLoader`` resolves ``app.pricing.price_for`` to a file under the project's
import roots, so helpers in other modules can be followed without importing anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import libcst as cst

from linter.finder import ModuleFinder, content_digest, module_identity
from linter.names import ImportBinding, Scope, dotted, module_scope, qualify
from linter.parse import parse_module
from linter.source import Source, decode

__all__ = [
    "ModuleInfo",
    "ModuleLoader",
    "Reads",
    "decorator_names",
]

_MUTABLE_CALLS = frozenset(
    {
        "builtins.list",
        "builtins.dict",
        "builtins.set",
        "builtins.bytearray",
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.deque",
        "collections.Counter",
    }
)
_ACTIVITY_SUFFIXES = (".activity", "activity.defn", "DBOS.step", "DBOS.transaction")


def decorator_names(
    node: cst.FunctionDef | cst.ClassDef, scope: Scope
) -> list[tuple[str | None, str | None]]:
    """For each decorator (call stripped): its dotted text and its qualified name."""
    result = []
    for decorator in node.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        result.append((dotted(expr), qualify(expr, scope)))
    return result


def is_mutable_value(expr: cst.BaseExpression, scope: Scope) -> bool:
    """A list/dict/set display, comprehension, or a call building a mutable container."""
    if isinstance(expr, cst.List | cst.Dict | cst.Set | cst.ListComp | cst.DictComp | cst.SetComp):
        return True
    if isinstance(expr, cst.Call):
        return qualify(expr.func, scope) in _MUTABLE_CALLS
    return False


@dataclass(eq=False)
class ModuleInfo:
    """One parsed module and the indexes built from its top level."""

    path: str
    source: Source
    module: cst.Module
    dotted: str
    package: str
    root: str
    scope: Scope
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)
    star_names: Mapping[str, Iterable[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, path: str, source: Source, module: cst.Module, star_names: Mapping[str, Iterable[str]]
    ) -> ModuleInfo:
        name, package, root = module_identity(path)
        info = cls(
            path, source, module, name, package, root, module_scope(module, package, star_names)
        )
        info.star_names = star_names
        for statement in _top_level(module.body):
            if isinstance(statement, cst.FunctionDef):
                info.functions[statement.name.value] = statement
            elif isinstance(statement, cst.ClassDef):
                info.classes[statement.name.value] = statement
        return info

    def methods(self, cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
        """The functions defined directly in a class body."""
        body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
        return {s.name.value: s for s in body if isinstance(s, cst.FunctionDef)}

    def is_activity(self, func: cst.FunctionDef) -> bool:
        """Decorated as an activity (``@reg.activity``, Temporal ``@activity.defn``, DBOS step)."""
        for text, qualname in decorator_names(func, self.scope):
            for name in (text, qualname):
                if name and (name == "activity" or name.endswith(_ACTIVITY_SUFFIXES)):
                    return True
        return False

    @cached_property
    def mutable_globals(self) -> frozenset[str]:
        """Module-level names bound to a mutable container: mutating them is hidden state."""
        names: set[str] = set()
        for statement in _top_level(self.module.body):
            for small in _small_statements(statement):
                if isinstance(small, cst.Assign) and is_mutable_value(small.value, self.scope):
                    names.update(
                        t.target.value for t in small.targets if isinstance(t.target, cst.Name)
                    )
                elif (
                    isinstance(small, cst.AnnAssign)
                    and small.value is not None
                    and isinstance(small.target, cst.Name)
                    and is_mutable_value(small.value, self.scope)
                ):
                    names.add(small.target.value)
        return frozenset(names)

    @cached_property
    def global_values(self) -> dict[str, cst.BaseExpression]:
        """Module-level names bound once by a plain assignment, with the assigned value."""
        values: dict[str, cst.BaseExpression] = {}
        for statement in _top_level(self.module.body):
            for small in _small_statements(statement):
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name):
                        values[target.value] = small.value
                elif (
                    isinstance(small, cst.AnnAssign)
                    and small.value is not None
                    and isinstance(small.target, cst.Name)
                ):
                    values[small.target.value] = small.value
        return values

    @cached_property
    def loggers(self) -> frozenset[str]:
        """Module-level names bound to ``logging.getLogger(...)``."""
        names: set[str] = set()
        for statement in _top_level(self.module.body):
            for small in _small_statements(statement):
                if (
                    isinstance(small, cst.Assign)
                    and isinstance(small.value, cst.Call)
                    and qualify(small.value.func, self.scope) == "logging.getLogger"
                ):
                    names.update(
                        t.target.value for t in small.targets if isinstance(t.target, cst.Name)
                    )
        return frozenset(names)


def _top_level(body: Iterable[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """Top-level statements, looking inside module-level ``if``/``try`` blocks."""
    result: list[cst.BaseStatement] = []
    for statement in body:
        if isinstance(statement, cst.If | cst.Try):
            blocks: list[cst.BaseSuite] = [statement.body]
            if isinstance(statement, cst.If) and statement.orelse is not None:
                blocks.append(statement.orelse.body)
            if isinstance(statement, cst.Try):
                blocks.extend(h.body for h in statement.handlers)
            for block in blocks:
                if isinstance(block, cst.IndentedBlock):
                    result.extend(_top_level(block.body))
        else:
            result.append(statement)
    return result


def _small_statements(statement: cst.BaseStatement) -> tuple[cst.BaseSmallStatement, ...]:
    if isinstance(statement, cst.SimpleStatementLine):
        return tuple(statement.body)
    return ()


@dataclass
class Reads:
    """What one file's analysis looked at through the loader, whether or not the loader had
    it already: modules (absolute paths) and module names looked up (with their root)."""

    modules: set[str] = field(default_factory=set)
    lookups: set[tuple[str, str]] = field(default_factory=set)


class ModuleLoader(ModuleFinder):
    """Parses project modules on demand and caches them for the life of the process.

    While ``reads`` is set, every module read and every name looked up is noted there, and
    ``digests`` keeps the fingerprint of each file read: the result cache's dependencies.
    """

    def __init__(
        self, star_names: Mapping[str, Iterable[str]], extra_roots: Iterable[str] = ()
    ) -> None:
        super().__init__(extra_roots)
        self.star_names = star_names
        self.reads: Reads | None = None
        self.digests: dict[str, str] = {}  # absolute path -> content digest ("" unreadable)
        self._by_path: dict[str, ModuleInfo | None] = {}

    def add(self, info: ModuleInfo) -> None:
        self._by_path[os.path.abspath(info.path)] = info

    def loaded(self, path: str) -> ModuleInfo | None:
        """The module already parsed for ``path`` (None if never loaded or unparsable)."""
        return self._by_path.get(os.path.abspath(path))

    def load(self, path: str) -> ModuleInfo | None:
        """The parsed module at ``path``, or None if it cannot be read, decoded or parsed."""
        key = os.path.abspath(path)
        if self.reads is not None:
            self.reads.modules.add(key)
        if key in self._by_path:
            return self._by_path[key]
        info: ModuleInfo | None = None
        self.digests[key] = ""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            self.digests[key] = content_digest(data)
            source = decode(data)
            if isinstance(source, Source):
                info = ModuleInfo.build(path, source, parse_module(source.text), self.star_names)
        except (OSError, cst.ParserSyntaxError):
            info = None
        self._by_path[key] = info
        return info

    def find(self, name: str, root: str) -> str | None:
        """The file of module ``name`` under ``root`` or the extra roots, if in the project."""
        if self.reads is not None:
            self.reads.lookups.add((name, root))
        return super().find(name, root)

    def resolve(
        self, qualname: str, root: str, depth: int = 0
    ) -> tuple[ModuleInfo, cst.FunctionDef, cst.ClassDef | None] | None:
        """The project function ``qualname`` names (``pkg.mod.func`` or ``pkg.mod.Class.meth``),
        following re-exports; None for anything outside the project."""
        parts = qualname.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            path = self.find(".".join(parts[:cut]), root)
            if path is None:
                continue
            info = self.load(path)
            if info is None:
                return None
            rest = parts[cut:]
            if len(rest) == 1 and rest[0] in info.functions:
                return info, info.functions[rest[0]], None
            if len(rest) == 2 and rest[0] in info.classes:
                cls = info.classes[rest[0]]
                method = info.methods(cls).get(rest[1])
                return (info, method, cls) if method is not None else None
            binding = info.scope.bindings.get(rest[0])
            if isinstance(binding, ImportBinding) and depth < 8:
                target = ".".join((binding.qualname, *rest[1:]))
                return self.resolve(target, info.root, depth + 1)
            return None
        return None
