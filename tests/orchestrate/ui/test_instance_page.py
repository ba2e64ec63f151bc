"""`orchestrate.ui.instance_page`: the instance's facts, payloads, error, waits and actions."""

from __future__ import annotations

import pytest

from orchestrate import history as h
from orchestrate.state import InstanceState, Status
from orchestrate.ui.instance_page import actions_form, instance_body

from .test_timeline import RETRIED, T0

EVIL = "<b onclick=x()>\x1b[1m"


def state(status: Status, **kw) -> InstanceState:
    return InstanceState(EVIL, EVIL, status, input={"k": EVIL}, created_at=T0, updated_at=T0, **kw)


def test_a_completed_instance() -> None:
    body = instance_body(state(Status.COMPLETED, output=[EVIL], custom_status={"p": EVIL}), RETRIED)
    assert "<h2>Output</h2>" in body and "<h2>Custom status</h2>" in body
    assert "<b onclick" not in body and "\x1b" not in body
    assert "&lt;b onclick=x()&gt;\\x1b[1m" in body
    assert "Waiting for" not in body  # no waits given: a finished instance
    assert body.count('<tr id="ev-') == len(RETRIED)


def test_a_failed_instance_shows_its_traceback() -> None:
    error = h.ErrorInfo("ValueError", EVIL, 'Traceback (most recent call last):\n  File "<flow>"\nValueError: x')
    body = instance_body(state(Status.FAILED, error=error), RETRIED)
    assert "<h2 class=\"err\">Error</h2>" in body
    assert "Traceback (most recent call last):\n  File &quot;&lt;flow&gt;&quot;" in body
    assert "<h2>Output</h2>" not in body


def test_waits_are_listed() -> None:
    body = instance_body(state(Status.RUNNING), RETRIED[:3], waits=[f"event {EVIL!r}"])
    assert "<h2>Waiting for</h2><ul><li>event &#x27;&lt;b" in body
    assert "may wait for an event" in instance_body(state(Status.RUNNING), RETRIED[:3], waits=[])


def test_long_histories_start_folded() -> None:
    events: list[h.Event] = [h.OrchestrationStarted(T0, "f", None, "i")]
    events += [h.CustomStatusSet(T0, n, n) for n in range(300)]
    assert "<details><summary>History: 301 events" in instance_body(state(Status.RUNNING), events)
    assert "<details open>" in instance_body(state(Status.RUNNING), events[:10])


@pytest.mark.parametrize(
    ("status", "error", "actions"),
    [
        (Status.RUNNING, None, ["raise-event", "terminate"]),
        (Status.PENDING, None, ["raise-event", "terminate"]),
        (Status.RUNNING, h.ErrorInfo("NonDeterminismError", "m"), ["raise-event", "terminate", "retry"]),
        (Status.COMPLETED, None, ["purge"]),
        (Status.FAILED, h.ErrorInfo("E", "m"), ["purge"]),
    ],
)
def test_actions_fit_the_state(status: Status, error, actions: list[str]) -> None:
    form = actions_form(state(status, error=error), "tok")
    assert [part.split('"')[0] for part in form.split('name="action" value="')[1:]] == actions
    assert form.count('name="token" value="tok"') == len(actions)
    assert 'name="id" value="&lt;b onclick=x()&gt;\\x1b[1m"' in form
