"""Parsing a module with libcst, without re-validating what its parser just built.

libcst's native parser builds every node through the node's dataclass constructor, whose
``__post_init__`` validates the node (about a fifth of a parse on Temporal's samples; libcst
itself notes the cost in ``CSTNode.__post_init__``). A tree the parser built from source
is valid by construction, so validation is switched off for the duration of the parse only,
and only while ``__post_init__`` does nothing but validate (checked once, at import: a
libcst release that gives it more work gets the ordinary, validating parse).
"""

from __future__ import annotations

import libcst as cst
from libcst._nodes.base import CSTNode

__all__ = ["parse_module"]

_VALIDATING = CSTNode.__post_init__
_SKIPPABLE = _VALIDATING.__code__.co_names == ("_validate",)


def _no_validation(self: CSTNode) -> None:
    return None


def parse_module(text: str) -> cst.Module:
    """``cst.parse_module(text)``, minus the node validation (raises ParserSyntaxError)."""
    if not _SKIPPABLE:
        return cst.parse_module(text)
    CSTNode.__post_init__ = _no_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(text)
    finally:
        CSTNode.__post_init__ = _VALIDATING  # type: ignore[method-assign]
