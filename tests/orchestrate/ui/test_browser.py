"""`orchestrate ui` in a real browser: headless Chromium opens the list, filters it, opens an
instance, checks the timeline's bars against the instance's history, follows a child link, and
raises an event through the confirmation page.

Chromium comes from the distribution (`make test` installs it: the Makefile's `chromium`
target). When it is missing the test is skipped with the reason, except in CI (`.ci/run` sets
``ORCH_REQUIRE_BROWSER``; ``CI`` counts too), where a missing browser is a failure: the check
must not silently stop running.

``ORCH_UI_SCREENSHOTS=DIR`` also saves the screenshots the README shows (docs/ui-*.png).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from orchestrate import history as h
from orchestrate.cli_text import safe
from orchestrate.stores.sqlite import SqliteStore

from . import demo
from .browser import Browser, find_chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        message = (
            "Chromium is not installed, so the browser test cannot run; `make test` installs it "
            "(apt-get install chromium), or install it yourself"
        )
        if os.environ.get("ORCH_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail(message + " (ORCH_REQUIRE_BROWSER or CI is set: it must run here)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    path = str(tmp_path_factory.mktemp("ui") / "demo.db")
    ids = demo.build(path)
    yield path, ids


@pytest.fixture(scope="module")
def server(database: tuple[str, dict[str, str]]) -> Iterator[str]:
    path, _ = database
    process = subprocess.Popen(  # run next to the file: the page header shows "demo.db"
        [sys.executable, "-m", "orchestrate", "ui", "--db", "demo.db", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(path).parent,
    )
    assert process.stderr is not None
    line = process.stderr.readline()  # printed once listening; EOF if it failed to start
    assert "serving http://127.0.0.1:" in line, line + process.stderr.read()
    url = line.split("serving ", 1)[1].split(" ", 1)[0].rstrip("/")
    yield url
    process.terminate()
    process.wait(timeout=10)
    process.stderr.close()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    opened = Browser(chromium, width=1400, height=860)
    yield opened
    opened.close()


def _shoot(browser: Browser, name: str, *, full_page: bool = False) -> None:
    folder = os.environ.get("ORCH_UI_SCREENSHOTS")
    if folder:
        browser.screenshot(Path(folder) / name, full_page=full_page)


_ROWS = "[...document.querySelectorAll('table.instances tbody tr[data-instance]')].map(r => r.dataset.instance)"
_BARS = """[...document.querySelectorAll('svg.timeline rect.bar')].map(r => {
  const box = r.getBoundingClientRect();
  return {kind: r.dataset.kind, task: Number(r.dataset.task), attempt: Number(r.dataset.attempt),
          start: r.dataset.start, end: r.dataset.end, outcome: r.dataset.outcome,
          left: box.left, right: box.right, top: box.top, width: box.width};
})"""


def test_list_filter_instance_timeline_and_an_action(
    browser: Browser, server: str, database: tuple[str, dict[str, str]]
) -> None:
    path, ids = database
    browser.go(server + "/")
    shown = browser.run(_ROWS)
    assert {safe(key) for key in ids.values()} <= set(shown)  # data-instance shows escapes
    assert len(shown) == 8  # the five orders, two children, and the hostile id
    # The hostile id is text: no script of its own ran or was inserted, its ESC is visible.
    assert browser.run("document.querySelectorAll('script').length") == 1
    assert not [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]
    cell = browser.run(
        "[...document.querySelectorAll('td.id a')].map(a => a.textContent)"
        ".find(t => t.includes('<script>'))"
    )
    assert cell == "<script>alert('id')</script>\\x1b[31mred\\u202e"
    stuck = browser.run(
        f"document.querySelector('tr[data-instance=\"{ids['stuck']}\"] .badge.stuck') !== null"
    )
    assert stuck
    _shoot(browser, "ui-list.png", full_page=True)

    # Filter by status with the form, as a person would.
    browser.act_and_wait_load(
        "document.querySelector('select[name=status]').value = 'failed';"
        "document.querySelector('form.filters').submit();"
    )
    assert browser.run(_ROWS) == [ids["failed"]]
    browser.act_and_wait_load(
        "document.querySelector('select[name=status]').value = '';"
        "document.querySelector('input[name=text]').value = '1002';"
        "document.querySelector('form.filters').submit();"
    )
    assert browser.run(_ROWS) == [f"{ids['retried']}:ship", ids["retried"]]

    # Open the instance from the list.
    browser.act_and_wait_load(
        f"document.querySelector('tr[data-instance=\"{ids['retried']}\"] a').click()"
    )
    assert browser.run("document.querySelector('h1').textContent") == ids["retried"]
    bars = browser.run(_BARS)
    store = SqliteStore(path)
    try:
        _check_bars(bars, store.get_history(ids["retried"]))
    finally:
        store.close()
    _shoot(browser, "ui-instance.png")
    # Clicking a bar (ui.js) highlights its events in the history table.
    browser.run("document.querySelector('rect.bar.activity.failed').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    lit = browser.run("[...document.querySelectorAll('tr.hl')].map(r => r.children[2].textContent)")
    assert lit == ["ActivityScheduled", "ActivityFailed"]

    # The child's bar links to the child's page.
    browser.act_and_wait_load("document.querySelector('svg.timeline a').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert browser.run("document.querySelector('h1').textContent") == f"{ids['retried']}:ship"

    # An action: raise an event on the running instance, through the confirmation page.
    browser.go(f"{server}/instance?id={ids['running']}")
    assert "may wait for an event" in browser.run("document.body.innerText")  # what it waits for
    browser.act_and_wait_load(
        "const f = document.querySelector('form input[name=action][value=\"raise-event\"]').form;"
        "f.querySelector('input[name=event]').value = 'Approve';"
        "f.querySelector('input[name=data]').value = '{\"by\": \"ops\"}';"
        "f.submit();"
    )
    text = browser.run("document.body.innerText")
    assert browser.run("document.querySelector('h1').textContent").startswith("Confirm: raise event"), text
    browser.act_and_wait_load("document.querySelector('form.confirm').submit()")
    assert "raised 'Approve'" in browser.run("document.body.innerText")


def _check_bars(bars: list[dict], events: list[h.Event]) -> None:
    """Every activity attempt, timer and child of the history is one bar with the history's
    times and outcome, drawn left to right in the history's time order."""
    expected: dict[tuple[str, int], dict] = {}
    for event in events:
        if isinstance(event, h.ActivityScheduled):
            expected[("activity", event.task_id)] = {"start": h.iso_time(event.at), "end": "", "outcome": "open"}
        elif isinstance(event, h.TimerCreated):
            expected[("timer", event.task_id)] = {"start": h.iso_time(event.at), "end": h.iso_time(event.fire_at), "outcome": "pending"}
        elif isinstance(event, h.SubOrchestrationScheduled):
            expected[("child", event.task_id)] = {"start": h.iso_time(event.at), "end": "", "outcome": "open"}
        elif isinstance(event, (h.ActivityCompleted, h.ActivityFailed, h.TimerFired, h.SubOrchestrationCompleted, h.SubOrchestrationFailed)):
            for (_, task), bar in expected.items():
                if task == event.task_id:
                    bar["end"] = h.iso_time(event.at)
                    bar["outcome"] = {"ActivityCompleted": "completed", "SubOrchestrationCompleted": "completed", "TimerFired": "fired"}.get(event.kind, "failed")
    drawn = {(b["kind"], b["task"]): {k: b[k] for k in ("start", "end", "outcome")} for b in bars}
    assert drawn == expected
    assert all(b["width"] > 0 for b in bars)
    # On screen, a bar that starts later is not drawn further left, nor one that ends later.
    by_start = sorted(bars, key=lambda b: b["start"])
    assert all(a["left"] <= b["left"] + 0.5 for a, b in pairwise(by_start))
    by_end = sorted(bars, key=lambda b: b["end"])
    assert all(a["right"] <= b["right"] + 0.5 for a, b in pairwise(by_end))
    # The retried call: the failed attempt, its back-off timer and the retry share one row.
    [failed] = [b for b in bars if b["outcome"] == "failed"]
    row = sorted((b["kind"], b["attempt"], b["outcome"]) for b in bars if b["top"] == failed["top"])
    assert row == [("activity", 1, "failed"), ("activity", 2, "completed"), ("timer", 1, "fired")]
