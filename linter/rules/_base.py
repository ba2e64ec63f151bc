"""What a rule is: a small class with a code, a message, a hint, a rationale and examples.

Rules never walk code themselves. The checker walks each reachable function once and hands
rules the nodes they asked for (``NODES``) or the calls whose qualified name is in their
table (``CALLS``/``ACCESS``); a rule then calls ``cx.report``. Every VALID/INVALID example
becomes a test (``tests/linter/test_rule_examples.py``) and part of ``docs/rules.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import libcst as cst

from linter.modules import ModuleInfo
from linter.names import Scope
from linter.profiles import Profile

__all__ = ["CallRule", "Context", "Fixer", "Invalid", "Rule", "can_fix", "ctx_attr", "subject"]

Fixer = Callable[[cst.Call], cst.BaseExpression]


@dataclass(frozen=True)
class Invalid:
    """A snippet the rule must flag: every line ending in ``# expect: CODE`` and no other.

    ``fixed`` is the snippet after ``--fix``; None means the rule offers no safe rewrite.
    """

    source: str
    fixed: str | None = None


class Context(Protocol):
    """What a rule may ask about the function being checked (implemented by the checker)."""

    info: ModuleInfo
    func: cst.FunctionDef
    scope: Scope
    ctx_names: frozenset[str]
    ctx_name: str
    profile: Profile
    direct: bool
    is_async: bool
    ok_nodes: set[int]
    quiet: int

    def qualify(self, expr: cst.BaseExpression) -> str | None: ...

    def is_ctx(self, expr: cst.BaseExpression) -> bool: ...

    def is_module_global(self, name: str) -> bool: ...

    def is_statement_call(self, call: cst.Call) -> bool: ...

    def is_awaited(self, call: cst.Call) -> bool: ...

    def local_value(self, name: str) -> cst.BaseExpression | None: ...

    def is_flagged_call(self, qualname: str) -> bool: ...

    def is_trusted_call(self, qualname: str) -> bool: ...

    def is_project_name(self, qualname: str) -> bool: ...

    def written(self, expr: cst.BaseExpression) -> str: ...

    def report(
        self,
        rule: Rule,
        node: cst.CSTNode,
        subject: str,
        *,
        fix: Fixer | None = None,
        detail: str | None = None,
    ) -> None: ...


class Rule:
    """Base of every rule. Subclasses set the class attributes and hook into the walk."""

    CODE: ClassVar[str]
    NAME: ClassVar[str]
    MESSAGE: ClassVar[str]
    HINT: ClassVar[str]
    RATIONALE: ClassVar[str]
    VALID: ClassVar[tuple[str, ...]] = ()
    INVALID: ClassVar[tuple[Invalid, ...]] = ()
    NODES: ClassVar[tuple[type[cst.CSTNode], ...]] = ()
    FILE_LEVEL: ClassVar[bool] = False
    # The profiles this rule applies under (empty: all); its examples use EXAMPLE_PROFILE.
    ONLY_PROFILES: ClassVar[frozenset[str]] = frozenset()
    EXAMPLE_PROFILE: ClassVar[str] = "orchestrate"

    @classmethod
    def applies_under(cls, profile: Profile) -> bool:
        """Whether this rule checks workflows of ``profile``."""
        if cls.CODE in profile.disabled:
            return False
        return not cls.ONLY_PROFILES or profile.name in cls.ONLY_PROFILES

    def visit(self, node: cst.CSTNode, cx: Context) -> None:
        """Called for each node of a type listed in ``NODES``, before its children."""

    def check_function(self, func: cst.FunctionDef, cx: Context) -> None:
        """Called once for each function checked (the orchestration and every helper)."""

    def replacement(self, profile: Profile, ctx: str, is_async: bool = False) -> str:
        """The replay-safe alternative to suggest, in the profile's own API."""
        text = (profile.async_replacements if is_async else {}).get(self.CODE)
        if text is None:
            text = profile.replacements.get(self.CODE, "")
        return text.format(ctx=ctx or "ctx")

    def hint(self, profile: Profile, ctx: str = "") -> str:
        """The finding's hint: the profile's own wording if it has one, else the rule's."""
        return profile.hints.get(self.CODE, self.HINT).format(ctx=ctx or "ctx")


class CallRule(Rule):
    """A rule driven by a table of qualified names: calls to ``CALLS``, any use of ``ACCESS``.

    A ``CALLS`` entry ending in ``.*`` covers a whole module (``secrets.*``).
    """

    CALLS: ClassVar[frozenset[str]] = frozenset()
    ACCESS: ClassVar[frozenset[str]] = frozenset()

    def check_call(self, call: cst.Call, qualname: str, cx: Context) -> None:
        """A call to a listed name: report it unless ``applies`` says it is harmless."""
        if self.applies(call, qualname):
            cx.report(
                self,
                call,
                subject(call.func, qualname, call=True),
                fix=self.fixer(call, qualname, cx),
            )

    def check_access(self, node: cst.BaseExpression, qualname: str, cx: Context) -> None:
        cx.report(self, node, subject(node, qualname, call=False))

    def applies(self, call: cst.Call, qualname: str) -> bool:
        """Whether this call is non-deterministic (``Random()`` is, ``Random(42)`` is not)."""
        return True

    def fixer(self, call: cst.Call, qualname: str, cx: Context) -> Fixer | None:
        """A safe rewrite for this call, or None."""
        return None


def ctx_attr(ctx: str, *names: str) -> cst.BaseExpression:
    """``ctx.a.b`` as a node, for fixes that call the orchestration's context."""
    expr: cst.BaseExpression = cst.Name(ctx)
    for name in names:
        expr = cst.Attribute(expr, cst.Name(name))
    return expr


def can_fix(cx: Context) -> bool:
    """Fixes only apply in an orchestrate orchestration's own body, where its context is."""
    return cx.direct and cx.profile.name == "orchestrate" and bool(cx.ctx_name)


def subject(expr: cst.BaseExpression, qualname: str, *, call: bool) -> str:
    """How a finding names the offending code: as written, plus the real name if aliased."""
    written = _written(expr)
    shown = f"`{written}()`" if call else f"`{written}`"
    short = qualname.removeprefix("builtins.")
    if written != short and not short.endswith("." + written):
        shown += f" ({short})"
    return shown


def _written(expr: cst.BaseExpression) -> str:
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
    elif isinstance(expr, cst.Call):
        parts.append(_written(expr.func) + "(...)")
    else:
        parts.append("...")
    return ".".join(reversed(parts))
