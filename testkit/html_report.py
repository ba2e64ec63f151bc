"""HTML timelines of a failed test's instances, for the pytest plugin's ``--orch-html DIR``.

One self-contained file per failing instance (failed, terminated, or stuck on a failing turn);
when the test failed with every instance healthy (a wrong output, say), one per top-level
instance. The files are the `orchestrate ui` instance view (`orchestrate.ui.timeline_document`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Protocol

from orchestrate import InstanceState, Status
from orchestrate import history as h
from orchestrate.ui import timeline_document

__all__ = ["file_name", "timeline_html", "write_failure_html"]


class _Env(Protocol):
    """What this module needs of a `TestEnv` (not imported: `TestEnv` imports this module)."""

    def instances(self) -> list[InstanceState]: ...

    def timeline_html(
        self,
        path: str | PathLike[str] | None = None,
        *,
        instance_ids: Iterable[str] | None = None,
        title: str = ...,
    ) -> str: ...


def timeline_html(
    pairs: Sequence[tuple[InstanceState, list[h.Event]]],
    now: datetime,
    path: str | PathLike[str] | None,
    title: str,
) -> str:
    """`TestEnv.timeline_html`: the page of these instances at `now`, written to `path` too."""
    page = timeline_document(pairs, title=title, now=now)
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


def file_name(*parts: str) -> str:
    """A safe, readable file name from a test id and an instance id (any characters)."""
    text = "--".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") for part in parts)
    return (text[:150] or "instance") + ".html"


def _failing(state: InstanceState) -> bool:
    return state.status in (Status.FAILED, Status.TERMINATED) or (
        not state.finished and state.error is not None
    )


def write_failure_html(env: _Env, directory: Path, test_id: str) -> list[Path]:
    """Write the HTML timelines of `env`'s failing instances into `directory`; the paths."""
    states = env.instances()
    chosen = [s for s in states if _failing(s)] or [s for s in states if not s.parent_instance]
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for state in chosen:
        path = directory / file_name(test_id, state.instance_id)
        number = 2
        while path in written:
            path = directory / file_name(test_id, state.instance_id, str(number))
            number += 1
        title = f"{test_id}: {state.instance_id} ({state.status})"
        env.timeline_html(path, instance_ids=[state.instance_id], title=title)
        written.append(path)
    return written
