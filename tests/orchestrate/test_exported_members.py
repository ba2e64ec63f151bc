"""Each package's `__all__` lists exactly its public names, sorted."""

from __future__ import annotations

import importlib
import types

import pytest


@pytest.mark.parametrize("package", ["orchestrate"])
def test_all_matches_public_names(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(module).items()
        if name.isidentifier()
        and not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert set(exported) == public
