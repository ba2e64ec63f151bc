"""Timelines: a history as a numbered table a person can read in a failing test's output.

One row per event: virtual time, event kind, the name it concerns (activity, timer purpose,
event name...) and its payload, abridged. Results are labelled with the name of the task they
answer, which the raw history only links by task id.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrate import history as h

__all__ = ["abridge", "format_timeline"]

_PAYLOAD_WIDTH = 60


def abridge(value: Any, width: int = _PAYLOAD_WIDTH) -> str:
    """Compact JSON for a payload, cut to `width` characters with an ellipsis."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
    except ValueError:
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _row(event: h.Event, names: dict[int, str]) -> tuple[str, str]:
    """(name, payload) columns for one event; `names` maps task ids to what they were."""
    task_id = getattr(event, "task_id", None)
    known = names.get(task_id, "") if task_id is not None else ""
    if isinstance(event, h.OrchestrationStarted):
        gen = f" (generation {event.generation})" if event.generation else ""
        return event.name + gen, abridge(event.input)
    if isinstance(event, h.ActivityScheduled):
        attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return event.name + attempt, abridge(event.input)
    if isinstance(event, (h.ActivityCompleted, h.SubOrchestrationCompleted)):
        return known, abridge(event.result)
    if isinstance(event, (h.ActivityFailed, h.SubOrchestrationFailed, h.EventDeliveryFailed)):
        return known, abridge(f"{event.error_type}: {event.message}")[1:-1]
    if isinstance(event, h.TimerCreated):
        return event.purpose, f"fires at {h.iso_time(event.fire_at)}"
    if isinstance(event, (h.TimerFired, h.EventDelivered)):
        return known, ""
    if isinstance(event, h.EventRaised):
        return event.name, abridge(event.input)
    if isinstance(event, h.SubOrchestrationScheduled):
        return event.name, f"{abridge(event.input, 40)} -> {event.instance_id}"
    if isinstance(event, h.EventSent):
        return event.name, f"{abridge(event.input, 40)} -> {event.instance_id}"
    if isinstance(event, h.SideEffectRecorded):
        return "side_effect", abridge(event.value)
    if isinstance(event, h.PatchMarker):
        return event.patch, ""
    if isinstance(event, h.CustomStatusSet):
        return "", abridge(event.status)
    if isinstance(event, h.ContinuedAsNew):
        return "", abridge(event.input)
    if isinstance(event, h.OrchestrationCompleted):
        return "", abridge(event.output)
    if isinstance(event, h.OrchestrationFailed):
        line = _first_line(f"{event.error.type}: {event.error.message}")
        return "", line if len(line) <= 100 else line[:97] + "..."
    if isinstance(event, h.OrchestrationTerminated):
        return "", abridge(event.reason)
    return "", ""


def _task_names(events: list[h.Event]) -> dict[int, str]:
    names: dict[int, str] = {}
    for event in events:
        if isinstance(event, (h.ActivityScheduled, h.SubOrchestrationScheduled)):
            names[event.task_id] = event.name
        elif isinstance(event, h.TimerCreated):
            names[event.task_id] = event.purpose
        elif isinstance(event, h.EventSent):
            names[event.task_id] = f"{event.name} -> {event.instance_id}"
    return names


def format_timeline(events: list[h.Event], *, title: str = "", limit: int | None = None) -> str:
    """The events as a numbered table; with `limit`, only the last `limit` rows are shown."""
    names = _task_names(events)
    start = max(0, len(events) - limit) if limit is not None else 0
    rows = [("#", "time", "event", "name", "payload")]
    for number, event in enumerate(events[start:], start + 1):
        name, payload = _row(event, names)
        rows.append((str(number), h.iso_time(event.at), event.kind, name, payload))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [title] if title else []
    if start:
        lines.append(f"  ... {start} earlier event(s) not shown")
    for row in rows:
        cells = [row[0].rjust(widths[0])] + [row[i].ljust(widths[i]) for i in (1, 2, 3)]
        lines.append(("  " + "  ".join(cells) + "  " + row[4]).rstrip())
    if len(events) == 0:
        lines.append("  (no events yet)")
    return "\n".join(lines)
