"""Our cheap locator agrees with libcst's PositionProvider on the nodes findings sit on."""

from __future__ import annotations

import inspect

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

import linter.checker
import linter.names
from linter.positions import locate
from linter.walk import iter_tree

KINDS = (
    cst.Call,
    cst.Attribute,
    cst.Name,
    cst.For,
    cst.Global,
    cst.Await,
    cst.ListComp,
    cst.If,
    cst.Assign,
    cst.Param,
)


@pytest.mark.parametrize("module", [linter.checker, linter.names], ids=lambda m: m.__name__)
def test_locate_matches_position_provider(module):
    tree = cst.parse_module(inspect.getsource(module).replace("\n", "\r\n", 3))
    nodes = [n for n in iter_tree(tree) if isinstance(n, KINDS)]
    assert len(nodes) > 500
    ours = locate(tree, nodes)
    theirs = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
    mismatches = [
        (type(n).__name__, ours.get(id(n)), (theirs[n].start.line, theirs[n].start.column + 1))
        for n in nodes
        if ours.get(id(n)) != (theirs[n].start.line, theirs[n].start.column + 1)
    ]
    assert mismatches == []
