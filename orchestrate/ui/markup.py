"""Escaping for every page `orchestrate ui` serves and every timeline file it writes.

Instance ids, names, event names and payloads come from callers (an order id typed into a web
form), so none of them may inject markup, a script, or a terminal escape into what an operator
reads. Everything put into HTML goes through `esc` (text and attribute values alike), every id in
a URL through `href`.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from ..cli_text import safe

__all__ = ["PRETTY_LIMIT", "esc", "href", "pretty"]


def esc(text: object) -> str:
    """`text` as HTML text or attribute value: control characters (ESC, newlines, bidi
    overrides) made visible as escapes, then ``& < > " '`` escaped."""
    return html.escape(safe(str(text)), quote=True)


PRETTY_LIMIT = 100_000


def pretty(value: Any, limit: int = PRETTY_LIMIT) -> str:
    """A payload as indented JSON, escaped for a ``<pre>`` (newlines kept, controls escaped);
    past `limit` characters it is cut, saying how much was left out."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
    note = ""
    if len(text) > limit:
        note = f"\n… {len(text) - limit:,} more characters (`orchestrate show ID --json` has all)"
        text = text[:limit]
    return "\n".join(esc(line) for line in text.split("\n")) + _note(note)


def _note(note: str) -> str:
    return "\n" + esc(note.lstrip("\n")) if note else ""


def href(path: str, **params: object) -> str:
    """A link to `path` with query parameters (None left out), escaped for an attribute."""
    pairs = [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
    query = urlencode(pairs)
    return esc(f"{path}?{query}" if query else path)
