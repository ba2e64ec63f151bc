"""`orchestrate`: run a worker and see or steer every instance in a database from a terminal.

Exit codes: 0 ok, 1 failure (unknown instance, unreadable database, ...), 2 usage. Errors are one
line on stderr naming the thing, the cause and the fix. ``--json`` prints machine-readable output
for scripts; ``export-history`` always prints the versioned history JSON that replay tests read.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from . import codec
from .cli_args import (
    Failure,
    UsageError,
    byte_limit,
    date_arg,
    input_arg,
    load_registry,
    seconds_arg,
    status_arg,
    whole_number,
)
from .cli_text import safe, state_dict, table, timeline
from .client import Client
from .errors import OrchestrateError, PayloadTooLarge, StoreUnavailable
from .registry import Registry
from .state import Status
from .stores.url import hide_password
from .worker import Worker

__all__ = ["main"]

DEFAULT_DB = "./orchestrate.db"
DB_VARIABLE = "ORCHESTRATE_DB"  # the default for --db: a file or a store URL
# seconds between a waiting worker's attempts to reach its store: the first, doubling to the most
_FIRST_OPEN_DELAY, _MAX_OPEN_DELAY = 1.0, 30.0


# --- commands ----------------------------------------------------------------------------------


def _is_url(db: str) -> bool:
    """`--db` names a store URL (``postgresql://...``, ``sqlite:///...``) rather than a file."""
    return "://" in db or db.startswith(("sqlite:", "postgresql:", "postgres:", "memory:"))


def _open(args: argparse.Namespace, *, create: bool = False) -> Client:
    path = args.db or DEFAULT_DB
    if not create and not _is_url(path) and not os.path.exists(path):
        raise Failure(
            f"no database at {path!r}; pass --db PATH (or a store URL such as "
            "postgresql://user@host/db), or start an instance or a worker to create it"
        )
    if _is_url(path):
        from .stores.url import open_store

        try:
            store = open_store(path)
        except ValueError as exc:
            raise Failure(str(exc)) from None
    else:
        from .stores.sqlite import SqliteStore  # imported here: `--help` never touches sqlite3

        store = SqliteStore(path)
    limit = getattr(args, "max_payload_bytes", None)
    if limit is None:
        return Client(store)
    return Client(store, max_payload_bytes=limit or None)


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _cmd_start(args: argparse.Namespace) -> None:
    client = _open(args, create=True)
    value = input_arg(args.input, args.input_file, "--input", "--input-file")
    key = client.start(args.name, value, instance_id=args.id)
    _out(args, {"instance_id": key}, safe(key))
    client.store.close()


def _cmd_list(args: argparse.Namespace) -> None:
    status = args.status
    client = _open(args)
    states = client.list(status=status, name=args.name, limit=args.limit, stuck=args.stuck)
    empty = "(no stuck instances)" if args.stuck else "(no instances)"
    _out(args, [state_dict(s) for s in states], table(states) if states else empty)
    client.store.close()


def _cmd_show(args: argparse.Namespace) -> None:
    client = _open(args)
    state = client.state(args.instance_id)
    events = client.history(args.instance_id)
    data = {"instance": state_dict(state), "history": [codec.event_to_dict(e) for e in events]}
    _out(args, data, timeline(state, events))
    client.store.close()


def _cmd_raise_event(args: argparse.Namespace) -> None:
    client = _open(args)
    data = input_arg(args.data, args.input_file, "the event data", "--input-file")
    client.raise_event(args.instance_id, args.event, data)
    _out(args, {"ok": True}, f"raised {safe(repr(args.event))} on {safe(args.instance_id)}")
    client.store.close()


def _cmd_terminate(args: argparse.Namespace) -> None:
    client = _open(args)
    client.terminate(args.instance_id, args.reason)
    text = f"terminating {safe(args.instance_id)} (takes effect at its next turn, run by a worker)"
    _out(args, {"ok": True}, text)
    client.store.close()


def _cmd_retry(args: argparse.Namespace) -> None:
    client = _open(args)
    key = safe(args.instance_id)
    if client.retry(args.instance_id):
        text = f"retrying {key} now (its failed turn runs again at once, on a running worker)"
        _out(args, {"ok": True, "retried": True}, text)
    else:
        text = f"{key} is not stuck: its last turn did not fail, so there is nothing to retry"
        _out(args, {"ok": True, "retried": False}, text)
    client.store.close()


def _cmd_export_history(args: argparse.Namespace) -> None:
    filters = args.status or args.name or args.since
    if args.all:
        if args.instance_id is None:
            raise UsageError(
                "export-history --all needs the directory to write the files to "
                "(e.g. `orchestrate export-history --all histories/`)"
            )
        _export_all(args)
        return
    if filters:
        raise UsageError("--status, --name and --since select instances for --all; add --all")
    if args.instance_id is None:
        raise UsageError(
            "export-history needs an instance id, or --all DIR for every instance "
            "(e.g. `orchestrate export-history order-42 > order-42.json`)"
        )
    client = _open(args)
    state = client.state(args.instance_id)
    events = client.history(args.instance_id)
    print(codec.history_to_json(events, state.instance_id, state.name))
    client.store.close()


def _export_all(args: argparse.Namespace) -> None:
    from .export import export_histories

    statuses = [status_arg(s) for s in args.status or ()]
    since = None if args.since is None else date_arg(args.since, "--since")
    client = _open(args)
    try:
        done = export_histories(
            client, Path(args.instance_id), statuses=statuses or None,
            names=args.name or None, since=since,
        )  # fmt: skip
    except OSError as exc:
        raise Failure(f"cannot write the history files to {args.instance_id!r}: {exc}") from None
    finally:
        client.store.close()
    text = f"exported {len(done.files)} histories to {safe(args.instance_id)}"
    if done.skipped:
        text += f" ({len(done.skipped)} skipped: purged meanwhile, or not started yet)"
    data = {"exported": [str(p) for p in done.files], "skipped": done.skipped}
    _out(args, data, text)


def _cmd_purge(args: argparse.Namespace) -> None:
    if args.instance_id is None and args.completed_before is None:
        raise UsageError(
            "purge needs an instance id or --completed-before DATE "
            "(e.g. `orchestrate purge --completed-before 2024-06-01`)"
        )
    before = None if args.completed_before is None else date_arg(args.completed_before)
    client = _open(args)
    count = client.purge(args.instance_id, finished_before=before)
    _out(args, {"purged": count}, f"purged {count} finished instance(s)")
    client.store.close()


def _cmd_ui(args: argparse.Namespace) -> None:
    from .ui.server import serve  # imported here: the other commands never load http.server

    client = _open(args)
    try:
        serve(
            client,
            host=args.host,
            port=args.port,
            read_only=args.read_only,
            open_browser=args.open,
            where=hide_password(args.db or DEFAULT_DB),
        )
    except OSError as exc:
        raise Failure(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "pick another --port (0: any free port)"
        ) from None
    finally:
        client.store.close()


def _open_when_up(args: argparse.Namespace, stop: threading.Event) -> Client | None:
    """Open the store for a worker, waiting for it while it is unreachable (a worker started
    with its database, at boot or in one deploy, waits instead of exiting, as it waits out an
    outage later); None if stopped meanwhile. A refusal for good (a wrong database name, user
    or password) still fails at once: waiting would not mend it."""
    delay = _FIRST_OPEN_DELAY
    while True:
        try:
            return _open(args, create=True)
        except StoreUnavailable as exc:
            print(
                f"orchestrate worker: {exc}. Next try in {delay:g} s "
                "(Ctrl-C or SIGTERM stops the worker)",
                file=sys.stderr,
                flush=True,
            )
        if stop.wait(delay):
            return None
        delay = min(delay * 2, _MAX_OPEN_DELAY)


def _cmd_worker(args: argparse.Namespace) -> None:
    registry = load_registry(args.target)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # the second signal: the operator will not wait for the grace period
            os.write(
                2,
                b"orchestrate worker: second signal: exiting at once; activities it was running "
                b"run again once their leases expire\n",
            )
            os._exit(128 + signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        client = _open_when_up(args, stop)
        if client is not None:
            _run_worker(args, registry, client, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("orchestrate worker: stopped", file=sys.stderr, flush=True)


def _run_worker(
    args: argparse.Namespace, registry: Registry, client: Client, stop: threading.Event
) -> None:
    worker = Worker(
        registry,
        client.store,
        threads=args.threads,
        batch_size=args.batch_size,
        lease=args.lease,
        activity_lease=args.activity_lease,
        on_nondeterminism=args.on_nondeterminism,
        nondeterminism_retry=args.nondeterminism_retry,
        grace=args.grace,
        unknown_grace=timedelta(seconds=args.unknown_grace),
        async_activities=args.async_activities,
        sync_activities=args.sync_activities,
        guard_calls=args.guard_calls,
    )
    path = args.db or DEFAULT_DB
    print(
        f"orchestrate worker: {args.target} on {hide_password(path)} with {args.threads} thread(s); "
        "Ctrl-C or SIGTERM stops it",
        file=sys.stderr,
        flush=True,
    )
    worker.start()
    try:
        while not stop.wait(1.0):
            pass
        print(
            f"orchestrate worker: stopping; running work has up to {args.grace:g} s to finish "
            "(signal again to exit at once)",
            file=sys.stderr,
            flush=True,
        )
    finally:
        worker.stop(timeout=args.grace)
        client.store.close()


# --- parser ----------------------------------------------------------------------------------

_LIMIT_HELP = (
    "the largest input or event data accepted, in bytes of JSON (default 2 MiB, as the "
    "workers' default; 0: no limit). Workers must accept it too: see Worker(max_payload_bytes=)"
)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help=f"SQLite database file or store URL, e.g. postgresql://user@host/db (default: "
        f"${DB_VARIABLE}, else {DEFAULT_DB})",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    parser = argparse.ArgumentParser(
        prog="orchestrate",
        description="Run workers and inspect or steer durable orchestration instances.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, run: Callable[[argparse.Namespace], None], help: str) -> Any:
        command = sub.add_parser(name, parents=[common], help=help, description=help)
        command.set_defaults(run=run)
        return command

    worker = add("worker", _cmd_worker, "run orchestrations and activities until SIGINT/SIGTERM")
    worker.add_argument("target", metavar="MODULE:REGISTRY", help="e.g. app.flows:reg")
    worker.add_argument(
        "--threads", type=whole_number(1), default=2, help="worker threads (default 2)"
    )
    worker.add_argument(
        "--guard-calls",
        action="store_true",
        help="orchestration code that reads the clock or random, sleeps, starts a thread or "
        "opens a file or socket fails its turn at the call, like a divergence",
    )
    worker.add_argument(
        "--batch-size", type=whole_number(1), default=32, help="turns per transaction (default 32)"
    )
    worker.add_argument(
        "--lease",
        type=seconds_arg(positive=True),
        default=20.0,
        metavar="SECONDS",
        help="how long a turn holds its instance; a crashed worker's instances wait this long "
        "(default 20)",
    )
    worker.add_argument(
        "--activity-lease",
        type=seconds_arg(positive=True),
        default=20.0,
        metavar="SECONDS",
        help="activity lease, renewed every quarter of it while the activity runs; a killed "
        "worker's activities run again elsewhere this long after its last renewal (default 20)",
    )

    worker.add_argument(
        "--grace",
        type=seconds_arg(positive=False, note=" (0: stop at once)"),
        default=30.0,
        metavar="SECONDS",
        help="after SIGINT/SIGTERM, how long running work may take to finish before the worker "
        "exits (default 30); a second signal exits at once",
    )
    worker.add_argument(
        "--on-nondeterminism",
        choices=("retry", "fail"),
        default="retry",
        help="when the code no longer replays an instance's history: retry the turn later "
        "(the instance shows as stuck in `list`; default) or fail the instance",
    )
    worker.add_argument(
        "--nondeterminism-retry",
        type=seconds_arg(positive=False),
        default=60.0,
        metavar="SECONDS",
        help="how long a stuck instance waits before its turn is tried again (default 60)",
    )
    worker.add_argument(
        "--unknown-grace",
        type=seconds_arg(positive=False),
        default=300.0,
        metavar="SECONDS",
        help="how long work of an orchestration or activity this worker does not know is left "
        "for a worker that knows it before it fails (a rolling deploy; default 300)",
    )
    worker.add_argument(
        "--async-activities",
        type=whole_number(1),
        default=100,
        metavar="N",
        help="how many async def activities may run at once on the worker's event loop "
        "(default 100)",
    )
    worker.add_argument(
        "--sync-activities",
        type=whole_number(1, note=" (1: one after another)"),
        default=8,
        metavar="N",
        help="how many sync activities of one batch run at once on the worker's pool "
        "(default 8; 1: one after another)",
    )

    start = add("start", _cmd_start, "start an instance and print its id")
    start.add_argument("name", help="the orchestration's registered name")
    start.add_argument("--input", help="input as JSON, e.g. '{\"id\": 1}'; '-' reads stdin")
    start.add_argument("--input-file", metavar="PATH", help="read the input JSON from a file")
    start.add_argument("--id", help="instance id (default: a new UUID)")
    start.add_argument("--max-payload-bytes", type=byte_limit, metavar="N", help=_LIMIT_HELP)

    listing = add("list", _cmd_list, "list instances, oldest first")
    listing.add_argument("--status", choices=[s.value for s in Status])
    listing.add_argument("--name", help="only instances of this orchestration")
    listing.add_argument(
        "--limit", type=whole_number(1), metavar="N", help="at most N instances (default: all)"
    )
    listing.add_argument(
        "--stuck",
        action="store_true",
        help="only unfinished instances whose last turn failed (e.g. on non-determinism)",
    )

    show = add("show", _cmd_show, "show an instance's state and timeline")
    show.add_argument("instance_id", metavar="ID")

    raise_event = add("raise-event", _cmd_raise_event, "deliver an external event")
    raise_event.add_argument("instance_id", metavar="ID")
    raise_event.add_argument("event", metavar="NAME")
    raise_event.add_argument(
        "data", metavar="JSON", nargs="?", help="event data as JSON; '-' reads stdin"
    )
    raise_event.add_argument(
        "--input-file", metavar="PATH", help="read the event data JSON from a file"
    )
    raise_event.add_argument(
        "--max-payload-bytes", type=byte_limit, metavar="N", help=_LIMIT_HELP
    )

    terminate = add("terminate", _cmd_terminate, "stop a running instance at its next turn")
    terminate.add_argument("instance_id", metavar="ID")
    terminate.add_argument("--reason", default="", help="recorded in the instance's error")

    retry = add("retry", _cmd_retry, "run the failed turn of a stuck instance again now")
    retry.add_argument("instance_id", metavar="ID")

    export = add(
        "export-history",
        _cmd_export_history,
        "print an instance's history JSON (what replay tests read), or with --all write one "
        "file per instance to DIR",
    )
    export.add_argument("instance_id", metavar="ID|DIR", nargs="?",
                        help="the instance to print; with --all, the directory to write to")
    export.add_argument("--all", action="store_true",
                        help="every instance matching the filters, one DIR/<id>.json each")
    export.add_argument("--status", action="append", metavar="STATUS",
                        help="with --all: only this status (repeatable)")
    export.add_argument("--name", action="append", metavar="NAME",
                        help="with --all: only this orchestration (repeatable)")
    export.add_argument("--since", metavar="DATE",
                        help="with --all: only instances changed at or after DATE (ISO 8601)")

    purge = add("purge", _cmd_purge, "delete finished (completed, failed, terminated) instances")
    purge.add_argument("instance_id", metavar="ID", nargs="?", help="one finished instance")
    purge.add_argument(
        "--completed-before",
        metavar="DATE",
        help="every instance that finished before DATE (ISO 8601; UTC when no zone)",
    )
    ui = add("ui", _cmd_ui, "serve a local web page of instances, their timelines and actions")
    ui.add_argument(
        "--port",
        type=whole_number(0, 65535, " (0: any free port)"),
        default=8765,
        help="port (default 8765; 0: any free one)",
    )
    ui.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1, this machine only; any other address "
        "shows every payload to whoever reaches it, and prints a warning)",
    )
    ui.add_argument("--open", action="store_true", help="open the page in a web browser")
    ui.add_argument(
        "--read-only", action="store_true", help="no operator actions (raise, terminate, ...)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 failure, 2 usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.db = getattr(args, "db", None) or os.environ.get(DB_VARIABLE) or None
    args.json = getattr(args, "json", False)
    try:
        args.run(args)
    except UsageError as exc:
        _usage(parser, str(exc))
    except PayloadTooLarge as exc:
        hint = " (here: --max-payload-bytes N)" if args.command in ("start", "raise-event") else ""
        print(f"orchestrate: error: {safe(str(exc))}{hint}", file=sys.stderr)
        return 1
    except (Failure, OrchestrateError) as exc:
        print(f"orchestrate: error: {safe(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `orchestrate list | head`
        return 0
    return 0


def _usage(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.exit(2, f"orchestrate: error: {safe(message)}\n")
