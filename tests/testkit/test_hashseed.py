"""Replays in fresh interpreters under other hash seeds catch set-order dependence."""

from __future__ import annotations

import pytest

from testkit.fuzz import FuzzFailure, fuzz
from testkit.hashseed import replay_under_hash_seeds

from .fuzz_cases import REGIONS, reg, regions_sorted, regions_unsorted


def test_iterating_a_set_of_strings_is_found_under_another_hash_seed():
    with pytest.raises(FuzzFailure, match="PYTHONHASHSEED=") as caught:
        fuzz(reg, regions_unsorted, input=REGIONS, max_examples=5, hash_seeds=3)
    assert "sort before iterating" in str(caught.value)


def test_the_sorted_twin_replays_under_every_seed():
    report = fuzz(reg, regions_sorted, input=REGIONS, max_examples=5, hash_seeds=2)
    assert len(report.hash_seeds) == 2 and not report.hash_note


def test_orchestrations_in_main_are_skipped_with_a_note(monkeypatch):
    fn = reg.get_orchestration(regions_sorted).fn
    monkeypatch.setattr(fn, "__module__", "__main__")
    outcome = replay_under_hash_seeds(reg, [[{"kind": "OrchestrationStarted",
                                             "name": "regions_sorted"}]], 1)
    assert "__main__" in outcome.note and outcome.divergence is None
