"""Checking one function: walk its body once, hand nodes and calls to the rules, and note
which helpers it calls so ``reach`` can check those next.

The walk skips what cannot run as part of the orchestration's replay: nested classes, the
arguments of ``ctx.side_effect(...)`` (their result is recorded), and nested functions that
are only passed to ``ctx.side_effect``. Nested functions and lambdas otherwise count as the
orchestration's own code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from linter.modules import ModuleInfo, ModuleLoader
from linter.names import Binding, LocalBinding, Scope, function_scope, lambda_scope, qualify
from linter.profiles import Profile, is_framework_module
from linter.rules import Fixer, Rule, RuleSet
from linter.rules._base import _written
from linter.walk import iter_children

__all__ = ["Callee", "FunctionChecker", "Hit"]


@dataclass(frozen=True, eq=False)
class Hit:
    """A rule fired on ``node`` in module ``info``; becomes a Finding once located."""

    info: ModuleInfo
    node: cst.CSTNode
    rule: Rule
    subject: str
    chain: tuple[str, ...]
    profile: Profile
    ctx_name: str
    fix: Fixer | None = None
    detail: str | None = None
    is_async: bool = False


@dataclass(frozen=True, eq=False)
class Callee:
    """A helper function called from checked code, with what it is called with."""

    info: ModuleInfo
    func: cst.FunctionDef
    cls: cst.ClassDef | None
    parent_scope: Scope
    ctx_names: frozenset[str]


@dataclass(eq=False)
class FunctionChecker:
    """Walks one function for the rules; implements the rules' ``Context``."""

    rules: RuleSet
    loader: ModuleLoader
    info: ModuleInfo
    func: cst.FunctionDef
    parent_scope: Scope
    cls: cst.ClassDef | None
    chain: tuple[str, ...]
    profile: Profile
    ctx_names: frozenset[str]
    ctx_name: str
    direct: bool
    is_async: bool
    hits: list[Hit] = field(default_factory=list)
    callees: list[Callee] = field(default_factory=list)
    ok_nodes: set[int] = field(default_factory=set)
    quiet: int = 0  # > 0 inside `if not ctx.is_replaying:`, where output runs only once

    def __post_init__(self) -> None:
        self.scope = function_scope(
            self.func, self.parent_scope, self.info.package, self.loader.star_names
        )
        self._function_scope = self.scope
        self._node_rules = self.rules.node_rules(self.profile)
        self._statement_calls: set[int] = set()
        self._awaited: set[int] = set()
        self._handled: set[int] = set()
        self._side_effect_names: set[str] = set()
        self._nested: list[cst.FunctionDef] = []
        self._values: dict[str, cst.BaseExpression] | None = None

    # -- the walk -------------------------------------------------------------------------

    def run(self) -> None:
        for rule in self.rules.function_rules_for(self.profile):
            rule.check_function(self.func, self)
        self._walk(self.func.body)
        for nested in self._nested:
            if nested.name.value not in self._side_effect_names:
                self.callees.append(
                    Callee(self.info, nested, self.cls, self._function_scope, self.ctx_names)
                )

    def _walk(self, node: cst.CSTNode) -> None:
        kind = type(node)
        if kind is cst.FunctionDef:
            assert isinstance(node, cst.FunctionDef)
            self._nested.append(node)
            return
        if kind is cst.ClassDef:
            return
        if kind is cst.Lambda:
            assert isinstance(node, cst.Lambda)
            outer = self.scope
            self.scope = lambda_scope(node, outer)
            self._walk(node.body)
            self.scope = outer
            return
        for rule in self._node_rules.get(kind, ()):
            rule.visit(node, self)
        if kind is cst.If:
            assert isinstance(node, cst.If)
            if self._is_not_replaying(node.test):
                self._walk(node.test)
                self.quiet += 1
                self._walk(node.body)
                self.quiet -= 1
                if node.orelse is not None:
                    self._walk(node.orelse)
                return
        if kind is cst.Await:
            assert isinstance(node, cst.Await)
            if type(node.expression) is cst.Call:
                self._awaited.add(id(node.expression))
        if kind is cst.Call:
            assert isinstance(node, cst.Call)
            if self._call(node):
                return
        elif kind is cst.Expr:
            assert isinstance(node, cst.Expr)
            if type(node.value) is cst.Call:
                self._statement_calls.add(id(node.value))
        elif kind is cst.Attribute or kind is cst.Name:
            assert isinstance(node, cst.Attribute | cst.Name)
            if self.rules.has_access and id(node) not in self._handled:
                self._access(node)
            if kind is cst.Attribute and self.cls is not None:
                assert isinstance(node, cst.Attribute)
                self._method_reference(node)
        for child in iter_children(node):
            self._walk(child)

    def _is_not_replaying(self, test: cst.BaseExpression) -> bool:
        """``not ctx.is_replaying`` (or Temporal's ``not workflow.unsafe.is_replaying()``)."""
        if not (isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)):
            return False
        inner = test.expression
        if isinstance(inner, cst.Call):
            return qualify(inner.func, self.scope) == "temporalio.workflow.unsafe.is_replaying"
        return (
            isinstance(inner, cst.Attribute)
            and inner.attr.value == "is_replaying"
            and self.is_ctx(inner.value)
        )

    def _access(self, node: cst.Attribute | cst.Name) -> None:
        qualname = qualify(node, self.scope)
        if qualname is None:
            return
        rule = self.rules.access_rule(qualname, self.profile)
        if rule is not None:
            rule.check_access(node, qualname, self)

    def _call(self, call: cst.Call) -> bool:
        """Dispatch a call to the rules and record helper calls. True: skip its arguments."""
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "side_effect"
            and self.is_ctx(func.value)
        ):
            for arg in call.args:
                if isinstance(arg.value, cst.Name):
                    self._side_effect_names.add(arg.value.value)
            return True
        qualname = qualify(func, self.scope)
        if qualname is not None and self.rules.is_durable(qualname, self.profile):
            return False  # recorded by the framework: not checked, not followed
        if qualname is not None:
            rule = self.rules.call_rule(qualname, self.profile)
            if rule is not None:
                self._handled.add(id(func))
                rule.check_call(call, qualname, self)
                return False
        target = self._target(func, qualname)
        if target is not None:
            info, callee, cls, parent = target
            if info.is_activity(callee):
                activity_rule = self.rules.activity_rule
                if activity_rule is not None and activity_rule.CODE not in self.profile.disabled:
                    activity_rule.check_activity(call, callee.name.value, self)
            else:
                self.callees.append(Callee(info, callee, cls, parent, self._ctx_args(call, callee)))
        return False

    def _method_reference(self, node: cst.Attribute) -> None:
        """``self.helper`` handed on (a callback, an agent's tool): it runs in this workflow."""
        if not (isinstance(node.value, cst.Name) and node.value.value in {"self", "cls"}):
            return
        assert self.cls is not None
        method = self.info.methods(self.cls).get(node.attr.value)
        if method is not None and not self.info.is_activity(method):
            self.callees.append(Callee(self.info, method, self.cls, self.info.scope, frozenset()))

    def _target(
        self, func: cst.BaseExpression, qualname: str | None
    ) -> tuple[ModuleInfo, cst.FunctionDef, cst.ClassDef | None, Scope] | None:
        if isinstance(func, cst.Name):
            binding, where = _lookup(self.scope, func.value)
            if isinstance(binding, LocalBinding) and isinstance(binding.node, cst.FunctionDef):
                if self.info.functions.get(func.value) is binding.node:
                    return self.info, binding.node, None, self.info.scope
                if where is self._function_scope or where is self.scope:
                    return None  # a nested def: checked after the walk unless side-effect only
                # a def beside this one in an enclosing function (e.g. in the same test)
                return self.info, binding.node, None, where or self.info.scope
        elif (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value in {"self", "cls"}
            and self.cls is not None
        ):
            method = self.info.methods(self.cls).get(func.attr.value)
            if method is not None:
                return self.info, method, self.cls, self.info.scope
            return None
        if (
            qualname is not None
            and not qualname.startswith("builtins.")
            and not is_framework_module(qualname)
        ):
            found = self.loader.resolve(qualname, self.info.root)
            if found is not None:
                info, callee, cls = found
                return info, callee, cls, info.scope
        return None

    def _ctx_args(self, call: cst.Call, callee: cst.FunctionDef) -> frozenset[str]:
        """Which of the callee's parameters receive this function's context."""
        params = [*callee.params.posonly_params, *callee.params.params]
        if params and params[0].name.value in {"self", "cls"}:
            params = params[1:]
        names: set[str] = set()
        for index, arg in enumerate(call.args):
            if arg.star or not self.is_ctx(arg.value):
                continue
            if arg.keyword is not None:
                names.add(arg.keyword.value)
            elif index < len(params):
                names.add(params[index].name.value)
        for param in (*params, *callee.params.kwonly_params):
            annotation = param.annotation
            if annotation is not None and _written(annotation.annotation).endswith(
                "OrchestrationContext"
            ):
                names.add(param.name.value)
        return frozenset(names)

    # -- the rules' Context ---------------------------------------------------------------

    def qualify(self, expr: cst.BaseExpression) -> str | None:
        return qualify(expr, self.scope)

    def is_ctx(self, expr: cst.BaseExpression) -> bool:
        return isinstance(expr, cst.Name) and expr.value in self.ctx_names

    def is_module_global(self, name: str) -> bool:
        binding = self.scope.lookup(name)
        return binding is not None and binding is self.info.scope.bindings.get(name)

    def is_statement_call(self, call: cst.Call) -> bool:
        return id(call) in self._statement_calls

    def is_awaited(self, call: cst.Call) -> bool:
        return id(call) in self._awaited

    def local_value(self, name: str) -> cst.BaseExpression | None:
        if self._values is None:
            self._values = {}
            for statement in _statements(self.func.body):
                for small in statement.body:
                    if (
                        isinstance(small, cst.Assign)
                        and len(small.targets) == 1
                        and isinstance(small.targets[0].target, cst.Name)
                    ):
                        self._values[small.targets[0].target.value] = small.value
        if name not in self._function_scope.bindings:
            return None
        return self._values.get(name)

    def is_flagged_call(self, qualname: str) -> bool:
        """Reported by a call rule already, or explicitly allowed: either way not ORC113's."""
        return (
            self.rules.call_rule(qualname, self.profile) is not None
            or self.rules.allowed(qualname, self.profile)
            or self.rules.is_durable(qualname, self.profile)
        )

    def is_trusted_call(self, qualname: str) -> bool:
        """Allowed by the config or profile, or recorded by the framework (durable)."""
        return self.rules.allowed(qualname, self.profile) or self.rules.is_durable(
            qualname, self.profile
        )

    def is_project_name(self, qualname: str) -> bool:
        parts = qualname.split(".")
        return any(
            self.loader.find(".".join(parts[:cut]), self.info.root) is not None
            for cut in range(len(parts), 0, -1)
        )

    def written(self, expr: cst.BaseExpression) -> str:
        return _written(expr)

    def report(
        self,
        rule: Rule,
        node: cst.CSTNode,
        subject: str,
        *,
        fix: Fixer | None = None,
        detail: str | None = None,
    ) -> None:
        self.hits.append(
            Hit(
                self.info,
                node,
                rule,
                subject,
                self.chain,
                self.profile,
                self.ctx_name,
                fix,
                detail,
                self.is_async,
            )
        )


def _lookup(scope: Scope, name: str) -> tuple[Binding | None, Scope | None]:
    """Like ``Scope.lookup``, but also says which scope the name was found in."""
    current: Scope | None = scope
    while current is not None:
        if name in current.globals_:
            root = current.root()
            return root.bindings.get(name), root
        found = current.bindings.get(name)
        if found is not None:
            return found, current
        current = current.parent
    return None, None


def _statements(block: cst.BaseSuite) -> list[cst.SimpleStatementLine]:
    """Simple statement lines of a function body, including inside if/for/with/try blocks."""
    result: list[cst.SimpleStatementLine] = []
    stack: list[cst.CSTNode] = [block]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.SimpleStatementLine):
            result.append(node)
        elif isinstance(node, cst.FunctionDef | cst.ClassDef):
            continue
        elif isinstance(
            node,
            cst.BaseSuite | cst.BaseCompoundStatement | cst.Else | cst.ExceptHandler | cst.Finally,
        ):
            stack.extend(reversed(list(iter_children(node))))
    return result
