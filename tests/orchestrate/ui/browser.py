"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Why not Playwright: it would add a large dependency whose own browser download must be kept
off, and a version pinned against the distribution's Chromium. The protocol needs a websocket
and five methods (navigate, evaluate, wait for load, screenshot); a small client is easier to
keep working than a pinned driver. Every read has a timeout, so a hung browser fails the test.

`find_chromium` locates the browser; `Browser` starts it (a fresh profile, no network beyond
the page under test) and talks to its first page.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.waiting import wait_until

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Socket:
    """A client websocket (RFC 6455): text frames out (masked), text frames in."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("the browser closed the websocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket refused: {head[:200]!r}")

    def _exact(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the browser closed the websocket")
            data += chunk
        return bytes(data)

    def send(self, text: str, opcode: int = 0x1) -> None:
        payload = text.encode()
        head = bytearray([0x80 | opcode])
        size = len(payload)
        if size < 126:
            head.append(0x80 | size)
        elif size < 1 << 16:
            head.append(0x80 | 126)
            head += struct.pack(">H", size)
        else:
            head.append(0x80 | 127)
            head += struct.pack(">Q", size)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(head) + mask + body)

    def receive(self) -> str:
        message = bytearray()
        while True:
            first, second = self._exact(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                size = struct.unpack(">H", self._exact(2))[0]
            elif size == 127:
                size = struct.unpack(">Q", self._exact(8))[0]
            mask = self._exact(4) if second & 0x80 else b""
            data = self._exact(size)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x8:
                raise ConnectionError("the browser closed the websocket")
            if opcode == 0x9:  # ping
                continue
            message += data
            if first & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class Browser:
    """Headless Chromium with one page: `go`, `run` (JavaScript), `wait_load`, `screenshot`."""

    def __init__(self, executable: str, *, width: int = 1400, height: int = 1000, timeout: float = 30.0) -> None:
        self.profile = tempfile.mkdtemp(prefix="orch-chromium-")
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        marker = Path(self.profile) / "DevToolsActivePort"
        wait_until(lambda: marker.exists() and marker.read_text().count("\n") >= 1, 30,
                   what="Chromium to open its DevTools port")
        port = int(marker.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t.get("type") == "page")
        self.socket = _Socket(page["webSocketDebuggerUrl"], timeout)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        key = self.next_id
        self.socket.send(json.dumps({"id": key, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.receive())
            if message.get("id") == key:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return dict(message.get("result", {}))
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == method:
                    del self.events[: index + 1]
                    return event
            self.events.append(json.loads(self.socket.receive()))

    def go(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def run(self, script: str) -> Any:
        """Evaluate `script` in the page; its JSON-able value."""
        reply = self.call("Runtime.evaluate", expression=script, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def act_and_wait_load(self, script: str) -> None:
        """Run `script`, which navigates (a form submit, a click), and wait for the new page."""
        self.events.clear()
        self.run(script)
        self.wait_event("Page.loadEventFired")

    def screenshot(self, path: str | Path, *, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.run("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)
