"""`orchestrate.ui.markup`: everything from callers is inert in HTML, in text and attributes."""

from __future__ import annotations

import pytest

from orchestrate.ui.markup import esc, href, pretty


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('" onmouseover="x', "&quot; onmouseover=&quot;x"),
        ("it's", "it&#x27;s"),
        ("\x1b[31mred", "\\x1b[31mred"),  # a terminal escape is shown, not sent
        ("a\nb", "a\\nb"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("plain ünïcode", "plain ünïcode"),
        (42, "42"),
    ],
)
def test_esc(raw: object, shown: str) -> None:
    assert esc(raw) == shown


def test_pretty_keeps_lines_and_escapes_each() -> None:
    text = pretty({"html": "<b>", "esc": "\x9b"})
    assert "\n" in text
    assert "&lt;b&gt;" in text and "\\x9b" in text and "<b>" not in text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"id": "a b&c"}, "/instance?id=a+b%26c"),
        ({"id": '"><script>'}, "/instance?id=%22%3E%3Cscript%3E"),
        ({"id": "x", "none": None, "empty": ""}, "/instance?id=x"),
        ({"id": "x", "n": 2}, "/instance?id=x&amp;n=2"),
        ({}, "/instance"),
    ],
)
def test_href(params: dict, expected: str) -> None:
    assert href("/instance", **params) == expected


def test_pretty_cuts_huge_payloads_and_says_so() -> None:
    text = pretty({"blob": "x" * 500}, limit=100)
    assert text.count("x") < 120
    assert text.endswith("more characters (`orchestrate show ID --json` has all)")
    assert "\n… " in text
