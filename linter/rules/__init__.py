"""Every rule, and the ``RuleSet`` a run uses: the enabled rules indexed for the walk."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import libcst as cst

from linter.profiles import Profile
from linter.rules._base import CallRule, Context, Fixer, Invalid, Rule
from linter.rules.banned import ExtraBanned
from linter.rules.chance import HashOrId, Randomness
from linter.rules.clock import Sleep, WallClock
from linter.rules.effects import IO, Concurrency, HostLookup
from linter.rules.files import SyntaxErrorRule, UndecodableFile
from linter.rules.flow import AwaitNonTask, DirectActivityCall, ReplayingBranch, SetIteration
from linter.rules.output import PrintOrLogging
from linter.rules.sandbox import TemporalSandbox
from linter.rules.state import GlobalStatement, ModuleStateMutation, MutableDefault

__all__ = [
    "ALL_RULES",
    "CallRule",
    "Context",
    "Fixer",
    "Invalid",
    "Rule",
    "RuleSet",
    "rule_by_code",
    "star_names",
]

ALL_RULES: tuple[type[Rule], ...] = (
    SyntaxErrorRule,
    UndecodableFile,
    WallClock,
    Randomness,
    Sleep,
    Concurrency,
    IO,
    PrintOrLogging,
    HostLookup,
    SetIteration,
    HashOrId,
    GlobalStatement,
    ModuleStateMutation,
    DirectActivityCall,
    AwaitNonTask,
    MutableDefault,
    ReplayingBranch,
    TemporalSandbox,
    ExtraBanned,
)


def rule_by_code(code: str) -> type[Rule] | None:
    """The rule class with this code, or None."""
    return next((r for r in ALL_RULES if code == r.CODE), None)


def star_names() -> dict[str, set[str]]:
    """For each banned stdlib module, the names ``from module import *`` binds that matter."""
    names: dict[str, set[str]] = {}
    for rule in ALL_RULES:
        if not issubclass(rule, CallRule):
            continue
        for qualname in rule.CALLS | rule.ACCESS:
            module, _, rest = qualname.partition(".")
            if module == "builtins" or not rest or rest == "*":
                continue
            if module == "os" and rest.startswith("path."):
                module, rest = "os.path", rest[len("path.") :]
            names.setdefault(module, set()).add(rest.split(".")[0])
    return names


class RuleSet:
    """The enabled rules of one run, indexed so the walk does one dict lookup per call."""

    def __init__(
        self,
        codes: Iterable[str],
        allowed: Iterable[str] = (),
        extra_banned: Mapping[str, str] | None = None,
        durable: Iterable[str] = (),
    ) -> None:
        enabled = set(codes)
        self.rules: list[Rule] = []
        for cls in ALL_RULES:
            if cls.CODE not in enabled:
                continue
            if cls is ExtraBanned:
                if extra_banned:
                    self.rules.append(ExtraBanned(extra_banned))
            else:
                self.rules.append(cls())
        self.codes = frozenset(r.CODE for r in self.rules)
        allowed = tuple(allowed)
        self._allowed_exact = frozenset(a for a in allowed if not a.endswith(".*"))
        self._allowed_prefix = tuple(a[:-1] for a in allowed if a.endswith(".*"))
        self._durable = tuple(durable)
        self._calls: dict[str, CallRule] = {}
        self._access: dict[str, CallRule] = {}
        self.by_node: dict[type[cst.CSTNode], list[Rule]] = {}
        self.function_rules: list[Rule] = []
        self.activity_rule: DirectActivityCall | None = None
        for rule in self.rules:
            if isinstance(rule, ExtraBanned):
                for name in rule.calls:
                    self._calls[name] = rule
                    if not name.endswith(".*"):
                        self._access[name] = rule
            elif isinstance(rule, CallRule):
                self._calls.update(dict.fromkeys(rule.CALLS, rule))
                self._access.update(dict.fromkeys(rule.ACCESS, rule))
            for kind in rule.NODES:
                self.by_node.setdefault(kind, []).append(rule)
            if type(rule).check_function is not Rule.check_function:
                self.function_rules.append(rule)
            if isinstance(rule, DirectActivityCall):
                self.activity_rule = rule
        self.has_access = bool(self._access)
        self._node_cache: dict[str, dict[type[cst.CSTNode], list[Rule]]] = {}

    def allowed(self, qualname: str, profile: Profile) -> bool:
        """Whether config ``allowed`` or the profile exempts ``qualname`` from every rule."""
        return (
            qualname in self._allowed_exact
            or qualname in profile.allowed
            or qualname.startswith(self._allowed_prefix)
        )

    def is_durable(self, qualname: str, profile: Profile) -> bool:
        """Whether ``qualname`` is a call the framework makes durable (``durable-calls`` in
        the config, plus the profile's own list): recorded, so neither checked nor followed."""
        return any(
            qualname == name or (name.endswith(".*") and qualname.startswith(name[:-1]))
            for name in (*self._durable, *profile.durable)
        )

    def call_rule(self, qualname: str, profile: Profile) -> CallRule | None:
        """The rule that bans calling ``qualname`` under ``profile``, if any."""
        rule = self._calls.get(qualname)
        if rule is None:
            parts = qualname.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                rule = self._calls.get(".".join(parts[:cut]) + ".*")
                if rule is not None:
                    break
        if rule is None or not rule.applies_under(profile) or self.allowed(qualname, profile):
            return None
        return rule

    def access_rule(self, qualname: str, profile: Profile) -> CallRule | None:
        """The rule that bans any use of ``qualname`` (``os.environ``), if any."""
        rule = self._access.get(qualname)
        if rule is None or not rule.applies_under(profile) or self.allowed(qualname, profile):
            return None
        return rule

    def node_rules(self, profile: Profile) -> dict[type[cst.CSTNode], list[Rule]]:
        """Node type -> rules that want it, without the rules ``profile`` disables."""
        table = self._node_cache.get(profile.name)
        if table is None:
            table = {
                kind: [r for r in rules if r.applies_under(profile)]
                for kind, rules in self.by_node.items()
            }
            self._node_cache[profile.name] = table
        return table

    def function_rules_for(self, profile: Profile) -> list[Rule]:
        return [r for r in self.function_rules if r.applies_under(profile)]
