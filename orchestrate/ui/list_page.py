"""The instance list: filters from the query string, one page of `Store.query_instances`, and
a link to the next (older) page by keyset cursor, so paging through 100,000 instances costs the
same on every page.

Query parameters: ``status``, ``name`` (exact), ``text`` (a substring of the id, name, error or
custom status), ``from`` / ``to`` (creation time, ISO 8601 or the browser's datetime-local;
UTC when no zone), ``stuck=1``, ``limit`` (1-500, default 50) and ``cursor`` (the next page).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from ..cli_text import abridge
from ..state import InstanceQuery, InstanceState, Status
from ..stores.contract import query_key
from .markup import esc, href
from .page import badge, when_cell

__all__ = ["MAX_LIMIT", "Filters", "cursor_of", "list_body", "parse_filters"]

MAX_LIMIT = 500
_DEFAULT_LIMIT = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Filters:
    """The list's filters as given (for the form) and as a query (for the store)."""

    def __init__(self, params: Mapping[str, str], query: InstanceQuery, errors: list[str]) -> None:
        self.params = params
        self.query = query
        self.errors = errors


def _moment(text: str, what: str, errors: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.append(f"{what} {text!r} is not a date; use ISO 8601, e.g. 2024-06-01T12:00")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cursor_of(state: InstanceState) -> str:
    """The cursor that continues a page ending with `state`: ``MICROS:ID``."""
    micros, key = query_key(state)
    return f"{micros}:{key}"


def _parse_cursor(text: str, errors: list[str]) -> tuple[datetime | None, str] | None:
    micros, sep, key = text.partition(":")
    if not sep or not micros.removeprefix("-").isdigit():
        errors.append(f"cursor {text!r} is not one this page made; start from the first page")
        return None
    if int(micros) == 0:
        return (None, key)
    return (_EPOCH + timedelta(microseconds=int(micros)), key)


def parse_filters(params: Mapping[str, str]) -> Filters:
    """The query a list request asks for; bad values are reported, not fatal (left out)."""
    errors: list[str] = []
    status: str | None = params.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        errors.append(f"status {status!r} is unknown; pick one of the list")
        status = None
    limit = _DEFAULT_LIMIT
    if params.get("limit"):
        text = params["limit"]
        if text.isdigit() and 1 <= int(text) <= MAX_LIMIT:
            limit = int(text)
        else:
            errors.append(f"limit {text!r} must be a whole number from 1 to {MAX_LIMIT}")
    query = InstanceQuery(
        status=status,
        name=params.get("name") or None,
        text=params.get("text") or None,
        created_from=_moment(params.get("from", ""), "from", errors),
        created_to=_moment(params.get("to", ""), "to", errors),
        stuck=params.get("stuck") in ("1", "on", "true"),
        before=_parse_cursor(params["cursor"], errors) if params.get("cursor") else None,
        limit=limit,
    )
    return Filters(params, query, errors)


def _form(filters: Filters) -> str:
    p = filters.params
    options = "".join(
        f'<option value="{s.value}"{" selected" if p.get("status") == s.value else ""}>{s.value}</option>'
        for s in Status
    )
    checked = " checked" if filters.query.stuck else ""

    def field(name: str, label: str, kind: str = "text", extra: str = "") -> str:
        return (
            f'<label>{label}<input type="{kind}" name="{name}" value="{esc(p.get(name, ""))}"'
            f"{extra}></label>"
        )

    return (
        '<form class="filters" method="get" action="/">'
        f'<label>status<select name="status"><option value="">any</option>{options}</select></label>'
        + field("name", "name (exact)")
        + field("text", "text (id, name, error, custom status)", extra=' size="28"')
        + field("from", "created from (UTC)", "datetime-local", ' step="1"')
        + field("to", "created before (UTC)", "datetime-local", ' step="1"')
        + f'<label>stuck only<input type="checkbox" name="stuck" value="1"{checked}></label>'
        + field(
            "limit",
            "per page",
            "number",
            f' min="1" max="{MAX_LIMIT}" placeholder="{_DEFAULT_LIMIT}"',
        )
        + '<button type="submit">Filter</button> <a href="/">clear</a></form>'
    )


def _row(state: InstanceState) -> str:
    link = href("/instance", id=state.instance_id)
    custom = "" if state.custom_status is None else esc(abridge(state.custom_status, 60))
    error = ""
    if state.error is not None:
        error = esc(f"{state.error.type}: {abridge(state.error.message, 80)}")
    return (
        f'<tr data-instance="{esc(state.instance_id)}" data-status="{esc(state.status)}">'
        f"<td>{badge(state)}</td>"
        f'<td class="id"><a href="{link}">{esc(state.instance_id)}</a></td>'
        f'<td>{esc(state.name)}</td><td class="small">{when_cell(state.created_at)}</td>'
        f'<td class="small">{when_cell(state.updated_at)}</td><td>{custom}</td>'
        f'<td class="err">{error}</td></tr>'
    )


def list_body(filters: Filters, page: list[InstanceState]) -> str:
    """The list page's body: filter form, errors, table, pager."""
    notes = "".join(f'<p class="notice">{esc(e)}</p>' for e in filters.errors)
    rows = "".join(_row(s) for s in page)
    if not page:
        rows = '<tr><td colspan="7" class="small">no instances match</td></tr>'
    more = ""
    if len(page) == filters.query.limit and page:
        params = {k: v for k, v in filters.params.items() if k != "cursor" and v}
        more = (
            f'<a class="next" href="{href("/", **params, cursor=cursor_of(page[-1]))}">older →</a>'
        )
    first = ""
    if filters.query.before is not None:
        params = {k: v for k, v in filters.params.items() if k != "cursor" and v}
        first = f'<a class="first" href="{href("/", **params)}">← newest</a>'
    pager = f'<div class="pager">{first}<span class="small">{len(page)} shown, newest first</span>{more}</div>'
    table = (
        '<table class="instances"><thead><tr><th>status</th><th>instance</th><th>name</th>'
        "<th>created</th><th>updated</th><th>custom status</th><th>error</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return f"<h1>Instances</h1>{_form(filters)}{notes}{pager}{table}{pager}"
