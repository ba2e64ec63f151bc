"""Every rule's code and name, as plain data: what the command line and the config validate
against without importing the rules (and libcst with them).

This module imports nothing; a test checks it against the rule classes (``ALL_RULES``).
"""

from __future__ import annotations

__all__ = ["KNOWN_CODES", "RULE_NAMES"]

# In the order of ``linter.rules.ALL_RULES``.
RULE_NAMES: dict[str, str] = {
    "ORC001": "syntax-error",
    "ORC002": "undecodable-file",
    "ORC101": "wall-clock",
    "ORC102": "randomness",
    "ORC103": "sleep",
    "ORC104": "concurrency",
    "ORC105": "io",
    "ORC106": "print-or-logging",
    "ORC107": "host-lookup",
    "ORC108": "set-iteration",
    "ORC109": "hash-or-id",
    "ORC110": "global-statement",
    "ORC111": "module-state-mutation",
    "ORC112": "direct-activity-call",
    "ORC113": "await-non-task",
    "ORC114": "mutable-default",
    "ORC115": "replaying-branch",
    "ORC116": "temporal-sandbox",
    "ORC199": "extra-banned",
}
KNOWN_CODES: tuple[str, ...] = tuple(RULE_NAMES)
