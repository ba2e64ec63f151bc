"""`orchestrate ui` and the HTML timeline: instances, histories and operator actions in a browser.

`timeline_document` writes one self-contained HTML file of instance timelines (used by the
testkit's `TestEnv.timeline_html`, `orch-fuzz --html` and the pytest plugin's ``--orch-html``);
`serve` runs the local web server behind the `orchestrate ui` command.
"""

from __future__ import annotations

from .document import timeline_document
from .server import UiServer, serve

__all__ = ["UiServer", "serve", "timeline_document"]
