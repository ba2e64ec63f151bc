"""Fast iteration over a libcst node's children.

``CSTNode.children`` and ``CSTVisitor`` rebuild nodes as they go and cost about as much as
the parse itself; reading the dataclass fields directly is several times cheaper. Whitespace,
comma and parenthesis fields are skipped since no rule looks at them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import libcst as cst

__all__ = ["iter_children", "iter_tree"]

_SKIP_PREFIXES = (
    "whitespace",
    "lpar",
    "rpar",
    "leading_lines",
    "lines_after",
    "comma",
    "semicolon",
)
_SKIP = frozenset(
    {
        "header",
        "footer",
        "trailing_whitespace",
        "equal",
        "colon",
        "star",
        "dot",
        "asynchronous",
        "operator",
        "newline",
        "indent",
        "decorators",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "first_line",
        "empty_lines",
    }
)
_FIELDS: dict[type[cst.CSTNode], tuple[str, ...]] = {}


def _fields(kind: type[cst.CSTNode]) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(kind)
            if f.name not in _SKIP and not f.name.startswith(_SKIP_PREFIXES)
        )
        _FIELDS[kind] = names
    return names


_IS_NODE: dict[type, bool] = {}


def _is_node(value: object) -> bool:
    """``isinstance(value, cst.CSTNode)``, remembered per type: CSTNode is an ABC, and
    ABCMeta's check was the single largest cost of walking a tree."""
    kind = type(value)
    known = _IS_NODE.get(kind)
    if known is None:
        known = _IS_NODE[kind] = isinstance(value, cst.CSTNode)
    return known


def iter_children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The child nodes of ``node`` that can hold code (decorators excluded)."""
    for name in _fields(type(node)):
        value = getattr(node, name)
        kind = type(value)
        if kind is tuple or kind is list:
            for item in value:
                if _is_node(item):
                    yield item
        elif _is_node(value):
            yield value


def iter_tree(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and everything below it, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(iter_children(current))))
