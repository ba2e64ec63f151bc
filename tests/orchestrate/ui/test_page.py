"""`orchestrate.ui.page`: the shared frame, the badges and the packaged static files."""

from __future__ import annotations

import pytest

from orchestrate import history as h
from orchestrate.state import InstanceState, Status
from orchestrate.ui.page import STATIC, badge, layout, static_file


@pytest.mark.parametrize("name", sorted(STATIC))
def test_static_files_are_package_data(name: str) -> None:
    assert len(static_file(name)) > 100


def test_only_known_static_files() -> None:
    with pytest.raises(KeyError):
        static_file("../server.py")


def test_served_and_inline_frames() -> None:
    served = layout("t<", "<p>body</p>", where="db\x1b")
    assert '<link rel="stylesheet" href="/static/ui.css">' in served and "/static/ui.js" in served
    assert "<title>t&lt;</title>" in served and "db\\x1b" in served
    inline = layout("t", "<p>body</p>", inline=True)
    assert "<script" not in inline and "<style>" in inline and "/static/" not in inline


@pytest.mark.parametrize(
    ("status", "error", "badges"),
    [
        (Status.COMPLETED, None, ["completed"]),
        (Status.FAILED, h.ErrorInfo("E", "m"), ["failed"]),
        (Status.RUNNING, None, ["running"]),
        (Status.RUNNING, h.ErrorInfo("NonDeterminismError", "m"), ["running", "stuck"]),
    ],
)
def test_badges(status: Status, error: h.ErrorInfo | None, badges: list[str]) -> None:
    text = badge(InstanceState("i", "n", status, error=error))
    assert [part.split('"')[0] for part in text.split('class="badge ')[1:]] == badges
