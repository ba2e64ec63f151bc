"""coverage=True: the lines and branches of the orchestration's module no example reached."""

from __future__ import annotations

import inspect

from testkit.fuzz import fuzz

from . import fuzz_cases
from .fuzz_cases import partly_reached, reg


def test_unreached_lines_and_branches_are_listed():
    report = fuzz(reg, partly_reached, input=1, max_examples=10, hash_seeds=0, coverage=True)
    gaps = report.coverage
    assert gaps is not None and gaps.file.endswith("fuzz_cases.py")
    source, first = inspect.getsourcelines(fuzz_cases.partly_reached)
    branch_line = first + next(i for i, line in enumerate(source) if "if x >" in line)
    assert branch_line + 1 in gaps.lines  # the call nobody reached
    assert (branch_line, branch_line + 1) in gaps.branches
    assert "lines never reached" in str(report)
    assert 0 < gaps.percent < 100


def test_without_coverage_nothing_is_measured():
    assert fuzz(reg, partly_reached, input=1, max_examples=3, hash_seeds=0).coverage is None
