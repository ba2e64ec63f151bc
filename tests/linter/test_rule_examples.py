"""Every rule's VALID and INVALID examples, run as tests (like Fixit's testing module)."""

from __future__ import annotations

import re

import pytest

from linter import ALL_RULES, Config, lint_source
from linter.rules import CallRule

_EXPECT = re.compile(r"# expect: (ORC\d+)")


def _cases(kind: str):
    for rule in ALL_RULES:
        examples = rule.VALID if kind == "valid" else rule.INVALID
        for index, example in enumerate(examples):
            yield pytest.param(rule, example, id=f"{rule.CODE}-{kind}-{index}")


@pytest.mark.parametrize(("rule", "source"), list(_cases("valid")))
def test_valid_example_has_no_findings(rule, source):
    findings, _ = lint_source(source, config=Config(profiles=(rule.EXAMPLE_PROFILE,)))
    assert [(f.line, f.code) for f in findings] == []


@pytest.mark.parametrize(("rule", "example"), list(_cases("invalid")))
def test_invalid_example_flags_exactly_the_marked_lines(rule, example):
    expected = sorted(
        (number, match.group(1))
        for number, line in enumerate(example.source.splitlines(), start=1)
        for match in [_EXPECT.search(line)]
        if match
    )
    assert any(code == rule.CODE for _, code in expected), "example must mark this rule's code"
    config = Config(profiles=(rule.EXAMPLE_PROFILE,))
    findings, fixed = lint_source(example.source, config=config, fix=True)
    assert sorted((f.line, f.code) for f in findings) == expected
    if example.fixed is not None:
        assert fixed == example.fixed
    else:
        assert fixed == example.source
    assert all(f.fixable == (example.fixed is not None and f.fixable) for f in findings)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.CODE)
def test_rule_declares_its_documentation(rule):
    assert re.fullmatch(r"ORC\d{3}", rule.CODE)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.NAME)
    for text in (rule.MESSAGE, rule.HINT, rule.RATIONALE):
        assert text and text.strip() == text
    if rule.CODE not in {"ORC002", "ORC199"}:  # need bytes / config: tested elsewhere
        assert rule.VALID and rule.INVALID


def test_codes_and_names_are_unique():
    assert len({r.CODE for r in ALL_RULES}) == len(ALL_RULES)
    assert len({r.NAME for r in ALL_RULES}) == len(ALL_RULES)


def test_call_tables_do_not_overlap():
    """One qualified name, one rule: a profile-only rule must not hide another's entry."""
    seen: dict[str, str] = {}
    for rule in ALL_RULES:
        if issubclass(rule, CallRule):
            for name in rule.CALLS | rule.ACCESS:
                assert seen.setdefault(name, rule.CODE) == rule.CODE, name
