"""Operator actions from the browser: checked, confirmed, then done by the `Client` the CLI uses.

A POST to ``/action`` must carry the server's per-process token (random, embedded only in pages
this server rendered), come from this server's own origin (``Origin``, when the browser sends
one) and name this server as its ``Host`` (no DNS-rebinding page can post to it). The first POST
of an action only answers a confirmation page; the action runs when that page's form is sent
(``confirm=yes``). A server started with ``--read-only`` has no actions at all.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from ..client import Client
from ..errors import OrchestrateError
from .markup import esc

__all__ = [
    "ACTIONS",
    "ActionRefused",
    "Outcome",
    "check_host",
    "check_request",
    "confirm_body",
    "perform",
]

ACTIONS = {
    "raise-event": "raise event",
    "terminate": "terminate",
    "retry": "retry the stuck turn of",
    "purge": "purge",
}


class ActionRefused(Exception):
    """A POST that must not act: bad token, foreign origin, unknown action (HTTP 403/400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Outcome:
    """What an action did, for the result page: `ok` and a sentence."""

    ok: bool
    message: str


def check_host(headers: Mapping[str, str], hosts: frozenset[str] | None) -> None:
    """`ActionRefused` unless the request names this server as its ``Host``.

    `hosts` are the ``host:port`` names a server on a loopback address answers to: a page
    served under any other name (DNS rebinding: a foreign site resolving its own name to
    127.0.0.1) reads and does nothing. None: the server was bound to another address on
    purpose, and any name may reach it.
    """
    host = headers.get("Host", "")
    if hosts is not None and host not in hosts:
        raise ActionRefused(
            403, f"Host {host!r} is not this server; open the page at its own address"
        )


def check_request(
    form: Mapping[str, str],
    token: str,
    headers: Mapping[str, str],
    hosts: frozenset[str] | None,
) -> str:
    """The action a POST asks for, after its token, origin and host checks; else `ActionRefused`.

    `hosts` as for `check_host`. The ``Origin`` a browser sends must be this server's; when
    any host name is allowed, an ``Origin`` is required and must match the ``Host``.
    """
    check_host(headers, hosts)
    origin = headers.get("Origin")
    host = headers.get("Host", "")
    if hosts is None and origin is None:
        raise ActionRefused(403, "no Origin header: actions come only from this server's pages")
    if origin is not None and origin.removeprefix("http://") not in (hosts or {host}):
        raise ActionRefused(
            403, f"Origin {origin!r} is not this server; actions come only from its pages"
        )
    if not hmac.compare_digest(form.get("token", "").encode(), token.encode()):
        raise ActionRefused(
            403,
            "the page's token is not this server's (it restarted, or the form came from "
            "elsewhere); reload the instance page and try again",
        )
    action = form.get("action", "")
    if action not in ACTIONS:
        raise ActionRefused(400, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    if not form.get("id"):
        raise ActionRefused(400, "the action names no instance id")
    return action


def confirm_body(action: str, form: Mapping[str, str], token: str) -> str:
    """The confirmation page: what will happen, and the form that does it."""
    key = form["id"]
    fields = "".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(form.get(name, ""))}">'
        for name in ("token", "action", "id", "event", "data", "reason")
    )
    what = f"{ACTIONS[action]} {key!r}"
    extra = ""
    if action == "raise-event":
        extra = f"<p>event {esc(repr(form.get('event', '')))} with data <code>{esc(form.get('data') or 'null')}</code></p>"
    elif action == "terminate":
        extra = f"<p>reason: {esc(form.get('reason', '') or '(none)')}</p>"
    elif action == "purge":
        extra = "<p>This deletes the instance, its history and its finished children for good.</p>"
    back = f'<a href="/instance?id={esc(_quote(key))}">cancel</a>'
    return (
        f"<h1>Confirm: {esc(what)}?</h1>{extra}"
        f'<form method="post" action="/action" class="confirm">{fields}'
        '<input type="hidden" name="confirm" value="yes">'
        f'<button class="danger" type="submit">Yes, {esc(ACTIONS[action])} it</button> {back}</form>'
    )


def _quote(key: str) -> str:
    from urllib.parse import quote

    return quote(key, safe="")


def perform(client: Client, action: str, form: Mapping[str, str]) -> Outcome:
    """Run a confirmed action through `client` (the CLI's own operator calls)."""
    key = form["id"]
    try:
        if action == "raise-event":
            name = form.get("event", "")
            if not name:
                return Outcome(False, "give the event a name")
            text = form.get("data", "")
            try:
                data = json.loads(text) if text.strip() else None
            except (ValueError, RecursionError) as exc:
                return Outcome(
                    False, f'the event data is not JSON ({exc}); e.g. {{"ok": true}} or "text"'
                )
            client.raise_event(key, name, data)
            return Outcome(True, f"raised {name!r} on {key!r}")
        if action == "terminate":
            client.terminate(key, form.get("reason", ""))
            return Outcome(
                True, f"terminating {key!r} (takes effect at its next turn, run by a worker)"
            )
        if action == "retry":
            if client.retry(key):
                return Outcome(
                    True, f"retrying {key!r} now (a running worker runs its failed turn)"
                )
            return Outcome(
                False, f"{key!r} is not stuck: its last turn did not fail, nothing to retry"
            )
        count = client.purge(key)
        if count == 0:
            return Outcome(False, f"nothing purged: {key!r} is unknown or has not finished")
        return Outcome(True, f"purged {key!r} ({count} instance(s) with its children)")
    except (OrchestrateError, ValueError, TypeError) as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}")
