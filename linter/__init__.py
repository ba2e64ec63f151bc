"""orch-lint: find non-deterministic code in durable orchestrations before it breaks replay.

Stands alone: imports libcst and the standard library only, and never imports or runs the
code it checks. The names that need libcst (the rules, ``lint_source``) are imported on
first use, so that ``orch-lint`` starts without libcst when every result is cached.
"""

from linter.cli import main
from linter.config import Config, load_config
from linter.errors import ConfigError, LintError, UsageError
from linter.findings import Finding
from linter.run import LintResult, lint_paths

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from linter.engine import lint_source
    from linter.rules import ALL_RULES, Rule
del TYPE_CHECKING

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

_LAZY = {"ALL_RULES": "linter.rules", "Rule": "linter.rules", "lint_source": "linter.engine"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'linter' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
