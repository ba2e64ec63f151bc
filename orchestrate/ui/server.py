"""`orchestrate ui`: a local web server (stdlib `http.server`) over one store.

Routes: ``GET /`` the instance list, ``GET /instance?id=ID`` one instance, ``GET /static/NAME``
the stylesheet and script shipped in the package, ``POST /action`` an operator action (not with
`read_only`; see `actions`). Bound to 127.0.0.1 unless told otherwise. Every response forbids
inline scripts, framing and sniffing, so even markup that slipped through escaping would not run.
"""

from __future__ import annotations

import secrets
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from ..client import Client
from ..errors import InstanceNotFound, OrchestrateError
from ..waits import waits_of
from . import actions
from .instance_page import actions_form, instance_body
from .list_page import list_body, parse_filters
from .markup import esc, href
from .page import STATIC, layout, static_file

__all__ = ["UiServer", "is_loopback", "serve"]

_MAX_FORM = 4 * 1024 * 1024  # the largest POST body read (event data included)
_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


class UiServer(ThreadingHTTPServer):
    """The server: its client (store), its action token, and whether it is read-only."""

    daemon_threads = True

    def __init__(
        self,
        client: Client,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        read_only: bool = False,
        where: str = "",
    ) -> None:
        super().__init__((host, port), _Handler)
        self.client = client
        self.read_only = read_only
        self.token = secrets.token_urlsafe(32)
        self.port = int(self.server_address[1])
        # On loopback only this machine's own names (DNS rebinding); elsewhere any name.
        names = {host, "127.0.0.1", "localhost", "[::1]"}
        self.hosts = frozenset(f"{n}:{self.port}" for n in names) if is_loopback(host) else None
        self.where = where + (" (read-only)" if read_only else "")

    @property
    def url(self) -> str:
        host = self.server_address[0]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
        return f"http://{shown}:{self.port}/"


class _Handler(BaseHTTPRequestHandler):
    server: UiServer
    server_version = "orchestrate-ui"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per error only
        pass

    # --- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, kind: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "same-origin")  # "no-referrer" makes Origin null
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _page(self, status: int, title: str, body: str) -> None:
        self._send(status, layout(title, body, where=self.server.where).encode())

    def _message(self, status: int, title: str, text: str, back: str = "/") -> None:
        self._page(
            status,
            title,
            f'<h1>{esc(title)}</h1><p class="notice">{esc(text)}</p><p><a href="{esc(back)}">back</a></p>',
        )

    def _headers(self) -> dict[str, str]:
        """The request's headers by canonical name (``Host``, ``Origin``), whatever the case."""
        return {name.title(): value for name, value in self.headers.items()}

    # --- routes -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            actions.check_host(self._headers(), self.server.hosts)
        except actions.ActionRefused as exc:
            self._message(exc.status, "Wrong address", str(exc))
            return
        try:
            if parts.path == "/":
                self._list(params)
            elif parts.path == "/instance":
                self._instance(params.get("id", ""))
            elif parts.path.startswith("/static/") and parts.path[8:] in STATIC:
                name = parts.path[8:]
                self._send(200, static_file(name), STATIC[name])
            else:
                self._message(
                    404, "Not found", f"there is no page {parts.path!r}; the list is at /"
                )
        except InstanceNotFound as exc:  # purged while the page was read
            self._message(404, "No such instance", str(exc))
        except OrchestrateError as exc:
            self._message(500, "Store error", f"{type(exc).__name__}: {exc}")

    def _list(self, params: Mapping[str, str]) -> None:
        filters = parse_filters(params)
        page = self.server.client.store.query_instances(filters.query)
        self._page(200, "orchestrate: instances", list_body(filters, page))

    def _instance(self, key: str) -> None:
        client = self.server.client
        state = client.store.get_instance(key)
        if state is None:
            self._message(404, "No such instance", f"no instance has the id {key!r} (purged?)")
            return
        events = client.history(key)
        now = client.clock.now()
        waits = None
        if not state.finished:
            found = waits_of(state, events, now, client.registry)
            waits = found.items + [f"{note}: is a worker running?" for note in found.untaken]
        body = instance_body(
            state,
            events,
            waits=waits,
            now=now,
            link=lambda child: f"/instance?id={quote(child, safe='')}",
            actions="" if self.server.read_only else actions_form(state, self.server.token),
        )
        self._page(200, f"orchestrate: {state.instance_id}", body)

    def do_POST(self) -> None:
        if self.server.read_only or urlsplit(self.path).path != "/action":
            self._message(
                403 if self.server.read_only else 404,
                "No actions",
                "this server is read-only (--read-only): it takes no actions"
                if self.server.read_only
                else "POST goes to /action only",
            )
            return
        text = self.headers.get("Content-Length") or "0"
        length = int(text) if text.isdigit() else -1
        if length < 0:
            self._message(400, "Bad request", f"Content-Length {text!r} is not a byte count")
            return
        if length > _MAX_FORM:
            self._message(413, "Too large", f"the form is over {_MAX_FORM} bytes")
            return
        raw = self.rfile.read(length).decode("utf-8", "replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        headers = self._headers()
        try:
            action = actions.check_request(form, self.server.token, headers, self.server.hosts)
        except actions.ActionRefused as exc:
            self._message(exc.status, "Action refused", str(exc))
            return
        back = href("/instance", id=form["id"]).replace("&amp;", "&")
        if form.get("confirm") != "yes":
            self._page(200, "Confirm", actions.confirm_body(action, form, self.server.token))
            return
        outcome = actions.perform(self.server.client, action, form)
        if outcome.ok and action == "purge":
            back = "/"
        self._message(
            200 if outcome.ok else 409, "Done" if outcome.ok else "Not done", outcome.message, back
        )


def serve(
    client: Client,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    read_only: bool = False,
    open_browser: bool = False,
    where: str = "",
) -> None:
    """Serve until interrupted (Ctrl-C); prints the address (and a warning off loopback)."""
    server = UiServer(client, host, port, read_only=read_only, where=where)
    try:  # from the first line printed on: Ctrl-C then stops it cleanly, whenever it comes
        if not is_loopback(host):
            print(
                f"orchestrate ui: warning: listening on {host}, reachable from other machines: "
                "anyone who reaches it reads every instance's input, output and errors"
                + ("" if read_only else " and can act on them (add --read-only)"),
                file=sys.stderr,
                flush=True,
            )
        print(
            f"orchestrate ui: serving {server.url} (Ctrl-C stops it)", file=sys.stderr, flush=True
        )
        if open_browser:
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
