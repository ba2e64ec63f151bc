"""`orchestrate.ui.document`: one self-contained HTML file of timelines, with no script."""

from __future__ import annotations

import re

from orchestrate.stores.sqlite import SqliteStore
from orchestrate.ui import timeline_document


def test_a_self_contained_file_of_a_parent_and_its_child(demo_db) -> None:
    path, ids = demo_db
    store = SqliteStore(path)
    try:
        keys = [ids["retried"], f"{ids['retried']}:ship"]
        pairs = [(store.get_instance(k), store.get_history(k)) for k in keys]
    finally:
        store.close()
    page = timeline_document(pairs, title="fuzz <finding>", note="line 1\nline <2>\x1b[0m")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and 'src="' not in page and 'href="/' not in page
    assert "script-src" not in page and "default-src 'none'" in page  # CSP: no script runs
    assert "<style>" in page and "svg.timeline" in page  # the stylesheet is inlined
    assert "fuzz &lt;finding&gt;" in page
    assert "line 1\nline &lt;2&gt;\\x1b[0m" in page
    assert page.count('<svg class="timeline"') == 2
    # The parent's child bar links to the child's section in the same file.
    anchor = re.search(r'<a href="#(i\d)"><rect class="bar child', page).group(1)
    assert f'<div id="{anchor}"><section class="instance" data-instance="{keys[1]}">' in page


def test_a_child_outside_the_file_links_nowhere_harmful(demo_db) -> None:
    path, ids = demo_db
    store = SqliteStore(path)
    try:
        key = ids["retried"]
        page = timeline_document([(store.get_instance(key), store.get_history(key))])
    finally:
        store.close()
    assert re.search(r'<a href="#missing-\d+"><rect class="bar child', page)
