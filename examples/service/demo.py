"""`make demo`, second part: the order service over real HTTP, started and stopped in-process.

Starts the service on a free port of 127.0.0.1 with a fresh SQLite file, POSTs an order, POSTs
its approval, and prints the final state that GET returns.
"""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from examples.service.app import run_in_thread, serve, stop


def call(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.load(response)
        return result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = serve(str(Path(tmp) / "orders.db"))
        run_in_thread(server)
        try:
            base = server.url
            order = call("POST", f"{base}/orders", {"id": "order-7", "sku": "book", "qty": 2})
            print(f"POST /orders                -> {order['id']} {order['status']}")
            call("POST", f"{base}/orders/order-7/approve", {"by": "ada", "approved": True})
            print("POST /orders/order-7/approve -> accepted")
            final = call("GET", f"{base}/orders/order-7?wait=30")
            print(f"GET  /orders/order-7        -> {json.dumps(final)}")
        finally:
            stop(server)


if __name__ == "__main__":
    main()
