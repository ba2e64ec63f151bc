"""`orchestrate.ui.actions`: the token, origin and host checks, the confirmation page, and the
actions done through `Client` (the CLI's operator calls)."""

from __future__ import annotations

import pytest

from orchestrate import Client, MemoryStore
from orchestrate import history as h
from orchestrate.ui.actions import (
    ActionRefused,
    check_host,
    check_request,
    confirm_body,
    perform,
)

from ..stores import create, finish

TOKEN = "s3cret-token"
HOSTS = frozenset({"127.0.0.1:8765", "localhost:8765"})
GOOD = {"Host": "127.0.0.1:8765", "Origin": "http://127.0.0.1:8765"}


def form(**fields: str) -> dict[str, str]:
    return {"token": TOKEN, "action": "terminate", "id": "a", **fields}


def test_a_good_request_names_its_action() -> None:
    assert check_request(form(), TOKEN, GOOD, HOSTS) == "terminate"
    assert check_request(form(), TOKEN, {"Host": "localhost:8765"}, HOSTS) == "terminate"


@pytest.mark.parametrize(
    ("fields", "headers", "status", "says"),
    [
        ({"token": "guess"}, GOOD, 403, "token is not this server's"),
        ({"token": ""}, GOOD, 403, "token"),
        ({}, {**GOOD, "Host": "evil.example:8765"}, 403, "Host 'evil.example:8765'"),
        ({}, {"Origin": "http://127.0.0.1:8765"}, 403, "Host ''"),
        ({}, {**GOOD, "Origin": "http://evil.example"}, 403, "Origin 'http://evil.example'"),
        ({}, {**GOOD, "Origin": "null"}, 403, "Origin 'null'"),
        ({"action": "drop-table"}, GOOD, 400, "unknown action 'drop-table'"),
        ({"id": ""}, GOOD, 400, "names no instance"),
    ],
)
def test_refused(fields: dict, headers: dict, status: int, says: str) -> None:
    with pytest.raises(ActionRefused, match=says) as caught:
        check_request(form(**fields), TOKEN, headers, HOSTS)
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Host": "box.lan:8765", "Origin": "http://box.lan:8765"}, None),
        ({"Host": "10.0.0.5:8765", "Origin": "http://10.0.0.5:8765"}, None),
        ({"Host": "box.lan:8765"}, "no Origin header"),
        ({"Host": "box.lan:8765", "Origin": "http://evil.example"}, "Origin 'http://evil.example'"),
    ],
)
def test_bound_elsewhere_any_host_but_the_origin_must_match(headers: dict, refused: str | None) -> None:
    if refused is None:
        assert check_request(form(), TOKEN, headers, None) == "terminate"
    else:
        with pytest.raises(ActionRefused, match=refused):
            check_request(form(), TOKEN, headers, None)


def test_check_host() -> None:
    check_host({"Host": "localhost:8765"}, HOSTS)
    check_host({"Host": "anything:1"}, None)
    with pytest.raises(ActionRefused, match=r"rebound\.example"):
        check_host({"Host": "rebound.example:8765"}, HOSTS)


def test_the_confirmation_page_carries_the_form_escaped() -> None:
    evil = '"><script>alert(1)</script>'
    body = confirm_body("raise-event", form(action="raise-event", id=evil, event=evil, data=evil), TOKEN)
    assert "<script>alert" not in body
    assert 'name="confirm" value="yes"' in body
    assert f'name="token" value="{TOKEN}"' in body
    assert "&quot;&gt;&lt;script&gt;" in body


@pytest.fixture
def client() -> Client:
    store = MemoryStore()
    create(store, "running")
    create(store, "done")
    finish(store, "done")
    return Client(store)


def test_raise_event_and_terminate_queue_messages(client: Client) -> None:
    outcome = perform(client, "raise-event", form(id="running", event="Approve", data='{"ok": true}'))
    assert outcome.ok and "raised 'Approve'" in outcome.message
    outcome = perform(client, "terminate", form(id="running", reason="by hand"))
    assert outcome.ok
    [work] = client.store.fetch_orchestration_work(client.clock.now(), limit=5)
    events = [m.event for m in work.messages]
    assert [e.kind for e in events] == ["OrchestrationStarted", "EventRaised", "OrchestrationTerminated"]
    assert isinstance(events[1], h.EventRaised) and events[1].input == {"ok": True}


@pytest.mark.parametrize(
    ("action", "fields", "says"),
    [
        ("raise-event", {"id": "running", "event": ""}, "give the event a name"),
        ("raise-event", {"id": "running", "event": "x", "data": "{nope"}, "is not JSON"),
        ("raise-event", {"id": "done", "event": "x"}, "InstanceNotRunning"),
        ("terminate", {"id": "ghost"}, "InstanceNotFound"),
        ("retry", {"id": "running"}, "is not stuck"),
        ("retry", {"id": "done"}, "InstanceNotRunning"),
        ("purge", {"id": "running"}, "InstanceNotRunning"),
    ],
)
def test_refusals_say_why(client: Client, action: str, fields: dict, says: str) -> None:
    outcome = perform(client, action, form(action=action, **fields))
    assert not outcome.ok and says in outcome.message


def test_purge(client: Client) -> None:
    assert perform(client, "purge", form(action="purge", id="done")).ok
    assert client.store.get_instance("done") is None
