"""Bulk history export: one versioned history JSON file per instance, for replay tests in CI.

``orchestrate export-history --all [--status S ...] [--name N ...] [--since DATE] DIR`` writes
the current generation's history of every matching instance to ``DIR/<instance id>.json``, in
the same format as ``orchestrate export-history ID`` prints, which ``pytest --orch-replay DIR``
replays against today's code. The files are data: nothing in them is ever imported or run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import codec
from .client import Client
from .errors import InstanceNotFound
from .state import InstanceState, Status

__all__ = ["Exported", "export_histories", "file_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Exported:
    """What a bulk export wrote: the files, and the instances skipped (purged meanwhile)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def file_name(instance_id: str) -> str:
    """A file name for `instance_id`, safe on every file system and distinct per id: the id
    itself when it is plain, else its plain characters plus a short hash of the whole id."""
    plain = _UNSAFE.sub("_", instance_id)[:100] or "instance"
    if plain == instance_id and not plain.startswith("."):
        return f"{plain}.json"
    digest = hashlib.sha256(instance_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{plain.lstrip('.') or 'instance'}-{digest}.json"


def _matches(
    state: InstanceState,
    statuses: frozenset[Status] | None,
    names: frozenset[str] | None,
    since: datetime | None,
) -> bool:
    if statuses is not None and state.status not in statuses:
        return False
    if names is not None and state.name not in names:
        return False
    changed = state.updated_at or state.created_at
    return since is None or (changed is not None and changed >= since)


def export_histories(
    client: Client,
    directory: Path,
    *,
    statuses: Iterable[Status | str] | None = None,
    names: Iterable[str] | None = None,
    since: datetime | None = None,
) -> Exported:
    """Write the history of every instance matching all filters (a status among `statuses`,
    a name among `names`, last changed at or after `since`) to `directory`, one file each.

    The directory is created if needed; existing files of the same instances are replaced.
    An instance purged between listing and reading is skipped and reported.
    """
    wanted = None if statuses is None else frozenset(Status(s) for s in statuses)
    named = None if names is None else frozenset(names)
    directory.mkdir(parents=True, exist_ok=True)
    done = Exported()
    for state in client.list():
        if not _matches(state, wanted, named, since):
            continue
        try:
            events = client.history(state.instance_id)
        except InstanceNotFound:
            done.skipped.append(state.instance_id)
            continue
        if not events:
            done.skipped.append(state.instance_id)  # not started by a worker yet: no history
            continue
        path = directory / file_name(state.instance_id)
        path.write_text(
            codec.history_to_json(events, state.instance_id, state.name) + "\n", encoding="utf-8"
        )
        done.files.append(path)
    return done
