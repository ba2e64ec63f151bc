"""docs/rules.md is generated from the rule classes and must stay in sync."""

from __future__ import annotations

from pathlib import Path

from linter import ALL_RULES
from linter.docs import render_rules_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_rules_md_is_up_to_date():
    on_disk = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert on_disk == render_rules_markdown(), (
        "docs/rules.md is stale: run `python -m linter._gendocs > docs/rules.md`"
    )


def test_every_rule_has_a_section():
    text = render_rules_markdown()
    for rule in ALL_RULES:
        assert f"\n## {rule.CODE}\n" in text


def test_pre_commit_hook_is_declared():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: orch-lint" in text
    assert "entry: orch-lint" in text
    assert "types: [python]" in text
    # pre-commit installs the package alone (its dependencies are none): each hook must bring
    # libcst, or orch-lint cannot run at all.
    hooks = text.split("- id: ")[1:]
    assert hooks and all('additional_dependencies: ["libcst>=1.4"]' in hook for hook in hooks)


def test_static_code_table_matches_the_rule_classes():
    """``linter.codes`` validates codes without importing the rules: it must list exactly
    the rule classes' codes and names, in their order."""
    from linter.codes import KNOWN_CODES, RULE_NAMES

    assert list(RULE_NAMES.items()) == [(rule.CODE, rule.NAME) for rule in ALL_RULES]
    assert tuple(rule.CODE for rule in ALL_RULES) == KNOWN_CODES
