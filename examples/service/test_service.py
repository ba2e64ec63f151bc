"""The order service driven over HTTP on 127.0.0.1, with its runtime on a real SQLite file."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.service import demo
from examples.service.app import OrderService, run_in_thread, serve, stop


@pytest.fixture
def service(tmp_path: Path) -> Iterator[OrderService]:
    server = serve(str(tmp_path / "orders.db"))
    run_in_thread(server)
    yield server
    stop(server)


def call(method: str, url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def test_an_approved_order_ships(service: OrderService) -> None:
    status, order = call("POST", f"{service.url}/orders", {"sku": "book", "qty": 2})
    # The worker threads may already have run the first turn by the time the POST answers.
    assert status == 201 and order["status"] in ("pending", "running")
    key = order["id"]
    status, _ = call("POST", f"{service.url}/orders/{key}/approve", {"by": "ada"})
    assert status == 202
    status, final = call("GET", f"{service.url}/orders/{key}?wait=30")
    assert status == 200
    assert final == {
        "id": key,
        "status": "completed",
        "custom_status": {"phase": "shipped", "tracking": "track-book-2"},
        "output": {"approved": True, "by": "ada", "tracking": "track-book-2"},
        "error": None,
    }


def test_custom_status_shows_the_order_waiting_for_approval(service: OrderService) -> None:
    call("POST", f"{service.url}/orders", {"id": "o-1", "sku": "pen", "qty": 1})
    store = service.runtime.store
    for _ in range(200):  # bounded: each round waits for the next commit, at most 50 ms
        _, state = call("GET", f"{service.url}/orders/o-1")
        if state["custom_status"] is not None:
            break
        store.wait_for_change(0.05)
    assert state["status"] == "running"
    assert state["custom_status"] == {"phase": "awaiting approval", "reservation": "res-pen-1"}
    call("POST", f"{service.url}/orders/o-1/approve", {"by": "bob", "approved": False})
    _, final = call("GET", f"{service.url}/orders/o-1?wait=30")
    assert final["output"] == {"approved": False, "by": "bob"}
    assert final["custom_status"] == {"phase": "rejected"}


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "message"),
    [
        ("GET", "/orders/nope", None, 404, "no instance with id 'nope'"),
        ("POST", "/orders/nope/approve", {}, 404, "no instance with id 'nope'"),
        ("POST", "/orders", {"sku": "x"}, 400, 'an order needs "sku" and "qty"'),
        ("POST", "/orders", b"{not json", 400, "Expecting property name"),
        ("GET", "/elsewhere", None, 404, "no route GET /elsewhere"),
        ("GET", "/orders/x?wait=soon", None, 400, "wait must be seconds"),
    ],
)
def test_bad_requests_get_clear_errors(
    service: OrderService, method: str, path: str, body: Any, code: int, message: str
) -> None:
    raw = body if isinstance(body, bytes) else None
    status, reply = call(method, service.url + path, None if raw else body, raw)
    assert status == code and message in reply["error"]


def test_approving_a_finished_order_conflicts(service: OrderService) -> None:
    call("POST", f"{service.url}/orders", {"id": "done", "sku": "cup", "qty": 3})
    call("POST", f"{service.url}/orders/done/approve", {"by": "ada"})
    assert call("GET", f"{service.url}/orders/done?wait=30")[1]["status"] == "completed"
    status, reply = call("POST", f"{service.url}/orders/done/approve", {"by": "ada"})
    assert status == 409 and "is completed" in reply["error"]


def test_orders_survive_a_restart_on_the_same_file(tmp_path: Path) -> None:
    db = str(tmp_path / "orders.db")
    first = serve(db)
    run_in_thread(first)
    call("POST", f"{first.url}/orders", {"id": "keep", "sku": "lamp", "qty": 1})
    stop(first)
    second = serve(db)
    run_in_thread(second)
    try:
        assert call("POST", f"{second.url}/orders/keep/approve", {"by": "ada"})[0] == 202
        _, final = call("GET", f"{second.url}/orders/keep?wait=30")
        assert final["output"]["tracking"] == "track-lamp-1"
    finally:
        stop(second)


def test_demo_prints_the_final_state(capsys) -> None:
    demo.main()
    out = capsys.readouterr().out
    assert '"status": "completed"' in out and '"by": "ada"' in out
