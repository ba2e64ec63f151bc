"""Line and column of a few chosen nodes, for far less than libcst's PositionProvider.

PositionProvider records a range for every node of the module (about twice the cost of the
parse). We only need the start of the handful of nodes that carry a finding, so we run the
module's code generation once with a state that counts lines and columns and records only
those nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import libcst as cst
from libcst._nodes.internal import CodegenState

__all__ = ["locate"]

_NULL: AbstractContextManager[None] = nullcontext()


@dataclass
class _LocatingState(CodegenState):
    targets: set[int] = field(default_factory=set)
    found: dict[int, tuple[int, int]] = field(default_factory=dict)
    pending: dict[int, int] = field(default_factory=dict)
    line: int = 1
    column: int = 0

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        newlines = value.count("\n")
        if newlines:
            self.line += newlines
            self.column = len(value) - value.rfind("\n") - 1
        else:
            self.column += len(value)

    # A plain context manager is much cheaper than the generator-based one it overrides.
    def record_syntactic_position(  # type: ignore[override]
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> AbstractContextManager[None]:
        key = id(node)
        waiting = self.pending.pop(key, None)
        if waiting is not None:
            self.found[waiting] = (self.line, self.column)
        if key not in self.targets:
            return _NULL
        if start_node is not None:
            self.pending[id(start_node)] = key
            return _NULL
        return self._record(key)

    @contextmanager
    def _record(self, key: int) -> Iterator[None]:
        self.found[key] = (self.line, self.column)
        yield


def locate(module: cst.Module, nodes: Iterable[cst.CSTNode]) -> dict[int, tuple[int, int]]:
    """Map ``id(node)`` to its 1-based line and 1-based column for each of ``nodes``."""
    state = _LocatingState(
        default_indent=module.default_indent,
        default_newline=module.default_newline,
        targets={id(n) for n in nodes},
    )
    module._codegen(state)
    return {key: (line, col + 1) for key, (line, col) in state.found.items()}
