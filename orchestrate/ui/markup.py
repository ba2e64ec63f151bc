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

__all__ = ["esc", "href", "pretty"]


def esc(text: object) -> str:
    """`text` as HTML text or attribute value: control characters (ESC, newlines, bidi
    overrides) made visible as escapes, then ``& < > " '`` escaped."""
    return html.escape(safe(str(text)), quote=True)


def pretty(value: Any) -> str:
    """A payload as indented JSON, escaped for a ``<pre>`` (newlines kept, controls escaped)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
    return "\n".join(esc(line) for line in text.split("\n"))


def href(path: str, **params: object) -> str:
    """A link to `path` with query parameters (None left out), escaped for an attribute."""
    pairs = [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
    query = urlencode(pairs)
    return esc(f"{path}?{query}" if query else path)
