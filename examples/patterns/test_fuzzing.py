"""Every example orchestration is fuzzed with its module's `FUZZ` settings (the ones
``orch-fuzz path/to/module.py:orch`` reads): replay-safe in every explored schedule, crash
transparent, and its invariant holds; and every registered orchestration has such settings."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from orchestrate import Registry
from testkit.fuzz import fuzz

HERE = Path(__file__).parent
MODULES = [
    *(
        f"examples.patterns.{p.stem}"
        for p in sorted(HERE.glob("[!_]*.py"))
        if not p.stem.startswith("test_")
    ),
    "examples.service.app",
]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _registered(module: ModuleType) -> list[str]:
    registries = [v for v in vars(module).values() if isinstance(v, Registry)]
    return sorted(name for registry in registries for name in registry.orchestrations)


CASES = [
    pytest.param(module, name, id=f"{module.rsplit('.', 1)[-1]}:{name}")
    for module in MODULES
    for name in sorted(getattr(_module(module), "FUZZ", {}))
]


@pytest.mark.parametrize(("module", "name"), CASES)
def test_example_is_replay_safe_under_fuzzing(module: str, name: str) -> None:
    mod = _module(module)
    report = fuzz(mod.reg, name, **mod.FUZZ[name], max_examples=25, hash_seeds=0, seed=20240101)

    assert report.warning == "", report
    assert report.examples == 25, report
    assert report.longest_history > 2, report  # it got past the first turn


@pytest.mark.parametrize("module", MODULES)
def test_every_registered_orchestration_has_fuzz_settings(module: str) -> None:
    mod = _module(module)
    fuzz_table = getattr(mod, "FUZZ", {})
    missing = [name for name in _registered(mod) if name not in fuzz_table]
    assert missing == [], f"{module}: add FUZZ entries for {missing}"
    unknown = sorted(set(fuzz_table) - set(_registered(mod)))
    assert unknown == [], f"{module}: FUZZ names no registered orchestration: {unknown}"
