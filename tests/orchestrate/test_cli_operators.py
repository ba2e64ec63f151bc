"""The CLI for operators: large inputs from files or stdin, bad inputs as one line (exit 2),
control characters escaped in what is printed, stuck instances in `list`, and the worker's
`--on-nondeterminism`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrate import Client, OrchestrationContext, Registry, Status, Worker
from orchestrate import cli as cli_module
from orchestrate.cli import main
from orchestrate.cli_text import safe
from orchestrate.errors import StoreError, StoreUnavailable
from orchestrate.stores.sqlite import SqliteStore

reg = Registry()
changed = [False]


@reg.activity(name="extra")
def extra(_: object) -> None:
    return None


@reg.orchestration
async def parked(ctx: OrchestrationContext, value: object) -> object:
    if changed[0]:
        ctx.activity("extra", None)  # a bad deploy: a command the recorded run never issued
    return {"input": value, "go": await ctx.event("go")}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "ops.db")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    return capsys.readouterr().err


def spawn_worker(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    """`orchestrate worker` in a child process, its stderr piped, this checkout importable."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrate", *argv],
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


def stopping_line(proc: subprocess.Popen[str]) -> str:
    """The worker's stderr line saying it is stopping (fails if it ends without one)."""
    assert proc.stderr is not None
    line = ""
    while "stopping" not in line:
        line = proc.stderr.readline()
        assert line, "the worker ended without saying it was stopping"
    return line


def stored(db: str, key: str) -> Any:
    store = SqliteStore(db)
    try:
        return Client(store).state(key)
    finally:
        store.close()


# --- large inputs ------------------------------------------------------------------------------


def test_start_reads_a_large_input_from_a_file(capsys, db: str, tmp_path: Path) -> None:
    value = {"lines": [{"sku": i, "note": "x" * 50} for i in range(20_000)]}  # ~1.5 MB
    path = tmp_path / "order.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    code, out, err = run(
        capsys, "start", "parked", "--input-file", str(path), "--id", "f", "--db", db
    )
    assert (code, out, err) == (0, "f\n", "")
    assert stored(db, "f").input == value


def test_an_input_over_the_limit_names_the_option_that_raises_it(
    capsys, db: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"blob": "x" * 3_000_000}), encoding="utf-8")
    code, _, err = run(capsys, "start", "parked", "--input-file", str(path), "--db", db)
    assert code == 1 and "over the payload limit" in err and "--max-payload-bytes N" in err
    code, out, _ = run(
        capsys, "start", "parked", "--input-file", str(path), "--id", "big",
        "--max-payload-bytes", "4000000", "--db", db,
    )
    assert (code, out) == (0, "big\n")
    assert "give a whole number of bytes" in usage(
        capsys, "start", "parked", "--max-payload-bytes", "-1", "--db", db
    )


def test_start_and_raise_event_read_stdin_for_a_dash(
    capsys, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"from": "stdin"}'))
    assert run(capsys, "start", "parked", "--input", "-", "--id", "s", "--db", db)[0] == 0
    assert stored(db, "s").input == {"from": "stdin"}
    monkeypatch.setattr("sys.stdin", io.StringIO("[1, 2, 3]"))
    code, out, _ = run(capsys, "raise-event", "s", "go", "-", "--db", db)
    assert code == 0 and out == "raised 'go' on s\n"


def test_raise_event_reads_its_data_from_a_file(capsys, db: str, tmp_path: Path) -> None:
    run(capsys, "start", "parked", "--id", "e", "--db", db)
    path = tmp_path / "event.json"
    path.write_text('{"ok": true}', encoding="utf-8")
    assert run(capsys, "raise-event", "e", "go", "--input-file", str(path), "--db", db)[0] == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9" * 5000, "holds a number of more than 4,300 digits"),
        ("[" * 3000 + "]" * 3000, "nested too deeply"),
        ("[" * 3000, "nested too deeply"),
        ('{"a": 1', "is not valid JSON"),
        ("", "is not valid JSON"),
    ],
)
def test_a_bad_input_is_one_line_and_exit_2(capsys, db: str, value: str, message: str) -> None:
    err = usage(capsys, "start", "parked", "--input", value, "--db", db)
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert len(err) < 400  # the input is abridged, not echoed whole
    err = usage(capsys, "raise-event", "x", "go", value, "--db", db)
    assert message in err and err.count("\n") == 1


def test_bad_input_files_are_usage_errors(capsys, db: str, tmp_path: Path) -> None:
    err = usage(capsys, "start", "parked", "--input-file", str(tmp_path / "none.json"), "--db", db)
    assert "cannot read --input-file" in err and "No such file" in err
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "is not UTF-8 text" in usage(capsys, "start", "parked", "--input-file", str(binary))
    err = usage(capsys, "start", "parked", "--input", "1", "--input-file", str(binary))
    assert "not both" in err


# --- control characters ---------------------------------------------------------------------


def test_safe_escapes_what_moves_the_cursor_and_keeps_the_rest() -> None:
    assert safe("order-7 é ü 東京") == "order-7 é ü 東京"
    assert safe("a\nb\r\tc\x1b[2J\x07") == "a\\nb\\r\\tc\\x1b[2J\\x07"
    assert safe("x\u202ey\u2028z\x85") == "x\\u202ey\\u2028z\\x85"


def test_an_id_cannot_forge_a_row_or_drive_the_terminal(capsys, db: str) -> None:
    forged = "real\nforged  parked  completed  -  2024-01-01T00:00:00.000Z\x1b[2J"
    code, out, _ = run(
        capsys, "start", "parked", "--id", forged, "--input", '"\\u001b]0;x\\u0007"', "--db", db
    )
    assert code == 0 and out.count("\n") == 1 and "\x1b" not in out
    run(capsys, "start", "parked", "--id", "plain", "--db", db)
    code, out, _ = run(capsys, "list", "--db", db)
    lines = out.splitlines()
    assert len(lines) == 3 and "\x1b" not in out
    assert lines[1].startswith("real\\nforged")
    code, out, _ = run(capsys, "show", forged, "--db", db)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "instance   real\\nforged" in out
    code, out, _ = run(capsys, "list", "--json", "--db", db)
    assert json.loads(out)[0]["instance_id"] == forged  # JSON keeps the exact id
    code, _, err = run(capsys, "show", "gh\nost\x1b[1m", "--db", db)
    assert code == 1 and err.count("\n") == 1 and "\x1b" not in err


# --- stuck instances --------------------------------------------------------------------------


def stuck_instance(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """'bad' is stuck on non-determinism (running, with an error); 'good' is plainly running."""
    run(capsys, "start", "parked", "--id", "bad", "--db", db)
    run(capsys, "start", "parked", "--id", "good", "--db", db)
    store = SqliteStore(db)
    worker = Worker(reg, store)
    while worker.poll_once():
        pass
    changed[0] = True
    try:
        worker.evict()
        Client(store).raise_event("bad", "go", 1)
        while worker.poll_once():
            pass
    finally:
        changed[0] = False
        store.close()
    state = stored(db, "bad")
    assert state.status == Status.RUNNING and state.error.type == "NonDeterminismError"


def test_list_shows_stuck_instances_and_filters_them(capsys, db: str) -> None:
    stuck_instance(db, capsys)
    code, out, _ = run(capsys, "list", "--db", db)
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "stuck: NonDeterminismError" in rows["bad"]
    assert "stuck" not in rows["good"] and "running" in rows["good"]
    code, out, _ = run(capsys, "list", "--stuck", "--db", db)
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["bad"]
    code, out, _ = run(capsys, "list", "--stuck", "--json", "--db", db)
    [row] = json.loads(out)
    assert row["instance_id"] == "bad" and row["stuck"] is True
    code, out, _ = run(capsys, "show", "bad", "--db", db)
    assert code == 0 and "stuck on   NonDeterminismError" in out


def test_list_stuck_says_when_there_are_none(capsys, db: str) -> None:
    run(capsys, "start", "parked", "--id", "fine", "--db", db)
    assert run(capsys, "list", "--stuck", "--db", db)[1] == "(no stuck instances)\n"


# --- worker options ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["fail", "retry"])
def test_worker_takes_on_nondeterminism(
    capsys, db: str, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    made: list[Worker] = []

    class StopAtOnce(Worker):
        def start(self) -> None:
            made.append(self)
            os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler ends its loop

    monkeypatch.setattr(cli_module, "Worker", StopAtOnce)
    argv = ["worker", "tests.orchestrate.test_cli_operators:reg", "--db", db]
    assert main([*argv, "--on-nondeterminism", policy, "--nondeterminism-retry", "5"]) == 0
    assert (made[0].on_nondeterminism, made[0].nondeterminism_retry) == (policy, 5.0)
    err = usage(capsys, *argv, "--on-nondeterminism", "ignore")
    assert "invalid choice: 'ignore'" in err


def test_a_worker_waits_for_an_unreachable_store_and_a_refused_one_fails_at_once(
    capsys, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started before its database (at boot, in one deploy), a worker waits for it with
    backoff instead of exiting; a store that refuses for good (wrong name or password) fails
    at once, and a signal while waiting stops it cleanly."""
    monkeypatch.setattr(cli_module, "_FIRST_OPEN_DELAY", 0.001)
    real_open = cli_module._open
    attempts: list[int] = []
    outcomes: list[Exception | None] = []

    def flaky_open(args: Any, *, create: bool = False) -> Client:
        attempts.append(1)
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome
        return real_open(args, create=create)

    class StopAtOnce(Worker):
        def start(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler ends its loop

    monkeypatch.setattr(cli_module, "_open", flaky_open)
    monkeypatch.setattr(cli_module, "Worker", StopAtOnce)
    argv = ["worker", "tests.orchestrate.test_cli_operators:reg", "--db", db]
    down = StoreUnavailable("cannot reach PostgreSQL 'postgresql://h/db': connection refused")
    outcomes[:] = [down, down]
    code, _, err = run(capsys, *argv)
    assert code == 0 and len(attempts) == 3
    assert err.count("connection refused. Next try in") == 2, err
    assert "Next try in 0.001 s" in err and "Next try in 0.002 s (Ctrl-C or SIGTERM" in err
    assert "with 2 thread(s)" in err and err.rstrip().endswith("stopped")

    attempts.clear()
    outcomes[:] = [StoreError("PostgreSQL 'postgresql://h/db' refused the connection: ...")]
    code, _, err = run(capsys, *argv)
    assert code == 1 and len(attempts) == 1 and "refused the connection" in err

    class SignalWhileWaiting(StoreUnavailable):
        def __str__(self) -> str:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the worker waits to retry
            return "cannot reach it"

    attempts.clear()
    outcomes[:] = [SignalWhileWaiting()]
    code, _, err = run(capsys, *argv)
    assert code == 0 and len(attempts) == 1
    assert "cannot reach it. Next try" in err and err.rstrip().endswith("stopped")


def test_an_input_over_the_payload_limit_is_one_line_exit_1(
    capsys, db: str, tmp_path: Path
) -> None:
    path = tmp_path / "huge.json"
    path.write_text(json.dumps("x" * 3_000_000), encoding="utf-8")
    code, out, err = run(capsys, "start", "parked", "--input-file", str(path), "--db", db)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "the input of 'parked' is 3,000,002 bytes of JSON, over the payload limit" in err


def test_a_second_signal_stops_the_worker_at_once(tmp_path: Path, db: str) -> None:
    """The first SIGTERM waits for the running activity (grace 600 s); the second exits now."""
    marker = tmp_path / "started"
    (tmp_path / "stuckflows.py").write_text(
        textwrap.dedent(
            f"""
            import pathlib, threading
            from orchestrate import Registry
            reg = Registry()

            @reg.activity
            def forever(_: object) -> None:
                pathlib.Path({str(marker)!r}).touch()
                threading.Event().wait()  # never finishes on its own

            @reg.orchestration
            async def hang(ctx) -> None:
                await ctx.activity(forever, None)
            """
        )
    )
    store = SqliteStore(db)
    Client(store).start("hang", None, instance_id="h")
    store.close()
    argv = ["worker", "stuckflows:reg", "--db", db, "--threads", "1", "--grace", "600"]
    proc = spawn_worker(argv, tmp_path)
    try:
        wait_until(marker.exists)
        proc.send_signal(signal.SIGTERM)
        line = stopping_line(proc)  # the first signal was handled: the grace period runs
        assert "up to 600 s" in line and "signal again to exit at once" in line
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "second signal: exiting at once" in err


def wait_until(condition: Any, timeout: float = 60.0) -> None:
    """Bounded wait for something another process does."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        pause.wait(0.01)
    raise AssertionError("condition never became true")


def test_sigterm_lets_the_running_activity_finish_and_gives_back_the_rest(
    tmp_path: Path, db: str
) -> None:
    """The first SIGTERM: no more fetching, the running activity finishes and its result is
    written, the item leased with it and not started is back in the queue at once."""
    started, go = tmp_path / "started", tmp_path / "go"
    (tmp_path / "graceflows.py").write_text(
        textwrap.dedent(
            f"""
            import pathlib, time
            from orchestrate import Registry
            reg = Registry()

            @reg.activity
            def step(n: int) -> int:
                pathlib.Path({str(started)!r}).touch()
                while not pathlib.Path({str(go)!r}).exists():
                    time.sleep(0.01)
                return n

            @reg.orchestration
            async def pair(ctx) -> list:
                return await ctx.all([ctx.activity(step, 0), ctx.activity(step, 1)])
            """
        )
    )
    store = SqliteStore(db)
    Client(store).start("pair", None, instance_id="p")
    store.close()
    argv = [
        "worker", "graceflows:reg", "--db", db, "--threads", "1", "--grace", "600",
        "--sync-activities", "1",
    ]
    proc = spawn_worker(argv, tmp_path)
    try:
        wait_until(started.exists)
        proc.send_signal(signal.SIGTERM)
        stopping_line(proc)
        go.touch()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "gave back 1 activity item(s) not started" in err
    store = SqliteStore(db)
    try:
        kinds = [e.kind for e in store.get_history("p")]
        assert kinds.count("ActivityCompleted") == 1
        queued = store.fetch_activity_work(datetime.now(UTC), limit=5)
        assert [w.input for w in queued] == [1]  # not leased: another worker takes it now
    finally:
        store.close()
