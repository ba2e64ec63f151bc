"""What the pytest plugin does, without pytest: build envs from marker options, find registries,
record every history a test produced, and replay one saved history.

Kept here so the plugin stays a thin layer of hooks and fixtures (as Hypothesis keeps its own),
and so this logic is tested directly, fast, without pytester.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from orchestrate import Registry
from orchestrate.export import safe_file_name

from .clock import FakeClock
from .env import TestEnv
from .replay_files import load_registry, recorded_registry, replay_history, save_history

__all__ = [
    "ENV_OPTIONS",
    "check_env_options",
    "find_module_registry",
    "history_file_name",
    "history_files",
    "make_env",
    "record_env",
    "registry_for_history",
    "registry_reference",
    "replay_saved",
]

ENV_OPTIONS = (
    "evict_every_turn",
    "freeze_wall_clock",
    "guard_calls",
    "max_turns",
    "replay_check",
    "start",
    "store",
    "strict",
)
"""The keyword arguments ``@pytest.mark.orch(...)`` accepts (TestEnv's options)."""

MODULE_REGISTRY_NAMES = ("registry", "reg")


def check_env_options(options: dict[str, Any]) -> None:
    """Refuse unknown option names, naming the valid ones (`ValueError`)."""
    unknown = sorted(set(options) - set(ENV_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; valid options are {', '.join(ENV_OPTIONS)}"
        )


def make_env(registry: Registry, clock: FakeClock, options: dict[str, Any]) -> TestEnv:
    """A `TestEnv` on `clock` with marker `options` (`start` is the clock's business)."""
    check_env_options(options)
    rest = {k: v for k, v in options.items() if k != "start"}
    return TestEnv(registry, clock=clock, **rest)


def find_module_registry(module: ModuleType | None) -> Registry | None:
    """The module's `registry` or `reg` attribute, if it is a `Registry`."""
    for name in MODULE_REGISTRY_NAMES:
        found = getattr(module, name, None)
        if isinstance(found, Registry):
            return found
    return None


def registry_reference(registry: Registry, module: ModuleType | None) -> dict[str, str] | None:
    """Where `registry` lives (the test module, or the module of one of its orchestrations), as
    ``{"module": ..., "attribute": ...}`` for a history file's provenance note. None if it is not
    a module attribute anywhere we look."""
    candidates: list[ModuleType | None] = [module]
    for odef in registry.orchestrations.values():
        candidates.append(sys.modules.get(odef.fn.__module__))
    for candidate in candidates:
        if candidate is None:
            continue
        for name, value in vars(candidate).items():
            if value is registry:
                return {"module": candidate.__name__, "attribute": name}
    return None


def history_file_name(test_id: str, instance_id: str) -> str:
    """A file name from a test id and an instance id, safe on every file system and distinct
    per pair (case-insensitively too): their plain characters plus a short hash of both, as
    ``orchestrate export-history --all`` names its files (`safe_file_name`)."""
    return safe_file_name(test_id, instance_id)


def record_env(
    env: TestEnv, directory: Path, test_id: str, recorded_by: dict[str, str] | None
) -> list[Path]:
    """Save every instance history of `env` under `directory`; returns the files written."""
    written = []
    for state in env.instances():
        path = directory / history_file_name(test_id, state.instance_id)
        events = env.history(state.instance_id)
        save_history(path, events, state.instance_id, state.name, recorded_by or {})
        written.append(path)
    return written


def history_files(root: Path) -> list[Path]:
    """The history files to replay: `root` itself, or every ``*.json`` below it, sorted."""
    return [root] if root.is_file() else sorted(root.rglob("*.json"))


def registry_for_history(path: Path, configured: str | None = None) -> Registry:
    """The registry to replay `path` with: `configured` (``module:attribute``, from
    ``--orch-replay-registry`` or the ``orch_replay_registry`` ini key).

    Never taken from the file: a history file is data, and one added in a pull request must not
    choose code to import in CI. Without `configured`, `LookupError` says how to name one (and
    quotes the file's ``recorded_by`` note, if any, as a hint).
    """
    if configured:
        return load_registry(configured)
    note = recorded_registry(path)
    hint = ""
    if note and note.get("module") and note.get("attribute"):
        hint = f" (the file says it was recorded with {note['module']}:{note['attribute']})"
    raise LookupError(
        f"no registry to replay {path} with{hint}; pass --orch-replay-registry "
        "package.module:registry (or set orch_replay_registry in the ini file). History files "
        "are data: the registry is never loaded from a name inside one"
    )


def replay_saved(path: Path, configured: str | None = None) -> None:
    """Replay one saved history against today's code; raises on divergence or a bad file."""
    replay_history(registry_for_history(path, configured), path)
