"""The frame every `orchestrate ui` page shares, and the pieces the list and instance pages share.

Served pages link the package's stylesheet and script (`/static/...`); a self-contained file
(`document.timeline_document`) inlines the stylesheet instead and carries no script at all.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from ..cli_text import when
from ..client import is_stuck
from ..state import InstanceState
from .markup import esc

__all__ = ["STATIC", "badge", "layout", "static_file", "when_cell"]

STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}


def static_file(name: str) -> bytes:
    """A file shipped in ``orchestrate/ui/static`` (package data), by name."""
    if name not in STATIC:
        raise KeyError(name)
    return resources.files(__package__).joinpath("static", name).read_bytes()


def layout(title: str, body: str, *, inline: bool = False, where: str = "") -> str:
    """A whole HTML page. `inline`: the stylesheet inside the page and no script (a file that
    opens anywhere, offline, and that no payload can make run code: its CSP forbids scripts)."""
    if inline:
        css = static_file("ui.css").decode()
        head = (
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<style>{css}</style>"
        )
    else:
        head = '<link rel="stylesheet" href="/static/ui.css"><script src="/static/ui.js" defer></script>'
    home = '<a href="/">orchestrate ui</a>' if not inline else "<span>orchestrate timeline</span>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>{head}</head><body>"
        f'<header>{home}<span class="where">{esc(where)}</span></header>'
        f"<main>{body}</main></body></html>"
    )


def badge(state: InstanceState) -> str:
    """The status badge, plus a ``stuck`` badge for an unfinished instance whose turn fails."""
    text = f'<span class="badge {esc(state.status)}">{esc(state.status)}</span>'
    if is_stuck(state):
        text += ' <span class="badge stuck" title="its last turn failed; it retries">stuck</span>'
    return text


def when_cell(moment: datetime | None) -> str:
    """A time to the second, readable (``2024-05-06 09:30:00``, UTC), exact on hover."""
    if moment is None:
        return "-"
    exact = esc(when(moment))
    return f'<time datetime="{exact}" title="{exact}">{exact[:19].replace("T", " ")}</time>'
