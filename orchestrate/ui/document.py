"""One self-contained HTML file of instance timelines, to attach to a CI run and open anywhere.

The same view as the `orchestrate ui` instance page (`instance_page.instance_body`), with the
stylesheet inlined and no script: `orch-fuzz --html`, `TestEnv.timeline_html` and the pytest
plugin's ``--orch-html`` write these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .. import history as h
from ..state import InstanceState
from .instance_page import esc_lines, instance_body
from .markup import esc
from .page import layout

__all__ = ["timeline_document"]


def timeline_document(
    instances: Sequence[tuple[InstanceState, list[h.Event]]],
    *,
    title: str = "orchestrate timeline",
    note: str = "",
    now: datetime | None = None,
) -> str:
    """An HTML page with each instance's section (facts, payloads, error, timeline, history).

    `note` (a failure message, a reproduction command) is shown first, as preformatted text.
    Children link to their section in the same file when it holds them.
    """
    present = {state.instance_id for state, _ in instances}
    anchors = {key: f"i{n}" for n, key in enumerate(sorted(present))}

    def link(other: str) -> str:  # a parent or child: its section here, if the file has it
        return f"#{anchors[other]}" if other in anchors else f"#missing-{len(other)}"

    parts = [f"<h1>{esc(title)}</h1>"]
    if note:
        parts.append(f'<pre class="trace note">{esc_lines(note)}</pre>')
    if len(instances) > 1:
        items = "".join(
            f'<li><a href="#{anchors[s.instance_id]}">{esc(s.instance_id)}</a> ({esc(s.status)})</li>'
            for s, _ in instances
        )
        parts.append(f"<ul>{items}</ul>")
    for state, events in instances:
        body = instance_body(state, events, now=now, link=link)
        parts.append(f'<div id="{anchors[state.instance_id]}">{body}</div>')
    return layout(title, "".join(parts), inline=True)
