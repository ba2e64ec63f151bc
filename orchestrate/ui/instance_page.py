"""One instance: its facts, input, output or error (with the orchestration traceback), custom
status, what it waits for, its timeline and its history table; and, when served writable, the
operator actions behind a confirmation.

`instance_body` is shared by the served page and the self-contained timeline files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .. import history as h
from ..cli_text import detail
from ..state import InstanceState, Status
from . import timeline
from .markup import esc, pretty
from .page import badge, when_cell

__all__ = ["actions_form", "instance_body"]

_LEGEND = (
    '<div class="legend"><span><i class="k-ok"></i>activity completed</span>'
    '<span><i class="k-bad"></i>activity failed</span>'
    '<span><i class="k-run"></i>activity running</span>'
    '<span><i class="k-timer"></i>timer (sleep, retry back-off)</span>'
    '<span><i class="k-pending"></i>timer pending</span>'
    '<span><i class="k-child"></i>child orchestration (click to open)</span>'
    "<span>● events (hover any mark for details)</span></div>"
)


def _facts(state: InstanceState, link: Callable[[str], str] | None) -> str:
    rows = [
        ("status", badge(state)),
        ("name", esc(state.name)),
        ("created", when_cell(state.created_at)),
        ("updated", when_cell(state.updated_at)),
        ("generation", esc(state.generation)),
        ("events", esc(state.history_len)),
    ]
    if state.parent_instance:
        parent = esc(state.parent_instance)
        if link is not None:
            parent = f'<a href="{esc(link(state.parent_instance))}">{parent}</a>'
        rows.append(("parent", parent))
    cells = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<dl class="facts">{cells}</dl>'


def _payloads(state: InstanceState) -> str:
    parts = [f"<div><h2>Input</h2><pre>{pretty(state.input)}</pre></div>"]
    if state.status == Status.COMPLETED:
        parts.append(f"<div><h2>Output</h2><pre>{pretty(state.output)}</pre></div>")
    if state.custom_status is not None:
        parts.append(f"<div><h2>Custom status</h2><pre>{pretty(state.custom_status)}</pre></div>")
    return f'<div class="cols">{"".join(parts)}</div>'


def _error(state: InstanceState) -> str:
    if state.error is None:
        return ""
    title = "Stuck: its last turn failed" if not state.finished else "Error"
    trace = state.error.traceback or "(no traceback recorded)"
    return (
        f'<h2 class="err">{title}</h2><div class="card"><strong>{esc(state.error.type)}</strong>: '
        f'{esc(state.error.message)}<pre class="trace">{esc_lines(trace)}</pre></div>'
    )


def esc_lines(text: str) -> str:
    """Multi-line text for a ``<pre>``: each line escaped (control characters visible)."""
    return "\n".join(esc(line) for line in text.split("\n"))


def _waits(waits: list[str] | None) -> str:
    if waits is None:
        return ""
    if not waits:
        return (
            '<h2>Waiting for</h2><p class="small">nothing its history shows: it may wait for an '
            "event (only the orchestration's code knows its event waits, and this page does not "
            "load your code)</p>"
        )
    items = "".join(f"<li>{esc(w)}</li>" for w in waits)
    return f"<h2>Waiting for</h2><ul>{items}</ul>"


def _history(events: list[h.Event]) -> str:
    rows = "".join(
        f'<tr id="ev-{pos}"><td class="small">{pos}</td><td class="small">'
        f'{esc(h.iso_time(e.at))}</td><td>{esc(e.kind)}</td><td class="id">{esc(detail(e))}</td></tr>'
        for pos, e in enumerate(events)
    )
    table = (
        "<table><thead><tr><th>#</th><th>time</th><th>event</th><th>detail</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    opened = " open" if len(events) <= 200 else ""
    return f"<details{opened}><summary>History: {len(events)} events</summary>{table}</details>"


def instance_body(
    state: InstanceState,
    events: list[h.Event],
    *,
    waits: list[str] | None = None,
    now: datetime | None = None,
    link: Callable[[str], str] | None = None,
    actions: str = "",
) -> str:
    """The instance's section: heading, facts and actions, error, waits, timeline, payloads,
    history."""
    drawn = timeline.build(events)
    end = now if not state.finished else None
    picture = timeline.svg(drawn, now=end, link=link)
    axis = "event order (all events share one instant)" if drawn.by_order else "time"
    return (
        f'<section class="instance" data-instance="{esc(state.instance_id)}">'
        f'<h1>{esc(state.instance_id)}</h1><div class="top">{_facts(state, link)}{actions}</div>'
        f"{_error(state)}{_waits(waits)}"
        f'<h2>Timeline</h2><p class="small">{len(drawn.bars)} bars on {len(drawn.rows)} rows, '
        f'x axis: {axis}</p>{_LEGEND}<div class="scroll">{picture}</div>'
        f"{_payloads(state)}<h2>History</h2>{_history(events)}</section>"
    )


def actions_form(state: InstanceState, token: str) -> str:
    """The operator actions that apply to `state`; each posts to ``/action`` and is confirmed on
    a second page before anything happens."""
    key = esc(state.instance_id)
    hidden = f'<input type="hidden" name="token" value="{esc(token)}"><input type="hidden" name="id" value="{key}">'
    forms: list[str] = []
    if not state.finished:
        forms.append(
            f'<form method="post" action="/action">{hidden}<input type="hidden" name="action" value="raise-event">'
            '<input name="event" placeholder="event name" required aria-label="event name">'
            '<input name="data" placeholder="JSON data (optional)" aria-label="event data">'
            "<button>Raise event…</button></form>"
        )
        forms.append(
            f'<form method="post" action="/action">{hidden}<input type="hidden" name="action" value="terminate">'
            '<input name="reason" placeholder="reason" aria-label="reason">'
            '<button class="danger">Terminate…</button></form>'
        )
        if state.error is not None:
            forms.append(
                f'<form method="post" action="/action">{hidden}<input type="hidden" name="action" value="retry">'
                "<button>Retry the stuck turn…</button></form>"
            )
    else:
        forms.append(
            f'<form method="post" action="/action">{hidden}<input type="hidden" name="action" value="purge">'
            '<button class="danger">Purge…</button></form>'
        )
    return f'<div class="actions"><h2>Actions</h2>{"".join(forms)}</div>'
