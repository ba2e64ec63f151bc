"""`orchestrate ui`: the command's options, its warning off loopback and its errors (the server
itself is tested in tests/orchestrate/ui/)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orchestrate.cli import main

from .ui import demo


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli-ui") / "ui.db")
    demo.build(path)
    return path


@contextmanager
def ui(*argv: str) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """`orchestrate ui ARGV` in a subprocess, with the stderr lines up to its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrate", "ui", *argv], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    lines = []
    while not lines or "serving" not in lines[-1]:
        line = proc.stderr.readline()
        assert line, "orchestrate ui exited: " + "".join(lines)
        lines.append(line)
    try:
        yield proc, lines
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            proc.stderr.close()


def address(lines: list[str]) -> str:
    return lines[-1].split("serving ", 1)[1].split(" ", 1)[0]


def test_serves_on_loopback_without_warning(db: str) -> None:
    with ui("--db", db, "--port", "0") as (_, lines):
        assert len(lines) == 1 and address(lines).startswith("http://127.0.0.1:")
        with urllib.request.urlopen(address(lines)) as reply:
            assert b"order-1001" in reply.read()


def test_a_store_url_and_read_only(db: str) -> None:
    with ui("--db", f"sqlite:///{db}", "--port", "0", "--read-only") as (_, lines):
        with urllib.request.urlopen(address(lines) + "instance?id=order-1004") as reply:
            page = reply.read().decode()
        assert "(read-only)" in page and 'name="token"' not in page


def test_another_address_needs_the_flag_and_warns(db: str) -> None:
    with ui("--db", db, "--port", "0", "--host", "0.0.0.0") as (_, lines):
        [warning, _] = lines
        assert "warning: listening on 0.0.0.0, reachable from other machines" in warning
        assert "add --read-only" in warning


def test_a_missing_database_is_an_error(capsys, tmp_path: Path) -> None:
    assert main(["ui", "--db", str(tmp_path / "none.db")]) == 1
    assert "no database at" in capsys.readouterr().err


def test_a_busy_port_is_an_error(capsys, db: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["ui", "--db", db, "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "pick another --port" in err


def test_help_names_the_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["ui", "--help"])
    out = capsys.readouterr().out
    for option in ("--port", "--host", "--open", "--read-only", "--db"):
        assert option in out
