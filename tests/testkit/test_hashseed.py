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


def test_orchestrations_in_main_are_skipped_with_a_note():
    from orchestrate import OrchestrationContext, Registry

    local = Registry()  # held by no module: as in a script run as __main__

    async def scripted(ctx: OrchestrationContext, _: None = None) -> None:
        return None

    scripted.__module__ = "__main__"
    local.orchestration(scripted)
    outcome = replay_under_hash_seeds(local, [[{"kind": "OrchestrationStarted",
                                                "name": "scripted"}]], 1)
    assert "__main__" in outcome.note and outcome.divergence is None


def test_the_home_module_is_the_one_holding_the_registry():
    from examples.patterns import state_machine_saga
    from testkit.hashseed import home_module

    fn = state_machine_saga.reg.get_orchestration("order_saga").fn
    assert fn.__module__ == "orchestrate.state_machine"  # built by the library
    assert home_module(state_machine_saga.reg, fn) == "examples.patterns.state_machine_saga"
    own = reg.get_orchestration(regions_sorted).fn
    assert home_module(reg, own) == own.__module__
