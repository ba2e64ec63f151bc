"""Every example orchestration is fuzzed with its module's `FUZZ` settings (the ones
``orch-fuzz path/to/module.py:orch`` reads) through the pytest plugin's ``orch_fuzz`` fixture:
replay-safe in every explored schedule, crash transparent, and its invariant holds. The small
ones are also verified exhaustively: every distinct schedule, not a sample. And every registered
orchestration has such settings."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from orchestrate import Registry

HERE = Path(__file__).parent
MODULES = [
    *(
        f"examples.patterns.{p.stem}"
        for p in sorted(HERE.glob("[!_]*.py"))
        if not p.stem.startswith("test_")
    ),
    "examples.service.app",
]
# Small enough to enumerate every schedule in well under a second each.
EXHAUSTIVE = [
    ("aggregator", "reading_aggregator"),
    ("child_workflows", "process_regions"),
    ("event_driven", "event_driven_workflow"),
    ("fan_out_fan_in", "validate_user"),
    ("fan_out_fan_in", "batch_processor"),
    ("function_chaining", "process_order"),
    ("human_in_the_loop", "approval_workflow"),
    ("racing", "fetch_with_racing"),
    ("racing", "first_successful_quote"),
    ("retries", "pay_order"),
    ("saga", "order_saga"),
    ("saga", "transfer_funds"),
    ("side_effects", "checkout_with_flags"),
    ("status_tracking", "data_processing_job"),
    ("versioning", "fulfil_order"),
]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _registered(module: ModuleType) -> list[str]:
    registries = [v for v in vars(module).values() if isinstance(v, Registry)]
    return sorted(name for registry in registries for name in registry.orchestrations)


@pytest.fixture
def orch_registry(request: pytest.FixtureRequest) -> Registry:
    """The registry of the example module the test is parametrized with (for ``orch_fuzz``)."""
    module = request.node.callspec.params["module"]
    registry: Registry = _module(module if "." in module else f"examples.patterns.{module}").reg
    return registry


CASES = [
    pytest.param(module, name, id=f"{module.rsplit('.', 1)[-1]}:{name}")
    for module in MODULES
    for name in sorted(getattr(_module(module), "FUZZ", {}))
]


@pytest.mark.parametrize(("module", "name"), CASES)
def test_example_is_replay_safe_under_fuzzing(
    orch_fuzz: Callable[..., Any], module: str, name: str
) -> None:
    settings = _module(module).FUZZ[name]
    report = orch_fuzz(name, **settings, max_examples=25, hash_seeds=0, seed=20240101)

    assert report.warning == "", report
    assert report.examples == 25, report
    assert report.longest_history > 2, report  # it got past the first turn


@pytest.mark.parametrize(("module", "name"), EXHAUSTIVE, ids=[f"{m}:{n}" for m, n in EXHAUSTIVE])
def test_small_example_is_verified_in_every_schedule(
    orch_fuzz: Callable[..., Any], module: str, name: str
) -> None:
    settings = _module(f"examples.patterns.{module}").FUZZ[name]
    report = orch_fuzz(name, **settings, exhaustive=True, hash_seeds=0)

    assert "verified: all" in str(report), report


@pytest.mark.parametrize("module", MODULES)
def test_every_registered_orchestration_has_fuzz_settings(module: str) -> None:
    mod = _module(module)
    fuzz_table = getattr(mod, "FUZZ", {})
    missing = [name for name in _registered(mod) if name not in fuzz_table]
    assert missing == [], f"{module}: add FUZZ entries for {missing}"
    unknown = sorted(set(fuzz_table) - set(_registered(mod)))
    assert unknown == [], f"{module}: FUZZ names no registered orchestration: {unknown}"
