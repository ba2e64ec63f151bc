"""Recorded histories: replay them against today's code, save them from tests, load their registry.

This is the backwards-compatibility guard: histories exported from production (`orchestrate
export-history`) or recorded by tests (`--orch-record-histories`) must still replay after a code
change, or running instances would break on the next deploy. Files use the runtime's versioned
history JSON (`orchestrate.codec.history_to_json`); the recorder adds a ``"recorded_by"`` key
naming the registry, which readers of the format ignore. History files are data: the registry to
replay them with comes from the project's configuration, never from a file.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from orchestrate import (
    InstanceState,
    NonDeterminismError,
    OrchestrateError,
    Registry,
    Status,
    history_from_json,
    history_to_json,
)
from orchestrate import history as h
from orchestrate.replay import Execution

from .pending import Pending, pending_of
from .replay_check import replay_events
from .run import Run, describe_waits
from .timeline import format_timeline

__all__ = [
    "ReplayReport",
    "ReplayResult",
    "load_registry",
    "read_history",
    "recorded_registry",
    "replay_dir",
    "replay_history",
    "save_history",
]


def read_history(source: list[h.Event] | str | bytes | PathLike[str]) -> list[h.Event]:
    """Events from a list, JSON text, or a JSON file (`StoreError` naming a malformed one)."""
    if isinstance(source, list):
        return source
    if isinstance(source, PathLike):
        path = Path(source)
        return history_from_json(path.read_bytes(), str(path))
    return history_from_json(source)


def replay_history(
    registry: Registry,
    history: list[h.Event] | str | bytes | PathLike[str],
    *,
    strict: bool = True,
) -> Run:
    """Replay a recorded history against today's code; the replayed `Run`, or
    `NonDeterminismError` with the divergence and the recorded timeline."""
    events = read_history(history)
    where = str(history) if isinstance(history, PathLike) else "the history"
    if not events or not isinstance(events[0], h.OrchestrationStarted):
        raise ValueError(
            f"{where} does not begin with OrchestrationStarted, so it cannot be replayed; "
            "export whole histories (`orchestrate export-history`)"
        )
    start = events[0]
    exe = replay_events(registry, start.name, start.instance_id, events, strict=strict)
    if exe.nondeterminism is not None:
        timeline = format_timeline(events, title=f"recorded history of {start.instance_id!r}")
        raise NonDeterminismError(
            f"{exe.nondeterminism}\n\nToday's code no longer replays {where}: instances "
            "recorded with the old code would fail on the next deploy. Keep the old path behind "
            "`if ctx.patched('change-id'):` for them.\n\n" + timeline
        )
    return Run(_Replayed(exe, events), start.instance_id)


class _Replayed:
    """The `RunSource` of a replayed history: state derived from the fresh execution."""

    def __init__(self, exe: Execution, events: list[h.Event]) -> None:
        self._exe = exe
        self._events = events

    def state(self, instance_id: str) -> InstanceState:
        exe, start = self._exe, self._events[0]
        assert isinstance(start, h.OrchestrationStarted)
        state = InstanceState(instance_id, start.name, Status.RUNNING, start.input)
        state.generation = start.generation
        result = exe.result
        if exe.terminated:
            state.status = Status.TERMINATED
        elif isinstance(result, h.OrchestrationCompleted):
            state.status, state.output = Status.COMPLETED, result.output
        elif isinstance(result, h.OrchestrationFailed):
            state.status, state.error = Status.FAILED, result.error
        statuses = [e.status for e in self._events if isinstance(e, h.CustomStatusSet)]
        state.custom_status = statuses[-1] if statuses else None
        state.history_len = len(self._events)
        return state

    def history(self, instance_id: str) -> list[h.Event]:
        return list(self._events)

    def waiting_for(self, instance_id: str) -> list[str]:
        return describe_waits(self._exe)

    def pending(self, instance_id: str) -> Pending:
        return pending_of(self._exe, lambda child_id: None)  # children are not replayed

    def calls(self, instance_id: str, activity: Callable[..., Any] | str) -> list[Any]:
        name = activity if isinstance(activity, str) else self._exe.registry.name_of(activity)
        return [
            e.input for e in self._events if isinstance(e, h.ActivityScheduled) and e.name == name
        ]


@dataclass
class ReplayResult:
    """How one history file replayed: `ok`, and otherwise the `message` saying why not."""

    path: Path
    ok: bool
    message: str = ""
    run: Run | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"ok      {self.path}"
        body = "\n".join("    " + line for line in self.message.splitlines())
        return f"FAILED  {self.path}\n{body}"


@dataclass
class ReplayReport:
    """The results of `replay_dir`, one per file, in path order."""

    results: list[ReplayResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[ReplayResult]:
        return [r for r in self.results if not r.ok]

    def __str__(self) -> str:
        lines = [str(r) for r in self.results]
        failed = len(self.failures)
        lines.append(
            f"{len(self.results)} histories replayed: {len(self.results) - failed} ok, "
            f"{failed} failed"
        )
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise `NonDeterminismError` with the whole report if any history failed."""
        if not self.ok:
            raise NonDeterminismError(str(self))


def replay_one(registry: Registry, path: Path, *, strict: bool = True) -> ReplayResult:
    """Replay one file into a `ReplayResult`; problems become a failed result naming the file."""
    try:
        run = replay_history(registry, path, strict=strict)
    except (OrchestrateError, ValueError, OSError) as exc:
        return ReplayResult(path, False, f"{type(exc).__name__}: {exc}")
    return ReplayResult(path, True, run=run)


def replay_dir(
    registry: Registry, path: str | PathLike[str], *, strict: bool = True, pattern: str = "*.json"
) -> ReplayReport:
    """Replay every history file under `path` (recursively; or one file) against `registry`.

    A missing path raises `FileNotFoundError`; an unreadable or diverging file is a failed
    result in the report (the others still run). Check `report.ok` or `raise_for_failures()`.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(
            f"no history file or directory at {root}; record some with "
            "`pytest --orch-record-histories DIR` or `orchestrate export-history`"
        )
    files = [root] if root.is_file() else sorted(root.rglob(pattern))
    return ReplayReport([replay_one(registry, f, strict=strict) for f in files])


# --- recording, and finding the registry again -------------------------------------------------


def save_history(
    path: Path, events: list[h.Event], instance_id: str, name: str, recorded_by: dict[str, str]
) -> None:
    """Write a history file in the runtime's format plus a ``"recorded_by"`` provenance note.

    The note (module and attribute of the registry) is for people reading the file; replaying
    never acts on it (see `load_registry`).
    """
    doc = json.loads(history_to_json(events, instance_id, name))
    doc["recorded_by"] = recorded_by
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def recorded_registry(path: Path) -> dict[str, str] | None:
    """The ``"recorded_by"`` note of a history file, as plain strings, if it has one.

    Data only, for messages: a history file may come from anyone (a pull request, production),
    so nothing named in it is ever imported or executed.
    """
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    note = doc.get("recorded_by") if isinstance(doc, dict) else None
    if not isinstance(note, dict):
        return None
    return {str(k): str(v) for k, v in note.items() if isinstance(v, str)}


def load_registry(ref: str) -> Registry:
    """The `Registry` named by ``"module:attribute"``, importing the module by name.

    `ref` must come from the project's own configuration (``--orch-replay-registry``, the
    ``orch_replay_registry`` ini key), never from a history file. Raises `LookupError` naming
    what is missing and how to point at the right object.
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise LookupError(f"registry reference {ref!r} must look like 'package.module:registry'")
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise LookupError(
                f"cannot import {module_name!r} to find the registry {ref!r} ({exc}); run from "
                "the project root, or pass --orch-replay-registry module:attribute naming an "
                "importable module"
            ) from None
        except Exception as exc:  # the module itself is broken: say so, in one line
            raise LookupError(
                f"importing {module_name!r} to find the registry {ref!r} raised "
                f"{type(exc).__name__}: {exc}; fix the module (python -c 'import "
                f"{module_name}' shows the traceback)"
            ) from None
    if not hasattr(module, attr):
        raise LookupError(
            f"module {module_name!r} has no attribute {attr!r}; pass --orch-replay-registry "
            f"{module_name}:NAME naming the `Registry()` object the orchestrations are on"
        )
    found = getattr(module, attr)
    if not isinstance(found, Registry):
        raise LookupError(
            f"{module_name}:{attr} is a {type(found).__name__}, not an orchestrate Registry; "
            "pass --orch-replay-registry module:attribute naming the registry"
        )
    return found
