"""examples/README.md makes no claim without code: every module, test file, invariant and
broken twin it names exists, and every pattern module and twin is indexed."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

HERE = Path(__file__).parent
README = (HERE / "README.md").read_text(encoding="utf-8")
SEEDS = {
    "000_2accf2602dbacd82.txt",
    "001_3ed5c0d9d446d7ba.txt",
    "002_93bd30b7263e399f.txt",
    "003_9cd9818f2df78c12.txt",
    "004_e8ba8828da9810d3.txt",
}


def _table(title: str) -> list[list[str]]:
    section = README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    body = rows[1:]  # after the header
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in body]


def _names(cell: str, suffix: str) -> list[str]:
    return re.findall(rf"`([\w/]+{re.escape(suffix)})`", cell)


PATTERNS = _table("Patterns")
TWINS = _table("Broken twins")


def test_every_pattern_module_is_indexed_with_its_tests() -> None:
    indexed = [row[2].strip("`") for row in PATTERNS]
    modules = sorted(
        p.name for p in (HERE / "patterns").glob("[!_]*.py") if not p.name.startswith("test_")
    )
    assert sorted(indexed) == modules
    for module in modules:
        assert (HERE / "patterns" / f"test_{module}").is_file(), module


@pytest.mark.parametrize("row", PATTERNS, ids=[row[2] for row in PATTERNS])
def test_each_pattern_row_names_real_seeds_invariants_and_twins(row: list[str]) -> None:
    _, seeds, module, _, invariants, twins = row
    assert set(re.findall(r"`(\d{3}_\w+\.txt)`", seeds)) <= SEEDS and "`" in seeds
    mod = importlib.import_module(f"examples.patterns.{module.strip('`').removesuffix('.py')}")
    for name in re.findall(r"`(\w+)`", invariants):
        assert callable(getattr(mod, name, None)) or name in vars(mod), f"{module}: {name}"
    for twin in _names(twins, ".py"):
        assert (HERE / "broken" / twin).is_file(), twin


def test_every_broken_twin_is_indexed_and_exists() -> None:
    indexed = sorted(row[0].strip("`") for row in TWINS)
    twins = sorted(
        p.name for p in (HERE / "broken").glob("[!_]*.py") if not p.name.startswith("test_")
    )
    assert indexed == twins
    for row in TWINS:
        for pattern in _names(row[1], ".py"):
            assert (HERE / "patterns" / pattern).is_file(), pattern
