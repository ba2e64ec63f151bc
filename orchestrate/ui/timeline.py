"""A history as a timeline: activities, timers and children as bars, other events as points.

`build` turns a history into plain data (`Timeline`: rows of `Bar`s and a lane of `Point`s);
`svg` draws it, server-side, as one SVG element that needs no script. The `orchestrate ui`
instance page and the self-contained HTML files (`document.timeline_document`, used by
`orch-fuzz --html` and `TestEnv.timeline_html`) both draw with this module.

Rows: one per activity *call*, its retries on the same row (attempt bars joined by the
back-off timer between them), one per timer and one per child. The x axis is time; a history
recorded in one instant (a fake clock that never moved) is drawn by event order instead, so its
bars stay apart and in sequence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .. import history as h
from ..cli_text import abridge, detail
from .markup import esc

__all__ = ["Bar", "Point", "Timeline", "build", "svg"]

_GUTTER = 230
_WIDTH = 1100
_ROW = 20
_TOP = 34
_LABEL = 34  # characters of a row label


@dataclass
class Bar:
    """One activity attempt, timer or child, from its command to its result (or still open)."""

    kind: str  # "activity", "timer" or "child"
    row: int
    task_id: int
    label: str
    start: datetime
    start_pos: int  # index of the command in the history
    end: datetime | None = None  # None: still open
    end_pos: int | None = None
    outcome: str = "open"  # completed, failed, fired, cancelled, open
    note: str = ""
    child: str | None = None  # a child's instance id
    attempt: int = 1


@dataclass
class Point:
    """An event drawn as a point: started, raised events, status, completion, failure..."""

    kind: str
    at: datetime
    pos: int
    note: str


@dataclass
class Timeline:
    """What `svg` draws: `rows` labels, `bars` on them, `points` on the top lane."""

    rows: list[str] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    count: int = 0  # events in the history

    @property
    def by_order(self) -> bool:
        """Whether x is event order (every event at one instant) rather than time."""
        moments = [b.start for b in self.bars] + [p.at for p in self.points]
        return len(set(moments)) <= 1


_RESULTS = (
    h.ActivityCompleted,
    h.ActivityFailed,
    h.TimerFired,
    h.SubOrchestrationCompleted,
    h.SubOrchestrationFailed,
)
_POINTS = (
    h.OrchestrationStarted,
    h.EventRaised,
    h.EventSent,
    h.EventDelivered,
    h.EventDeliveryFailed,
    h.CustomStatusSet,
    h.SideEffectRecorded,
    h.PatchMarker,
    h.ContinuedAsNew,
    h.OrchestrationCompleted,
    h.OrchestrationFailed,
    h.OrchestrationTerminated,
)


def _label(text: str) -> str:
    return text if len(text) <= _LABEL else text[: _LABEL - 1] + "…"


def build(events: list[h.Event]) -> Timeline:
    """The timeline of a history (one generation's events, in order)."""
    line = Timeline(count=len(events))
    open_bars: dict[int, Bar] = {}  # task id -> its open bar
    call_rows: dict[int, int] = {}  # first attempt's task id -> row
    last_failed_row: int | None = None
    for pos, event in enumerate(events):
        if isinstance(event, h.ActivityScheduled):
            call = event.call_id if event.call_id is not None else event.task_id
            row = call_rows.get(call)
            if row is None:
                row = call_rows[call] = len(line.rows)
                line.rows.append(_label(f"{event.name} #{call}"))
            bar = Bar(
                "activity",
                row,
                event.task_id,
                event.name,
                event.at,
                pos,
                note=f"activity {event.name!r} attempt {event.attempt} (task #{event.task_id}) "
                f"input {abridge(event.input)}",
                attempt=event.attempt,
            )
            open_bars[event.task_id] = bar
            line.bars.append(bar)
        elif isinstance(event, h.TimerCreated):
            if event.purpose == "retry" and last_failed_row is not None:
                row = last_failed_row
            else:
                row = len(line.rows)
                line.rows.append(_label(f"{event.purpose} #{event.task_id}"))
            bar = Bar(
                "timer",
                row,
                event.task_id,
                event.purpose,
                event.at,
                pos,
                note=f"{event.purpose} #{event.task_id} due {h.iso_time(event.fire_at)}",
            )
            bar.end = event.fire_at  # drawn to its due time until it fires
            open_bars[event.task_id] = bar
            line.bars.append(bar)
        elif isinstance(event, h.SubOrchestrationScheduled):
            row = len(line.rows)
            line.rows.append(_label(f"{event.name} → {event.instance_id}"))
            bar = Bar(
                "child",
                row,
                event.task_id,
                event.name,
                event.at,
                pos,
                note=f"child {event.name!r} {event.instance_id!r} input {abridge(event.input)}",
                child=event.instance_id,
            )
            open_bars[event.task_id] = bar
            line.bars.append(bar)
        elif isinstance(event, _RESULTS):
            found = open_bars.pop(event.task_id, None)
            if found is None:
                continue
            found.end, found.end_pos = event.at, pos
            found.outcome = _outcome(event)
            found.note += f"; {found.outcome} {abridge(detail(event), 80)}"
            if isinstance(event, h.ActivityFailed):
                last_failed_row = found.row
        elif isinstance(event, _POINTS):
            line.points.append(Point(event.kind, event.at, pos, f"{event.kind} {detail(event)}"))
    for bar in open_bars.values():
        if bar.kind == "timer":
            bar.outcome = "pending"
            bar.end_pos = None
    return line


def _outcome(event: h.Event) -> str:
    if isinstance(event, (h.ActivityCompleted, h.SubOrchestrationCompleted)):
        return "completed"
    if isinstance(event, h.TimerFired):
        return "fired"
    return "failed"


def svg(
    line: Timeline, *, now: datetime | None = None, link: Callable[[str], str] | None = None
) -> str:
    """The timeline as an SVG element (scales to its container's width).

    `now` is where open bars end (default: the last event's time); `link(instance_id)` gives the
    URL a child's bar links to (no links without it). Every bar carries ``data-`` attributes
    (kind, task, start, end, outcome) and a ``<title>`` tooltip.
    """
    order = line.by_order
    moments = [b.start for b in line.bars] + [p.at for p in line.points]
    moments += [b.end for b in line.bars if b.end is not None]
    first = min(moments) if moments else None
    last = max(moments) if moments else None
    if now is not None and last is not None and now > last and not order:
        last = now
    span = (last - first).total_seconds() if first and last else 0.0
    count = max(line.count, 1)
    plot = _WIDTH - _GUTTER - 40

    def x_of(moment: datetime | None, pos: int | None) -> float:
        if order:
            return _GUTTER + plot * ((count if pos is None else pos + 0.5) / count)
        if moment is None or first is None or span <= 0:
            return float(_GUTTER + plot)
        return _GUTTER + plot * ((moment - first).total_seconds() / span)

    height = _TOP + _ROW * (len(line.rows) + 1) + 8
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}"'
        f' width="{_WIDTH}" height="{height}" data-axis="{"order" if order else "time"}"'
        f' role="img" aria-label="timeline of {line.count} events">'
    ]
    parts.append(_axis(order, first, span, count, plot, height))
    lane = _TOP + 4
    parts.append(f'<text class="lbl" x="6" y="{lane + 10}">events</text>')
    for point in line.points:
        x = x_of(point.at, point.pos)
        parts.append(
            f'<circle class="pt {esc(point.kind)}" cx="{x:.1f}" cy="{lane + 6}" r="5"'
            f' data-kind="{esc(point.kind)}" data-at="{h.iso_time(point.at)}" data-pos="{point.pos}">'
            f"<title>{esc(h.iso_time(point.at))} {esc(point.note)}</title></circle>"
        )
    for index, label in enumerate(line.rows):
        y = _TOP + _ROW * (index + 1)
        parts.append(f'<text class="lbl" x="6" y="{y + 14}">{esc(label)}</text>')
    for bar in line.bars:
        parts.append(_bar(bar, x_of, link))
    parts.append("</svg>")
    return "".join(parts)


def _bar(
    bar: Bar,
    x_of: Callable[[datetime | None, int | None], float],
    link: Callable[[str], str] | None,
) -> str:
    y = _TOP + _ROW * (bar.row + 1) + 3
    x0 = x_of(bar.start, bar.start_pos)
    x1 = x_of(bar.end, bar.end_pos)
    width = max(x1 - x0, 3.0)
    end = "" if bar.end is None else h.iso_time(bar.end)
    klass = f"bar {bar.kind} {bar.outcome}"
    pos = f"{bar.start_pos}" if bar.end_pos is None else f"{bar.start_pos} {bar.end_pos}"
    text = f"{h.iso_time(bar.start)} → {end or 'open'}: {bar.note}"
    rect = (
        f'<rect class="{esc(klass)}" x="{x0:.1f}" y="{y}" width="{width:.1f}" height="{_ROW - 6}"'
        f' rx="2" data-kind="{bar.kind}" data-task="{bar.task_id}" data-attempt="{bar.attempt}"'
        f' data-start="{h.iso_time(bar.start)}" data-end="{esc(end)}"'
        f' data-outcome="{esc(bar.outcome)}" data-pos="{pos}"><title>{esc(text)}</title></rect>'
    )
    if bar.child is not None and link is not None:
        return f'<a href="{esc(link(bar.child))}">{rect}</a>'
    return rect


_NICE = (1, 2, 5)


def _ticks(total: float, most: int = 6) -> list[float]:
    """Round offsets from 0 to `total` (1, 2 or 5 times a power of ten), at most `most`+1."""
    if total <= 0:
        return [0.0]
    scale = 10 ** math.floor(math.log10(total / most))
    step = next((n * scale for n in (*_NICE, 10) if total / (n * scale) <= most), 10 * scale)
    if step >= 60 and total >= 120:  # minutes, hours and days in round numbers of their own
        step = next(
            (
                s
                for s in (60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400)
                if total / s <= most
            ),
            86400 * math.ceil(total / 86400 / most),
        )
    count = int(total / step + 1e-9)
    return [step * n for n in range(count + 1)]


def _axis(
    order: bool, first: datetime | None, span: float, count: int, plot: int, height: int
) -> str:
    if order:
        whole = sorted({round(n) for n in _ticks(float(count))})  # events come in ones
        marks = [(float(n), f"event {n}") for n in whole]
        total = float(count)
    elif first is None:
        marks, total = [], 1.0
    else:
        marks = [(t, "+" + _duration(t)) for t in _ticks(span)]
        marks[0] = (0.0, h.iso_time(first)[11:19] + " UTC")
        total = span or 1.0
    parts = []
    for offset, label in marks:
        x = _GUTTER + plot * offset / total
        parts.append(
            f'<line class="tick" x1="{x:.1f}" y1="{_TOP - 4}" x2="{x:.1f}" y2="{height - 4}"/>'
            f'<text class="tickl" x="{x:.1f}" y="{_TOP - 10}">{esc(label)}</text>'
        )
    return "".join(parts)


def _duration(seconds: float) -> str:
    def num(value: float) -> str:
        return f"{value:.1f}".removesuffix(".0")

    if seconds < 1:
        return f"{num(seconds * 1000)}ms"
    if seconds < 120:
        return f"{num(seconds)}s"
    if seconds < 3600:
        return f"{num(seconds / 60)}m"
    if seconds < 172800:
        return f"{num(seconds / 3600)}h"
    return f"{num(seconds / 86400)}d"
