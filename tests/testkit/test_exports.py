"""testkit's public surface: `__all__` is sorted and lists exactly the public names."""

from __future__ import annotations

import testkit


def test_all_is_sorted_and_complete():
    public = {
        name
        for name, value in vars(testkit).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("testkit.")
    }
    assert testkit.__all__ == sorted(testkit.__all__)
    assert public | {"DEFAULT_START"} == set(testkit.__all__)


def test_errors_share_the_orchestrate_root():
    from orchestrate import OrchestrateError

    for name in ("RunawayOrchestration", "ScriptExhausted", "UnscriptedActivity"):
        assert issubclass(getattr(testkit, name), testkit.TestkitError)
    assert issubclass(testkit.TestkitError, OrchestrateError)
