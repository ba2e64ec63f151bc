"""Bulk history export: one versioned history JSON file per instance, for replay tests in CI.

``orchestrate export-history --all [--status S ...] [--name N ...] [--since DATE] DIR`` writes
the current generation's history of every matching instance to ``DIR/<instance id>.json`` (see
`safe_file_name`), readable by its owner only, in the same format as ``orchestrate export-history
ID`` prints, which ``pytest --orch-replay DIR`` replays against today's code. The files are data: nothing in them is ever imported or run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import codec
from .client import Client
from .errors import InstanceNotFound
from .state import InstanceQuery, InstanceState, Status

__all__ = ["Exported", "export_histories", "file_name", "safe_file_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Kept as it is only when nothing about it can clash: lowercase (two ids differing in case would
# share a file on macOS and Windows), not hidden, not ending like a name that carries a hash.
_PLAIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_HASHED = re.compile(r"-[0-9a-f]{10}$")
_RESERVED = frozenset(  # Windows device names, whatever the extension
    ["con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))]
)
PAGE = 200  # instances read per query: memory stays flat however many the store holds


@dataclass
class Exported:
    """What a bulk export wrote: the files, and the instances skipped (purged meanwhile)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def safe_file_name(*parts: str, suffix: str = ".json") -> str:
    """A file name for `parts` (an instance id; or a test id and an instance id), safe on every
    file system and distinct for distinct `parts`, case-insensitively too.

    A single lowercase plain part (``order-42``) is kept as it is; anything else becomes its
    plain characters plus a short hash of the exact parts (``Order-42-3fa9c1b2d4``), so
    ``a/b`` and ``a_b``, or ``O-1`` and ``o-1``, never share a file.
    """
    if len(parts) == 1:
        text = parts[0]
        if _PLAIN.fullmatch(text) and not _HASHED.search(text) and not _reserved(text):
            return text + suffix
        identity = text
    else:
        identity = json.dumps(parts, ensure_ascii=False)
    plain = "__".join(_UNSAFE.sub("_", part).strip("._") for part in parts).strip("._")
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{plain[:100] or 'instance'}-{digest}{suffix}"


def _reserved(text: str) -> bool:
    return text.split(".")[0] in _RESERVED


def file_name(instance_id: str) -> str:
    """The export file name of `instance_id` (see `safe_file_name`)."""
    return safe_file_name(instance_id)


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


def _instances(
    client: Client, statuses: frozenset[Status] | None, names: frozenset[str] | None
) -> Iterator[InstanceState]:
    """Every instance with a status among `statuses` and a name among `names` (None: any), a
    page at a time (`Store.query_instances` with its keyset cursor), newest first."""
    status_filters: list[Status | None] = [None] if statuses is None else [*sorted(statuses)]
    name_filters: list[str | None] = [None] if names is None else [*sorted(names)]
    for status in status_filters:
        for name in name_filters:
            query = InstanceQuery(status=status, name=name, limit=PAGE)
            while True:
                page = client.store.query_instances(query)
                yield from page
                if len(page) < PAGE:
                    break
                last = page[-1]
                query = InstanceQuery(status=status, name=name, limit=PAGE,
                                      before=(last.created_at, last.instance_id))  # fmt: skip


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (0600, as the database: a history
    holds every payload), replacing any earlier file at once (a temporary file renamed)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o600)  # mkstemp makes it 0600 already; said here for the reader
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_histories(
    client: Client,
    directory: Path,
    *,
    statuses: Iterable[Status | str] | None = None,
    names: Iterable[str] | None = None,
    since: datetime | None = None,
) -> Exported:
    """Write the history of every instance matching all filters (a status among `statuses`,
    a name among `names`, last changed at or after `since`) to `directory`, one file each,
    readable by the owner only (0600).

    The directory is created if needed; existing files of the same instances are replaced.
    Instances are read a page at a time, so memory stays flat for a large store. An instance
    purged between listing and reading is skipped and reported.
    """
    wanted = None if statuses is None else frozenset(Status(s) for s in statuses)
    named = None if names is None else frozenset(names)
    directory.mkdir(parents=True, exist_ok=True)
    done = Exported()
    for state in _instances(client, wanted, named):
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
        _write_private(
            path, codec.history_to_json(events, state.instance_id, state.name) + "\n"
        )
        done.files.append(path)
    return done
