"""Parsing without libcst's re-validation: the same trees, and validation intact elsewhere."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst._nodes.base import CSTNode

from linter.parse import _SKIPPABLE, _VALIDATING, parse_module

LINTER = Path(__file__).resolve().parents[2] / "linter"


def test_libcst_post_init_only_validates():
    """If this fails, a libcst upgrade gave __post_init__ more work: parse_module then falls
    back to the validating parse, which is correct but slower; review linter/parse.py."""
    assert _SKIPPABLE


@pytest.mark.parametrize("path", sorted(LINTER.rglob("*.py")), ids=lambda p: p.name)
def test_trees_equal_the_validating_parse(path):
    text = path.read_text(encoding="utf-8")
    tree = parse_module(text)
    assert tree.deep_equals(cst.parse_module(text))
    assert tree.code == text


def test_validation_is_back_after_a_parse_even_a_failing_one():
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def (:\n")
    assert CSTNode.__post_init__ is _VALIDATING
    parse_module("x = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
