"""`orchestrate.ui.server`: routes, headers, escaping, the action token and read-only mode, over
real HTTP to a server on a free port (in a thread of the test)."""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest

from orchestrate import Client, Status
from orchestrate.stores.sqlite import SqliteStore
from orchestrate.ui.server import UiServer, is_loopback


class Served:
    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.client = Client(SqliteStore(path))
        self.server = UiServer(self.client, "127.0.0.1", 0, read_only=read_only)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.host = f"127.0.0.1:{self.server.port}"

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        sent = {"Host": self.host, "Origin": f"http://{self.host}"} if method == "POST" else {}
        sent.update(headers or {})
        data = None
        if body is not None:
            data = urlencode(body)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=sent)
        reply = conn.getresponse()
        text = reply.read().decode()
        conn.close()
        return reply.status, dict(reply.getheaders()), text

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        self.client.store.close()


@pytest.fixture
def served(writable_db: tuple[str, dict[str, str]]) -> Iterator[tuple[Served, dict[str, str]]]:
    path, ids = writable_db
    running = Served(path)
    yield running, ids
    running.close()


@pytest.fixture
def read_only(writable_db: tuple[str, dict[str, str]]) -> Iterator[tuple[Served, dict[str, str]]]:
    path, ids = writable_db
    running = Served(path, read_only=True)
    yield running, ids
    running.close()


def page(ids: dict[str, str], kind: str) -> str:
    return "/instance?id=" + quote(ids[kind], safe="")


def test_the_list_and_its_filters(served) -> None:
    server, ids = served
    status, headers, body = server.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    rows = re.findall(r'<tr data-instance="([^"]*)" data-status="(\w+)"', body)
    assert len(rows) == 8
    _, _, body = server.request("GET", "/?status=failed")
    assert re.findall(r'<tr data-instance="([^"]*)"', body) == [ids["failed"]]
    _, _, body = server.request("GET", "/?stuck=1")
    assert re.findall(r'<tr data-instance="([^"]*)"', body) == [ids["stuck"]]
    _, _, body = server.request("GET", "/?limit=3")
    assert 'class="next"' in body


@pytest.mark.parametrize("kind", ["completed", "retried", "failed", "running", "stuck", "hostile"])
def test_instance_pages(served, kind: str) -> None:
    server, ids = served
    status, _, body = server.request("GET", page(ids, kind))
    assert status == 200
    assert '<svg class="timeline"' in body
    assert body.count("<script") == 1  # ours: /static/ui.js
    assert "\x1b" not in body and "\u202e" not in body
    if kind == "failed":
        assert "ValueError" in body and 'class="trace"' in body and "Traceback" in body
    if kind == "stuck":
        assert "Stuck: its last turn failed" in body and "NonDeterminismError" in body
        assert 'value="retry"' in body
    if kind == "hostile":
        assert "&lt;script&gt;alert(&#x27;id&#x27;)&lt;/script&gt;\\x1b[31mred\\u202e" in body
    if kind == "completed":
        assert "<h2>Output</h2>" in body and 'value="purge"' in body and 'value="terminate"' not in body


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/instance?id=ghost", 404),
        ("/nothing-here", 404),
        ("/static/../../etc/passwd", 404),
        ("/static/other.js", 404),
    ],
)
def test_not_found(served, path: str, status: int) -> None:
    server, _ = served
    code, _, body = server.request("GET", path)
    assert code == status
    assert "Not found" in body or "No such instance" in body


def test_a_foreign_host_name_reads_nothing(served) -> None:
    # DNS rebinding: a page of rebound.example whose name now points at 127.0.0.1.
    server, ids = served
    status, _, body = server.request("GET", page(ids, "completed"), headers={"Host": "rebound.example:80"})
    assert status == 403 and "order-1001" not in body and "is not this server" in body
    status, _, _ = server.request("GET", "/", headers={"host": f"localhost:{server.server.port}"})
    assert status == 200


def test_static_files_ship_with_the_package(served) -> None:
    server, _ = served
    status, headers, body = server.request("GET", "/static/ui.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and "svg.timeline" in body
    status, headers, _ = server.request("GET", "/static/ui.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")


def inbox(server: Served, key: str) -> list[str]:
    """The kinds of the messages waiting for instance `key` (the fetch is given back)."""
    store = server.client.store
    kinds: list[str] = []
    for work in store.fetch_orchestration_work(server.client.clock.now(), limit=20):
        if work.instance.instance_id == key:
            kinds = [m.event.kind for m in work.messages]
        store.abandon(work)
    return kinds


def token_of(body: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', body).group(1)


def test_an_action_asks_for_confirmation_then_acts(served) -> None:
    server, ids = served
    _, _, body = server.request("GET", page(ids, "running"))
    token = token_of(body)
    fields = {"token": token, "action": "terminate", "id": ids["running"], "reason": "by hand"}
    status, _, body = server.request("POST", "/action", fields)
    assert status == 200 and "Confirm: terminate" in body
    assert inbox(server, ids["running"]) == []
    status, _, body = server.request("POST", "/action", {**fields, "confirm": "yes"})
    assert status == 200 and "terminating" in body
    assert inbox(server, ids["running"]) == ["OrchestrationTerminated"]


def test_retry_a_stuck_instance(served) -> None:
    server, ids = served
    _, _, body = server.request("GET", page(ids, "stuck"))
    fields = {"token": token_of(body), "action": "retry", "id": ids["stuck"], "confirm": "yes"}
    status, _, body = server.request("POST", "/action", fields)
    assert status == 200 and "retrying" in body


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"token": "forged"}, 403),
        ({"headers": {"Host": "attacker.example"}}, 403),
        ({"headers": {"Origin": "http://attacker.example"}}, 403),
    ],
)
def test_forged_actions_are_refused(served, change: dict, status: int) -> None:
    server, ids = served
    _, _, body = server.request("GET", page(ids, "running"))
    fields = {"token": token_of(body), "action": "terminate", "id": ids["running"], "confirm": "yes"}
    fields.update({k: v for k, v in change.items() if k != "headers"})
    code, _, reply = server.request("POST", "/action", fields, change.get("headers"))
    assert code == status and "Action refused" in reply
    assert server.client.state(ids["running"]).status == Status.RUNNING
    assert inbox(server, ids["running"]) == []


def test_malformed_posts(served) -> None:
    server, _ = served
    status, _, body = server.request("POST", "/action", None, {"Content-Length": "lots"})
    assert status == 400 and "is not a byte count" in body
    status, _, body = server.request("POST", "/action", None, {"Content-Length": str(10**9)})
    assert status == 413
    status, _, _ = server.request("POST", "/elsewhere", {"a": "b"})
    assert status == 404


def test_read_only_has_no_actions(read_only) -> None:
    server, ids = read_only
    for kind in ("running", "completed", "stuck"):
        _, _, body = server.request("GET", page(ids, kind))
        assert "<form" not in body.split("</header>", 1)[1] and 'name="token"' not in body
    fields = {"token": server.server.token, "action": "terminate", "id": ids["running"], "confirm": "yes"}
    status, _, body = server.request("POST", "/action", fields)
    assert status == 403 and "read-only" in body
    assert inbox(server, ids["running"]) == []
    _, _, body = server.request("GET", "/")
    assert "(read-only)" in body


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("192.168.1.5", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_each_server_has_its_own_token(writable_db) -> None:
    first, second = Served(writable_db[0]), Served(writable_db[0])
    try:
        assert first.server.token != second.server.token and len(first.server.token) >= 40
    finally:
        first.close()
        second.close()
