"""orch-lint: find non-deterministic code in durable orchestrations before it breaks replay.

Stands alone: imports libcst and the standard library only, and never imports or runs the
code it checks.
"""

from linter.cli import main
from linter.config import Config, load_config
from linter.engine import LintResult, lint_paths, lint_source
from linter.errors import ConfigError, LintError, UsageError
from linter.findings import Finding
from linter.rules import ALL_RULES, Rule

__all__ = [
    "ALL_RULES",
    "Config",
    "ConfigError",
    "Finding",
    "LintError",
    "LintResult",
    "Rule",
    "UsageError",
    "lint_paths",
    "lint_source",
    "load_config",
    "main",
]
