"""Errors the testkit raises about the test itself (not about the orchestration under test).

They derive from `orchestrate.OrchestrateError` (one root for everything) and, where they mean
misuse, from the matching builtin so plain ``except LookupError`` keeps working.
"""

from __future__ import annotations

from orchestrate import OrchestrateError

__all__ = [
    "RunawayOrchestration",
    "ScriptExhausted",
    "StubbedOrchestration",
    "TestkitError",
    "UnscriptedActivity",
]


class TestkitError(OrchestrateError):
    """Root of the testkit's own errors."""

    __test__ = False  # not a pytest test class, despite the name


class UnscriptedActivity(TestkitError, LookupError):
    """`TestEnv(strict=True)` met an activity call that no `env.script(...)` covers."""


class ScriptExhausted(TestkitError, LookupError):
    """An activity was called more often than its script (with ``exhaust="error"``) allows."""


class StubbedOrchestration(TestkitError, ValueError):
    """``env.run(orch)`` on an orchestration scripted with ``env.script(orch, ...)``: the test
    would run the stub instead of the code under test."""


class RunawayOrchestration(TestkitError, RuntimeError):
    """A drive call ran more turns than `TestEnv(max_turns=...)` allows without settling."""
