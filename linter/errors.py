"""The linter's one error root; misuse errors also subclass ``ValueError``."""

from __future__ import annotations

__all__ = ["ConfigError", "LintError", "UsageError"]


class LintError(Exception):
    """Root of every error ``orch-lint`` raises on purpose (exit code 2)."""


class ConfigError(LintError, ValueError):
    """A bad ``[tool.orch-lint]`` table: the message names the file, the key and the fix."""


class UsageError(LintError, ValueError):
    """A bad command line: an unknown rule code, profile or path."""
