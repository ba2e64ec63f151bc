"""Hypothesis settings profiles for fuzzing orchestrations: load one with
``--hypothesis-profile NAME`` (pytest) or ``settings.load_profile(NAME)``.

- ``orchestrate-ci``: derandomized (the same examples on every run, so CI is stable and a
  failure reproduces from the commit alone), 200 examples, no deadline, no example database;
- ``orchestrate-dev``: 30 examples and no deadline, for a fast edit-test loop.

`fuzz` takes its default `max_examples` from the loaded profile, and a derandomized profile
fixes its seed.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["CI", "DEV", "register_profiles"]

CI = "orchestrate-ci"
DEV = "orchestrate-dev"


def register_profiles() -> None:
    """Register both profiles (idempotent)."""
    slow = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile(
        CI, derandomize=True, max_examples=200, deadline=None, database=None,
        suppress_health_check=slow,
    )
    settings.register_profile(DEV, max_examples=30, deadline=None, suppress_health_check=slow)
