"""How the `orchestrate` CLI prints instances: tables, timelines, and safe text.

Everything printed for a human goes through `safe`: ids, names and payloads come from callers
(a web form's order id, an event name), and a newline or a terminal escape in one must not forge
a row of `list` or repaint the operator's terminal. ``--json`` output is JSON-escaped instead.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

from . import codec
from . import history as h
from .client import is_stuck as stuck
from .state import InstanceState, Status

__all__ = ["abridge", "detail", "safe", "state_dict", "table", "timeline", "when"]

_ABRIDGE = 60
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe(text: str) -> str:
    """`text` with every control or format character escaped (``\\n``, ``\\x1b``, ``\\u202e``).

    Escaped: C0/C1 controls (newline, ESC), format characters (bidirectional overrides), and
    line/paragraph separators: whatever can move the cursor or reorder what a terminal shows.
    """
    if text.isprintable():
        return text
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)


def _unsafe(ch: str) -> bool:
    return not ch.isprintable() and unicodedata.category(ch) != "Zs"


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def abridge(value: Any, width: int = _ABRIDGE) -> str:
    """`value` as safe text of at most `width` characters (JSON unless it is a string)."""
    text = safe(value if isinstance(value, str) else _compact(value))
    return text if len(text) <= width else text[: width - 3] + "..."


def _error_cell(state: InstanceState) -> str:
    if state.error is None:
        return ""
    return safe(f"stuck: {state.error.type}" if stuck(state) else state.error.type)


def state_dict(state: InstanceState) -> dict[str, Any]:
    return {
        "instance_id": state.instance_id,
        "name": state.name,
        "status": str(state.status),
        "stuck": stuck(state),
        "input": state.input,
        "output": state.output,
        "error": None if state.error is None else state.error.to_dict(),
        "custom_status": state.custom_status,
        "created_at": when(state.created_at),
        "updated_at": when(state.updated_at),
        "generation": state.generation,
        "parent_instance": state.parent_instance,
        "history_len": state.history_len,
    }


def detail(event: h.Event) -> str:
    """One line of what an event says: names and task ids first, then abridged payloads."""
    data = codec.event_to_dict(event)
    parts: list[str] = []
    if "name" in data:
        parts.append(safe(str(data.pop("name"))))
    if "task_id" in data:
        parts.append(f"#{data.pop('task_id')}")
    if isinstance(event, h.EventSent):  # the target is what this event is about
        parts.append(f"-> {safe(event.instance_id)}")
    for key in ("type", "at", "instance_id", "generation", "parent_instance", "parent_task"):
        data.pop(key, None)
    if data.get("on_parent_close") == "terminate":
        data.pop("on_parent_close")  # the default
    if "parent" in data and data["parent"] is None:
        data.pop("parent")
    if data.get("call_id") is None:
        data.pop("call_id", None)
    if not data.get("carried_events"):
        data.pop("carried_events", None)
    if data.get("attempt") == 1:
        data.pop("attempt", None)
    error = data.pop("error", None)
    if isinstance(error, dict):
        parts.append(f"{safe(str(error['type']))}: {abridge(error['message'])}")
    if "error_type" in data:
        parts.append(f"{safe(str(data.pop('error_type')))}: {abridge(data.pop('message', ''))}")
    for key, value in data.items():
        parts.append(f"{key}={abridge(value)}")
    return " ".join(parts)


def timeline(state: InstanceState, events: list[h.Event]) -> str:
    """`show`: the instance's state, then one line per history event."""
    lines = [
        f"instance   {safe(state.instance_id)}  ({safe(state.name)})",
        f"status     {state.status}    generation {state.generation}",
        f"created    {when(state.created_at)}    updated {when(state.updated_at)}",
    ]
    if state.parent_instance:
        lines.append(f"parent     {safe(state.parent_instance)} (task #{state.parent_task})")
    lines.append(f"input      {abridge(state.input, 100)}")
    if state.custom_status is not None:
        lines.append(f"custom     {abridge(state.custom_status, 100)}")
    if state.status == Status.COMPLETED:
        lines.append(f"output     {abridge(state.output, 100)}")
    if state.error is not None:
        label = "stuck on" if stuck(state) else "error   "
        lines.append(f"{label}   {safe(state.error.type)}: {abridge(state.error.message, 200)}")
    lines.append("")
    lines.append(f"{'TIME':<25} {'EVENT':<26} DETAIL")
    for event in events:
        lines.append(f"{when(event.at):<25} {event.kind:<26} {detail(event)}".rstrip())
    if not events:
        lines.append("(no events yet: no worker has taken the first turn)")
    return "\n".join(lines)


def table(states: list[InstanceState]) -> str:
    """`list`: one row per instance; ERROR shows a failure's type, or ``stuck: TYPE`` for an
    unfinished instance whose turns fail."""
    rows = [("INSTANCE", "NAME", "STATUS", "ERROR", "UPDATED", "CUSTOM STATUS")]
    for s in states:
        custom = "" if s.custom_status is None else abridge(s.custom_status, 40)
        rows.append(
            (
                safe(s.instance_id),
                safe(s.name),
                str(s.status),
                _error_cell(s),
                when(s.updated_at),
                custom,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
