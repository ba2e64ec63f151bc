"""A small order service: HTTP in front, a durable orchestration behind, one SQLite file.

    POST /orders                    {"sku": "book", "qty": 2}   -> 201 {"id": ..., "status": ...}
    POST /orders/{id}/approve       {"by": "ada", "approved": true}   -> 202
    GET  /orders/{id}[?wait=SECONDS]  -> 200 {"id", "status", "custom_status", "output", "error"}

The handler threads only start instances, raise events and read state (`Runtime` is a `Client`);
the runtime's worker threads run the orchestration. Everything survives a restart: run it again
on the same file and the orders carry on. Run it with
``python -m examples.service.app --db orders.db --port 8000``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from orchestrate import (
    InstanceNotFound,
    InstanceNotRunning,
    OrchestrationContext,
    Registry,
    Runtime,
    SerializationError,
)
from orchestrate import history as h

if TYPE_CHECKING:
    from testkit import Run

reg = Registry()


@reg.activity
def reserve_stock(order: dict[str, Any]) -> str:
    return f"res-{order['sku']}-{order['qty']}"


@reg.activity
def ship(order: dict[str, Any]) -> str:
    return f"track-{order['sku']}-{order['qty']}"


@reg.orchestration
async def order_approval(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    """Reserve stock, wait up to a day for a person's approval, then ship or give up."""
    reservation = await ctx.activity(reserve_stock, order)
    ctx.set_status({"phase": "awaiting approval", "reservation": reservation})
    approval, deadline = ctx.event("approval"), ctx.timer(timedelta(hours=24))
    if await ctx.any([approval, deadline]) is deadline:
        ctx.set_status({"phase": "expired"})
        return {"approved": False, "reason": "no approval within 24 hours"}
    decision = await approval
    if not decision.get("approved", True):
        ctx.set_status({"phase": "rejected"})
        return {"approved": False, "by": decision.get("by")}
    tracking = await ctx.activity(ship, order)
    ctx.set_status({"phase": "shipped", "tracking": tracking})
    return {"approved": True, "by": decision.get("by"), "tracking": tracking}


# --- fuzzing: orch-fuzz examples/service/app.py:order_approval ---------------------------------


def ships_only_what_a_person_approved(run: Run) -> None:
    """An order ships (once, after its reservation) only on an approval that arrived before
    the 24 h deadline; a rejection or the deadline ends it unshipped, and the status agrees."""
    names = [e.name for e in run.history if isinstance(e, h.ActivityScheduled)]
    answers = [e.input for e in run.history if isinstance(e, h.EventRaised)]
    expired = any(isinstance(e, h.TimerFired) for e in run.history)
    out = run.output
    assert names[0] == "reserve_stock", names
    assert (names == ["reserve_stock", "ship"]) == out["approved"], (names, out)
    if expired:
        assert out == {"approved": False, "reason": "no approval within 24 hours"}, out
        assert run.custom_status == {"phase": "expired"}
    else:
        decision = answers[0]
        assert out["approved"] == decision.get("approved", True), (decision, out)
        assert out["by"] == decision.get("by"), (decision, out)
        phase = "shipped" if out["approved"] else "rejected"
        assert run.custom_status["phase"] == phase, run.custom_status


FUZZ: dict[str, dict[str, Any]] = {
    "order_approval": {
        "input": {"sku": "book", "qty": 2},
        "events": {
            "approval": [
                {"by": "ada"},
                {"by": "bob", "approved": False},
                {"by": "cy", "approved": True},
            ],
        },
        "invariant": ships_only_what_a_person_approved,
    },
}


_ORDER = re.compile(r"^/orders/([^/]+)$")
_APPROVE = re.compile(r"^/orders/([^/]+)/approve$")


class OrderService(ThreadingHTTPServer):
    """The HTTP server; `runtime` is the embedded orchestrate runtime it drives."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], runtime: Runtime) -> None:
        super().__init__(address, _Handler)
        self.runtime = runtime

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: OrderService

    def log_message(self, format: str, *args: Any) -> None:  # keep test and demo output quiet
        pass

    def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw)

    def _state(self, order_id: str) -> dict[str, Any]:
        state = self.server.runtime.state(order_id)
        return {
            "id": order_id,
            "status": str(state.status),
            "custom_status": state.custom_status,
            "output": state.output,
            "error": None if state.error is None else str(state.error.message),
        }

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        rt = self.server.runtime
        try:
            body = self._body()
            if path == "/orders":
                if not isinstance(body, dict) or "sku" not in body or "qty" not in body:
                    raise ValueError(
                        'an order needs "sku" and "qty", e.g. {"sku": "book", "qty": 2}'
                    )
                order_id = rt.start(order_approval, body, instance_id=body.pop("id", None))
                self._reply(HTTPStatus.CREATED, self._state(order_id))
            elif match := _APPROVE.match(path):
                rt.raise_event(match.group(1), "approval", body)
                self._reply(HTTPStatus.ACCEPTED, {"id": match.group(1), "event": "approval"})
            else:
                self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route POST {path}"})
        except (ValueError, SerializationError) as exc:  # bad JSON included
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except InstanceNotFound as exc:
            self._reply(HTTPStatus.NOT_FOUND, {"error": str(exc)})
        except InstanceNotRunning as exc:
            self._reply(HTTPStatus.CONFLICT, {"error": str(exc)})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        match = _ORDER.match(parts.path)
        if match is None:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route GET {parts.path}"})
            return
        order_id = match.group(1)
        try:
            wait = float(parse_qs(parts.query).get("wait", ["0"])[0])
            if wait > 0:
                with contextlib.suppress(TimeoutError):  # the long poll ended: report as is
                    self.server.runtime.wait(order_id, timeout=min(wait, 60.0))
            self._reply(HTTPStatus.OK, self._state(order_id))
        except ValueError as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": f"wait must be seconds: {exc}"})
        except InstanceNotFound as exc:
            self._reply(HTTPStatus.NOT_FOUND, {"error": str(exc)})


def serve(db: str, host: str = "127.0.0.1", port: int = 0) -> OrderService:
    """Open the runtime on `db`, start its workers and an HTTP server (port 0: any free port).

    The server is returned unstarted: call `serve_forever()` (or run it on a thread), and
    `shutdown()` then `runtime.close()` to stop.
    """
    runtime = Runtime(reg, store=f"sqlite:///{db}")
    runtime.start_worker()
    return OrderService((host, port), runtime)


def run_in_thread(server: OrderService) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="order-service", daemon=True
    )
    thread.start()
    return thread


def stop(server: OrderService) -> None:
    server.shutdown()
    server.server_close()
    server.runtime.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="order approval service on orchestrate")
    parser.add_argument("--db", default="orders.db", help="SQLite file (default orders.db)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = serve(args.db, args.host, args.port)
    print(f"order service on {server.url} (database {args.db}); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.runtime.close()


if __name__ == "__main__":
    main()
